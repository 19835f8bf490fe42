"""Arrow helpers of the result tables: the float type, and account ids as ``string`` (string ids
in any encoding) or ``int64`` (integer ids of any width).

Mirrors: rust/pmargin-core/src/output/arrow.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ..risk.worst_loss import NOISE

F64 = pa.float64()


def benefit(gross: float, net: float) -> float:
    """What margining together saves, ``gross - net``, with rounding counted as none: 0.0 when it
    is within ``NOISE`` (2^-40) of the larger of the two (docs/methods.md, "Noise")."""
    saved = gross - net
    return 0.0 if abs(saved) <= NOISE * max(abs(gross), abs(net)) else saved


def account_id_type(column: pa.ChunkedArray) -> pa.DataType:
    """int64 for integer ids (any width, or dictionary-encoded), string for every other kind."""
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.int64() if pa.types.is_integer(t) else pa.string()


def account_ids(column: pa.ChunkedArray, rows: Sequence[int]) -> pa.Array:
    """The ids at ``rows`` of the positions' ``account_id`` column (validated when read) as
    :func:`account_id_type` says."""
    return pa.array([column[row].as_py() for row in rows], account_id_type(column))


#: Result columns that may hold nulls by meaning (no driving scenario, no binding window, an
#: account's problem with no cell, a portfolio without variance); the native engine declares
#: these nullable and every other result column not null.
NULLABLE = frozenset(
    {
        "active_scenario",
        "binding_window",
        "column",
        "diversification_ratio",
        "measure_scenario",
        "measure_scenario_label",
        "price_shock",
        "row",
        "scenario",
        "table",
        "vol_shock",
        "worst_index",
        "worst_move",
        "worst_price_move",
        "worst_price_shock",
        "worst_scenario",
        "worst_source",
        "worst_vol",
        "worst_vol_shock",
    }
)


def declared(table: pa.Table, nullable: frozenset[str] = NULLABLE) -> pa.Table:
    """``table`` with the nullability the native engine declares (the ``nullable`` columns may hold
    nulls, no other), so a result of either engine has the same schema and
    ``native.equals(reference)`` compares values. A scenario matrix has no nullable column."""
    schema = pa.schema([f.with_nullable(f.name in nullable) for f in table.schema], metadata=table.schema.metadata)
    return table if schema.equals(table.schema) else table.cast(schema)
