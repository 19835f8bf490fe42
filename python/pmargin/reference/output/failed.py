"""The failed-accounts table of a run made with ``on_error="isolate"``: one row per account left
out, with the first problem found in it (``account_id``, ``table``, ``column``, ``row``,
``reason``).

Mirrors: rust/pmargin-core/src/output/failed.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ...errors import MarginInputError
from .arrow import account_ids


def failed_table(failed: Sequence[tuple[int, MarginInputError]], ids: pa.ChunkedArray) -> pa.Table:
    """``failed``: (first row of the account, its problem), in order of the first rows."""
    return pa.table(
        {
            "account_id": account_ids(ids, [row for row, _ in failed]),
            "table": pa.array([e.table for _, e in failed], pa.string()),
            "column": pa.array([e.column for _, e in failed], pa.string()),
            "row": pa.array([e.row for _, e in failed], pa.int64()),
            "reason": pa.array([e.reason for _, e in failed], pa.string()),
        }
    )
