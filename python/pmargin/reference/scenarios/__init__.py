"""Scenario sets: how each underlying's spot and each option's implied vol move in each scenario.

A :class:`Window` is what the historical (:mod:`.historical`) and Monte Carlo
(:mod:`.montecarlo`) generators reduce to (the native core's ``ScenarioSet``): per underlying, the
spot multiplier ``price_factor[u][i]`` and the implied-vol change ``vol_change[u][i]`` of every
scenario ``i``, plus one label per scenario. An underlying that the window cannot move is an input
error only when the book holds it (:meth:`Window.problem`). The grid's scenarios are
``(price shock, vol shock)`` pairs of :class:`pmargin.GridModel`; every scenario set shocks vols
by the grid's rule (:func:`.grid.shocked_vol`).

Mirrors: rust/pmargin-core/src/scenarios/
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import MarginInputError


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
