"""The pure-Python reference's Black-76 against QuantLib (``blackFormula`` and
``AnalyticEuropeanEngine``) to 1e-10, through :func:`pmargin.reference.instrument_values` too, and
put-call parity.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from pmargin.reference import instrument_values
from pmargin.reference.pricing.black76 import black76
from tests.reference.test_grid import instrument, instruments_table, market


@settings(max_examples=300, deadline=None)
@given(
    fwd=st.floats(1.0, 1e5),
    moneyness=st.floats(0.3, 3.0),
    vol=st.floats(0.01, 3.0),
    t=st.floats(1e-3, 5.0),
    rate=st.floats(-0.1, 0.2),
)
def test_put_call_parity(fwd: float, moneyness: float, vol: float, t: float, rate: float) -> None:
    """``C - P = e^{-rT} (F - K)``."""
    strike = fwd * moneyness
    call = black76(True, fwd, strike, vol, t, rate)
    put = black76(False, fwd, strike, vol, t, rate)
    assert call - put == pytest.approx(math.exp(-rate * t) * (fwd - strike), rel=1e-12, abs=1e-12 * (fwd + strike))


@settings(max_examples=400, deadline=None)
@given(
    is_call=st.booleans(),
    fwd=st.floats(1.0, 1e6),
    moneyness=st.floats(0.25, 4.0),
    vol=st.floats(0.01, 3.0),
    t=st.floats(1e-4, 10.0),
    rate=st.floats(-0.1, 0.3),
)
def test_black76_matches_quantlib_black_formula(
    is_call: bool, fwd: float, moneyness: float, vol: float, t: float, rate: float
) -> None:
    strike = fwd * moneyness
    sd = vol * math.sqrt(t)
    df = math.exp(-rate * t)
    expected = ql.blackFormula(ql.Option.Call if is_call else ql.Option.Put, strike, fwd, sd, df)
    actual = black76(is_call, fwd, strike, vol, t, rate)
    # Deep out of the money both prices are differences of near-equal terms: allow rounding of F.
    assert math.isclose(actual, expected, rel_tol=1e-10, abs_tol=1e-13 * max(fwd, strike))


@settings(max_examples=150, deadline=None)
@given(
    is_call=st.booleans(),
    spot=st.floats(1.0, 1e5),
    moneyness=st.floats(0.5, 2.0),
    vol=st.floats(0.05, 2.0),
    days=st.integers(1, 1500),
    rate=st.floats(-0.05, 0.15),
    multiplier=st.floats(0.01, 100.0),
)
def test_instrument_values_match_quantlib_european_engine(
    is_call: bool, spot: float, moneyness: float, vol: float, days: int, rate: float, multiplier: float
) -> None:
    """A European option on the spot with flat continuous rate, no dividend and flat vol
    (Actual/365 Fixed): QuantLib's AnalyticEuropeanEngine equals the reference's Black-76 on
    ``F = spot * exp(rate * T)``, whole tables in and out."""
    strike = spot * moneyness
    today = ql.Date(30, 6, 2026)
    maturity = today + days
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, strike), ql.EuropeanExercise(maturity)
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    expected = multiplier * option.NPV()

    as_of = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
    inst = instruments_table(
        [
            instrument(
                "O",
                "X",
                "option",
                option_type="call" if is_call else "put",
                strike=strike,
                expiry=as_of + dt.timedelta(days=days),
                multiplier=multiplier,
            )
        ]
    )
    actual = instrument_values(inst, market({"X": (spot, rate)}, {"O": vol}, as_of=as_of)).column("price")[0].as_py()
    assert math.isclose(actual, expected, rel_tol=1e-10, abs_tol=1e-13 * multiplier * max(spot, strike))
