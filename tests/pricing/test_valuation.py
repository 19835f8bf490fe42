"""Prices and Greeks of every payoff through :func:`pmargin.value` (the native valuation).

- **QuantLib through the native engine**: prices and Greeks of vanilla and digital options against
  ``AnalyticEuropeanEngine``, barrier prices against ``AnalyticBarrierEngine`` (QuantLib's
  normal-CDF error taken out as in :mod:`tests.pricing.test_payoffs`) and barrier Greeks against
  central differences of QuantLib prices, with that file's strategies, tolerances and helpers, via
  the adapter :data:`tests.pricing.native.NATIVE`.
- **Invariants**: knock-in + knock-out == vanilla (zero rebate) in prices and Greeks; digital
  call + put == multiplier x exp(-rT); delta == a central difference of the engine's own prices; a
  long call's theta <= 0.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmargin.reference.domain.option_terms import BARRIER_TYPES
from pmargin.reference.pricing.barrier import BarrierParams
from tests.pricing import test_payoffs as qlt
from tests.pricing.native import NATIVE, QUICK, SLOW, Terms, barrier_terms, multipliers, native_one, native_values


@qlt.PROPERTIES
@given(o=qlt.options())
def test_native_vanilla_matches_quantlib(o: qlt.Option) -> None:
    expected = qlt.ql_greeks(qlt.ql_european(o, digital=False))
    actual = qlt.as_tuple(NATIVE.vanilla_greeks(*o.args()))
    assert math.isclose(actual[0], expected[0], rel_tol=1e-10, abs_tol=1e-13 * o.spot)
    qlt.assert_all_close(actual, expected, qlt.vanilla_scales(o.spot, o.strike, o.t, o.rate, o.vol), 1e-8, 1e-13)


@qlt.PROPERTIES
@given(o=qlt.options())
def test_native_digital_matches_quantlib(o: qlt.Option) -> None:
    expected = qlt.ql_greeks(qlt.ql_european(o, digital=True))
    actual = qlt.as_tuple(NATIVE.digital_greeks(*o.args()))
    assert math.isclose(actual[0], expected[0], rel_tol=1e-9, abs_tol=1e-13)
    qlt.assert_all_close(actual, expected, qlt.digital_scales(o.spot, o.t, o.rate, o.vol), 1e-8, 1e-13)


@qlt.PROPERTIES
@given(b=qlt.barriers())
def test_native_barrier_prices_match_quantlib(b: qlt.Barrier) -> None:
    p = b.params
    quantlib = qlt.ql_barrier_price(p, b.days)
    cdf_error = qlt.quantlib_cdf_error(p)
    assert abs(cdf_error) <= 5e-8 * p.spot
    actual = NATIVE.barrier_price(p)
    assert math.isclose(actual, quantlib - cdf_error, rel_tol=1e-9, abs_tol=1e-12 * p.spot), (
        f"{actual!r} vs QuantLib {quantlib!r} (its CDF error {cdf_error:.3e})"
    )


@pytest.mark.parametrize("barrier_type", BARRIER_TYPES)
@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("rebate", [0.0, 4.0])
@pytest.mark.parametrize("strike", [80.0, 100.0, 125.0])
def test_every_native_barrier_branch_matches_quantlib(
    barrier_type: str, is_call: bool, rebate: float, strike: float
) -> None:
    barrier = 90.0 if barrier_type.startswith("down") else 115.0
    p = BarrierParams(is_call, barrier_type, 100.0, strike, barrier, rebate, 219 / 365.0, 0.03, 0.3)
    assert math.isclose(NATIVE.barrier_price(p), qlt.ql_barrier_price(p, 219), rel_tol=1e-12, abs_tol=1e-13)


@SLOW
@given(b=qlt.barriers())
def test_native_barrier_greeks_match_quantlib_differences(b: qlt.Barrier) -> None:
    p = b.params
    expected = qlt.differences(lambda q: qlt.ql_barrier_price_exact_cdf(q, b.days), p)
    actual = qlt.as_tuple(NATIVE.barrier_greeks(p))
    qlt.assert_all_close(actual, expected, qlt.vanilla_scales(p.spot, p.strike, p.t, p.rate, p.vol), 1e-6, 1e-7)


@QUICK
@given(b=qlt.barriers(barrier_types=tuple(qlt.IN_OUT), rebate=False), m=multipliers)
def test_knock_in_plus_knock_out_is_the_vanilla_in_value(b: qlt.Barrier, m: float) -> None:
    p = b.params
    knock_in = barrier_terms(p, "IN")._replace(multiplier=m)
    knock_out = barrier_terms(replace(p, barrier_type=qlt.IN_OUT[p.barrier_type]), "OUT")._replace(multiplier=m)
    vanilla = Terms("V", p.is_call, p.strike, p.t, multiplier=m)
    v = native_values([knock_in, knock_out, vanilla], p.spot, p.rate, p.vol)
    summed = tuple(i + o for i, o in zip(qlt.as_tuple(v["IN"]), qlt.as_tuple(v["OUT"]), strict=True))
    scales = tuple(m * s for s in qlt.vanilla_scales(p.spot, p.strike, p.t, p.rate, p.vol))
    assert math.isclose(summed[0], v["V"].price, rel_tol=1e-10, abs_tol=1e-13 * m * p.spot)
    qlt.assert_all_close(summed, qlt.as_tuple(v["V"]), scales, rel=1e-10, floor=1e-12)


@QUICK
@given(o=qlt.options(), m=multipliers)
def test_digital_call_plus_put_pays_the_discounted_multiplier(o: qlt.Option, m: float) -> None:
    """call + put == m exp(-rT); their deltas, gammas and vegas cancel and their thetas add up to
    r m exp(-rT) (the carry of the certain payment)."""
    call = Terms("C", True, o.strike, o.t, "digital", multiplier=m)
    put = Terms("P", False, o.strike, o.t, "digital", multiplier=m)
    v = native_values([call, put], o.spot, o.rate, o.vol)
    cash = m * math.exp(-o.rate * o.t)
    assert math.isclose(v["C"].price + v["P"].price, cash, rel_tol=1e-14)
    scales = qlt.digital_scales(o.spot, o.t, o.rate, o.vol)
    for i, name in enumerate(("delta", "gamma", "vega"), start=1):
        total = getattr(v["C"], name) + getattr(v["P"], name)
        assert abs(total) <= 1e-13 * m * scales[i], (name, total)
    assert math.isclose(v["C"].theta + v["P"].theta, o.rate * cash, rel_tol=1e-9, abs_tol=1e-13 * m * scales[4])


class PayoffCase(NamedTuple):
    terms: Terms
    spot: float
    rate: float
    vol: float


@st.composite
def payoff_cases(draw: st.DrawFn) -> PayoffCase:
    """A vanilla, digital or barrier option (test_pricing_quantlib's ranges) with a multiplier."""
    m = draw(multipliers)
    kind = draw(st.sampled_from(["vanilla", "digital", "barrier"]))
    if kind == "barrier":
        p = draw(qlt.barriers()).params
        return PayoffCase(barrier_terms(p)._replace(multiplier=m), p.spot, p.rate, p.vol)
    o = draw(qlt.options())
    payoff = "digital" if kind == "digital" else draw(st.sampled_from([None, "vanilla"]))
    return PayoffCase(Terms("O", o.is_call, o.strike, o.t, payoff, multiplier=m), o.spot, o.rate, o.vol)


@QUICK
@given(case=payoff_cases())
def test_delta_is_a_difference_of_the_engines_own_prices(case: PayoffCase) -> None:
    """Delta from :func:`pmargin.value` == a Richardson central difference of its prices on
    markets with spot x (1 +/- h) (steps as in test_pricing_quantlib; they stay well inside the
    barrier's distance)."""
    x = case.terms

    def price(spot: float) -> float:
        return native_one(x, spot, case.rate, case.vol).price

    delta = native_one(x, case.spot, case.rate, case.vol).delta
    fd = qlt.own_delta(price, case.spot, case.vol, x.t)
    scale = 1.0 / (case.spot * case.vol * math.sqrt(x.t)) if x.payoff == "digital" else 1.0
    assert math.isclose(delta, fd, rel_tol=1e-7, abs_tol=1e-9 * x.multiplier * scale)


@QUICK
@given(o=qlt.options().filter(lambda o: o.rate >= 0.0))
def test_long_vanilla_call_theta_is_negative(o: qlt.Option) -> None:
    """theta <= 0; strictly negative whenever the option has time value left (vega > 0)."""
    g = NATIVE.vanilla_greeks(True, o.spot, o.strike, o.t, o.rate, o.vol)
    assert g.theta <= 0.0
    if g.vega > 0.0:
        assert g.theta < 0.0
