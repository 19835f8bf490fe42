"""Cash-or-nothing digital options paying 1 at expiry if in the money (conventions in
:mod:`pmargin.reference.pricing`).

- :func:`digital_price`, :func:`digital_greeks`: ``df N(+/-d2)``; analytic Greeks (delta
  ``+/- df n(d2) / (S sd)``, gamma ``-/+ df n(d2) d1 / (S^2 sd^2)``, vega ``-/+ df n(d2) d1 / vol``,
  theta ``rate V -/+ df n(d2) (rate / sd - d1 / (2T))``).

Mirrors: rust/pmargin-core/src/pricing/digital.rs
"""

from __future__ import annotations

import math

from .greeks import Greeks, in_the_money
from .normal import norm_cdf, norm_pdf


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
