"""Prices and Greeks of every payoff against QuantLib, and their invariants, as properties.

What is checked, per implementation in :data:`PRICERS` (the ``pricer`` fixture runs every test
once per implementation; today the pure-Python reference :mod:`pmargin.reference.pricing`, and
any other with the same function shapes can be appended):

- vanilla prices against ``AnalyticEuropeanEngine`` to 1e-10 relative, and delta, gamma, vega,
  theta against its analytic Greeks to 1e-8 relative;
- cash-or-nothing digitals (``CashOrNothingPayoff(type, K, 1)``) to 1e-9 (price) and 1e-8
  (Greeks) relative;
- barrier prices, all eight types with and without rebate, against ``AnalyticBarrierEngine`` to
  1e-9 relative once QuantLib's own normal-CDF error is taken out (see below), and barrier Greeks
  against Richardson-extrapolated central differences of QuantLib prices;
- knock-in + knock-out == vanilla (zero rebate), digital call + put == discount factor, delta ==
  a central difference of the implementation's own prices; and fixed cases for expiry, breached
  barriers, ``spot == strike`` and the vol floor.

**Set-up.** A ``BlackScholesMertonProcess`` with flat continuous rate ``r``, flat dividend 0 and
flat vol on Actual/365 Fixed, evaluation date 2026-06-30, expiry ``days`` later: QuantLib's ``T``
is exactly ``days / 365``, which is what the implementation is given. Ranges: spot 50..200,
strike 0.5..1.5 x spot, barrier 0.6..0.95 x spot (down) or 1.05..1.5 x spot (up), T 8..730 days,
vol 0.05..1.2, rate -0.01..0.08, rebate 0 or up to 0.1 x spot.

**Tolerances** are relative, with an absolute floor for values near zero (deep out of the money,
or a Greek crossing zero), where QuantLib rounds to 0 or its tail probabilities lose digits: 1e-13
(1e-12 for barrier prices) times the quantity's natural scale (:func:`vanilla_scales`,
:func:`digital_scales`; spot for prices). Measured on the reference: 2e-14 x scale or better for
every analytic comparison. Barrier Greeks against finite differences: 1e-6 relative or 1e-7 x
scale (the differences themselves are good to about 5e-9 x scale; see :func:`spot_step`).

**QuantLib's conventions.** ``theta()`` is per year of calendar time and is ``dV/dt`` (negative
for a long call): the same as ours (:func:`test_quantlib_theta_is_the_calendar_derivative`).
``vega()`` is per 1.00 of vol, ``delta()`` / ``gamma()`` are in spot: also ours.

**QuantLib's normal CDF.** ``CumulativeNormalDistribution`` switches to an asymptotic series
below N = 1e-8 and is off by up to 7e-8 relative near x = -5.7 (ours, ``0.5 erfc(-x / sqrt 2)``, is
accurate to rounding). At low vol the barrier formula multiplies such tail probabilities by large
powers ``(H/S)^(2 mu)``, so QuantLib's barrier prices carry errors of up to a few 1e-9 x spot. The
barrier tests therefore compare with QuantLib's price minus that error, measured as the reference
formula evaluated with QuantLib's CDF minus the same with ours (:func:`quantlib_cdf_error`); with
QuantLib's CDF the reference reproduces QuantLib to about 1e-15 x spot, and the correction itself
is asserted to stay under 5e-8 x spot (its bound: 7.4e-8 times the tail terms, each below ~0.1 x
strike; the largest seen is 4e-9 x spot).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol
from unittest import mock

import pytest
import QuantLib as ql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmargin.reference.domain.option_terms import BARRIER_TYPES, is_down
from pmargin.reference.pricing import barrier as barrier_pricing
from pmargin.reference.pricing.barrier import BarrierParams, breached
from pmargin.reference.pricing.digital import digital_greeks, digital_price
from pmargin.reference.pricing.greeks import vanilla_greeks, vanilla_price

PROPERTIES = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta")

IN_OUT = {"down-and-in": "down-and-out", "up-and-in": "up-and-out"}


class GreeksLike(Protocol):
    """What a Greeks function returns: per unit, before the multiplier (see
    :mod:`pmargin.reference.payoffs` for the conventions)."""

    @property
    def price(self) -> float: ...
    @property
    def delta(self) -> float: ...
    @property
    def gamma(self) -> float: ...
    @property
    def vega(self) -> float: ...
    @property
    def theta(self) -> float: ...


#: ``(is_call, spot, strike, t, rate, vol)``.
OptionFn = Callable[[bool, float, float, float, float, float], float]

OptionGreeksFn = Callable[[bool, float, float, float, float, float], GreeksLike]


@dataclass(frozen=True)
class Pricer:
    """One implementation of the pricing functions, with the reference's signatures."""

    name: str
    vanilla_price: OptionFn
    vanilla_greeks: OptionGreeksFn
    digital_price: OptionFn
    digital_greeks: OptionGreeksFn
    barrier_price: Callable[[BarrierParams], float]
    barrier_greeks: Callable[[BarrierParams], GreeksLike]


