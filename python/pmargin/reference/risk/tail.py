"""Tail risk measures over scenario losses (docs/methods.md, "Tail count and risk measures").

- Tail count: ``x = N * (1 - c)``; ``r = round(x)`` (half away from zero);
  ``k = r if |x - r| <= 1e-9 * max(1, x) else ceil(x)``; ``x < 1 - 1e-9`` is an input error
  (a :class:`~pmargin.errors.MarginConfigError` naming ``model.confidence``).
- Tail order: loss descending, then scenario index ascending (``-0.0`` and ``0.0`` are the same
  loss).
- ``VaR = L_(k)``, its scenario the k-th in tail order; ``ES = (0.0 + L_(1) + ... + L_(k)) / k``
  summed in tail order, its tail the first k scenarios. Margin = ``max(0, measure)``.

Mirrors: rust/pmargin-core/src/risk/tail.rs
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...models._validate import tail_count as tail_count


def tail_order(losses: Sequence[float]) -> list[int]:
    """Scenario indices ordered by (loss descending, index ascending)."""
    return sorted(range(len(losses)), key=lambda s: (-losses[s], s))


@dataclass(frozen=True)
class TailOutcome:
    """A measure's value (may be negative) and its k tail scenarios in tail order."""

    value: float
    tail: list[int]

    @property
    def margin(self) -> float:
        """``max(0, value)``."""
        return max(0.0, self.value)

    def scenario(self, measure: str) -> int:
        """The scenario to report: VaR's (the k-th in tail order), or ES's worst (the first)."""
        return self.tail[-1] if measure == "var" else self.tail[0]

    def reported(self, measure: str) -> tuple[int | None, list[int]]:
        """The reported scenario and tail list: none when the margin is 0; VaR reports ``[its
        scenario]``, ES its k tail scenarios."""
        if not self.margin > 0.0:
            return None, []
        s = self.scenario(measure)
        return s, ([s] if measure == "var" else list(self.tail))


def measure_of(losses: Sequence[float], k: int, measure: str) -> TailOutcome:
    """VaR or ES (``measure`` ``"var"`` / ``"es"``) of a loss vector with tail count ``k``."""
    tail = tail_order(losses)[:k]
    if measure == "var":
        return TailOutcome(losses[tail[-1]], tail)
    total = 0.0
    for s in tail:
        total += losses[s]
    return TailOutcome(total / k, tail)
