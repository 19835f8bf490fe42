"""Arrow helpers of the result tables: the float type, and account ids as ``string`` (string ids
in any encoding) or ``int64`` (integer ids of any width).

Mirrors: rust/pmargin-core/src/output/arrow.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

F64 = pa.float64()


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
