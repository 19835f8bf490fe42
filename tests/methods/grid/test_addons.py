"""Add-ons on the grid (GridModel calendar_rate, short_option_minimum, delta_shock): a futures
calendar and a spot / perpetual basis pay, a large delta pays its shock, a short option pays at
least its minimum; each is a column of the result, in both engines."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.errors import MarginConfigError
from pmargin.models import GridModel
from tests.parity.test_grid import assert_same_result
from tests.strategies import Book, books, grid_models

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)
ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {"native": pmargin.margin, "reference": reference.margin}
INSTRUMENTS = pa.table(
    {
        "instrument_id": ["F30", "F90", "S", "P", "C"],
        "underlying": ["BTC"] * 5,
        "kind": ["future", "future", "spot", "perpetual", "option"],
        "option_type": [None, None, None, None, "call"],
        "strike": [None, None, None, None, 70_000.0],
        "expiry": pa.array(
            [AS_OF + dt.timedelta(days=30), AS_OF + dt.timedelta(days=90), None, None, AS_OF + dt.timedelta(days=30)],
            pa.timestamp("ns", tz="UTC"),
        ),
    }
)
MARKET = pmargin.Market(
    AS_OF,
    pa.table({"underlying": ["BTC"], "spot": [60_000.0], "rate": [0.03]}),
    pa.table({"instrument_id": ["C"], "implied_vol": [0.6]}),
)
BOOKS = {
    "calendar": [("F30", 10.0), ("F90", -10.0)],
    "outright": [("F30", 10.0)],
    "basis": [("S", 5.0), ("P", -5.0)],
    "short call": [("C", -3.0)],
}
ROWS = [(a, i, q) for a, legs in BOOKS.items() for i, q in legs]
POSITIONS = pa.table(
    {"account_id": [r[0] for r in ROWS], "instrument_id": [r[1] for r in ROWS], "quantity": [r[2] for r in ROWS]}
)
ADDONS = GridModel(
    calendar_rate=0.01, short_option_minimum=0.05, delta_shock={"threshold": 1e5, "m_inc": 0.001, "max_shock": 0.1}
)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_calendar_basis_delta_shock_and_short_option_minimum(engine: str) -> None:
    plain = {r["account_id"]: r for r in ENGINES[engine](POSITIONS, INSTRUMENTS, MARKET).accounts.to_pylist()}
    rows = {r["account_id"]: r for r in ENGINES[engine](POSITIONS, INSTRUMENTS, MARKET, ADDONS).accounts.to_pylist()}
    # The scan alone: a 10-lot 30D / 90D calendar needs little, long spot / short perpetual nothing.
    assert plain["calendar"]["initial_margin"] < 0.01 * plain["outright"]["initial_margin"]
    assert plain["basis"]["initial_margin"] == 0.0
    # Calendar: 1% of spot on the 10 matched lots; basis: on the 5 matched units.
    cal = rows["calendar"]
    assert cal["calendar_charge"] == pytest.approx(0.01 * 60_000 * 10, rel=1e-12)
    assert cal["initial_margin"] == pytest.approx(cal["scan_margin"] + cal["calendar_charge"], rel=1e-15)
    assert cal["scan_margin"] == plain["calendar"]["initial_margin"]
    assert rows["basis"]["initial_margin"] == pytest.approx(0.01 * 60_000 * 5, rel=1e-12)
    # An outright has no spread; its 600,000 USD of delta is over the 100,000 threshold.
    out = rows["outright"]
    assert out["calendar_charge"] == 0.0
    assert out["delta_shock"] == pytest.approx(10 * 60_000 * 0.001 * (10 - 1e5 / 60_000), rel=1e-12)
    # Short 3 calls: minimum 5% of spot per unit = 9,000, below its scan: the scan stands.
    call = rows["short call"]
    assert call["short_option_minimum"] == pytest.approx(9_000.0, rel=1e-12)
    assert call["initial_margin"] == call["scan_margin"] > 9_000.0
    assert call["maintenance_margin"] == pytest.approx(0.75 * call["initial_margin"], rel=1e-15)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_short_option_minimum_is_a_floor(engine: str) -> None:
    model = GridModel(short_option_minimum=0.5)
    (row,) = [
        r
        for r in ENGINES[engine](POSITIONS, INSTRUMENTS, MARKET, model).accounts.to_pylist()
        if r["account_id"] == "short call"
    ]
    assert row["initial_margin"] == row["short_option_minimum"] == pytest.approx(0.5 * 60_000 * 3, rel=1e-12)
    by = ENGINES[engine](POSITIONS, INSTRUMENTS, MARKET, model).by_underlying.to_pylist()
    assert [r["short_option_minimum"] for r in by if r["account_id"] == "short call"] == [row["short_option_minimum"]]


def test_add_ons_refuse_by_position_and_bad_values() -> None:
    for engine in ENGINES.values():
        with pytest.raises(MarginConfigError, match="scan only"):
            engine(POSITIONS, INSTRUMENTS, MARKET, ADDONS, by_position=True)
    with pytest.raises(MarginConfigError) as info:
        GridModel(calendar_rate=-0.1)
    assert info.value.column == "calendar_rate"
    with pytest.raises(MarginConfigError) as info:
        GridModel(delta_shock={"threshold": 1.0})
    assert info.value.column == "delta_shock"
    assert GridModel.from_dict(ADDONS.to_dict()) == ADDONS
    assert "scan_margin" not in pmargin.margin(POSITIONS, INSTRUMENTS, MARKET).accounts.column_names


@pytest.mark.parametrize(
    ("kwargs", "column"),
    [
        ({"calendar_rate": 1e300}, "calendar_rate"),
        ({"short_option_minimum": 10.5}, "short_option_minimum"),
        ({"delta_shock": {"threshold": 0.0, "m_inc": 1e300, "max_shock": 1e300}}, "delta_shock.max_shock"),
    ],
)
def test_add_on_rates_are_bounded(kwargs: dict[str, object], column: str) -> None:
    # A rate past 10 (1,000% of spot) is a unit mistake, and made the margin inf / NaN.
    with pytest.raises(MarginConfigError, match=r"must be at most 10 \(a fraction of spot") as info:
        GridModel(**kwargs)  # type: ignore[arg-type]
    assert (info.value.table, info.value.column) == ("model", column)


def test_add_ons_at_their_bound_stay_finite() -> None:
    shock = {"threshold": 0.0, "m_inc": 1e300, "max_shock": 10.0}
    model = GridModel(calendar_rate=10.0, short_option_minimum=10.0, delta_shock=shock)
    book = pa.table({"account_id": ["a"] * 3, "instrument_id": ["S", "C", "F30"], "quantity": [-1e5, -1e5, 1e5]})
    for engine in ENGINES.values():
        row = engine(book, INSTRUMENTS, MARKET, model).accounts.to_pylist()[0]
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, float)), row
        assert row["short_option_minimum"] == 10.0 * 60_000.0 * 1e5


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(max_rows=30), base=grid_models(), data=st.data())
def test_native_matches_reference_with_add_ons(book: Book, base: GridModel, data: st.DataObject) -> None:
    from dataclasses import replace

    model = replace(
        base,
        calendar_rate=data.draw(st.sampled_from([0.0, 0.005, 0.02])),
        short_option_minimum=data.draw(st.sampled_from([0.0, 0.01, 0.5])),
        delta_shock=data.draw(
            st.sampled_from(
                [
                    None,
                    {"threshold": 0.0, "m_inc": 0.01, "max_shock": 0.1},
                    {"threshold": 1e3, "m_inc": 1e-4, "max_shock": 0.05},
                ]
            )
        ),
    )
    args = (book.positions, book.instruments, book.market(), model)
    native, ref = pmargin.margin(*args), reference.margin(*args)
    assert_same_result(native, ref)
    for name in ("scan_margin", "calendar_charge", "delta_shock", "short_option_minimum"):
        if model.has_addons:
            a, b = native.accounts.column(name).to_pylist(), ref.accounts.column(name).to_pylist()
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(max_rows=30), k=st.sampled_from([0.5, 4.0]))
def test_calendar_and_minimum_scale_with_the_book(book: Book, k: float) -> None:
    """With the delta shock off (its rate grows with size, by design) every requirement scales by k."""
    model = GridModel(calendar_rate=0.01, short_option_minimum=0.02)
    q = [x * k for x in book.positions.column("quantity").cast(pa.float64()).to_pylist()]
    scaled = book.positions.set_column(2, "quantity", pa.array(q, pa.float64()))
    a = pmargin.margin(book.positions, book.instruments, book.market(), model).accounts
    b = pmargin.margin(scaled, book.instruments, book.market(), model).accounts
    for x, y in zip(a.column("initial_margin").to_pylist(), b.column("initial_margin").to_pylist(), strict=True):
        assert y == pytest.approx(k * x, rel=1e-9, abs=1e-6)
