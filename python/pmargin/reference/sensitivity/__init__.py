"""Sensitivity-based risk in plain Python: ISDA SIMM from a CRIF (:mod:`.simm`) and delta-normal /
delta-gamma portfolio volatility with Euler contributions (:mod:`.variance`). docs/simm.md is the
exact specification both engines implement.

Mirrors: rust/pmargin-core/src/sensitivity
"""

from __future__ import annotations

from .simm import simm_tables
from .variance import portfolio_variance

__all__ = ["portfolio_variance", "simm_tables"]