REFERENCE = Pricer(
    "reference",
    vanilla_price,
    vanilla_greeks,
    digital_price,
    digital_greeks,
    barrier_pricing.barrier_price,
    barrier_pricing.barrier_greeks,
)


#: Every implementation the tests run against; append one to have it checked the same way.
PRICERS: list[Pricer] = [REFERENCE]


@pytest.fixture(scope="module", params=PRICERS, ids=lambda p: p.name)
def pricer(request: pytest.FixtureRequest) -> Pricer:
    result: Pricer = request.param
    return result


class Option(NamedTuple):
    """A European option's inputs; ``t = days / 365`` exactly as QuantLib computes it."""

    is_call: bool
    spot: float
    strike: float
    days: int
    rate: float
    vol: float

    @property
    def t(self) -> float:
        return self.days / 365.0

    def args(self) -> tuple[bool, float, float, float, float, float]:
        return (self.is_call, self.spot, self.strike, self.t, self.rate, self.vol)


class Barrier(NamedTuple):
    """A barrier option's inputs and its expiry in days (``params.t == days / 365``)."""

    params: BarrierParams
    days: int


@st.composite
def options(draw: st.DrawFn) -> Option:
    spot = draw(st.floats(50.0, 200.0))
    return Option(
        is_call=draw(st.booleans()),
        spot=spot,
        strike=spot * draw(st.floats(0.5, 1.5)),
        days=draw(st.integers(8, 730)),
        rate=draw(st.floats(-0.01, 0.08)),
        vol=draw(st.floats(0.05, 1.2)),
    )


@st.composite
def barriers(draw: st.DrawFn, barrier_types: tuple[str, ...] = BARRIER_TYPES, rebate: bool = True) -> Barrier:
    o = draw(options())
    barrier_type = draw(st.sampled_from(barrier_types))
    level = draw(st.floats(0.6, 0.95) if is_down(barrier_type) else st.floats(1.05, 1.5))
    cash = draw(st.one_of(st.just(0.0), st.floats(0.001, 0.1))) if rebate else 0.0
    params = BarrierParams(
        is_call=o.is_call,
        barrier_type=barrier_type,
        spot=o.spot,
        strike=o.strike,
        barrier=o.spot * level,
        rebate=cash * o.spot,
        t=o.t,
        rate=o.rate,
        vol=o.vol,
    )
    return Barrier(params, o.days)


TODAY = ql.Date(30, 6, 2026)

DAY_COUNT = ql.Actual365Fixed()


QL_BARRIER = {
    "down-and-in": ql.Barrier.DownIn,
    "down-and-out": ql.Barrier.DownOut,
    "up-and-in": ql.Barrier.UpIn,
    "up-and-out": ql.Barrier.UpOut,
}


QL_CDF = ql.CumulativeNormalDistribution()


def ql_process(spot: float, rate: float, vol: float) -> ql.BlackScholesMertonProcess:
    ql.Settings.instance().evaluationDate = TODAY
    return ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, 0.0, DAY_COUNT, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, DAY_COUNT, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, DAY_COUNT)),
    )


def ql_option_type(is_call: bool) -> int:
    return int(ql.Option.Call if is_call else ql.Option.Put)


