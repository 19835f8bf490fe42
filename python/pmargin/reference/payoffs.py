"""Prices and Greeks of every payoff, per unit (before the multiplier), written from the definitions.

The same formulas as the native core's ``pricing::{greeks, digital, barrier}`` modules, evaluated
in the same order (so the two agree to rounding; the only difference is the normal CDF, where
``math.erfc`` and the core's ``libm::erfc`` can differ in the last bit).

**Conventions.** Inputs are spot ``spot`` (not the forward), ``strike``, years to expiry ``t``
(ACT/365), continuously compounded ``rate`` and ``vol``; the forward is ``F = spot * exp(rate *
t)`` and the discount ``exp(-rate * t)`` (Black-76 on the forward = Black-Scholes with no
dividend). ``delta = dV/dS``, ``gamma = d2V/dS2``, ``vega = dV/dvol`` per 1.00 of vol, ``theta =
dV/dt`` per year of calendar time with spot, rate and vol held fixed (``-dV/dT`` with ``T`` the
time left, the forward rolling down with it): a long call's theta is negative for ``rate >= 0``
(a deep in-the-money put's can be positive), a future's is ``-rate * F``. This is QuantLib's
``theta()`` sign and unit (per year).

At ``t == 0`` an option is its payoff, a function of spot alone: price the payoff, delta its slope,
gamma, vega and theta 0. ``spot == strike`` counts as out of the money (a vanilla's delta there is
0; a digital pays 0, so at that one point a digital call plus put is 0, not 1). A digital's delta
at expiry is a Dirac mass at the strike: reported as 0.

- :func:`vanilla_greeks`: analytic (call delta ``N(d1)``, gamma ``n(d1) / (S sd)``, vega ``S n(d1)
  sqrt(T)``, theta ``-S n(d1) vol / (2 sqrt(T)) -/+ rate K df N(+/-d2)``).
- :func:`digital_price`, :func:`digital_greeks`: cash-or-nothing paying 1, ``df N(+/-d2)``;
  analytic Greeks (delta ``+/- df n(d2) / (S sd)``, gamma ``-/+ df n(d2) d1 / (S^2 sd^2)``, vega
  ``-/+ df n(d2) d1 / vol``, theta ``rate V -/+ df n(d2) (rate / sd - d1 / (2T))``).
- :func:`barrier_price`, :func:`barrier_greeks`: continuously monitored single barriers in closed
  form (Reiner-Rubinstein as in Haug, with cost of carry = rate), as QuantLib's
  ``AnalyticBarrierEngine``: knock-out rebates paid at the hit, knock-in rebates at expiry if never
  hit. Total over every state: breached (down ``spot <= barrier``, up ``spot >= barrier``; touching
  is a hit) knock-out = its rebate paid now, breached knock-in = the vanilla; at ``t == 0`` alive,
  knock-out = the vanilla payoff, knock-in = its rebate. Delta, gamma and vega are analytic: each
  block is a sum of terms ``c (H/S)^e N(u)`` with ``c`` free of vol and ``du/d(ln S)`` constant,
  and :func:`_term` carries each one's derivatives; theta comes from the Black-Scholes equation
  ``theta = rate V - rate S delta - vol^2 S^2 gamma / 2``. No bump anywhere, so delta and gamma
  stay exact next to the barrier. Products ``(H/S)^e N(u)`` whose power overflows, or exceeds 1
  while ``N(u)`` underflows, are evaluated in logs (they are bounded), so prices stay finite and
  continuous down to the vol floor; QuantLib 1.44 sets such a product to 0 when ``N(u)``
  underflows, which at low vol can drop a term of order 1 (its price then jumps in vol).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from .pricing import black76, forward, norm_cdf

#: ``1 / sqrt(2 pi)``.
FRAC_1_SQRT_2PI = 0.3989422804014327
#: ``ln(sqrt(2 pi))``.
LN_SQRT_2PI = 0.9189385332046727
#: The instruments column's spellings.
BARRIER_TYPES = ("down-and-in", "down-and-out", "up-and-in", "up-and-out")

_MIN_NORMAL = sys.float_info.min


def norm_pdf(x: float) -> float:
    """Standard normal density ``exp(-x^2 / 2) / sqrt(2 pi)``."""
    return math.exp(-0.5 * x * x) * FRAC_1_SQRT_2PI


@dataclass(frozen=True)
class Greeks:
    """Price and sensitivities of one unit, before the multiplier (conventions above)."""

    price: float
    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0

    def scaled(self, factor: float) -> Greeks:
        """Every field times ``factor`` (a multiplier or a quantity)."""
        return Greeks(
            self.price * factor, self.delta * factor, self.gamma * factor, self.vega * factor, self.theta * factor
        )


# --- linear instruments and vanilla options ----------------------------------------------------


def spot_greeks(spot: float) -> Greeks:
    """Spot and perpetual: price ``spot``, delta 1."""
    return Greeks(spot, 1.0)


def future_greeks(spot: float, t: float, rate: float) -> Greeks:
    """Dated future: price ``F = spot * exp(rate * t)``, delta ``exp(rate * t)``, theta ``-rate * F``."""
    growth = math.exp(rate * t)
    fwd = spot * growth
    return Greeks(fwd, growth, 0.0, 0.0, -rate * fwd)


def in_the_money(is_call: bool, spot: float, strike: float) -> bool:
    """At expiry: call ``spot > strike``, put ``spot < strike`` (equality is out of the money)."""
    return spot > strike if is_call else spot < strike


def vanilla_at_expiry(is_call: bool, spot: float, strike: float) -> Greeks:
    """A vanilla at expiry: its payoff; delta +/-1 in the money, else 0."""
    itm = in_the_money(is_call, spot, strike)
    if is_call:
        return Greeks(max(spot - strike, 0.0), 1.0 if itm else 0.0)
    return Greeks(max(strike - spot, 0.0), -1.0 if itm else 0.0)


def vanilla_price(is_call: bool, spot: float, strike: float, t: float, rate: float, vol: float) -> float:
    """Black-76 on ``F = spot * exp(rate * t)``, discounted: exactly :func:`.pricing.black76`."""
    return black76(is_call, forward(spot, rate, t), strike, vol, t, rate)


def vanilla_greeks(is_call: bool, spot: float, strike: float, t: float, rate: float, vol: float) -> Greeks:
    """Price (:func:`vanilla_price`) and analytic Greeks of a vanilla European option."""
    if t == 0.0:
        return vanilla_at_expiry(is_call, spot, strike)
    fwd = forward(spot, rate, t)
    df = math.exp(-rate * t)
    price = black76(is_call, fwd, strike, vol, t, rate)
    sqrt_t = math.sqrt(t)
    sd = vol * sqrt_t
    d1 = (math.log(fwd / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    pdf = norm_pdf(d1)
    gamma = pdf / (spot * sd)
    vega = spot * pdf * sqrt_t
    decay = -(spot * pdf * vol) / (2.0 * sqrt_t)
    if is_call:
        return Greeks(price, norm_cdf(d1), gamma, vega, decay - rate * strike * df * norm_cdf(d2))
    return Greeks(price, -norm_cdf(-d1), gamma, vega, decay + rate * strike * df * norm_cdf(-d2))


# --- digital (cash-or-nothing) options ----------------------------------------------------------


def _digital_terms(spot: float, strike: float, t: float, rate: float, vol: float) -> tuple[float, float, float, float]:
    """``(df, sd, d1, d2)`` for ``t > 0``, in Black-76's order."""
    fwd = spot * math.exp(rate * t)
    df = math.exp(-rate * t)
    sd = vol * math.sqrt(t)
    d1 = (math.log(fwd / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    return df, sd, d1, d2


def digital_price(is_call: bool, spot: float, strike: float, t: float, rate: float, vol: float) -> float:
    """Cash-or-nothing digital paying 1 at expiry if in the money: ``df * N(+/-d2)``; at ``t == 0``
    1 strictly in the money, else 0."""
    if t == 0.0:
        return 1.0 if in_the_money(is_call, spot, strike) else 0.0
    df, _, _, d2 = _digital_terms(spot, strike, t, rate, vol)
    return df * norm_cdf(d2) if is_call else df * norm_cdf(-d2)


def digital_greeks(is_call: bool, spot: float, strike: float, t: float, rate: float, vol: float) -> Greeks:
    """Price and analytic Greeks of a digital paying 1 (all Greeks 0 at ``t == 0``)."""
    if t == 0.0:
        return Greeks(digital_price(is_call, spot, strike, t, rate, vol))
    df, sd, d1, d2 = _digital_terms(spot, strike, t, rate, vol)
    sign, cdf = (1.0, norm_cdf(d2)) if is_call else (-1.0, norm_cdf(-d2))
    price = df * cdf
    density = df * norm_pdf(d2)
    return Greeks(
        price,
        sign * density / (spot * sd),
        -sign * density * d1 / (spot * spot * (sd * sd)),
        -sign * density * d1 / vol,
        rate * price - sign * density * (rate / sd - d1 / (2.0 * t)),
    )


# --- barrier options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BarrierParams:
    """One barrier option's terms and market, per unit. ``barrier_type`` is one of
    :data:`BARRIER_TYPES`; ``rebate >= 0`` is cash per unit."""

    is_call: bool
    barrier_type: str
    spot: float
    strike: float
    barrier: float
    rebate: float
    t: float
    rate: float
    vol: float


def is_down(barrier_type: str) -> bool:
    """The barrier is below the spot."""
    return barrier_type.startswith("down")


def is_knock_in(barrier_type: str) -> bool:
    """The option comes alive when the barrier is hit."""
    return barrier_type.endswith("-in")


def breached(barrier_type: str, spot: float, barrier: float) -> bool:
    """``spot`` is at or beyond the barrier: down ``spot <= barrier``, up ``spot >= barrier``."""
    return spot <= barrier if is_down(barrier_type) else spot >= barrier


def barrier_price(p: BarrierParams) -> float:
    """Price per unit in any state: closed form while alive, the rebate (knock-out) or the
    vanilla (knock-in) once breached, the payoff (knock-out) or the rebate (knock-in) at expiry."""
    if breached(p.barrier_type, p.spot, p.barrier):
        if is_knock_in(p.barrier_type):
            return vanilla_price(p.is_call, p.spot, p.strike, p.t, p.rate, p.vol)
        return p.rebate
    if p.t == 0.0:
        return p.rebate if is_knock_in(p.barrier_type) else vanilla_at_expiry(p.is_call, p.spot, p.strike).price
    return _closed_form(p, _Ctx.of(p), False).v


def barrier_greeks(p: BarrierParams) -> Greeks:
    """Price and Greeks per unit in any state (method in the module documentation)."""
    if breached(p.barrier_type, p.spot, p.barrier):
        if is_knock_in(p.barrier_type):
            return vanilla_greeks(p.is_call, p.spot, p.strike, p.t, p.rate, p.vol)
        return Greeks(p.rebate)
    if p.t == 0.0:
        return Greeks(p.rebate) if is_knock_in(p.barrier_type) else vanilla_at_expiry(p.is_call, p.spot, p.strike)
    x = _closed_form(p, _Ctx.of(p), True)
    return Greeks(
        x.v, x.d, x.g, x.w, p.rate * x.v - p.rate * p.spot * x.d - 0.5 * p.vol * p.vol * p.spot * p.spot * x.g
    )


@dataclass(frozen=True)
class _Sens:
    """A value with its spot derivatives (``d``, ``g``) and its vol derivative (``w``)."""

    v: float
    d: float = 0.0
    g: float = 0.0
    w: float = 0.0

    def __add__(self, o: _Sens) -> _Sens:
        return _Sens(self.v + o.v, self.d + o.d, self.g + o.g, self.w + o.w)

    def __sub__(self, o: _Sens) -> _Sens:
        return _Sens(self.v - o.v, self.d - o.d, self.g - o.g, self.w - o.w)

    def __mul__(self, k: float) -> _Sens:
        return _Sens(self.v * k, self.d * k, self.g * k, self.w * k)


_ZERO = _Sens(0.0)


@dataclass(frozen=True)
class _Arg:
    """An argument ``u`` of ``N``, with ``du/d(ln s)`` (``ds``, constant) and ``du/dvol``."""

    u: float
    ds: float
    dvol: float

    def __mul__(self, k: float) -> _Arg:
        return _Arg(self.u * k, self.ds * k, self.dvol * k)


@dataclass(frozen=True)
class _Exp:
    """An exponent ``e`` of ``h/s``, with ``de/dvol``."""

    e: float
    dvol: float


_NO_POWER = _Exp(0.0, 0.0)


@dataclass(frozen=True)
class _Ctx:
    """What every block needs (``ms`` is QuantLib's ``muSigma = (1 + mu) sd``; ``lam = |rate /
    vol^2 + 1/2|`` is its ``sqrt(mu^2 + 2 rate / vol^2)``; ``*_vol`` are derivatives in vol:
    ``dmu/dvol = -2 rate / vol^3``, ``d(ms)/dvol = -mu sqrt(t)``)."""

    s: float
    k: float
    h: float
    rebate: float
    vol: float
    sqrt_t: float
    df: float
    sd: float
    mu: float
    ms: float
    lam: float
    hs: float
    ln_hs: float
    mu_vol: float
    ms_vol: float
    lam_vol: float

    @staticmethod
    def of(p: BarrierParams) -> _Ctx:
        vol = p.vol
        sqrt_t = math.sqrt(p.t)
        sd = vol * sqrt_t
        carry = p.rate / (vol * vol)
        mu = carry - 0.5
        mu_vol = -2.0 * carry / vol
        hs = p.barrier / p.spot
        return _Ctx(
            s=p.spot,
            k=p.strike,
            h=p.barrier,
            rebate=p.rebate,
            vol=vol,
            sqrt_t=sqrt_t,
            df=math.exp(-p.rate * p.t),
            sd=sd,
            mu=mu,
            ms=(1.0 + mu) * sd,
            lam=abs(carry + 0.5),
            hs=hs,
            ln_hs=math.log(hs),
            mu_vol=mu_vol,
            ms_vol=-mu * sqrt_t,
            lam_vol=mu_vol if carry + 0.5 >= 0.0 else -mu_vol,
        )

    def arg(self, log: float, ds: float) -> _Arg:
        """``log / sd + ms`` (an argument of Haug's blocks), with its derivatives."""
        return _Arg(log / self.sd + self.ms, ds, -log / (self.sd * self.vol) + self.ms_vol)

    def minus_sd(self, a: _Arg) -> _Arg:
        """``a - sd``, with its derivatives."""
        return _Arg(a.u - self.sd, a.ds, a.dvol - self.sqrt_t)


def ln_norm_cdf(u: float) -> float:
    """``ln N(u)``, accurate where ``N(u)`` underflows (asymptotic series below -35)."""
    if u > -35.0:
        return math.log(norm_cdf(u))
    w = 1.0 / (u * u)
    series = 1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + w * (105.0 + w * (-945.0 + w * (10_395.0 + w * -135_135.0))))))
    return -0.5 * u * u - math.log(-u) - LN_SQRT_2PI + math.log(series)


