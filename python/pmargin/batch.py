"""Margin a large book in chunks of whole accounts.

Margin is not additive across partial accounts (an account's hedges must be netted together), so
positions are split into chunks that each hold every row of the accounts they contain. Chunks
follow the accounts' first-seen order, so the concatenated result lists accounts in the same order
as one run over the whole book would, with the same numbers.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .errors import MarginInputError, run_flags
from .io import TableLike, to_table
from .result import MarginResult

if TYPE_CHECKING:
    from .engine import MarginEngine

#: ``progress(positions_done, positions_total)``, called after each chunk.
Progress = Callable[[int, int], None]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ChunkPlan:
    """A positions table cut into chunks of whole accounts: ``table`` in row order grouped by
    chunk (``order`` maps back to the input's rows, None when already grouped) and the chunk
    boundaries ``bounds`` in it."""

    table: pa.Table
    order: IntArray | None
    bounds: list[int]

    @property
    def total(self) -> int:
        return int(self.table.num_rows)


def plan_chunks(positions: TableLike, chunk_positions: int) -> ChunkPlan:
    """Cut ``positions`` into chunks of whole accounts of about ``chunk_positions`` rows (one
    chunk when the book is small or the engine must judge the account column)."""
    if isinstance(chunk_positions, bool) or not isinstance(chunk_positions, int) or chunk_positions < 1:
        raise MarginInputError(
            f"must be a positive integer, got {chunk_positions!r}", table="options", column="chunk_positions"
        )
    table = to_table(positions, "positions")
    total = table.num_rows
    # A small book is one chunk: no need to number its accounts.
    codes = None if total <= chunk_positions else _account_codes(table)
    if codes is None:
        return ChunkPlan(table, None, [0, total])
    order, bounds = _group_rows(_chunk_of_row(codes, chunk_positions))
    return ChunkPlan(table if order is None else _without_views(table).take(pa.array(order)), order, bounds)


def margin_plan(
    engine: MarginEngine,
    plan: ChunkPlan,
    progress: Progress | None = None,
    *,
    by_position: bool = False,
    on_error: str = "raise",
) -> MarginResult:
    """Margin every chunk of ``plan`` with ``engine`` and combine the results (see
    :func:`margin_in_chunks`); ``progress(done, total)`` after each chunk."""
    results: list[MarginResult] = []
    for start, stop in itertools.pairwise(plan.bounds):
        rows = None if plan.order is None else plan.order[start:stop]
        chunk = plan.table.slice(start, stop - start)
        results.append(_margin_chunk(engine, chunk, start, rows, by_position, on_error))
        _report(progress, stop, plan.total)
    return combine(results)


def margin_in_chunks(
    engine: MarginEngine,
    positions: TableLike,
    chunk_positions: int,
    progress: Progress | None = None,
    *,
    by_position: bool = False,
    on_error: str = "raise",
) -> MarginResult:
    """Margin ``positions`` with ``engine`` in chunks of whole accounts of about ``chunk_positions`` rows.

    An account with more rows than ``chunk_positions`` gets a chunk of its own. The result equals
    ``engine.margin(positions, by_position=by_position)``: same rows in the same order (also of
    ``.by_position`` and ``.explain``, which are per account), and ``.scenarios(account_id)``
    dispatches to the chunk that holds the account. A bad position row is reported with its row
    number in ``positions`` as given (also in ``.failed`` with ``on_error="isolate"``).
    """
    by_position, on_error = run_flags(by_position, on_error)  # before the book is read and cut
    return margin_plan(
        engine, plan_chunks(positions, chunk_positions), progress, by_position=by_position, on_error=on_error
    )


def _without_views(table: pa.Table) -> pa.Table:
    """``table`` with string_view columns (Polars) as large_string: pyarrow has no ``take`` for
    string_view. A copy of those columns only, made only when the rows must be regrouped."""
    for i, field in enumerate(table.schema):
        if pa.types.is_string_view(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.large_string()))
    return table


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _account_codes(table: pa.Table) -> IntArray | None:
    """Each row's account as 0, 1, 2, ... in first-seen order; None when the engine must judge the column."""
    if "account_id" not in table.column_names:
        return None
    column = table.column("account_id")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if column.null_count or not (
        pa.types.is_string(column.type)
        or pa.types.is_large_string(column.type)
        or pa.types.is_string_view(column.type)
        or pa.types.is_integer(column.type)
    ):
        return None
    encoded = pc.dictionary_encode(column.combine_chunks())
    codes: IntArray = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes


def _chunk_of_row(codes: IntArray, chunk_positions: int) -> IntArray:
    """Chunk number of each row: accounts in first-seen order, a new chunk when the next account would overflow."""
    sizes = np.bincount(codes)
    chunk_of_account = np.empty(sizes.size, np.int64)
    chunk, filled = 0, 0
    for account, size in enumerate(sizes.tolist()):
        if filled and filled + size > chunk_positions:
            chunk, filled = chunk + 1, 0
        chunk_of_account[account] = chunk
        filled += size
    result: IntArray = chunk_of_account[codes]
    return result


def _group_rows(chunk_of_row: IntArray) -> tuple[IntArray | None, list[int]]:
    """Row order grouping the chunks (None when already grouped) and the chunk boundaries in it."""
    grouped = bool(np.all(chunk_of_row[1:] >= chunk_of_row[:-1]))
    order: IntArray | None = None if grouped else np.argsort(chunk_of_row, kind="stable").astype(np.int64)
    counts = np.bincount(chunk_of_row)
    bounds = [0, *np.cumsum(counts).tolist()]
    return order, bounds


def _margin_chunk(
    engine: MarginEngine, chunk: pa.Table, start: int, rows: IntArray | None, by_position: bool, on_error: str
) -> MarginResult:
    """Margin one chunk; a position error is re-raised (or, isolated, listed in ``.failed``) with
    its row number in the whole table."""

    def whole_row(row: int) -> int:
        return start + row if rows is None else int(rows[row])

    try:
        result = engine.margin(chunk, by_position=by_position, on_error=on_error)
    except MarginInputError as exc:
        if exc.table != "positions" or exc.row is None or not 0 <= exc.row < chunk.num_rows:
            raise
        raise type(exc)(exc.reason, table=exc.table, column=exc.column, row=whole_row(exc.row)) from None
    if result.failed.num_rows:
        tables = result.failed.column("table").to_pylist()
        fixed = [
            whole_row(r) if t == "positions" and r is not None else r
            for t, r in zip(tables, result.failed.column("row").to_pylist(), strict=True)
        ]
        result.failed = result.failed.set_column(3, "row", pa.array(fixed, pa.int64()))
    return result


def _concat(tables: Sequence[pa.Table | None]) -> pa.Table | None:
    """The tables one after the other; None when any is None."""
    present = [t for t in tables if t is not None]
    return pa.concat_tables(present) if len(present) == len(tables) else None


def combine(results: Sequence[MarginResult]) -> MarginResult:
    """Concatenate the results of disjoint sets of accounts into one, in the order given
    (``by_position`` and ``explain`` too, when every result has them)."""
    if not results:
        raise ValueError("combine needs at least one result")
    if len(results) == 1:
        return results[0]
    offsets = np.cumsum([0] + [r.accounts.num_rows for r in results]).tolist()
    accounts = pa.concat_tables([r.accounts for r in results])
    by_underlying = pa.concat_tables([r.by_underlying for r in results])
    account_ids: list[Any] | None = None

    def scenario_matrix(index: int) -> pa.Table:
        nonlocal account_ids
        if account_ids is None:
            account_ids = accounts.column("account_id").to_pylist()
        part = bisect.bisect_right(offsets, index) - 1
        return results[part].scenarios(account_ids[index])

    by_position = _concat([r.by_position for r in results])
    explain = _concat([r.explain for r in results])
    failed = pa.concat_tables([r.failed for r in results])
    return MarginResult(accounts, by_underlying, results[0].model, scenario_matrix, by_position, explain, failed=failed)