def ql_european(o: Option, digital: bool) -> ql.VanillaOption:
    """QuantLib's priced option: plain vanilla, or cash-or-nothing paying 1."""
    payoff = (
        ql.CashOrNothingPayoff(ql_option_type(o.is_call), o.strike, 1.0)
        if digital
        else ql.PlainVanillaPayoff(ql_option_type(o.is_call), o.strike)
    )
    option = ql.VanillaOption(payoff, ql.EuropeanExercise(TODAY + o.days))
    option.setPricingEngine(ql.AnalyticEuropeanEngine(ql_process(o.spot, o.rate, o.vol)))
    return option


def ql_greeks(option: ql.VanillaOption) -> tuple[float, ...]:
    return (option.NPV(), option.delta(), option.gamma(), option.vega(), option.theta())


def ql_barrier_price(p: BarrierParams, days: int) -> float:
    """``AnalyticBarrierEngine``'s price; ``p.t`` is ignored (``days`` sets the expiry)."""
    option = ql.BarrierOption(
        QL_BARRIER[p.barrier_type],
        p.barrier,
        p.rebate,
        ql.PlainVanillaPayoff(ql_option_type(p.is_call), p.strike),
        ql.EuropeanExercise(TODAY + days),
    )
    option.setPricingEngine(ql.AnalyticBarrierEngine(ql_process(p.spot, p.rate, p.vol)))
    price: float = option.NPV()
    return price


def quantlib_cdf_error(p: BarrierParams) -> float:
    """How much QuantLib's normal CDF alone moves the barrier price: the reference closed form
    evaluated with ``ql.CumulativeNormalDistribution`` minus the same with its own CDF."""
    with mock.patch.object(barrier_pricing, "norm_cdf", QL_CDF):
        with_quantlib_cdf = barrier_pricing.barrier_price(p)
    return with_quantlib_cdf - barrier_pricing.barrier_price(p)


def ql_barrier_price_exact_cdf(p: BarrierParams, days: int) -> float:
    """QuantLib's barrier price with its normal-CDF error taken out."""
    return ql_barrier_price(p, days) - quantlib_cdf_error(p)


def richardson(diff: Callable[[float], float], step: float) -> float:
    """``(4 D(h) - D(2h)) / 3`` for a central difference ``D``: error O(h^4)."""
    return (4.0 * diff(step) - diff(2.0 * step)) / 3.0


def spot_step(spot: float, vol: float, t: float, factor: float) -> float:
    """Finite-difference step in spot: ``factor`` times the spot's standard deviation, which is
    capped at 0.2 x spot (so the step stays well inside the 5% gap to any barrier). Measured
    best: ``factor`` 2e-3 for delta, 3e-3 for gamma (truncation ~ h^4 against rounding ~ 1/h^2)."""
    return factor * spot * min(vol * math.sqrt(t), 0.2)


def differences(price: Callable[[BarrierParams], float], p: BarrierParams) -> tuple[float, ...]:
    """Price and Richardson-extrapolated central differences of ``price`` around ``p``: delta and
    gamma in spot (:func:`spot_step`), vega in vol (step 1e-3 x vol), and theta = -dV/dT through
    the time-scaling identity of Black-Scholes, V(T (1 + e); r, vol) = V(T; r (1 + e), vol
    sqrt(1 + e)), which moves T continuously with the expiry date fixed (step e = 1e-3)."""
    hv = 1e-3 * p.vol

    def at(spot: float = p.spot, rate: float = p.rate, vol: float = p.vol) -> float:
        return price(replace(p, spot=spot, rate=rate, vol=vol))

    def scaled(e: float) -> float:
        return at(rate=p.rate * (1.0 + e), vol=p.vol * math.sqrt(1.0 + e))

    base = at()
    delta = richardson(
        lambda e: (at(spot=p.spot + e) - at(spot=p.spot - e)) / (2.0 * e), spot_step(p.spot, p.vol, p.t, 2e-3)
    )
    gamma = richardson(
        lambda e: (at(spot=p.spot + e) - 2.0 * base + at(spot=p.spot - e)) / (e * e),
        spot_step(p.spot, p.vol, p.t, 3e-3),
    )
    vega = richardson(lambda e: (at(vol=p.vol + e) - at(vol=p.vol - e)) / (2.0 * e), hv)
    d_dt = richardson(lambda e: (scaled(e) - scaled(-e)) / (2.0 * e), 1e-3) / p.t
    return (base, delta, gamma, vega, -d_dt)