def _pow(base: float, e: float) -> float:
    """``base ** e``, ``inf`` on overflow (as C's ``pow``) instead of raising."""
    try:
        return math.pow(base, e)
    except OverflowError:
        return math.inf


def _pow_cdf(hs: float, e: float, u: float) -> float:
    """``hs^e N(u)`` (bounded in every use), in logs when the power overflows or the probability
    is not a normal float."""
    n = norm_cdf(u)
    if e == 0.0:
        return n
    p = _pow(hs, e)
    if math.isfinite(p) and (p <= 1.0 or n >= _MIN_NORMAL):
        return p * n
    return math.exp(e * math.log(hs) + ln_norm_cdf(u))


def _pow_pdf(hs: float, e: float, u: float) -> float:
    """``hs^e n(u)``, in logs when the power overflows or the density is not a normal float."""
    n = norm_pdf(u)
    if e == 0.0:
        return n
    p = _pow(hs, e)
    if math.isfinite(p) and (p <= 1.0 or n >= _MIN_NORMAL):
        return p * n
    return math.exp(e * math.log(hs) - 0.5 * u * u - LN_SQRT_2PI)


def _term(c: _Ctx, coef: float, s_pow: float, power: _Exp, a: _Arg, derivs: bool) -> _Sens:
    """``coef (h/s)^e N(u)`` with ``coef`` proportional to ``s^s_pow`` and free of vol, and its
    derivatives when ``derivs``: with ``p = s_pow - e``, ``PN = (h/s)^e N(u)``, ``Pn = (h/s)^e
    n(u)``: ``d = coef (p PN + u_s Pn) / s``, ``g = coef (p (p-1) PN + ((2p - 1) u_s - u_s^2 u)
    Pn) / s^2``, ``w = coef (ln(h/s) e_vol PN + u_vol Pn)``."""
    pn = _pow_cdf(c.hs, power.e, a.u)
    v = coef * pn
    if not derivs:
        return _Sens(v)
    pd = _pow_pdf(c.hs, power.e, a.u)
    p = s_pow - power.e
    g = a.ds
    return _Sens(
        v,
        coef * (p * pn + g * pd) / c.s,
        coef * (p * (p - 1.0) * pn + ((2.0 * p - 1.0) * g - g * g * a.u) * pd) / (c.s * c.s),
        coef * (c.ln_hs * power.dvol * pn + a.dvol * pd),
    )


