"""Market data at the boundary (python/pmargin/market.py, reference/domain/market.py and the
core's domain/market.rs): the valuation time's supported range, implausible implied vols (with
the percent hint and the ``Limits`` opt-out) and reserved underlying names, in both engines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import pmargin
import pmargin.reference
from pmargin import Limits, MarginInputError, Market
from pmargin.columns import TIME_RANGE
from pmargin.market import to_epoch_ns

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)

INSTRUMENTS = pa.table(
    {
        "instrument_id": ["F", "C"],
        "underlying": ["BTC", "BTC"],
        "kind": ["perpetual", "option"],
        "option_type": [None, "call"],
        "strike": [None, 60000.0],
        "expiry": pa.array([None, dt.datetime(2026, 12, 30, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")),
    }
)
POSITIONS = pa.table({"account_id": ["a", "a"], "instrument_id": ["F", "C"], "quantity": [1.0, -1.0]})
UNDERLYINGS = pa.table({"underlying": ["BTC"], "spot": [60000.0]})


def market(vols: list[float], underlyings: pa.Table = UNDERLYINGS) -> Market:
    ids = ["C", *[f"X{i}" for i in range(len(vols) - 1)]]
    return Market(AS_OF, underlyings, pa.table({"instrument_id": ids, "implied_vol": vols}))


# Every entry point that reads the vols table, native and reference, with a ``limits`` keyword.
CALLS: dict[str, Callable[..., Any]] = {
    "native margin": lambda m, **kw: pmargin.margin(POSITIONS, INSTRUMENTS, m, **kw),
    "reference margin": lambda m, **kw: pmargin.reference.margin(POSITIONS, INSTRUMENTS, m, **kw),
    "native value": lambda m, **kw: pmargin.value(INSTRUMENTS, m, **kw),
    "reference value": lambda m, **kw: pmargin.reference.value(INSTRUMENTS, m, **kw),
    "native greeks": lambda m, **kw: pmargin.greeks(POSITIONS, INSTRUMENTS, m, **kw),
    "reference greeks": lambda m, **kw: pmargin.reference.greeks(POSITIONS, INSTRUMENTS, m, **kw),
    "native historical": lambda m, **kw: pmargin.margin(
        POSITIONS, INSTRUMENTS, m, pmargin.HistoricalModel(moves=MOVES, confidence=0.5), **kw
    ),
    "reference historical": lambda m, **kw: pmargin.reference.margin(
        POSITIONS, INSTRUMENTS, m, pmargin.HistoricalModel(moves=MOVES, confidence=0.5), **kw
    ),
}
MOVES = pa.table({"date": ["d1", "d2"], "underlying": ["BTC", "BTC"], "return": [0.05, -0.05]})


# --- as_of ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of",
    [
        dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        dt.date(2262, 4, 12),
        "9999-01-01",
        "1677-09-21T00:12:43Z",
        "1677-09-21T00:12:43.145224191Z",  # 1 ns before the lower bound
        "2262-04-11T23:47:16.854775808Z",  # 1 ns past the upper bound
        np.datetime64("9999-01-01"),
        np.datetime64("1000-01-01T00:00:00", "s"),
        np.datetime64("NaT"),
        pd.NaT,
    ],
)
def test_as_of_outside_the_supported_range(as_of: Any) -> None:
    with pytest.raises(MarginInputError) as info:
        Market(as_of, UNDERLYINGS)
    assert (info.value.table, info.value.column, info.value.row) == ("market", "as_of", None)
    assert info.value.reason == f"time is {TIME_RANGE}"


def test_the_ends_of_the_range_are_valid_as_of() -> None:
    assert to_epoch_ns("2262-04-11T23:47:16.854775") == 9_223_372_036_854_775_000
    assert to_epoch_ns(np.datetime64(2**63 - 1, "ns")) == 2**63 - 1
    assert to_epoch_ns(np.datetime64(-(2**63) + 1, "ns")) == -(2**63) + 1
    assert to_epoch_ns(pd.Timestamp("2262-04-11T23:47:16.854775807", tz="UTC")) == 2**63 - 1
    assert to_epoch_ns(np.datetime64("2026-06-30T08:00:00", "s")) == to_epoch_ns(AS_OF)
    assert to_epoch_ns(dt.date(1970, 1, 2)) == 86_400 * 10**9
    # Both ends to the nanosecond, inclusive, from ISO strings as from numpy.
    assert to_epoch_ns("1677-09-21T00:12:43.145224192Z") == -(2**63)
    assert to_epoch_ns("2262-04-11T23:47:16.854775807Z") == 2**63 - 1
    assert to_epoch_ns("2262-04-11T23:47:16.854775807") == 2**63 - 1


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-06-30T08:00:00.000000999Z", 1_782_806_400_000_000_999),
        ("2026-06-30T08:00:00.0000009Z", 1_782_806_400_000_000_900),
        ("2026-06-30T10:00:00,123456789+02:00", 1_782_806_400_123_456_789),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2026-06-30T08:00:00.123456Z", 1_782_806_400_123_456_000),
    ],
)
def test_as_of_strings_keep_nanoseconds_as_numpy_does(text: str, ns: int) -> None:
    assert Market(text, UNDERLYINGS).as_of_ns == ns
    naive = np.datetime64(ns, "ns")
    assert Market(naive, UNDERLYINGS).as_of_ns == ns


def test_as_of_with_more_than_nanosecond_digits_is_an_error() -> None:
    with pytest.raises(MarginInputError) as info:
        Market("2026-06-30T08:00:00.1234567891Z", UNDERLYINGS)
    assert (info.value.table, info.value.column, info.value.row) == ("market", "as_of", None)
    assert info.value.reason == (
        "more than 9 digits of a second (nanoseconds are the finest): '2026-06-30T08:00:00.1234567891Z'"
    )


# --- implied vols -----------------------------------------------------------------------------


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_vol_in_percent_is_rejected_with_a_hint(call: str) -> None:
    with pytest.raises(MarginInputError) as info:
        CALLS[call](market([0.5, 55.0, -1.0]))
    assert (info.value.table, info.value.column, info.value.row) == ("vols", "implied_vol", 1)
    assert "55.0 looks like a percent: give 0.55, or raise pmargin.Limits(max_implied_vol=...)" in info.value.reason
    assert "above the maximum implied vol 5.0" in info.value.reason


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_absurd_vol_gets_no_percent_hint(call: str) -> None:
    # 1e300 / 100 is no vol either: the hint is to check the units.
    with pytest.raises(MarginInputError) as info:
        CALLS[call](market([0.5, 1e300]))
    assert (info.value.table, info.value.column, info.value.row) == ("vols", "implied_vol", 1)
    reason = info.value.reason
    assert reason.split(" is above")[0] in ("1e300", "1e+300")  # Rust's and Python's float text
    assert reason.endswith(
        " is above the maximum implied vol 5.0 (vols are annualised fractions: 0.55 is 55%): "
        "check its units, or raise pmargin.Limits(max_implied_vol=...)"
    )


@pytest.mark.parametrize("call", sorted(CALLS))
def test_the_bound_is_a_limit_the_user_sets(call: str) -> None:
    # Raised: 5.5 passes; the default bound rejects it; None turns the check off.
    CALLS[call](market([0.5, 5.5]), limits=Limits(max_implied_vol=6.0))
    CALLS[call](market([0.5, 55.0]), limits=Limits(max_implied_vol=None))
    with pytest.raises(MarginInputError, match=r"vols\.implied_vol, row 1"):
        CALLS[call](market([0.5, 5.5]))
    with pytest.raises(MarginInputError, match=r"vols\.implied_vol, row 0"):
        CALLS[call](market([0.7, 0.1]), limits=Limits(max_implied_vol=0.6))
    # At the bound is fine.
    CALLS[call](market([5.0]))


def test_both_engines_price_the_same_with_a_raised_bound() -> None:
    m = market([7.5])
    limits = Limits(max_implied_vol=10.0)
    native = pmargin.margin(POSITIONS, INSTRUMENTS, m, limits=limits)
    reference = pmargin.reference.margin(POSITIONS, INSTRUMENTS, m, limits=limits)
    for column in ("initial_margin", "gross_margin"):
        assert native.accounts.column(column).to_pylist() == pytest.approx(
            reference.accounts.column(column).to_pylist(), rel=1e-9
        )


def test_both_engines_check_the_type_of_limits() -> None:
    for margin in (pmargin.margin, pmargin.reference.margin):
        with pytest.raises(pmargin.MarginConfigError, match=r"limits must be a pmargin\.Limits, got dict") as e:
            margin(POSITIONS, INSTRUMENTS, market([0.5]), limits={"max_implied_vol": 1.0})
        assert e.value.table == "limits"


# --- reserved names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["total", "scenario", "price_shock", "vol_shock", "label"])
@pytest.mark.parametrize("engine", [pmargin.margin, pmargin.reference.margin])
def test_reserved_underlying_names(engine: Callable[..., pmargin.MarginResult], name: str) -> None:
    underlyings = pa.table({"underlying": ["BTC", name], "spot": [60000.0, 1.0]})
    with pytest.raises(MarginInputError) as info:
        engine(POSITIONS, INSTRUMENTS, market([0.5], underlyings))
    assert (info.value.table, info.value.column, info.value.row) == ("underlyings", "underlying", 1)
    assert f"'{name}' is reserved" in info.value.reason


def test_scenario_matrix_columns_are_distinct() -> None:
    underlyings = pa.table({"underlying": ["BTC", "Total", "totals"], "spot": [60000.0, 1.0, 2.0]})
    result = pmargin.margin(POSITIONS, INSTRUMENTS, market([0.5], underlyings))
    names = result.scenarios("a").column_names
    assert len(names) == len(set(names))


# --- values the reference's math cannot compute -------------------------------------------------


@pytest.mark.parametrize("rate", [1e5, 1e308, -1e308])
@pytest.mark.parametrize("call", ["margin", "value", "greeks"])
def test_a_rate_that_overflows_is_the_same_error_in_both_engines(call: str, rate: float) -> None:
    """exp(r T) overflows: IEEE gives inf (native), Python's math raises (reference, now NaN);
    either way the option is not finite and both name its instruments row."""
    underlyings = pa.table({"underlying": ["BTC"], "spot": [60000.0], "rate": [rate]})
    m = market([0.5], underlyings)
    native = CALLS[f"native {call}"]
    reference = CALLS[f"reference {call}"]
    errors = []
    for run in (native, reference):
        with pytest.raises(MarginInputError) as info:
            run(m)
        errors.append((info.value.table, info.value.column, info.value.row))
    assert errors[0] == errors[1] == ("instruments", "instrument_id", 1)


def test_non_finite_values_under_a_window_name_the_first_position_row() -> None:
    """Two held futures both overflow: both engines name the one held by the earlier position
    row (the core checks every held contract per position row), not the lower instruments row."""
    instruments = pa.table(
        {
            "instrument_id": ["FB", "FE"],
            "underlying": ["BTC", "ETH"],
            "kind": ["future", "future"],
            "expiry": pa.array([dt.datetime(2026, 9, 30)] * 2, pa.timestamp("s")),
        }
    )
    underlyings = pa.table({"underlying": ["BTC", "ETH"], "spot": [100.0, 10.0], "rate": [1e5, 1e5]})
    moves = pa.table(
        {"date": ["d1", "d2", "d1", "d2"], "underlying": ["BTC", "BTC", "ETH", "ETH"], "return": [0.1, -0.1] * 2}
    )
    positions = pa.table({"account_id": ["a", "a"], "instrument_id": ["FE", "FB"], "quantity": [1.0, 1.0]})
    m = Market(AS_OF, underlyings)
    for model in (pmargin.HistoricalModel(moves=moves, confidence=0.5), pmargin.GridModel()):
        for engine in (pmargin.margin, pmargin.reference.margin):
            with pytest.raises(MarginInputError) as info:
                engine(positions, instruments, m, model)
            assert (info.value.table, info.value.column, info.value.row) == ("instruments", "instrument_id", 1)