def vanilla_scales(spot: float, strike: float, t: float, rate: float, vol: float) -> tuple[float, ...]:
    """Natural sizes of a vanilla's price, delta, gamma, vega, theta (their at-the-money order)."""
    sd = vol * math.sqrt(t)
    return (spot, 1.0, 1.0 / (spot * sd), spot * math.sqrt(t), spot * vol / math.sqrt(t) + abs(rate) * strike)


def digital_scales(spot: float, t: float, rate: float, vol: float) -> tuple[float, ...]:
    """Natural sizes of a digital's price, delta, gamma, vega, theta."""
    sd = vol * math.sqrt(t)
    return (1.0, 1.0 / (spot * sd), 1.0 / (spot * sd) ** 2, 1.0 / vol, abs(rate) / sd + 1.0 / t)


def assert_all_close(
    actual: tuple[float, ...], expected: tuple[float, ...], scales: tuple[float, ...], rel: float, floor: float
) -> None:
    """Each of price, delta, gamma, vega, theta within ``rel`` relative or ``floor`` x its scale."""
    for name, a, e, scale in zip(GREEK_NAMES, actual, expected, scales, strict=True):
        assert math.isclose(a, e, rel_tol=rel, abs_tol=floor * scale), (
            f"{name}: {a!r} vs {e!r} (diff {a - e:.3e}, {abs(a - e) / scale:.1e} x scale)"
        )


def as_tuple(g: GreeksLike) -> tuple[float, ...]:
    return (g.price, g.delta, g.gamma, g.vega, g.theta)


@PROPERTIES
@given(o=options())
def test_vanilla_prices_match_quantlib(pricer: Pricer, o: Option) -> None:
    expected = ql_european(o, digital=False).NPV()
    actual = pricer.vanilla_price(*o.args())
    assert math.isclose(actual, expected, rel_tol=1e-10, abs_tol=1e-13 * o.spot)
    assert pricer.vanilla_greeks(*o.args()).price == actual


@PROPERTIES
@given(o=options())
def test_vanilla_greeks_match_quantlib(pricer: Pricer, o: Option) -> None:
    expected = ql_greeks(ql_european(o, digital=False))
    actual = as_tuple(pricer.vanilla_greeks(*o.args()))
    assert_all_close(actual, expected, vanilla_scales(o.spot, o.strike, o.t, o.rate, o.vol), rel=1e-8, floor=1e-13)


@PROPERTIES
@given(o=options())
def test_digital_prices_match_quantlib(pricer: Pricer, o: Option) -> None:
    expected = ql_european(o, digital=True).NPV()
    actual = pricer.digital_price(*o.args())
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-13)
    assert pricer.digital_greeks(*o.args()).price == actual


@PROPERTIES
@given(o=options())
def test_digital_greeks_match_quantlib(pricer: Pricer, o: Option) -> None:
    expected = ql_greeks(ql_european(o, digital=True))
    actual = as_tuple(pricer.digital_greeks(*o.args()))
    assert_all_close(actual, expected, digital_scales(o.spot, o.t, o.rate, o.vol), rel=1e-8, floor=1e-13)


@PROPERTIES
@given(o=options())
def test_quantlib_theta_is_the_calendar_derivative(o: Option) -> None:
    """QuantLib's ``theta()`` is ``dV/dt`` per calendar year (``-dV/dT``, T the time left), the
    convention of our Greeks: checked against a central difference in T via time scaling."""
    for digital in (False, True):
        theta = ql_european(o, digital).theta()

        def scaled(e: float, digital: bool = digital) -> float:
            bumped = o._replace(rate=o.rate * (1.0 + e), vol=o.vol * math.sqrt(1.0 + e))
            value: float = ql_european(bumped, digital).NPV()
            return value

        d_dt = richardson(lambda e: (scaled(e) - scaled(-e)) / (2.0 * e), 1e-3) / o.t
        scale = (
            vanilla_scales(o.spot, o.strike, o.t, o.rate, o.vol)
            if not digital
            else digital_scales(o.spot, o.t, o.rate, o.vol)
        )
        assert math.isclose(theta, -d_dt, rel_tol=1e-6, abs_tol=1e-9 * scale[4])


