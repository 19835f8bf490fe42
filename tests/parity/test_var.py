"""The VaR / ES models through both engines: historical, Monte Carlo and correlation-grid margins
agree (native == reference to 1e-9 relative), the draws are identical, bad input is reported
alike, and many scenarios across aggregation blocks still give the reference's order statistics.
"""

from __future__ import annotations

import collections
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.engine import monte_carlo_scenarios
from pmargin.reference.scenarios.montecarlo import scenario_table
from pmargin.result import MarginResult
from tests.methods.models import historical_moves, mc_model, sample_book
from tests.strategies import Book, books, measure_models

REL = 1e-9


SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def same_cell(a: Any, b: Any, scale: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=REL * scale)
    return bool(a == b)


def assert_same_table(native: pa.Table, ref: pa.Table, scales: list[float], what: str) -> None:
    assert native.schema == ref.schema, (what, native.schema, ref.schema)
    for name in ref.column_names:
        for row, (a, b) in enumerate(zip(native.column(name).to_pylist(), ref.column(name).to_pylist(), strict=True)):
            assert same_cell(a, b, scales[row]), f"{what}.{name} row {row}: native {a!r}, reference {b!r}"


def assert_same_result(native: MarginResult, ref: MarginResult) -> None:
    gross = dict(
        zip(ref.accounts.column("account_id").to_pylist(), ref.accounts.column("gross_margin").to_pylist(), strict=True)
    )
    ids = ref.accounts.column("account_id").to_pylist()
    assert_same_table(native.accounts, ref.accounts, [gross[a] + 1.0 for a in ids], "accounts")
    row_ids = ref.by_underlying.column("account_id").to_pylist()
    assert_same_table(native.by_underlying, ref.by_underlying, [gross[a] + 1.0 for a in row_ids], "by_underlying")
    for account in dict.fromkeys([ids[0], ids[-1]] if ids else []):
        n, r = native.scenarios(account), ref.scenarios(account)
        assert_same_table(n, r, [gross[account] + 1.0] * r.num_rows, f"scenarios({account!r})")


@st.composite
def book_and_model(draw: st.DrawFn) -> tuple[Book, Any]:
    book = draw(books(max_rows=20, max_underlyings=3))
    names = sorted(set(book.underlyings.column("underlying").to_pylist()))
    return book, draw(measure_models(names))


@SETTINGS
@given(case=book_and_model())
def test_native_matches_reference_for_every_method(case: tuple[Book, Any]) -> None:
    book, model = case
    market = book.market()
    try:
        native = pmargin.margin(book.positions, book.instruments, market, model)
    except pmargin.MarginInputError as err:
        # Some random models are invalid for the book (an EWMA-filtered fall past -100%, say):
        # then both engines must reject it at the same cell.
        with pytest.raises(pmargin.MarginInputError) as ref_err:
            reference.margin(book.positions, book.instruments, market, model)
        assert (ref_err.value.table, ref_err.value.column, ref_err.value.row) == (err.table, err.column, err.row)
        return
    ref = reference.margin(book.positions, book.instruments, market, model)
    assert native.accounts.num_rows == len(set(book.positions.column("account_id").to_pylist()))
    assert_same_result(native, ref)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"distribution": "student_t", "dof": 4.5}, {"vol_of_vol": 0.3, "spot_vol_correlation": -0.6}],
)
def test_native_and_reference_draw_the_same_scenarios(kwargs: dict[str, Any]) -> None:
    model = mc_model(n=300, **kwargs)
    native, ref = monte_carlo_scenarios(model), scenario_table(model)
    assert model.scenarios().equals(native)
    assert native.column_names == ref.column_names
    assert native.column("scenario").to_pylist() == ref.column("scenario").to_pylist()
    assert native.column("underlying").to_pylist() == ref.column("underlying").to_pylist()
    for name in ("return", "vol_change"):
        for a, b in zip(native.column(name).to_pylist(), ref.column(name).to_pylist(), strict=True):
            assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), (name, a, b)


def test_bad_input_is_reported_alike_by_both_engines() -> None:
    book = sample_book()
    engines = (pmargin.margin, reference.margin)
    moves = historical_moves()
    missing_eth = moves.filter(
        pa.compute.invert(
            pa.compute.and_(pa.compute.equal(moves["date"], "2024-01-05"), pa.compute.equal(moves["underlying"], "ETH"))
        )
    )
    duplicated = pa.concat_tables([moves, moves.slice(3, 1)])
    nan_return = moves.set_column(
        2, "return", pa.array([math.nan if i == 7 else x for i, x in enumerate(moves["return"].to_pylist())])
    )
    btc_only = pmargin.Correlation(["BTC"], [[1.0]])
    cases = [
        (pmargin.HistoricalModel(missing_eth), ("moves", "date", None), "2024-01-05"),
        (pmargin.HistoricalModel(duplicated), ("moves", "underlying", 240), "duplicate"),
        (pmargin.HistoricalModel(nan_return), ("moves", "return", 7), "finite"),
        (pmargin.HistoricalModel(moves, confidence=0.999), ("model", "confidence", None), "too few"),
        (
            pmargin.MonteCarloModel(pa.table({"underlying": ["BTC"], "vol": [0.05]}), btc_only, 500, 1),
            ("correlation", None, None),
            "ETH",
        ),
        (pmargin.GridModel(cross="correlation", correlation=btc_only), ("correlation", None, None), "ETH"),
    ]
    for model, where, fragment in cases:
        for engine in engines:
            with pytest.raises(pmargin.MarginInputError) as info:
                engine(book.positions, book.instruments, book.market, model)
            err = info.value
            assert (err.table, err.column, err.row) == where, (engine, str(err))
            assert fragment in str(err), (engine, str(err))


@pytest.mark.parametrize(("measure", "confidence"), [("es", 0.975), ("var", 0.99)])
def test_many_scenarios_across_blocks_match_the_reference(measure: str, confidence: float) -> None:
    """9,000 scenarios span several aggregation blocks, and the native tail seeds its bar from
    the first block: still exactly the reference's order statistics."""
    book = pmargin.sample.book(n_accounts=12, seed=21)
    model = mc_model(n=9000, seed=5, measure=measure, confidence=confidence, vol_of_vol=0.2)
    native = pmargin.margin(book.positions, book.instruments, book.market, model)
    ref = reference.margin(book.positions, book.instruments, book.market, model)
    assert native.accounts.num_rows == 12
    assert_same_result(native, ref)


def test_benefits_within_rounding_are_zero_in_both_engines() -> None:
    """A one-position account's margin taken whole and per unit may differ in the last bit: its
    netting and cross-underlying benefits are 0.0 in both engines (the reference gave -7.3e-12),
    and every other benefit is more than rounding of its margins."""
    from tests.methods.models import mc_model, sample_book

    book = sample_book()
    counts = collections.Counter(book.positions.column("account_id").to_pylist())
    model = mc_model(500, tail_scenarios=False)
    for engine in (pmargin, reference):
        accounts = engine.margin(book.positions, book.instruments, book.market, model).accounts.to_pylist()
        singles = [a for a in accounts if counts[a["account_id"]] == 1]
        assert singles, "the sample book has one-position accounts"
        for a in accounts:
            for benefit, of in (
                ("netting_benefit", "gross_margin"),
                ("cross_underlying_benefit", "undiversified_margin"),
            ):
                larger = max(a[of], a["initial_margin"])
                assert a[benefit] == 0.0 or abs(a[benefit]) > 2.0**-40 * larger, (engine.__name__, a)
        assert all(a["netting_benefit"] == 0.0 == a["cross_underlying_benefit"] for a in singles), engine.__name__
