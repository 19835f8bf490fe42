"""The worst loss of a P&L vector: the largest loss ``max_s(-pnl[s])`` when positive, else 0, and
the first scenario attaining it (none when nothing loses); and the noise floor: a loss at or below
``NOISE * scale`` (``scale`` = sum over the positions summed, in order from 0.0, of
``|q| * max(|min ra|, |max ra|)``) is rounding of opposite terms, so it is no loss.

Mirrors: rust/pmargin-core/src/risk/worst_loss.rs
"""

from __future__ import annotations

from collections.abc import Sequence

#: Relative noise floor, 2^-40.
NOISE = 2.0**-40


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


def scale_term(quantity: float, ra: Sequence[float]) -> float:
    """One position's share of a P&L scale: ``|q| * max(|min ra|, |max ra|)``."""
    return abs(quantity) * max(abs(min(ra)), abs(max(ra)))


def is_noise(loss: float, scale: float) -> bool:
    """``loss <= NOISE * scale``."""
    return loss <= NOISE * scale


def worst_loss_above_noise(pnl: Sequence[float], scale: float) -> tuple[float, int | None]:
    """:func:`worst_loss`, with a loss that is noise relative to ``scale`` counted as none."""
    loss, at = worst_loss(pnl)
    return (0.0, None) if is_noise(loss, scale) else (loss, at)