@PROPERTIES
@given(b=barriers())
def test_barrier_prices_match_quantlib(pricer: Pricer, b: Barrier) -> None:
    p = b.params
    quantlib = ql_barrier_price(p, b.days)
    cdf_error = quantlib_cdf_error(p)
    assert abs(cdf_error) <= 5e-8 * p.spot
    actual = pricer.barrier_price(p)
    assert math.isclose(actual, quantlib - cdf_error, rel_tol=1e-9, abs_tol=1e-12 * p.spot), (
        f"{actual!r} vs QuantLib {quantlib!r} (its CDF error {cdf_error:.3e})"
    )
    assert pricer.barrier_greeks(p).price == actual


@pytest.mark.parametrize("barrier_type", BARRIER_TYPES)
@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("rebate", [0.0, 4.0])
@pytest.mark.parametrize("strike", [80.0, 100.0, 125.0])
def test_every_barrier_branch_matches_quantlib(
    pricer: Pricer, barrier_type: str, is_call: bool, rebate: float, strike: float
) -> None:
    """All eight types, both sides of the ``strike >= barrier`` split, with and without rebate,
    at a mid vol where QuantLib's CDF error is negligible: direct comparison."""
    barrier = 90.0 if is_down(barrier_type) else 115.0
    p = BarrierParams(is_call, barrier_type, 100.0, strike, barrier, rebate, 219 / 365.0, 0.03, 0.3)
    assert math.isclose(pricer.barrier_price(p), ql_barrier_price(p, 219), rel_tol=1e-12, abs_tol=1e-13)


@PROPERTIES
@given(b=barriers())
def test_barrier_greeks_match_quantlib_differences(pricer: Pricer, b: Barrier) -> None:
    """Delta, gamma, vega, theta against Richardson central differences (:func:`differences`) of
    QuantLib's prices, its CDF error taken out (that error is not smooth where QuantLib switches
    method, and a difference quotient would magnify it)."""
    p = b.params
    expected = differences(lambda q: ql_barrier_price_exact_cdf(q, b.days), p)
    actual = as_tuple(pricer.barrier_greeks(p))
    assert_all_close(actual, expected, vanilla_scales(p.spot, p.strike, p.t, p.rate, p.vol), rel=1e-6, floor=1e-7)


@PROPERTIES
@given(b=barriers(barrier_types=tuple(IN_OUT), rebate=False))
def test_knock_in_plus_knock_out_is_the_vanilla(pricer: Pricer, b: Barrier) -> None:
    knock_in = b.params
    knock_out = replace(knock_in, barrier_type=IN_OUT[knock_in.barrier_type])
    args = (knock_in.is_call, knock_in.spot, knock_in.strike, knock_in.t, knock_in.rate, knock_in.vol)
    vanilla = pricer.vanilla_price(*args)
    total = pricer.barrier_price(knock_in) + pricer.barrier_price(knock_out)
    assert math.isclose(total, vanilla, rel_tol=1e-10, abs_tol=1e-13 * knock_in.spot)
    greeks_in = as_tuple(pricer.barrier_greeks(knock_in))
    greeks_out = as_tuple(pricer.barrier_greeks(knock_out))
    summed = tuple(i + o for i, o in zip(greeks_in, greeks_out, strict=True))
    scales = vanilla_scales(knock_in.spot, knock_in.strike, knock_in.t, knock_in.rate, knock_in.vol)
    assert_all_close(summed, as_tuple(pricer.vanilla_greeks(*args)), scales, rel=1e-10, floor=1e-12)


@PROPERTIES
@given(o=options())
def test_digital_call_plus_put_is_the_discount_factor(pricer: Pricer, o: Option) -> None:
    call = pricer.digital_price(True, o.spot, o.strike, o.t, o.rate, o.vol)
    put = pricer.digital_price(False, o.spot, o.strike, o.t, o.rate, o.vol)
    assert math.isclose(call + put, math.exp(-o.rate * o.t), rel_tol=1e-14)