def _block_a(c: _Ctx, phi: float, derivs: bool) -> _Sens:
    x1 = c.arg(math.log(c.s / c.k), 1.0 / c.sd)
    return (
        _term(c, c.s, 1.0, _NO_POWER, x1 * phi, derivs)
        - _term(c, c.k * c.df, 0.0, _NO_POWER, c.minus_sd(x1) * phi, derivs)
    ) * phi


def _block_b(c: _Ctx, phi: float, derivs: bool) -> _Sens:
    x2 = c.arg(math.log(c.s / c.h), 1.0 / c.sd)
    return (
        _term(c, c.s, 1.0, _NO_POWER, x2 * phi, derivs)
        - _term(c, c.k * c.df, 0.0, _NO_POWER, c.minus_sd(x2) * phi, derivs)
    ) * phi


def _powers(c: _Ctx) -> tuple[_Exp, _Exp]:
    """``(h/s)^(2mu)`` and ``(h/s)^(2mu+2)``."""
    e0 = 2.0 * c.mu
    dvol = 2.0 * c.mu_vol
    return _Exp(e0, dvol), _Exp(e0 + 2.0, dvol)


def _block_c(c: _Ctx, eta: float, phi: float, derivs: bool) -> _Sens:
    y1 = c.arg(math.log(c.h * c.hs / c.k), -1.0 / c.sd)
    p0, p2 = _powers(c)
    return (
        _term(c, c.s, 1.0, p2, y1 * eta, derivs) - _term(c, c.k * c.df, 0.0, p0, c.minus_sd(y1) * eta, derivs)
    ) * phi


