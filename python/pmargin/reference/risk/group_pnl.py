"""One account's P&L per group and scenario, written from the definitions.

``pnl_u[s] = 0.0 + q1 * ra1[s] + q2 * ra2[s] + ...`` over the account's netted positions on ``u``
(the group; the grid and VaR methods group by underlying), groups in first-seen order within the
account.

Mirrors: rust/pmargin-core/src/risk/group_pnl.rs
"""

from __future__ import annotations

from ..domain.book import Book
from ..domain.instruments import Instrument


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
