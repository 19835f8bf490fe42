"""One account's P&L per group and scenario, written from the definitions.

``pnl_u[s] = 0.0 + q1 * ra1[s] + q2 * ra2[s] + ...`` over the account's netted positions on ``u``
(the group; the grid and VaR methods group by underlying), groups in first-seen order within the
account; a group's P&L scale is ``0.0 + |q1| * max|ra1| + ...`` over its positions in order, the
account's ``0.0 + scale_u1 + scale_u2 + ...`` over its groups in order (the noise floor of
:mod:`.worst_loss`).

Mirrors: rust/pmargin-core/src/risk/group_pnl.rs
"""

from __future__ import annotations

from ..domain.book import Book
from ..domain.instruments import Instrument
from .worst_loss import scale_term


def underlying_order(book: Book, instruments: dict[str, Instrument]) -> list[str]:
    """The underlyings of the account's netted positions, first-seen."""
    return list(dict.fromkeys(instruments[p.instrument_id].underlying for p in book.positions))


def underlying_pnl(
    book: Book, underlying: str, instruments: dict[str, Instrument], risk_arrays: dict[str, list[float]], n: int
) -> list[float]:
    """``pnl[s] = 0.0``, then ``pnl[s] += q * ra[s]`` over the netted positions on ``underlying``."""
    pnl = [0.0] * n
    for pos in book.positions:
        if instruments[pos.instrument_id].underlying != underlying:
            continue
        ra = risk_arrays[pos.instrument_id]
        for s in range(n):
            pnl[s] += pos.quantity * ra[s]
    return pnl


def pnl_scale(
    book: Book, underlying: str | None, instruments: dict[str, Instrument], risk_arrays: dict[str, list[float]]
) -> float:
    """P&L scale of the account's positions on ``underlying``; of the account when None (its
    underlyings' scales added in first-seen order)."""
    if underlying is None:
        total = 0.0
        for u in underlying_order(book, instruments):
            total += pnl_scale(book, u, instruments, risk_arrays)
        return total
    scale = 0.0
    for pos in book.positions:
        if instruments[pos.instrument_id].underlying == underlying:
            scale += scale_term(pos.quantity, risk_arrays[pos.instrument_id])
    return scale