def _block_d(c: _Ctx, eta: float, phi: float, derivs: bool) -> _Sens:
    y2 = c.arg(c.ln_hs, -1.0 / c.sd)
    p0, p2 = _powers(c)
    return (
        _term(c, c.s, 1.0, p2, y2 * eta, derivs) - _term(c, c.k * c.df, 0.0, p0, c.minus_sd(y2) * eta, derivs)
    ) * phi


def _block_e(c: _Ctx, eta: float, derivs: bool) -> _Sens:
    if c.rebate <= 0.0:
        return _ZERO
    x2 = c.arg(math.log(c.s / c.h), 1.0 / c.sd)
    y2 = c.arg(c.ln_hs, -1.0 / c.sd)
    p0, _ = _powers(c)
    return (
        _term(c, 1.0, 0.0, _NO_POWER, c.minus_sd(x2) * eta, derivs)
        - _term(c, 1.0, 0.0, p0, c.minus_sd(y2) * eta, derivs)
    ) * (c.rebate * c.df)


def _block_f(c: _Ctx, eta: float, derivs: bool) -> _Sens:
    if c.rebate <= 0.0:
        return _ZERO
    # z = ln(h/s) / sd + lam sd, and z - 2 lam sd.
    lam_sd_vol = c.lam_vol * c.sd + c.lam * c.sqrt_t
    z = _Arg(c.ln_hs / c.sd + c.lam * c.sd, -1.0 / c.sd, -c.ln_hs / (c.sd * c.vol) + lam_sd_vol)
    z2 = _Arg(z.u - 2.0 * c.lam * c.sd, z.ds, z.dvol - 2.0 * lam_sd_vol)
    plus = _Exp(c.mu + c.lam, c.mu_vol + c.lam_vol)
    minus = _Exp(c.mu - c.lam, c.mu_vol - c.lam_vol)
    return (_term(c, 1.0, 0.0, plus, z * eta, derivs) + _term(c, 1.0, 0.0, minus, z2 * eta, derivs)) * c.rebate


