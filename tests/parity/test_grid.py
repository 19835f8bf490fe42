"""The native engine against the pure-Python reference, on random books and on the worked examples.

Both evaluate every formula in the same order, so they agree to rounding: each number must match
to 1e-9 relative, or to 1e-9 x (the account's gross margin + 1) absolute (hedged books cancel
to near zero); labels, nulls, ids, their Arrow types and every row order must be identical. Books
with one defect must be rejected by both with the same table, column and row.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings

import pmargin
from pmargin import reference
from pmargin.errors import MarginInputError
from pmargin.models import GridModel
from pmargin.result import MarginResult
from tests.conftest import GridCase
from tests.strategies import Book, BrokenBook, books, broken_books, grid_models

REL = 1e-9


ACCOUNT_NUMBERS = (
    "initial_margin",
    "maintenance_margin",
    "gross_margin",
    "worst_price_shock",
    "worst_vol_shock",
    "netting_benefit",
    "cross_underlying_benefit",
)


UNDERLYING_NUMBERS = ("requirement", "worst_price_shock", "worst_vol_shock")


HYPOTHESIS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def close(native: float | None, ref: float | None, scale: float) -> bool:
    """Equal to 1e-9 relative or 1e-9 x scale absolute; null only where the other is null."""
    if native is None or ref is None:
        return native is None and ref is None
    return math.isclose(native, ref, rel_tol=REL, abs_tol=REL * scale)


def assert_same_schema(native: pa.Table, ref: pa.Table, what: str) -> None:
    """Names, types and nullability."""
    assert native.schema == ref.schema, (what, native.schema, ref.schema)


def assert_same_numbers(
    native: pa.Table, ref: pa.Table, columns: tuple[str, ...], scales: list[float], what: str
) -> None:
    for name in columns:
        for row, (a, b) in enumerate(zip(native.column(name).to_pylist(), ref.column(name).to_pylist(), strict=True)):
            assert close(a, b, scales[row]), f"{what}.{name} row {row}: native {a!r}, reference {b!r}"


def assert_same_values(native: pa.Table, ref: pa.Table, columns: tuple[str, ...], what: str) -> None:
    for name in columns:
        assert native.column(name).to_pylist() == ref.column(name).to_pylist(), (what, name)


def account_scales(ref: MarginResult) -> dict[Any, float]:
    """Absolute tolerance scale of each account: its gross margin plus 1."""
    ids = ref.accounts.column("account_id").to_pylist()
    return {a: g + 1.0 for a, g in zip(ids, ref.accounts.column("gross_margin").to_pylist(), strict=True)}


def assert_same_matrix(native: MarginResult, ref: MarginResult, account: Any, scale: float) -> None:
    n, r = native.scenarios(account), ref.scenarios(account)
    assert_same_schema(n, r, f"scenarios({account!r})")
    assert_same_values(n, r, ("scenario", "price_shock", "vol_shock"), f"scenarios({account!r})")
    pnl_columns = tuple(r.column_names[3:])
    assert_same_numbers(n, r, pnl_columns, [scale] * r.num_rows, f"scenarios({account!r})")


def sample_accounts(ids: list[Any]) -> list[Any]:
    """The first, the middle and the last account."""
    return list(dict.fromkeys([ids[0], ids[len(ids) // 2], ids[-1]])) if ids else []


def assert_same_result(native: MarginResult, ref: MarginResult) -> None:
    """Every table and number of the two results agree (see the module docstring)."""
    scales = account_scales(ref)
    assert_same_schema(native.accounts, ref.accounts, "accounts")
    assert_same_values(native.accounts, ref.accounts, ("account_id", "worst_scenario"), "accounts")
    ids = ref.accounts.column("account_id").to_pylist()
    assert_same_numbers(native.accounts, ref.accounts, ACCOUNT_NUMBERS, [scales[a] for a in ids], "accounts")

    assert_same_schema(native.by_underlying, ref.by_underlying, "by_underlying")
    assert_same_values(
        native.by_underlying, ref.by_underlying, ("account_id", "underlying", "worst_scenario"), "by_underlying"
    )
    row_scales = [scales[a] for a in ref.by_underlying.column("account_id").to_pylist()]
    assert_same_numbers(native.by_underlying, ref.by_underlying, UNDERLYING_NUMBERS, row_scales, "by_underlying")

    for account in sample_accounts(ids):
        assert_same_matrix(native, ref, account, scales[account])
    assert close(native.total_initial_margin, ref.total_initial_margin, sum(scales.values()) + 1.0)


def both(book: Book, model: GridModel | None) -> tuple[MarginResult, MarginResult]:
    market = book.market()
    return (
        pmargin.margin(book.positions, book.instruments, market, model=model),
        reference.margin(book.positions, book.instruments, market, model),
    )


@HYPOTHESIS
@given(book=books(), model=grid_models())
def test_native_matches_reference_on_random_books(book: Book, model: GridModel) -> None:
    native, ref = both(book, model)
    assert native.accounts.num_rows == len(set(book.positions.column("account_id").to_pylist()))
    assert_same_result(native, ref)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(max_rows=40, max_underlyings=5))
def test_native_matches_reference_with_the_default_model(book: Book) -> None:
    native, ref = both(book, None)
    assert ref.model == GridModel()
    assert_same_result(native, ref)


def test_native_matches_reference_on_shared_cases(grid_case: GridCase) -> None:
    native = pmargin.margin(grid_case.positions, grid_case.instruments, grid_case.market, model=grid_case.model)
    ref = reference.margin(grid_case.positions, grid_case.instruments, grid_case.market, grid_case.model)
    assert ref.accounts.num_rows == len(grid_case.expected["accounts"])
    assert_same_result(native, ref)


def test_ties_between_underlyings_resolve_alike() -> None:
    """Exact ties (equal requirements on two underlyings, duplicate shocks, an option at expiry
    where every vol shock gives the same value) go to the first in both engines."""
    as_of = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
    instruments = pa.table(
        {
            "instrument_id": ["B", "E", "O"],
            "underlying": ["BTC", "ETH", "ETH"],
            "kind": ["spot", "spot", "option"],
            "option_type": [None, None, "put"],
            "strike": [None, None, 60.0],
            "expiry": pa.array([None, None, as_of], pa.timestamp("us", tz="UTC")),
        }
    )
    market = pmargin.Market(
        as_of,
        pa.table({"underlying": ["BTC", "ETH"], "spot": [100.0, 50.0]}),
        {"instrument_id": ["O"], "implied_vol": [0.5]},
    )
    positions = pa.table(
        {
            "account_id": [1, 1, 2, 2, 3, 3],
            "instrument_id": ["E", "B", "B", "E", "O", "O"],
            "quantity": [2.0, 1.0, 1.0, 2.0, -1.0, -1.0],
        }
    )
    for cross in ("sum", "joint"):
        model = GridModel(price_shocks=[0.1, -0.1, -0.1], vol_shocks=[0.2, -0.2], cross=cross)
        native = pmargin.margin(positions, instruments, market, model=model)
        ref = reference.margin(positions, instruments, market, model)
        # Underlyings follow the canonical position order (instrument rows: B before E), not the
        # rows' order: BTC is the first of the tied underlyings.
        assert ref.accounts.column("worst_scenario").to_pylist()[0] == (
            "BTC -10.0% vol +20%" if cross == "sum" else "ALL -10.0% vol +20%"
        )
        assert_same_result(native, ref)


def error_location(run: Any) -> tuple[str | None, str | None, int | None]:
    try:
        run()
    except MarginInputError as exc:
        return exc.table, exc.column, exc.row
    raise AssertionError("no MarginInputError raised")


@HYPOTHESIS
@given(broken=broken_books())
def test_native_and_reference_reject_the_same_cell(broken: BrokenBook) -> None:
    book = broken.book
    native = error_location(lambda: pmargin.margin(book.positions, book.instruments, book.market()))
    ref = error_location(lambda: reference.margin(book.positions, book.instruments, book.market()))
    assert ref == broken.where, broken.defect
    assert native == broken.where, broken.defect