def own_delta(price: Callable[[float], float], spot: float, vol: float, t: float) -> float:
    """Richardson central difference of ``price`` in spot (:func:`spot_step`)."""
    return richardson(lambda e: (price(spot + e) - price(spot - e)) / (2.0 * e), spot_step(spot, vol, t, 2e-3))


@PROPERTIES
@given(o=options())
def test_option_deltas_are_differences_of_own_prices(pricer: Pricer, o: Option) -> None:
    is_call, spot, strike, t, rate, vol = o.args()
    for price_fn, greeks_fn, scale in (
        (pricer.vanilla_price, pricer.vanilla_greeks, 1.0),
        (pricer.digital_price, pricer.digital_greeks, 1.0 / (spot * vol * math.sqrt(t))),
    ):

        def at(s: float, f: OptionFn = price_fn) -> float:
            return f(is_call, s, strike, t, rate, vol)

        delta = greeks_fn(is_call, spot, strike, t, rate, vol).delta
        fd = own_delta(at, spot, vol, t)
        assert math.isclose(delta, fd, rel_tol=1e-7, abs_tol=1e-9 * scale)


@PROPERTIES
@given(b=barriers())
def test_barrier_deltas_are_differences_of_own_prices(pricer: Pricer, b: Barrier) -> None:
    p = b.params
    fd = own_delta(lambda s: pricer.barrier_price(replace(p, spot=s)), p.spot, p.vol, p.t)
    assert math.isclose(pricer.barrier_greeks(p).delta, fd, rel_tol=1e-7, abs_tol=1e-9)


@PROPERTIES
@given(o=options().filter(lambda o: o.rate >= 0.0))
def test_long_call_theta_is_not_positive(pricer: Pricer, o: Option) -> None:
    """With ``rate >= 0`` a long call loses value as time passes (``theta <= 0``; exactly 0 only
    where the time value underflows, deep in the money at zero rate)."""
    assert pricer.vanilla_greeks(True, o.spot, o.strike, o.t, o.rate, o.vol).theta <= 0.0


def test_expiry_is_the_payoff_and_at_the_money_is_out(pricer: Pricer) -> None:
    for spot, call_delta, put_delta in ((110.0, 1.0, 0.0), (90.0, 0.0, -1.0), (100.0, 0.0, 0.0)):
        call = pricer.vanilla_greeks(True, spot, 100.0, 0.0, 0.05, 0.3)
        put = pricer.vanilla_greeks(False, spot, 100.0, 0.0, 0.05, 0.3)
        assert as_tuple(call) == (max(spot - 100.0, 0.0), call_delta, 0.0, 0.0, 0.0)
        assert as_tuple(put) == (max(100.0 - spot, 0.0), put_delta, 0.0, 0.0, 0.0)
        digital_call = pricer.digital_greeks(True, spot, 100.0, 0.0, 0.05, 0.3)
        digital_put = pricer.digital_greeks(False, spot, 100.0, 0.0, 0.05, 0.3)
        assert as_tuple(digital_call) == (1.0 if spot > 100.0 else 0.0, 0.0, 0.0, 0.0, 0.0)
        assert as_tuple(digital_put) == (1.0 if spot < 100.0 else 0.0, 0.0, 0.0, 0.0, 0.0)


def test_breached_barriers(pricer: Pricer) -> None:
    """Down barrier at 90, up at 110; the spot at or beyond it (touching is a hit): a knock-out is
    its rebate, paid now; a knock-in is the vanilla, Greeks and all."""
    assert breached("down-and-out", 90.0, 90.0) and not breached("down-and-out", 90.01, 90.0)
    assert breached("up-and-in", 110.0, 110.0) and not breached("up-and-in", 109.99, 110.0)
    for barrier_type, barrier, spot in (("down-and-in", 90.0, 85.0), ("up-and-in", 110.0, 110.0)):
        p = BarrierParams(True, barrier_type, spot, 100.0, barrier, 3.0, 0.5, 0.04, 0.3)
        vanilla = pricer.vanilla_greeks(True, spot, 100.0, 0.5, 0.04, 0.3)
        assert as_tuple(pricer.barrier_greeks(p)) == as_tuple(vanilla)
        assert pricer.barrier_price(p) == vanilla.price
        knock_out = replace(p, barrier_type=barrier_type.replace("-in", "-out"))
        assert as_tuple(pricer.barrier_greeks(knock_out)) == (3.0, 0.0, 0.0, 0.0, 0.0)
        assert pricer.barrier_price(knock_out) == 3.0


