"""Historical simulation (docs/methods.md, "Historical simulation"), written from the definitions.

- A moves table (``moves`` or ``stressed``) has ``date``, ``underlying``, ``return`` (finite,
  > -1) and optionally ``vol_change`` (finite; 0 when absent). Its columns are checked in that
  order, each over its rows ascending; then a second row for one (date, underlying) is an error
  naming that row (``underlying`` column).
- ``date`` is a timestamp (any unit, naive = UTC) or a date, read as epoch nanoseconds and labelled
  ``YYYY-MM-DD`` (``YYYY-MM-DDTHH:MM:SS`` when not midnight UTC; sub-second parts are not printed),
  or a string column, taken verbatim: ordered by code point and labelled as written (write ISO
  ``YYYY-MM-DD`` so that this order is chronological). Scenarios are the distinct dates ascending.
- Scenario i moves underlying u by ``price_factor = 1.0 + return[i, u]``; its vol change is
  ``vol_change[i, u]``.
- Filtered HS, per underlying with chronological returns r_1..r_n:
  ``s2_1 = (0.0 + r_1 * r_1 + ... + r_n * r_n) / n``,
  ``s2_{t+1} = lam * s2_t + (1.0 - lam) * r_t * r_t`` (evaluated left to right),
  ``r_t' = r_t * sqrt(s2_{n+1} / s2_t)`` (``r_t`` when ``s2_t == 0``). A filtered return
  ``r_t' <= -1`` (a price at or below zero) is an input error of that underlying, raised when the
  book holds it: ``moves.return`` at the row of that move (the first such date).
- ``from_prices``: per underlying, prices sorted by date p_0..p_m,
  ``return at date_t = p_{t+h} / p_t - 1.0`` for t = 0..m-h.

Mirrors: rust/pmargin-core/src/scenarios/historical.rs
"""

from __future__ import annotations

import pyarrow as pa

from ...errors import MarginInputError
from ...history import ewma_filter, read_moves
from . import Window


def historical_window(
    table: pa.Table, tname: str, vol_mode: str, ewma_lambda: float | None, name: str = "normal"
) -> Window:
    """The scenario window of a moves table (``tname`` is ``"moves"`` or ``"stressed"``)."""
    moves = read_moves(table, tname)
    price_factor: dict[str, list[float]] = {}
    vol_change: dict[str, list[float]] = {}
    problems: dict[str, MarginInputError] = {}
    for u, slots in moves.slots.items():
        gap = next((d for d, slot in enumerate(slots) if slot is None), None)
        if gap is not None:
            problems[u] = MarginInputError(
                f"date {moves.labels[gap]} has no move for underlying {u!r}", table=tname, column="date"
            )
            continue
        returns = [slot[0] for slot in slots if slot is not None]
        if ewma_lambda is not None:
            returns = ewma_filter(returns, ewma_lambda)
            crash = next((d for d, r in enumerate(returns) if r <= -1.0), None)
            if crash is not None:
                slot = slots[crash]
                problems[u] = MarginInputError(
                    f"EWMA filtering turns the return of {u!r} on {moves.labels[crash]} into {returns[crash]}, "
                    "a price at or below zero",
                    table=tname,
                    column="return",
                    row=None if slot is None else slot[2],
                )
                continue
        price_factor[u] = [1.0 + r for r in returns]
        vol_change[u] = [slot[1] for slot in slots if slot is not None]

    def absent(u: str) -> MarginInputError:
        return MarginInputError(
            f"the {tname} table has no moves for underlying {u!r}", table=tname, column="underlying"
        )

    return Window(name, moves.labels, price_factor, vol_change, vol_mode, problems, absent)
