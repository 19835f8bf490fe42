"""The grid model's scenarios, written from the definitions.

- Scenario ``s = (p, v)`` in :meth:`GridModel.scenario_shocks` order: ``spot' = spot * (1 + p)``;
  an option's vol becomes ``max(VOL_FLOOR, vol * (1 + v))`` (relative) or
  ``max(VOL_FLOOR, vol + v)`` (absolute); rate and ``T`` are unchanged.
- The scenarios and their labels are :class:`pmargin.GridModel`'s (``scenario_shocks``,
  ``scenarios``, :func:`pmargin.models.scenario_label`).

Mirrors: rust/pmargin-core/src/scenarios/grid.rs
"""

from __future__ import annotations

from ...models import VOL_FLOOR

Shock = tuple[float, float]


def shocked_vol(vol: float, shock: float, mode: str) -> float:
    """``max(VOL_FLOOR, vol * (1 + v))`` (relative) or ``max(VOL_FLOOR, vol + v)`` (absolute)."""
    raw = vol * (1 + shock) if mode == "relative" else vol + shock
    return max(VOL_FLOOR, raw)
