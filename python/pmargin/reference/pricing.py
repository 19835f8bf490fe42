"""Contract values: delta-one instruments and options of every payoff, written from the definitions.

Every formula is evaluated in the order the native core uses, so the two agree to rounding:

- ``T = (expiry_ns - as_of_ns) / 31_536_000e9`` (an integer difference, then one division);
- ``F = spot * exp(rate * T)``;
- spot and perpetual: ``multiplier * spot``; future: ``multiplier * F``;
- option at ``T == 0``: ``multiplier * max(F - K, 0)`` (call), ``max(K - F, 0)`` (put);
- option at ``T > 0``: ``sd = vol * sqrt(T)``, ``d1 = (log(F / K) + 0.5 * sd * sd) / sd``,
  ``d2 = d1 - sd``, ``df = exp(-rate * T)``, call ``df * (F * N(d1) - K * N(d2))``,
  put ``df * (K * N(-d2) - F * N(-d1))`` with ``N(x) = 0.5 * erfc(-x / sqrt(2))``;
- digital option: ``multiplier * digital_price(spot, K, T, rate, vol)`` and barrier option:
  ``multiplier * barrier_price(...)`` (:mod:`.payoffs`; a barrier breached by a shocked spot is
  worth its rebate when it knocks out, the vanilla when it knocks in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Nanoseconds in a 365-day year.
YEAR_NS = 31_536_000e9
SQRT_2 = math.sqrt(2.0)


def year_fraction(expiry_ns: int, as_of_ns: int) -> float:
    """``T``: years (of 365 days) from ``as_of`` to ``expiry``."""
    return (expiry_ns - as_of_ns) / YEAR_NS


def forward(spot: float, rate: float, t: float) -> float:
    """``F = spot * exp(rate * T)``."""
    return spot * math.exp(rate * t)


def norm_cdf(x: float) -> float:
    """Standard normal CDF, ``N(x) = 0.5 * erfc(-x / sqrt(2))`` (accurate in both tails)."""
    return 0.5 * math.erfc(-x / SQRT_2)


def intrinsic(is_call: bool, fwd: float, strike: float) -> float:
    """Payoff at expiry: ``max(F - K, 0)`` for a call, ``max(K - F, 0)`` for a put."""
    return max(fwd - strike, 0.0) if is_call else max(strike - fwd, 0.0)


def black76(is_call: bool, fwd: float, strike: float, vol: float, t: float, rate: float) -> float:
    """Black-76 price of one option on the forward ``fwd`` (discounted at ``rate``); intrinsic
    value when ``t == 0``."""
    if t == 0.0:
        return intrinsic(is_call, fwd, strike)
    sd = vol * math.sqrt(t)
    d1 = (math.log(fwd / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = math.exp(-rate * t)
    if is_call:
        return df * (fwd * norm_cdf(d1) - strike * norm_cdf(d2))
    return df * (strike * norm_cdf(-d2) - fwd * norm_cdf(-d1))


@dataclass(frozen=True)
class Contract:
    """Everything needed to value one instrument in any scenario: its terms and its base market.

    ``t`` is the year fraction to expiry (0.0 for spot and perpetual, where it is unused);
    ``vol`` is the base implied vol (options only). An option's ``payoff`` is ``"vanilla"`` or
    ``"digital"``; a vanilla with a ``barrier_type`` is a barrier option (``barrier``,
    ``rebate`` per unit).
    """

    kind: str
    is_call: bool
    strike: float
    multiplier: float
    spot: float
    rate: float
    t: float
    vol: float | None
    payoff: str = "vanilla"
    barrier_type: str | None = None
    barrier: float = 0.0
    rebate: float = 0.0


def contract_value(c: Contract, spot: float, vol: float | None) -> float:
    """Value of one unit of ``c`` (multiplier included) at the given spot and vol; rate and ``T``
    are the contract's own."""
    if c.kind in ("spot", "perpetual"):
        return c.multiplier * spot
    fwd = forward(spot, c.rate, c.t)
    if c.kind == "future":
        return c.multiplier * fwd
    assert vol is not None, "an option needs a vol"
    if c.payoff == "digital" or c.barrier_type is not None:
        from .payoffs import BarrierParams, barrier_price, digital_price  # payoffs imports this module

        if c.barrier_type is None:
            return c.multiplier * digital_price(c.is_call, spot, c.strike, c.t, c.rate, vol)
        params = BarrierParams(c.is_call, c.barrier_type, spot, c.strike, c.barrier, c.rebate, c.t, c.rate, vol)
        return c.multiplier * barrier_price(params)
    return c.multiplier * black76(c.is_call, fwd, c.strike, vol, c.t, c.rate)


def base_value(c: Contract) -> float:
    """Value of one unit of ``c`` in the unshocked market."""
    return contract_value(c, c.spot, c.vol)
