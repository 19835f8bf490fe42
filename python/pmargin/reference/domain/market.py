"""Market data tables: spot and rate per underlying (``market.underlyings``), implied vol per
option (``market.vols``).

Mirrors: rust/pmargin-core/src/domain/market.rs
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ..input import optional_numbers, read_ids, required_numbers


@dataclass(frozen=True)
class Underlying:
    """One row of ``market.underlyings``: ``spot`` > 0 and ``rate`` (continuously compounded)."""

    row: int
    spot: float
    rate: float


def read_underlyings(table: pa.Table) -> dict[str, Underlying]:
    """``market.underlyings``: ``underlying`` (unique), ``spot`` > 0, ``rate`` (optional, default 0)."""
    names = read_ids(table, "underlyings", "underlying")
    spots = required_numbers(table, "underlyings", "spot", positive=True)
    rates = optional_numbers(table, "underlyings", "rate", 0.0)
    return {u: Underlying(row, spots[row], rates[row]) for row, u in enumerate(names)}


def read_vols(table: pa.Table) -> dict[str, float]:
    """``market.vols``: ``instrument_id`` (unique), ``implied_vol`` > 0."""
    ids = read_ids(table, "vols", "instrument_id")
    vols = required_numbers(table, "vols", "implied_vol", positive=True)
    return dict(zip(ids, vols, strict=True))
