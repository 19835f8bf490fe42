"""Continuously monitored single-barrier options in closed form (conventions in
:mod:`pmargin.reference.pricing`).

- :func:`barrier_price`, :func:`barrier_greeks`: Reiner-Rubinstein as in Haug, with cost of carry
  = rate, as QuantLib's ``AnalyticBarrierEngine``: knock-out rebates paid at the hit, knock-in
  rebates at expiry if never hit. Total over every state: breached (down ``spot <= barrier``, up
  ``spot >= barrier``; touching is a hit) knock-out = its rebate paid now, breached knock-in = the
  vanilla; at ``t == 0`` alive, knock-out = the vanilla payoff, knock-in = its rebate. Delta, gamma
  and vega are analytic: each block is a sum of terms ``c (H/S)^e N(u)`` with ``c`` free of vol and
  ``du/d(ln S)`` constant, and :func:`_term` carries each one's derivatives; theta comes from the
  Black-Scholes equation ``theta = rate V - rate S delta - vol^2 S^2 gamma / 2``. No bump anywhere,
  so delta and gamma stay exact next to the barrier. Products ``(H/S)^e N(u)`` whose power
  overflows, or exceeds 1 while ``N(u)`` underflows, are evaluated in logs (they are bounded), so
  prices stay finite and continuous down to the vol floor; QuantLib 1.44 sets such a product to 0
  when ``N(u)`` underflows, which at low vol can drop a term of order 1 (its price then jumps in
  vol).

Mirrors: rust/pmargin-core/src/pricing/barrier.rs
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from ..domain.option_terms import BARRIER_TYPES, is_down, is_knock_in
from .greeks import Greeks, vanilla_at_expiry, vanilla_greeks, vanilla_price
from .normal import norm_cdf, norm_pdf

#: ``ln(sqrt(2 pi))``.
LN_SQRT_2PI = 0.9189385332046727

_MIN_NORMAL = sys.float_info.min


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
