"""Arrow helpers of the result tables: the float type and account ids that keep the input's
Arrow type.

Mirrors: rust/pmargin-core/src/output/arrow.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

F64 = pa.float64()


def account_ids(column: pa.ChunkedArray, rows: Sequence[int]) -> pa.Array:
    """The ids at ``rows`` of the positions' ``account_id`` column, keeping its Arrow type
    (dictionary-encoded ids stay dictionary-encoded)."""
    if pa.types.is_dictionary(column.type):
        taken = column.take(pa.array(rows, pa.int64()))
        return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken
    return pa.array([column[row].as_py() for row in rows], column.type)
