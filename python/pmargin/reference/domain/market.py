"""Market data tables: spot and rate per underlying (``market.underlyings``), implied vol per
option (``market.vols``).

Mirrors: rust/pmargin-core/src/domain/market.rs
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa

from ..input import check_spelling, fail, optional_numbers, read_ids, read_numbers, required_column, required_numbers

#: Names an underlying cannot have: they name the other columns of a scenario matrix
#: (``result.scenarios(i)``), whose per-underlying columns are named after the underlyings.
RESERVED_NAMES = ("scenario", "label", "price_shock", "vol_shock", "total")


@dataclass(frozen=True)
class Underlying:
    """One row of ``market.underlyings``: ``spot`` > 0 and ``rate`` (continuously compounded)."""

    row: int
    spot: float
    rate: float


def read_underlyings(table: pa.Table) -> dict[str, Underlying]:
    """``market.underlyings``: ``underlying`` (unique, not a reserved name), ``spot`` > 0, ``rate``
    (optional, default 0)."""
    check_spelling(table, "underlyings", ("underlying", "spot", "rate"))
    names = read_ids(table, "underlyings", "underlying")
    for row, name in enumerate(names):
        if name in RESERVED_NAMES:
            fail(
                f"{name!r} is reserved: it names a column of the scenario matrix (result.scenarios); "
                "rename the underlying",
                "underlyings",
                "underlying",
                row,
            )
    spots = required_numbers(table, "underlyings", "spot", positive=True)
    rates = optional_numbers(table, "underlyings", "rate", 0.0)
    return {u: Underlying(row, spots[row], rates[row]) for row, u in enumerate(names)}


def read_vols(table: pa.Table, max_vol: float | None) -> dict[str, float]:
    """``market.vols``: ``instrument_id`` (unique), ``implied_vol`` > 0 and at most ``max_vol``
    (``Limits.max_implied_vol``; None: no bound), checked row by row."""
    check_spelling(table, "vols", ("instrument_id", "implied_vol"))
    ids = read_ids(table, "vols", "instrument_id")
    values = read_numbers(required_column(table, "vols", "implied_vol"), "vols", "implied_vol", [False] * len(ids))
    vols: list[float] = []
    for row, vol in enumerate(values):
        if vol is None:
            fail("null is not allowed", "vols", "implied_vol", row)
        if not math.isfinite(vol):
            fail(f"not a finite number: {vol!r}", "vols", "implied_vol", row)
        if vol <= 0:
            fail(f"must be > 0, got {vol!r}", "vols", "implied_vol", row)
        if max_vol is not None and vol > max_vol:
            fail(implausible_vol(vol, max_vol), "vols", "implied_vol", row)
        vols.append(vol)
    return dict(zip(ids, vols, strict=True))


def implausible_vol(vol: float, max_vol: float) -> str:
    """Why ``vol`` is rejected, with the likely fix: vols are fractions (0.55 is 55%), so a vol
    that is plausible once divided by 100 was probably written as a percent."""
    head = f"{vol!r} is above the maximum implied vol {float(max_vol)!r} (vols are annualised fractions: 0.55 is 55%)"
    if vol / 100.0 <= max_vol:
        return (
            f"{head}: {vol!r} looks like a percent: give {vol / 100.0!r}, or raise pmargin.Limits(max_implied_vol=...)"
        )
    return f"{head}: check its units, or raise pmargin.Limits(max_implied_vol=...)"