def _closed_form(p: BarrierParams, c: _Ctx, derivs: bool) -> _Sens:
    """The alive option's value (and spot derivatives): QuantLib's combination of Haug's blocks."""

    def a(phi: float) -> _Sens:
        return _block_a(c, phi, derivs)

    def b(phi: float) -> _Sens:
        return _block_b(c, phi, derivs)

    def cc(eta: float, phi: float) -> _Sens:
        return _block_c(c, eta, phi, derivs)

    def d(eta: float, phi: float) -> _Sens:
        return _block_d(c, eta, phi, derivs)

    def e(eta: float) -> _Sens:
        return _block_e(c, eta, derivs)

    def f(eta: float) -> _Sens:
        return _block_f(c, eta, derivs)

    above = p.strike >= p.barrier
    bt = p.barrier_type
    if p.is_call:
        if bt == "down-and-in":
            return cc(1.0, 1.0) + e(1.0) if above else a(1.0) - b(1.0) + d(1.0, 1.0) + e(1.0)
        if bt == "up-and-in":
            return a(1.0) + e(-1.0) if above else b(1.0) - cc(-1.0, 1.0) + d(-1.0, 1.0) + e(-1.0)
        if bt == "down-and-out":
            return a(1.0) - cc(1.0, 1.0) + f(1.0) if above else b(1.0) - d(1.0, 1.0) + f(1.0)
        if bt == "up-and-out":
            return f(-1.0) if above else a(1.0) - b(1.0) + cc(-1.0, 1.0) - d(-1.0, 1.0) + f(-1.0)
    else:
        if bt == "down-and-in":
            return b(-1.0) - cc(1.0, -1.0) + d(1.0, -1.0) + e(1.0) if above else a(-1.0) + e(1.0)
        if bt == "up-and-in":
            return a(-1.0) - b(-1.0) + d(-1.0, -1.0) + e(-1.0) if above else cc(-1.0, -1.0) + e(-1.0)
        if bt == "down-and-out":
            return a(-1.0) - b(-1.0) + cc(1.0, -1.0) - d(1.0, -1.0) + f(1.0) if above else f(1.0)
        if bt == "up-and-out":
            return b(-1.0) - d(-1.0, -1.0) + f(-1.0) if above else a(-1.0) - cc(-1.0, -1.0) + f(-1.0)
    raise ValueError(f"unknown barrier type {bt!r}; expected one of {', '.join(BARRIER_TYPES)}")
