"""Historical data preparation in plain Python, shared by :class:`~pmargin.HistoricalModel`
(``from_prices``, ``scenarios()``) and the pure-Python reference: reading a moves table (dates,
labels, duplicate checks), the EWMA filter, the scenario table and moves from prices. The rules
are in docs/methods.md ("Historical simulation"); the native core has its own implementation
(``rust/pmargin-core/src/scenarios/historical.rs``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from .columns import (
    check_spelling,
    fail,
    is_string_type,
    optional_numbers,
    read_epoch_ns,
    read_strings,
    required_column,
    required_numbers,
    required_strings,
)

DAY_NS = 86_400 * 1_000_000_000
DateKey = int | str


def date_label(ns: int) -> str:
    """``YYYY-MM-DD`` of epoch nanoseconds (UTC), plus ``THH:MM:SS`` when not midnight
    (Howard Hinnant's ``civil_from_days``, valid for any year)."""
    days, rest = divmod(ns, DAY_NS)
    seconds = rest // 1_000_000_000
    z = days + 719_468
    era, doe = divmod(z, 146_097)
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if seconds == 0:
        return text
    return f"{text}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def read_date_keys(table: pa.Table, tname: str) -> list[DateKey]:
    """The ``date`` column as sortable keys: strings as they are, times as epoch nanoseconds."""
    col = required_column(table, tname, "date")
    if is_string_type(col.type):
        return [v for v in read_strings(col, tname, "date") if v is not None]
    return [v for v in read_epoch_ns(col, tname, "date", [True] * table.num_rows) if v is not None]


def key_label(key: DateKey) -> str:
    return key if isinstance(key, str) else date_label(key)


@dataclass(frozen=True)
class Moves:
    """A moves table by underlying (first-seen order): ``(return, vol_change, row)`` per date,
    None where the date has no row for it."""

    labels: list[str]
    slots: dict[str, list[tuple[float, float, int] | None]]


def read_moves(table: pa.Table, tname: str) -> Moves:
    """Read and check a moves table (see the module docstring for the order of the checks)."""
    check_spelling(table, tname, ("date", "underlying", "return", "vol_change"))
    keys = read_date_keys(table, tname)
    underlyings = required_strings(table, tname, "underlying")
    returns = required_numbers(table, tname, "return")
    for row, r in enumerate(returns):
        if r <= -1.0:
            fail(f"{r} is impossible: a return must be > -1", tname, "return", row)
    changes = optional_numbers(table, tname, "vol_change", 0.0)

    distinct = sorted(set(keys))
    index = {key: i for i, key in enumerate(distinct)}
    labels = [key_label(key) for key in distinct]
    seen: dict[tuple[int, str], int] = {}
    slots: dict[str, list[tuple[float, float, int] | None]] = {}
    for row, (key, u) in enumerate(zip(keys, underlyings, strict=True)):
        d = index[key]
        if (d, u) in seen:
            fail(f"duplicate move for {u!r} on {labels[d]} (first at row {seen[d, u]})", tname, "underlying", row)
        seen[d, u] = row
        slots.setdefault(u, [None] * len(distinct))[d] = (returns[row], changes[row], row)
    return Moves(labels, slots)


def ewma_filter(returns: Sequence[float], lam: float) -> list[float]:
    """Rescale chronological returns to today's EWMA volatility (module docstring)."""
    n = len(returns)
    if n == 0:
        return []
    first = 0.0
    for r in returns:
        first += r * r
    s2 = [first / n]
    for t, r in enumerate(returns):
        s2.append(lam * s2[t] + (1.0 - lam) * r * r)
    today = s2[n]
    return [r if s == 0.0 else r * math.sqrt(today / s) for r, s in zip(returns, s2, strict=False)]


def scenario_table(table: pa.Table, tname: str, ewma_lambda: float | None) -> pa.Table:
    """``scenario`` (int32), ``date`` (label), ``underlying``, ``return`` (filtered when
    ``ewma_lambda`` is set: over the dates the underlying has), ``vol_change``; scenario-major,
    underlyings in first-seen order, only the moves the table has."""
    moves = read_moves(table, tname)
    filtered: dict[str, list[float]] = {}
    for u, slots in moves.slots.items():
        returns = [slot[0] for slot in slots if slot is not None]
        filtered[u] = ewma_filter(returns, ewma_lambda) if ewma_lambda is not None else returns
    used = dict.fromkeys(moves.slots, 0)
    rows: list[tuple[int, str, str, float, float]] = []
    for i, label in enumerate(moves.labels):
        for u, slots in moves.slots.items():
            slot = slots[i]
            if slot is None:
                continue
            rows.append((i, label, u, filtered[u][used[u]], slot[1]))
            used[u] += 1
    return pa.table(
        {
            "scenario": pa.array([r[0] for r in rows], pa.int32()),
            "date": pa.array([r[1] for r in rows], pa.string()),
            "underlying": pa.array([r[2] for r in rows], pa.string()),
            "return": pa.array([r[3] for r in rows], pa.float64()),
            "vol_change": pa.array([r[4] for r in rows], pa.float64()),
        }
    )


def moves_from_prices(prices: pa.Table, horizon_days: int) -> pa.Table:
    """A moves table (``date`` of the input's type, ``underlying``, ``return``) from a
    (``date``, ``underlying``, ``price`` > 0) table: per underlying (first-seen order), dates
    ascending, ``p_{t+h} / p_t - 1.0`` labelled by date_t."""
    tname = "prices"
    keys = read_date_keys(prices, tname)
    underlyings = required_strings(prices, tname, "underlying")
    values = required_numbers(prices, tname, "price", positive=True)
    seen: dict[tuple[DateKey, str], int] = {}
    series: dict[str, list[tuple[DateKey, int]]] = {}
    for row, (key, u) in enumerate(zip(keys, underlyings, strict=True)):
        if (key, u) in seen:
            fail(
                f"duplicate price for {u!r} on {key_label(key)} (first at row {seen[key, u]})", tname, "underlying", row
            )
        seen[key, u] = row
        series.setdefault(u, []).append((key, row))
    take: list[int] = []
    names: list[str] = []
    returns: list[float] = []
    for u, points in series.items():
        points.sort()
        for t in range(len(points) - horizon_days):
            start, end = points[t][1], points[t + horizon_days][1]
            take.append(start)
            names.append(u)
            returns.append(values[end] / values[start] - 1.0)
    dates = prices.column("date").take(pa.array(take, pa.int64()))
    return pa.table(
        {
            "date": dates,
            "underlying": pa.array(names, pa.string()),
            "return": pa.array(returns, pa.float64()),
        }
    )
