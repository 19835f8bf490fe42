"""Native == reference on random books whose options mix every payoff
(:func:`tests.strategies.payoff_books`): margins (``accounts``, ``by_underlying``, risk matrices),
``by_position`` and ``explain``, under random grids, the correlation cross and the default model
(tolerances in :mod:`tests.parity.scales`).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.models import GridModel
from tests.parity.scales import pnl_scales
from tests.parity.test_grid import (
    account_scales,
    assert_same_numbers,
    assert_same_result,
    assert_same_schema,
    assert_same_values,
)
from tests.pricing.native import SLOW
from tests.strategies import Book, correlation_grid_models, grid_models, payoff_books


def assert_same_attribution(
    native: pmargin.MarginResult, ref: pmargin.MarginResult, book: Book, model: GridModel
) -> None:
    """by_position and explain agree: to 1e-9 relative, or 1e-9 x (gross margin + 1) absolute;
    the incremental margin (computed differently) 1e-9 x :func:`pnl_scales` absolute."""
    assert native.by_position is not None and ref.by_position is not None
    assert native.explain is not None and ref.explain is not None
    scales = account_scales(ref)
    assert_same_schema(native.by_position, ref.by_position, "by_position")
    assert_same_values(native.by_position, ref.by_position, ("account_id", "instrument_id", "quantity"), "by_position")
    accounts = ref.by_position.column("account_id").to_pylist()
    rows = [scales[a] for a in accounts]
    assert_same_numbers(native.by_position, ref.by_position, ("contribution", "standalone_margin"), rows, "by_position")
    pnl = pnl_scales(book, model)
    rows = [max(scales[a], pnl[a]) for a in accounts]
    assert_same_numbers(native.by_position, ref.by_position, ("incremental_margin",), rows, "by_position")

    assert_same_schema(native.explain, ref.explain, "explain")
    exact = ("account_id", "underlying", "scenario", "price_shock", "vol_shock")
    assert_same_values(native.explain, ref.explain, exact, "explain")
    rows = [scales[a] for a in ref.explain.column("account_id").to_pylist()]
    numbers = ("pnl", "delta_pnl", "gamma_pnl", "vega_pnl", "residual")
    assert_same_numbers(native.explain, ref.explain, numbers, rows, "explain")


@SLOW
@given(book=payoff_books(), model=grid_models())
def test_native_matches_reference_on_payoff_books(book: Book, model: GridModel) -> None:
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, model, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, model, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, model)


@SLOW
@given(book=payoff_books(), data=st.data())
def test_native_matches_reference_with_the_correlation_cross(book: Book, data: st.DataObject) -> None:
    """``cross="correlation"``: contributions at each underlying's worst scenario, incremental
    margins through the correlation aggregation."""
    names = list(dict.fromkeys(book.underlyings.column("underlying").to_pylist()))
    model = data.draw(correlation_grid_models(names))
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, model, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, model, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, model)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(book=payoff_books(max_rows=40, max_underlyings=5))
def test_native_matches_reference_on_payoff_books_with_the_default_model(book: Book) -> None:
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, GridModel())
