"""Add-on charges a scenario method adds to its worst loss: the roll (calendar) charge per expiry
bucket with no netting across buckets, the delta-shock charge on a large net delta, and the short
option minimum per contract (docs/methods.md, "Add-ons").

Mirrors: rust/pmargin-core/src/risk/addons.rs
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def roll_rate(min_move: float, annual_move: float, t: float | None) -> float:
    """``max(min_move, exp(annual_move * T) - 1)`` for a dated bucket, ``min_move`` undated."""
    if t is None:
        return min_move
    try:
        grown = math.exp(annual_move * t) - 1.0
    except OverflowError:  # Rust's exp gives inf
        grown = math.inf
    return grown if grown > min_move else min_move


def roll_charge(buckets: Sequence[tuple[float, float]]) -> float:
    """``0.0 + |delta_1| * rate_1 + ...`` over (delta, rate) buckets in order."""
    total = 0.0
    for delta, rate in buckets:
        total += abs(delta) * rate
    return total


def delta_shock_rate(abs_delta: float, index: float, threshold: float, m_inc: float, max_shock: float) -> float:
    """0 while ``abs_delta * index <= threshold`` (USD); else
    ``min(max_shock, m_inc * (abs_delta - threshold / index))``."""
    if abs_delta * index <= threshold:
        return 0.0
    rate = m_inc * (abs_delta - threshold / index)
    return rate if rate < max_shock else max_shock


def short_option_minimum(net_short_contracts: float, per_contract: float) -> float:
    """``per_contract * net short contracts`` (0 when not net short)."""
    return net_short_contracts * per_contract if net_short_contracts > 0.0 else 0.0
