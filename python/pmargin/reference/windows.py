"""Scenario windows of the VaR / ES models: how each underlying moves in each scenario.

A :class:`Window` is what the historical and Monte Carlo generators reduce to (the native core's
``ScenarioSet``): per underlying, the spot multiplier ``price_factor[u][i]`` and the implied-vol
change ``vol_change[u][i]`` of every scenario ``i``, plus one label per scenario. An underlying
that the window cannot move is an input error only when the book holds it (:meth:`Window.problem`).

Revaluation is the grid's: ``spot' = spot * price_factor``, an option's vol becomes
``max(VOL_FLOOR, vol * (1 + dv))`` (relative) or ``max(VOL_FLOOR, vol + dv)`` (absolute), and the
risk array is ``value(shocked) - value(base)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import MarginInputError
from .grid import shocked_vol
from .pricing import Contract, base_value, contract_value


@dataclass(frozen=True)
class Window:
    """One scenario window: ``"normal"``, or ``"stressed"`` (a historical stress period)."""

    name: str
    labels: list[str]
    price_factor: dict[str, list[float]]
    vol_change: dict[str, list[float]]
    vol_mode: str
    #: Underlyings the window mentions but cannot move (a date without a move, a name without a vol).
    problems: dict[str, MarginInputError]
    #: The error for an underlying the window does not mention at all.
    absent: Callable[[str], MarginInputError]

    @property
    def n(self) -> int:
        return len(self.labels)

    def problem(self, underlying: str) -> MarginInputError | None:
        """Why ``underlying`` has no scenarios in this window (None when it has them)."""
        if underlying in self.price_factor:
            return None
        return self.problems.get(underlying) or self.absent(underlying)


def window_risk_array(c: Contract, underlying: str, window: Window) -> list[float]:
    """``ra[i] = value(spot * price_factor[i], shocked vol) - value(base)`` for every scenario."""
    base = base_value(c)
    factors = window.price_factor[underlying]
    changes = window.vol_change[underlying]
    out: list[float] = []
    for i in range(window.n):
        vol = None if c.vol is None else shocked_vol(c.vol, changes[i], window.vol_mode)
        out.append(contract_value(c, c.spot * factors[i], vol) - base)
    return out


def first_non_finite(ra: Sequence[float]) -> int | None:
    """The first scenario whose value is not finite (None when all are)."""
    for i, x in enumerate(ra):
        if not math.isfinite(x):
            return i
    return None
