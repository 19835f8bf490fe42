"""Price and Greeks per unit (before the multiplier) of the linear instruments and of vanilla
options, with respect to spot (conventions in :mod:`pmargin.reference.pricing`).

- :func:`vanilla_greeks`: analytic (call delta ``N(d1)``, gamma ``n(d1) / (S sd)``, vega ``S n(d1)
  sqrt(T)``, theta ``-S n(d1) vol / (2 sqrt(T)) -/+ rate K df N(+/-d2)``).

Mirrors: rust/pmargin-core/src/pricing/greeks.rs
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .black76 import black76, forward
from .normal import norm_cdf, norm_pdf


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
    """Black-76 on ``F = spot * exp(rate * t)``, discounted: exactly :func:`.black76.black76`."""
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
