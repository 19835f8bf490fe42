"""The worst loss of a P&L vector: the largest loss ``max_s(-pnl[s])`` when positive, else 0, and
the first scenario attaining it (none when nothing loses).

Mirrors: rust/pmargin-core/src/risk/worst_loss.rs
"""

from __future__ import annotations

from collections.abc import Sequence


def worst_loss(pnl: Sequence[float]) -> tuple[float, int | None]:
    """Largest loss ``max_s(-pnl[s])`` and the first scenario attaining it (strict ``>`` scan);
    ``(0.0, None)`` when no scenario loses."""
    loss, at = -pnl[0], 0
    for s in range(1, len(pnl)):
        if -pnl[s] > loss:
            loss, at = -pnl[s], s
    if loss > 0.0:
        return loss, at
    return 0.0, None
