"""Black-76 on the forward, discounted: Black-Scholes with no dividend when ``F = spot * exp(rate * T)``.

- ``F = spot * exp(rate * T)``;
- at ``T == 0``: ``max(F - K, 0)`` (call), ``max(K - F, 0)`` (put);
- at ``T > 0``: ``sd = vol * sqrt(T)``, ``d1 = (log(F / K) + 0.5 * sd * sd) / sd``,
  ``d2 = d1 - sd``, ``df = exp(-rate * T)``, call ``df * (F * N(d1) - K * N(d2))``,
  put ``df * (K * N(-d2) - F * N(-d1))`` with ``N(x) = 0.5 * erfc(-x / sqrt(2))``.

Mirrors: rust/pmargin-core/src/pricing/black76.rs
"""

from __future__ import annotations

import math

from .normal import norm_cdf


def forward(spot: float, rate: float, t: float) -> float:
    """``F = spot * exp(rate * T)``."""
    return spot * math.exp(rate * t)


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