def test_barrier_at_expiry(pricer: Pricer) -> None:
    """Alive at ``t == 0``: a knock-out is the vanilla payoff, a knock-in its rebate."""
    p = BarrierParams(False, "down-and-out", 95.0, 100.0, 90.0, 3.0, 0.0, 0.04, 0.3)
    assert as_tuple(pricer.barrier_greeks(p)) == (5.0, -1.0, 0.0, 0.0, 0.0)
    assert as_tuple(pricer.barrier_greeks(replace(p, barrier_type="down-and-in"))) == (3.0, 0.0, 0.0, 0.0, 0.0)
    assert pricer.barrier_price(replace(p, barrier_type="down-and-in")) == 3.0


@pytest.mark.parametrize("barrier_type", BARRIER_TYPES)
@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("rate", [-0.01, 0.0, 0.08])
def test_barrier_stays_finite_at_the_vol_floor(pricer: Pricer, barrier_type: str, is_call: bool, rate: float) -> None:
    """At vol 1e-4 (``pmargin.VOL_FLOOR``) ``(H/S)^(2 mu)`` overflows a float; the price must stay
    finite, non-negative and at most the largest payoff."""
    barrier = 90.0 if is_down(barrier_type) else 110.0
    p = BarrierParams(is_call, barrier_type, 100.0, 100.0, barrier, 2.0, 1.0, rate, 1e-4)
    g = as_tuple(pricer.barrier_greeks(p))
    assert all(math.isfinite(x) for x in g), g
    assert 0.0 <= g[0] <= 100.0 + 2.0


def test_vol_floor_reaches_the_deterministic_limit(pricer: Pricer) -> None:
    """At vol 1e-4 the path is ``S e^{rt}``. An up-and-out call (S 100, K 95, H 110, rebate 2,
    T 1) whose forward stays below the barrier (r 5%) is the discounted vanilla payoff; one whose
    path reaches it (r 12%, at tau = ln(1.1) / 0.12) is the rebate discounted from tau."""
    p = BarrierParams(True, "up-and-out", 100.0, 95.0, 110.0, 2.0, 1.0, 0.05, 1e-4)
    assert math.isclose(pricer.barrier_price(p), math.exp(-0.05) * (100.0 * math.exp(0.05) - 95.0), rel_tol=1e-9)
    hit = replace(p, rate=0.12)
    assert math.isclose(pricer.barrier_price(hit), 2.0 / 1.1, rel_tol=1e-9)


def test_barrier_is_smooth_in_vol_where_probabilities_underflow(pricer: Pricer) -> None:
    """Up-and-out call, S 100, K 100, H 117, rebate 3, T 2y, r 8% (the forward ends at 117.35,
    right at the barrier) for vol 0.0050 .. 0.0072: below vol 0.0062 ``N(u)`` underflows beside
    ``(H/S)^(2 mu)`` > 1e280. QuantLib sets those products to 0 and its price jumps by 0.12 there
    (6.6979 at vol 0.0060, 6.6153 at 0.0062); evaluated in logs the price is smooth (second
    differences below 0.006 on this grid), and from 0.0062 up it is QuantLib's."""
    vols = [0.0050 + 0.0002 * i for i in range(12)]
    p = BarrierParams(True, "up-and-out", 100.0, 100.0, 117.0, 3.0, 730 / 365.0, 0.08, 0.0)
    prices = [pricer.barrier_price(replace(p, vol=vol)) for vol in vols]
    second = [prices[i - 1] - 2.0 * prices[i] + prices[i + 1] for i in range(1, len(prices) - 1)]
    assert max(abs(x) for x in second) < 0.01, second
    for vol, price in zip(vols[6:], prices[6:], strict=True):
        assert math.isclose(price, ql_barrier_price(replace(p, vol=vol), 730), rel_tol=1e-12)
