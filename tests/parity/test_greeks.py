"""Native == reference for :func:`pmargin.value` and :func:`pmargin.greeks` on random payoff books:
every instrument priced, or the same error; Greeks per position and per account and underlying
(tolerances in :mod:`tests.parity.scales`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from hypothesis import given

import pmargin
from pmargin import reference
from pmargin.errors import MarginInputError
from tests.parity.scales import GREEK_FLOOR, GREEKS, REL, contracts_of, instrument_underlyings, unit_scales
from tests.parity.test_grid import (
    assert_same_schema,
    assert_same_values,
)
from tests.pricing.native import SLOW
from tests.strategies import Book, payoff_books


def assert_close_rows(
    native: pa.Table, ref: pa.Table, columns: tuple[str, ...], floors: list[dict[str, float]], what: str
) -> None:
    for name in columns:
        for row, (a, b) in enumerate(zip(native.column(name).to_pylist(), ref.column(name).to_pylist(), strict=True)):
            assert math.isclose(a, b, rel_tol=REL, abs_tol=GREEK_FLOOR * floors[row][name]), (
                f"{what}.{name} row {row}: native {a!r}, reference {b!r}"
            )


@dataclass(frozen=True)
class Rejected:
    """Where an input error pointed."""

    table: str | None
    column: str | None
    row: int | None


def outcome(run: Callable[[], Any]) -> Any:
    """The result of ``run``, or :class:`Rejected` with the location of its input error."""
    try:
        return run()
    except MarginInputError as exc:
        return Rejected(exc.table, exc.column, exc.row)


@SLOW
@given(book=payoff_books())
def test_native_values_match_reference(book: Book) -> None:
    """Every instrument priced, or the same error (an unheld orphan: the first in table order)."""
    market = book.market()
    native = outcome(lambda: pmargin.value(book.instruments, market))
    ref = outcome(lambda: reference.value(book.instruments, market))
    if isinstance(ref, Rejected):
        assert native == ref
        return
    assert isinstance(native, pa.Table)
    assert_same_schema(native, ref, "value")
    assert_same_values(native, ref, ("instrument_id",), "value")
    contracts = contracts_of(book)
    floors = [unit_scales(contracts[i]) for i in ref.column("instrument_id").to_pylist()]
    assert_close_rows(native, ref, GREEKS, floors, "value")


@SLOW
@given(book=payoff_books())
def test_native_greeks_match_reference(book: Book) -> None:
    market = book.market()
    native = outcome(lambda: pmargin.greeks(book.positions, book.instruments, market))
    ref = outcome(lambda: reference.greeks(book.positions, book.instruments, market))
    if isinstance(ref, Rejected):
        assert native == ref
        return
    contracts = contracts_of(book)
    assert_same_schema(native.positions, ref.positions, "greeks.positions")
    assert_same_values(native.positions, ref.positions, ("account_id", "instrument_id", "quantity"), "greeks.positions")
    quantities = ref.positions.column("quantity").to_pylist()
    ids = ref.positions.column("instrument_id").to_pylist()
    position_floors = [
        {("value" if k == "price" else k): abs(q) * s for k, s in unit_scales(contracts[i]).items()}
        for i, q in zip(ids, quantities, strict=True)
    ]
    assert_close_rows(
        native.positions,
        ref.positions,
        ("value", "delta", "gamma", "vega", "theta"),
        position_floors,
        "greeks.positions",
    )

    # Per account and underlying: floors add up the positions' (sums may cancel).
    accounts = ref.positions.column("account_id").to_pylist()
    underlying_of = instrument_underlyings(book)
    spots = dict(
        zip(
            market.underlyings.column("underlying").to_pylist(),
            market.underlyings.column("spot").to_pylist(),
            strict=True,
        )
    )
    summed: dict[tuple[Any, str], dict[str, float]] = {}
    for a, i, floor in zip(accounts, ids, position_floors, strict=True):
        into = summed.setdefault((a, underlying_of[i]), dict.fromkeys(("delta", "gamma", "vega", "theta"), 0.0))
        for k in into:
            into[k] += floor[k]
    assert_same_schema(native.by_underlying, ref.by_underlying, "greeks.by_underlying")
    assert_same_values(native.by_underlying, ref.by_underlying, ("account_id", "underlying"), "greeks.by_underlying")
    keys = list(
        zip(
            ref.by_underlying.column("account_id").to_pylist(),
            ref.by_underlying.column("underlying").to_pylist(),
            strict=True,
        )
    )
    floors = []
    for key in keys:
        f, spot = summed[key], spots[key[1]]
        floors.append(
            {
                **f,
                "cash_delta": f["delta"] * spot,
                "cash_gamma": f["gamma"] * (0.01 * spot) ** 2,
                "vega_1pct": f["vega"] / 100.0,
            }
        )
    columns = ("delta", "gamma", "vega", "theta", "cash_delta", "cash_gamma", "vega_1pct")
    assert_close_rows(native.by_underlying, ref.by_underlying, columns, floors, "greeks.by_underlying")
