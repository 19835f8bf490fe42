"""A two-underlying market small enough to compute margins and equity edges by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

import pmargin

AS_OF = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def instruments() -> pa.Table:
    expiry = pa.array([None, None, dt.datetime(2027, 1, 1, tzinfo=dt.UTC)], pa.timestamp("ns", tz="UTC"))
    return pa.table(
        {
            "instrument_id": ["PA", "PB", "CA"],
            "underlying": ["A", "B", "A"],
            "kind": ["perpetual", "perpetual", "option"],
            "option_type": [None, None, "call"],
            "strike": [None, None, 100.0],
            "expiry": expiry,
            "multiplier": [1.0, 2.0, 1.0],
        }
    )


def market() -> pmargin.Market:
    underlyings = pa.table({"underlying": ["A", "B"], "spot": [100.0, 50.0], "rate": [0.0, 0.0]})
    return pmargin.Market(AS_OF, underlyings, pa.table({"instrument_id": ["CA"], "implied_vol": [0.2]}))


#: IM = the worst loss over +-10% price moves; MM = half of it.
GRID = pmargin.GridModel(price_shocks=[-0.1, 0.1], vol_shocks=[0.0], mm_ratio=0.5)


def book(rows: list[tuple[Any, str, float]]) -> pa.Table:
    return pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": [r[2] for r in rows],
        }
    )


def cash(amounts: dict[Any, float], asset: str = "USD") -> pa.Table:
    return pa.table({"account_id": list(amounts), "asset": [asset] * len(amounts), "amount": list(amounts.values())})


ASSETS = {"USD": (1.0, 0.0), "A": (100.0, 0.2)}


@pytest.fixture
def small() -> tuple[pa.Table, pmargin.Market]:
    return instruments(), market()


def assert_same_cascade(native: Any, reference: Any) -> None:
    """Two cascade results agree: the same schemas, and every value equal (floats to 1e-9)."""
    for table_n, table_r in ((native.rounds, reference.rounds), (native.accounts, reference.accounts)):
        assert table_n.schema == table_r.schema
        for name in table_n.column_names:
            for x, y in zip(table_n.column(name).to_pylist(), table_r.column(name).to_pylist(), strict=True):
                if isinstance(x, float):
                    assert y == pytest.approx(x, rel=1e-9, abs=1e-9), name
                else:
                    assert x == y, name
    assert reference.total_shortfall == pytest.approx(native.total_shortfall, rel=1e-9, abs=1e-9)


#: The encodings of a book's id columns the account services must take: Polars (string_view),
#: large_string, string_view and dictionary, each giving the results of plain ``string`` ids.
ENCODINGS = ("polars", "large_string", "string_view", "dictionary")


def encoded(table: pa.Table, how: str) -> Any:
    """``table`` with its ``account_id`` and ``instrument_id`` columns (those it has) encoded as
    ``how``; ``"polars"``: the table as a Polars DataFrame (its strings are string_view)."""
    if how == "polars":
        import polars as pl

        return pl.from_arrow(table)
    for name in ("account_id", "instrument_id"):
        if name not in table.column_names:
            continue
        i = table.column_names.index(name)
        column = table.column(i)
        if how == "dictionary":
            column = column.dictionary_encode()
        else:
            column = column.cast(pa.large_string() if how == "large_string" else pa.string_view())
        table = table.set_column(i, name, column)
    return table
