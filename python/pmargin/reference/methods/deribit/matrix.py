"""Deribit's risk matrix per contract: P&L of one unit under each standard move x vol scenario
(down, unchanged, up) and each extended move (vol up, weighted), in the contract's settlement
currency.

Mirrors: rust/pmargin-core/src/methods/deribit/matrix.rs
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ....models import VOL_FLOOR
from ...valuation import Contract, contract_value

EXTENDED_MOVES = (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
VOL_NAMES = ("down", "none", "up")

Params = Mapping[str, float]


def moves(p: Params) -> list[float]:
    """``(i - n) * R / n`` for i = 0..2n."""
    r, n = p["price_range"], int(p["buckets_count"])
    return [(i - n) * r / n for i in range(2 * n + 1)]


def vol_multiplier(p: Params, t: float) -> float:
    """``(30 / max(DTE, dte_floor_days)) ** power``, the short-term power below 30 days."""
    dte = t * 365.0
    power = p["short_term_vega_power"] if dte < 30.0 else p["long_term_vega_power"]
    floored = dte if dte > p["dte_floor_days"] else p["dte_floor_days"]
    try:
        result: float = (30.0 / floored) ** power
    except OverflowError:  # Rust's powf gives inf
        return math.inf
    return result


def shocked_vols(p: Params, vol: float, t: float) -> tuple[float, float, float]:
    """(down, unchanged, up): ``up = max(min_up, vol * (1 + range_up * mult))``,
    ``down = max(VOL_FLOOR, vol * max(0, 1 - range_down * mult))``."""
    mult = vol_multiplier(p, t)
    up = vol * (1.0 + p["volatility_range_up"] * mult)
    up = up if up > p["min_volatility_for_shock_up"] else p["min_volatility_for_shock_up"]
    factor = 1.0 - p["volatility_range_down"] * mult
    down = vol * (factor if factor > 0.0 else 0.0)
    down = down if down > VOL_FLOOR else VOL_FLOOR
    return down, vol, up


def growth(c: Contract) -> float:
    """``exp(rate * T)`` (1 for spot and perpetuals, whose T is 0)."""
    return math.exp(c.rate * c.t)


def unit_pnl(c: Contract, base: float, inverse: bool, m: float, vol: float | None) -> float:
    """Linear: ``V' - V`` (USD). Inverse: ``V'/F' - V/F`` for an option, ``(V' - V) / F'`` for a
    future or perpetual, F the contract's own forward (spot for a perpetual)."""
    spot = c.spot * (1.0 + m)
    value = contract_value(c, spot, vol)
    if not inverse:
        return value - base
    g = growth(c)
    settle = spot * g
    if c.kind == "option":
        return value / settle - base / (c.spot * g)
    return (value - base) / settle


def extended_weight(p: Params, e: float, inverse: bool) -> float:
    """``ETF * (R / |e|)``, times ``(1 + e) / (1 + sign(e) R)`` for coin P&L."""
    r = p["price_range"]
    w = p["extended_table_factor"] * (r / abs(e))
    if inverse:
        sign = -1.0 if e < 0.0 else 1.0
        return w * (1.0 + e) / (1.0 + sign * r)
    return w


def contract_row(p: Params, c: Contract, base: float, inverse: bool) -> list[float]:
    """Standard entries move-major (vols down, none, up), then the weighted extended entries."""
    vols: tuple[float | None, ...] = (
        shocked_vols(p, c.vol, c.t) if c.kind == "option" and c.vol is not None else (c.vol,) * 3
    )
    row = [unit_pnl(c, base, inverse, m, v) for m in moves(p) for v in vols]
    row += [unit_pnl(c, base, inverse, e, vols[2]) * extended_weight(p, e, inverse) for e in EXTENDED_MOVES]
    return row


def forward_delta(c: Contract, spot_delta: float) -> float:
    """dV/dF per unit: the multiplier for linear contracts, ``delta / exp(rate T)`` for options."""
    if c.kind != "option":
        return c.multiplier
    return spot_delta / growth(c)
