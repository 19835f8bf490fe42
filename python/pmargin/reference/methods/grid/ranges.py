"""Scan ranges per product: each underlying's ``(price, vol)`` scale under the model's
``price_ranges`` / ``vol_ranges`` (by underlying name, else by its group in the instruments
column ``range_column``), and its grid shocks rescaled: ``(p * a, v * b)``.

An underlying's group is that of its first instrument (table order); an instrument of the same
underlying in another group cannot be margined (an input error at its ``range_column`` cell,
raised only if held).

Mirrors: rust/pmargin-core/src/methods/grid/model.rs
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from ....errors import MarginInputError
from ....models import GridModel
from ...domain.instruments import Instrument
from ...input import optional_string_column
from ...scenarios.grid import Shock

Scales = dict[str, tuple[float, float]]


def underlying_scales(
    model: GridModel, instruments: pa.Table, rows: Mapping[str, Instrument], underlyings: Mapping[str, object]
) -> tuple[Scales, dict[str, MarginInputError]]:
    """Scale of every underlying with a market row, and the instruments in a conflicting group."""
    conflicts: dict[str, MarginInputError] = {}
    if not model.price_ranges and not model.vol_ranges:
        return {u: (1.0, 1.0) for u in underlyings}, conflicts
    column = model.range_column
    if column is None:
        return {u: model.scales(u) for u in underlyings}, conflicts
    values = optional_string_column(instruments, "instruments", column)
    if column not in instruments.column_names:
        raise MarginInputError(f"missing column '{column}'", table="instruments", column=column)
    first: dict[str, tuple[str, int]] = {}
    for inst in sorted(rows.values(), key=lambda i: i.row):
        group = values[inst.row]
        if group is None:
            raise MarginInputError("a group name is required", table="instruments", column=column, row=inst.row)
        if inst.underlying not in underlyings:
            continue
        if inst.underlying not in first:
            first[inst.underlying] = (group, inst.row)
        elif first[inst.underlying][0] != group:
            g, row = first[inst.underlying]
            conflicts[inst.instrument_id] = MarginInputError(
                f"underlying {inst.underlying!r} is in group {g!r} (row {row}) but this row says {group!r}: one scan "
                "range per underlying",
                table="instruments",
                column=column,
                row=inst.row,
            )
    return {u: model.scales(u, first[u][0] if u in first else None) for u in underlyings}, conflicts


def shocks_for(model: GridModel, scale: tuple[float, float]) -> list[Shock]:
    """The grid's scenarios for one underlying: ``(p * a, v * b)``."""
    a, b = scale
    return [(p * a, v * b) for p, v in model.scenario_shocks()]
