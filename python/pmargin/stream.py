"""Margin a book that arrives as a stream of Arrow batches, in memory bounded by a budget.

Margin is not additive across partial accounts: every row of an account must be margined in the
same engine call, or the account comes back as several partial rows (3,002 rows for 3,000
accounts, and a wrong total). Two ways to get whole accounts from a stream (docs/streaming.md):

- ``grouped=True``: the caller declares the rows grouped by account (each account's rows
  contiguous, in any account order). One pass: batches are buffered up to ``batch_positions``
  rows, cut at the last account boundary, and margined; the account that straddles the cut waits
  for the next chunk. Checked: an account that appears again after its group ended is a
  :class:`~pmargin.errors.MarginInputError` naming it and its row.
- ``grouped=False`` (the default, any row order): two passes. The first writes each row to one of
  ``partitions`` spill files (Arrow IPC, in a temporary folder under ``spill_dir``) chosen by a
  hash of its account id; the second margins each file whole. A file over twice the budget is
  split again with another hash. The folder is removed afterwards, also on error or when the
  reader is dropped half-read.

Results are identical, bit for bit, to one ``engine.margin(whole_table)``: an account's numbers
depend only on its own netted positions (docs/methods.md, "Canonical order"). Row order: with
``grouped=True`` the accounts come out in input order, exactly as from the whole table; with
``grouped=False`` they come out partition by partition (first-seen order within each), so the
tables equal the whole-table ones after a stable sort by ``account_id``. Error rows
(``row`` of an error or of ``failed``) are rows of the whole stream, counted from 0.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _core
from .batch import _margin_chunk
from .columns import is_number_type, is_string_type
from .engine import MarginEngine
from .errors import MarginConfigError, MarginError, MarginInputError, reading, run_flags, wrong_argument
from .result import MarginResult

#: Result tables a stream can carry. ``greeks`` / ``greeks_by_underlying`` are the two tables of
#: :meth:`MarginEngine.greeks` on the margined accounts' positions.
TABLES = ("accounts", "by_underlying", "by_position", "explain", "failed", "greeks", "greeks_by_underlying")
#: Rows margined per engine call (the memory budget's unit; docs/streaming.md).
DEFAULT_BATCH_POSITIONS = 500_000
#: Spill files of an unordered stream when the caller gives neither ``partitions`` nor ``total_rows``.
DEFAULT_PARTITIONS = 16
#: With ``total_rows`` known, spill files average ``batch_positions / FILES_PER_BUDGET`` rows: the
#: engine groups a file's scattered accounts faster when their hash map fits the CPU caches.
FILES_PER_BUDGET = 4
#: At most this many spill files are open at once (larger files are split again in pass 2).
MAX_PARTITIONS = 512
#: A spill file over this many times ``batch_positions`` rows is split again (with another hash).
RESPLIT_FACTOR = 2
_MAX_LEVELS = 4
#: The spill files' extra column: each row's number in the whole stream.
ROW_COLUMN = "__pmargin_row"

#: ``progress(rows_done, rows_total)``; ``rows_total`` is None when unknown.
Progress = Callable[[int, "int | None"], None]
Sink = Callable[[pa.RecordBatch], Any]


class RegroupedAccountError(MarginInputError):
    """An account appears again after its group ended in a stream declared grouped by account."""


class MarginStream:
    """A streaming margin run: iterate it for ``(table_name, RecordBatch)`` pairs in the order
    they are produced (one pass over the input); ``schemas`` gives each requested table's schema
    up front; :attr:`positions_margined` counts the rows margined so far. Made by
    :func:`iter_margin`."""

    def __init__(
        self, schemas: dict[str, pa.Schema], batches: Iterator[tuple[str, pa.RecordBatch]], run: _Run | None = None
    ) -> None:
        self.schemas = schemas
        self._batches = batches
        self._run = run

    @property
    def positions_margined(self) -> int:
        """Position rows of the accounts margined so far (with ``on_error="isolate"``, the rows of
        the failed accounts are not counted)."""
        return 0 if self._run is None else self._run.margined

    def __iter__(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        return self._batches

    def close(self) -> None:
        """Stop the run and remove its spill files (also done when the stream is dropped)."""
        close = getattr(self._batches, "close", None)
        if callable(close):
            close()

    def to_tables(self) -> dict[str, pa.Table]:
        """Read the whole stream into one table per requested name (for small books and tests)."""
        parts: dict[str, list[pa.RecordBatch]] = {name: [] for name in self.schemas}
        for name, batch in self:
            parts[name].append(batch)
        return {name: pa.Table.from_batches(parts[name], schema) for name, schema in self.schemas.items()}


def margin_stream(
    positions: Any,
    engine_or_inputs: Any,
    *,
    table: str = "accounts",
    also: Mapping[str, Any] | None = None,
    grouped: bool = False,
    by_position: bool = False,
    on_error: str = "raise",
    batch_positions: int = DEFAULT_BATCH_POSITIONS,
    partitions: int | None = None,
    spill_dir: str | Path | None = None,
    total_rows: int | None = None,
    progress: Progress | None = None,
) -> pa.RecordBatchReader:
    """Margin a stream of positions; the ``table`` results (default ``accounts``) as a
    ``pyarrow.RecordBatchReader`` (an Arrow PyCapsule stream: ``__arrow_c_stream__``).

    ``positions``: a ``RecordBatchReader``, a ``pyarrow.dataset`` Dataset or Scanner, any Arrow
    PyCapsule stream (a Polars DataFrame, DuckDB result, ...), a Table or RecordBatch, or an
    iterable of batches (RecordBatches, Tables, pandas or Polars DataFrames; their types may differ
    in width or text encoding, docs/streaming.md "Batches of several types").
    ``engine_or_inputs``: a :class:`~pmargin.MarginEngine`, or ``(instruments, market[, model])``,
    or a dict with ``instruments``, ``market`` and optional ``model`` / ``limits``.

    ``also``: other result tables of the same pass, each to a sink: a callable taking a
    ``RecordBatch`` or an object with ``write_batch`` (``pyarrow.parquet.ParquetWriter``, an IPC
    writer), e.g. ``also={"by_underlying": writer}``. Names: :data:`TABLES`; asking for
    ``by_position`` or ``explain`` implies ``by_position=True``. The other parameters are those of
    :func:`iter_margin`. Nothing is read until the reader is.
    """
    sinks = dict(also or {})
    stream = iter_margin(
        positions,
        engine_or_inputs,
        tables=(table, *(name for name in sinks if name != table)),
        grouped=grouped,
        by_position=by_position,
        on_error=on_error,
        batch_positions=batch_positions,
        partitions=partitions,
        spill_dir=spill_dir,
        total_rows=total_rows,
        progress=progress,
    )
    senders = {name: _sender(name, sink) for name, sink in sinks.items() if name != table}

    def main_table() -> Iterator[pa.RecordBatch]:
        try:
            for name, batch in stream:
                if name == table:
                    yield batch
                else:
                    senders[name](batch)
        finally:
            stream.close()

    return pa.RecordBatchReader.from_batches(stream.schemas[table], main_table())


def iter_margin(
    positions: Any,
    engine_or_inputs: Any,
    *,
    tables: Sequence[str] = ("accounts",),
    grouped: bool = False,
    by_position: bool = False,
    on_error: str = "raise",
    batch_positions: int = DEFAULT_BATCH_POSITIONS,
    partitions: int | None = None,
    spill_dir: str | Path | None = None,
    total_rows: int | None = None,
    progress: Progress | None = None,
) -> MarginStream:
    """Margin a stream of positions; every table of ``tables`` as ``(name, RecordBatch)`` pairs.

    ``grouped``: the caller declares the rows grouped by account (one pass, checked); otherwise
    two passes through ``partitions`` spill files (Arrow IPC under ``spill_dir``, default the
    system's temporary folder; removed afterwards). ``batch_positions``: rows margined per engine
    call (an account with more rows is margined whole). ``partitions``: spill files (default
    ``ceil(4 * total_rows / batch_positions)``, at most 512, when ``total_rows`` is given, else
    16; a file over ``2 x batch_positions`` rows is split again). ``total_rows``: the input's row count when known
    (Parquet metadata), for ``progress(rows_done, rows_total)``, called after each chunk; an
    unordered run counts every row twice (the spill pass, then the margin pass). ``by_position``
    and ``on_error`` as in :meth:`MarginEngine.margin`.

    Bad input raises :class:`~pmargin.errors.MarginInputError` (at the first bad chunk, with the
    row number in the whole stream), after the batches already produced.
    """
    names = _check_tables(tables)
    by_position, on_error = run_flags(by_position, on_error)
    if not isinstance(grouped, bool | np.bool_):
        raise wrong_argument("grouped", "True or False", grouped)
    if total_rows is not None and (isinstance(total_rows, bool) or not isinstance(total_rows, int) or total_rows < 0):
        raise wrong_argument("total_rows", "None or an integer >= 0", total_rows)
    by_position = by_position or any(n in ("by_position", "explain") for n in names)
    if isinstance(batch_positions, bool) or not isinstance(batch_positions, int) or batch_positions < 1:
        raise MarginInputError(
            f"must be a positive integer, got {batch_positions!r}", table="options", column="batch_positions"
        )
    if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1):
        raise MarginInputError(f"must be a positive integer, got {partitions!r}", table="options", column="partitions")
    engine = as_engine(engine_or_inputs)
    schema, batches = batch_source(positions)
    schemas = _result_schemas(engine, schema, names, by_position, on_error)
    run = _Run(engine, names, schemas, by_position, on_error, batch_positions, total_rows, progress)
    if grouped:
        produced = run.grouped(schema, batches)
    else:
        count = partitions or (
            min(MAX_PARTITIONS, max(1, math.ceil(FILES_PER_BUDGET * total_rows / batch_positions)))
            if total_rows is not None
            else DEFAULT_PARTITIONS
        )
        produced = run.partitioned(schema, batches, count, spill_dir)
    return MarginStream(schemas, produced, run)


# --------------------------------------------------------------------------------------------
# Inputs


def as_engine(engine_or_inputs: Any) -> MarginEngine:
    """A :class:`MarginEngine` as given, or built from ``(instruments, market[, model])`` or a
    dict with ``instruments``, ``market`` and optional ``model`` / ``limits``."""
    if isinstance(engine_or_inputs, MarginEngine):
        return engine_or_inputs
    if isinstance(engine_or_inputs, Mapping):
        inputs = dict(engine_or_inputs)
        unknown = set(inputs) - {"instruments", "market", "model", "limits"}
        if unknown or not {"instruments", "market"} <= set(inputs):
            raise MarginConfigError(
                "engine_or_inputs needs 'instruments' and 'market' and may have 'model' and 'limits'; "
                f"got {sorted(map(repr, inputs))}",
                table="engine_or_inputs",
            )
        return MarginEngine(inputs["instruments"], inputs["market"], inputs.get("model"), limits=inputs.get("limits"))
    if isinstance(engine_or_inputs, tuple | list) and len(engine_or_inputs) in (2, 3):
        return MarginEngine(*engine_or_inputs)
    raise wrong_argument(
        "engine_or_inputs", "a pmargin.MarginEngine, (instruments, market[, model]) or a dict of them", engine_or_inputs
    )


def batch_source(positions: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and the batches of any Arrow stream, read lazily (nothing is read whole); what
    the caller's source raises while it is read (a corrupt file of a Dataset, a failing Polars
    query) is a :class:`~pmargin.errors.MarginInputError` at ``positions``."""
    with reading("positions", positions):
        schema, batches = _batch_source(positions)
    return schema, _read_batches(batches, positions)


def _read_batches(batches: Iterator[pa.RecordBatch], source: Any) -> Iterator[pa.RecordBatch]:
    while True:
        with reading("positions", source):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _batch_source(positions: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    kind = f"{type(positions).__module__}.{type(positions).__name__}"
    loose: Any = positions
    if isinstance(positions, pa.RecordBatchReader):
        return positions.schema, iter(positions)
    if isinstance(positions, pa.Table):
        return positions.schema, iter(positions.to_batches())
    if isinstance(positions, pa.RecordBatch):
        return positions.schema, iter([positions])
    if kind.startswith("pyarrow._dataset."):
        scanner = loose.scanner() if callable(getattr(loose, "scanner", None)) else loose
        reader: pa.RecordBatchReader = scanner.to_reader()
        return reader.schema, iter(reader)
    if kind.startswith("polars.") and type(positions).__name__ == "LazyFrame":
        loose = loose.collect_batches() if callable(getattr(loose, "collect_batches", None)) else loose.collect()
    if hasattr(loose, "__arrow_c_stream__") and not isinstance(loose, Iterator):
        reader = pa.RecordBatchReader.from_stream(loose)
        return reader.schema, iter(reader)
    if hasattr(loose, "__arrow_c_array__"):
        batch = pa.record_batch(loose)
        return batch.schema, iter([batch])
    if isinstance(loose, Iterable) and not isinstance(loose, str | bytes | Mapping):
        return _iterable_source(iter(loose))
    raise MarginInputError(
        f"expected an Arrow stream (RecordBatchReader, pyarrow.dataset, Polars frame or batches, any "
        f"__arrow_c_stream__ producer) or an iterable of record batches, got {kind}",
        table="positions",
    )


def _iterable_source(items: Iterator[Any]) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Batches of an iterable of RecordBatches / Tables / Arrow producers; the first item is read
    now for the schema. Every batch is cast to one schema, :func:`_stream_schema` of the first
    batch's (chunks of ``pandas.read_csv(chunksize=...)`` or of Polars frames have types that
    depend on their rows: int64 then float64 quantities, string then large_string ids); a column
    whose values change kind (numbers, then text) is an error (:func:`_conform`)."""
    first = next(items, None)
    if first is None:
        raise MarginInputError("the iterable of batches is empty: no schema to margin", table="positions")
    head = _as_batches(first)
    given = head[0].schema if head else pa.table(first).schema
    schema = _stream_schema(given)

    def batches() -> Iterator[pa.RecordBatch]:
        offset = 0
        for batch in itertools.chain(head, (batch for item in items for batch in _as_batches(item))):
            yield _conform(batch, schema, given, offset)
            offset += batch.num_rows

    return schema, batches()


#: The positions columns pmargin reads as numbers: an iterable's batches carry them as float64,
#: the type the engine converts every number type to (docs/streaming.md).
NUMBER_COLUMNS = ("quantity",)
#: The positions columns pmargin reads (an iterable's batches must agree on their kind of value).
READ_COLUMNS = ("account_id", "instrument_id", *NUMBER_COLUMNS)


def _is_number(kind: pa.DataType) -> bool:
    """A number type (:func:`pmargin.columns.is_number_type`), or a column of nulls."""
    return is_number_type(kind) or pa.types.is_null(kind)


def _stream_schema(schema: pa.Schema) -> pa.Schema:
    """The one schema every batch of an iterable is cast to, from the first batch's ``schema``:
    numbers (:data:`NUMBER_COLUMNS`) as float64; integer account ids as int64 (ids stay
    integers); dictionaries with at least 32-bit indices (a later chunk may have more distinct
    values); every other column as in the first batch."""
    fields = []
    for field in schema:
        kind = field.type
        if field.name in NUMBER_COLUMNS and _is_number(kind):
            kind = pa.float64()
        elif field.name == "account_id" and pa.types.is_integer(kind) and not pa.types.is_uint64(kind):
            kind = pa.int64()  # uint64 ids stay uint64: the engine reports one beyond int64 at its row
        elif is_string_type(kind) and pa.types.is_dictionary(kind) and kind.index_type.bit_width < 32:
            kind = pa.dictionary(pa.int32(), kind.value_type)
        fields.append(field.with_type(kind))
    return pa.schema(fields, metadata=schema.metadata)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, first: pa.Schema, offset: int) -> pa.RecordBatch:
    """``batch`` (rows ``offset`` on of the stream) as ``schema`` (:func:`_stream_schema` of the
    ``first`` batch's schema): its columns matched by name, numbers cast to float64 (a decimal
    through its text: the nearest float, as the engine reads it), integer ids to int64, text of
    any encoding to the first batch's. A read column whose kind of value differs from the first
    batch's (text where it held numbers, numbers where it held integers or text) is an error
    naming it and both types; a column pmargin does not read that cannot be cast is null."""
    if batch.schema.equals(schema):
        return batch
    names = batch.schema.names
    if names != schema.names:
        if sorted(names) != sorted(schema.names) or len(set(names)) != len(names):
            raise MarginInputError(
                f"a batch's columns {names} differ from the first one's {schema.names}", table="positions", row=offset
            )
        batch = batch.select(schema.names)
    columns = [
        _conform_column(column, field, given, offset)
        for column, field, given in zip(batch.columns, schema, first.types, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _conform_column(column: pa.Array, field: pa.Field, given: pa.DataType, offset: int) -> pa.Array:
    """One column of :func:`_conform`; ``given``: its type in the first batch."""
    target = field.type
    if column.type == target:
        return column
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), target)

    def mismatch(detail: str = "") -> MarginInputError:
        return MarginInputError(
            f"{column.type} in this batch, {given} in the first{detail}: every batch must hold the same kind of "
            "value in a column",
            table="positions",
            column=field.name,
            row=offset,
        )

    try:
        if field.name in NUMBER_COLUMNS and pa.types.is_float64(target):
            if not _is_number(column.type):
                raise mismatch()
            if pa.types.is_decimal(column.type):  # correctly rounded, as the engine reads decimals
                return column.cast(pa.string()).cast(target)
            return column.cast(target, safe=False)  # an int64 to the nearest float, as the engine
        if field.name == "account_id" and pa.types.is_integer(target):
            if not pa.types.is_integer(column.type):
                raise mismatch()
            return _cast_ids(column, target, offset)
        if is_string_type(target):
            if not is_string_type(column.type):
                raise mismatch()
            return _cast_text(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise mismatch(f" ({exc})") from exc
    if field.name in READ_COLUMNS:
        raise mismatch()
    try:  # a column pmargin ignores: its values if they fit the first batch's type, else nulls
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pa.nulls(len(column), target)


def _cast_ids(column: pa.Array, target: pa.DataType, offset: int) -> pa.Array:
    """Integer account ids as ``target`` (int64, or uint64 when the first batch's are); an id
    out of its range is an error at its row, as the engine words it."""
    try:
        return column.cast(target)
    except pa.ArrowInvalid:
        info = np.iinfo(target.to_pandas_dtype())
        values = column.to_pylist()
        row = next(i for i, v in enumerate(values) if v is not None and not info.min <= v <= info.max)
        raise MarginInputError(
            f"{values[row]} does not fit {target}, the type of the account ids of the stream (from its first batch)",
            table="positions",
            column="account_id",
            row=offset + row,
        ) from None


def _cast_text(column: pa.Array, target: pa.DataType) -> pa.Array:
    """Text in any encoding as ``target`` (also a text type): dictionaries decoded first unless
    ``target`` is one, string views (also a dictionary's values) through large strings (Arrow has
    no direct cast for these)."""
    if pa.types.is_dictionary(column.type) and pa.types.is_string_view(column.type.value_type):
        # Polars' Categorical: Arrow takes no string views, so neither casts nor decodes these.
        column = pa.DictionaryArray.from_arrays(column.indices, column.dictionary.cast(pa.large_string()))
    if pa.types.is_dictionary(column.type) and not pa.types.is_dictionary(target):
        column = column.dictionary_decode()
    if pa.types.is_string_view(column.type) and pa.types.is_dictionary(target):
        column = column.cast(pa.large_string())
    return column.cast(target)


def _as_batches(item: Any) -> list[pa.RecordBatch]:
    if isinstance(item, pa.RecordBatch):
        return [item]
    if isinstance(item, pa.Table) or hasattr(item, "__arrow_c_stream__"):
        batches: list[pa.RecordBatch] = pa.table(item).to_batches()
        return batches
    if hasattr(item, "__arrow_c_array__"):
        return [pa.record_batch(item)]
    raise MarginInputError(f"expected record batches, got an item of type {type(item).__name__}", table="positions")


def _check_tables(tables: Sequence[str] | str) -> list[str]:
    names = [tables] if isinstance(tables, str) else list(tables)
    for name in names:
        if name not in TABLES:
            raise MarginInputError(
                f"unknown result table {name!r}; choose from {', '.join(TABLES)}", table="options", column="tables"
            )
    if not names:
        raise MarginInputError("ask for at least one result table", table="options", column="tables")
    return list(dict.fromkeys(names))


def _sender(name: str, sink: Any) -> Sink:
    write = getattr(sink, "write_batch", None)
    if callable(write):
        return write  # type: ignore[no-any-return]
    if callable(sink):
        return sink  # type: ignore[no-any-return]
    raise wrong_argument(f"also[{name!r}]", "callable or an object with write_batch", sink)


# --------------------------------------------------------------------------------------------
# Results of one chunk of whole accounts


def _result_schemas(
    engine: MarginEngine, schema: pa.Schema, names: list[str], by_position: bool, on_error: str
) -> dict[str, pa.Schema]:
    """Each requested table's schema, from margining no rows (which also checks the columns,
    the model's support of ``by_position`` and ``on_error`` before any row is read)."""
    # No arrays are built: a column margin() ignores may be of a type with no empty array (a union).
    empty = pa.Table.from_batches([], schema)
    tables = _result_tables(engine, engine.margin(empty, by_position=by_position, on_error=on_error), empty, names)
    return {name: table.schema for name, table in tables.items()}


def _result_tables(
    engine: MarginEngine, result: MarginResult, chunk: pa.Table, names: list[str]
) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    greeks = None
    for name in names:
        if name.startswith("greeks"):
            if greeks is None:
                greeks = engine.greeks(_margined_rows(chunk, result.failed))
            out[name] = greeks.positions if name == "greeks" else greeks.by_underlying
        else:
            table = getattr(result, name)
            assert table is not None, name  # by_position is on whenever by_position/explain are asked
            out[name] = table
    return out


def _failed_rows(chunk: pa.Table, failed: pa.Table) -> int:
    """Rows of ``chunk`` that belong to a failed account."""
    if failed.num_rows == 0:
        return 0
    return int(pc.sum(_in_failed(chunk, failed).cast(pa.int64())).as_py() or 0)


def _margined_rows(chunk: pa.Table, failed: pa.Table) -> pa.Table:
    """The rows of the accounts that did not fail (string views as large strings, as in the spill
    files: ``filter`` has no kernel for them)."""
    if failed.num_rows == 0:
        return chunk
    keep = pc.invert(_in_failed(chunk, failed))
    views = [i for i, field in enumerate(chunk.schema) if pa.types.is_string_view(field.type)]
    for i in views:
        chunk = chunk.set_column(
            i, chunk.field(i).with_type(pa.large_string()), chunk.column(i).cast(pa.large_string())
        )
    return chunk.filter(keep)


def _in_failed(chunk: pa.Table, failed: pa.Table) -> pa.ChunkedArray:
    """Whether each row of ``chunk`` belongs to a failed account (string views compared as
    large strings: ``is_in`` has no kernel for them)."""
    ids = chunk.column("account_id")
    if pa.types.is_string_view(ids.type):
        ids = ids.cast(pa.large_string())
    hits: pa.ChunkedArray = pc.is_in(ids, value_set=failed.column("account_id"))
    return hits


class _Run:
    """One streaming run: the engine, the requested tables and the budget."""

    def __init__(
        self,
        engine: MarginEngine,
        names: list[str],
        schemas: dict[str, pa.Schema],
        by_position: bool,
        on_error: str,
        budget: int,
        total_rows: int | None,
        progress: Progress | None,
    ) -> None:
        self.engine, self.names, self.schemas = engine, names, schemas
        self.by_position, self.on_error, self.budget = by_position, on_error, budget
        self.total_rows, self.progress, self.done = total_rows, progress, 0
        self.margined = 0  # position rows of the accounts margined (not isolated)

    def _report(self, rows: int, passes: int) -> None:
        self.done += rows
        if self.progress is not None:
            self.progress(self.done, None if self.total_rows is None else passes * self.total_rows)

    def margin(self, chunk: pa.Table, start: int, rows: np.ndarray | None) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Margin one chunk of whole accounts (rows in stream order); its tables' non-empty batches."""
        result = _margin_chunk(self.engine, chunk, start, rows, self.by_position, self.on_error)
        self.margined += chunk.num_rows - _failed_rows(chunk, result.failed)
        for name, table in _result_tables(self.engine, result, chunk, self.names).items():
            schema = self.schemas[name]
            for batch in table.to_batches():
                if batch.num_rows:
                    yield name, batch if batch.schema.equals(schema) else batch.cast(schema)

    # ----------------------------------------------------------------------------------------
    # One pass over a grouped stream

    def grouped(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[str, pa.RecordBatch]]:
        account = schema.get_field_index("account_id")
        seen = _core.AccountSet()
        pending: list[pa.RecordBatch] = []
        starts: list[np.ndarray] = []  # per pending batch: rows where an account's run starts
        pending_rows, offset = 0, 0
        last: pa.Array | None = None  # the previous batch's last id (compared as bytes, never decoded)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            ids = _plain(batch.column(account))
            starts.append(_run_starts(ids, last))
            last = ids.slice(len(ids) - 1)
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows < self.budget:
                continue
            cut = _last_start(starts)
            if cut is None:  # one account so far: it is margined whole, however large
                continue
            k, s = cut
            chunk = [*pending[:k], pending[k].slice(0, s)]
            chunk_starts = [*starts[:k], starts[k][starts[k] < s]]
            yield from self._grouped_chunk(seen, chunk, chunk_starts, account, offset)
            size = sum(b.num_rows for b in chunk)
            offset += size
            pending = [pending[k].slice(s), *pending[k + 1 :]]
            starts = [starts[k][starts[k] >= s] - s, *starts[k + 1 :]]
            pending_rows -= size
        if pending_rows:
            yield from self._grouped_chunk(seen, pending, starts, account, offset)

    def _grouped_chunk(
        self, seen: Any, chunk: list[pa.RecordBatch], starts: list[np.ndarray], account: int, offset: int
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Check that no account of ``chunk`` started before (in it or earlier), then margin it."""
        firsts = [_plain(b.column(account)).take(pa.array(s)) for b, s in zip(chunk, starts, strict=True) if len(s)]
        # A null-typed column has no account to repeat: margining the chunk reports its row 0.
        if firsts and not pa.types.is_null(firsts[0].type):
            ids = pa.concat_arrays(firsts)
            repeat = seen.add_new(ids)
            # An id that is not UTF-8 text is left to the engine: margining the chunk reports the
            # first such row (at or before this one).
            if repeat is not None and _decodes(ids, repeat):
                rows = np.concatenate([s + sum(b.num_rows for b in chunk[:i]) for i, s in enumerate(starts)])
                row = offset + int(rows[repeat])
                raise RegroupedAccountError(
                    f"account {ids[repeat].as_py()!r} appears again after its group ended, but the positions were "
                    "declared grouped by account (grouped=True): sort them by account, or stream them with "
                    "grouped=False",
                    table="positions",
                    column="account_id",
                    row=row,
                )
        table = pa.Table.from_batches(chunk)
        yield from self.margin(table, offset, None)
        self._report(table.num_rows, 1)

    # ----------------------------------------------------------------------------------------
    # Two passes over an unordered stream: spill by account hash, then margin each file

    def partitioned(
        self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], count: int, spill_dir: str | Path | None
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        if spill_dir is not None and not Path(spill_dir).is_dir():
            problem = "is not a folder" if Path(spill_dir).exists() else "does not exist"
            raise MarginInputError(f"the spill folder {spill_dir} {problem}", table="options", column="spill_dir")
        try:
            folder = Path(tempfile.mkdtemp(prefix="pmargin-spill-", dir=spill_dir))
        except OSError as exc:
            where = tempfile.gettempdir() if spill_dir is None else spill_dir
            raise MarginInputError(
                f"cannot create a spill folder in {where}: {exc.strerror or exc}", table="options", column="spill_dir"
            ) from exc
        try:
            spill_schema = _spill_schema(schema)
            files = _spill(_numbered(batches, spill_schema, self), spill_schema, folder / "p", count, 0)
            for path, rows in files:
                yield from self._partition(path, rows, spill_schema, 1)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _partition(
        self, path: Path, rows: int, spill_schema: pa.Schema, level: int
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        if rows > RESPLIT_FACTOR * self.budget and level < _MAX_LEVELS:
            parts = _spill(_read_spill(path), spill_schema, path.with_name(path.name + "."), _split(rows, self), level)
            path.unlink()
            if len(parts) > 1:
                for part, part_rows in parts:
                    yield from self._partition(part, part_rows, spill_schema, level + 1)
                return
            path, rows = parts[0]  # one account (or one hash) holds every row: margin it whole
        # Margined as written: the engine groups scattered accounts itself (as fast as regrouping
        # them first would save), and rows in stream order make the first error the first row.
        table = _load_spill(path)
        numbers = table.column(ROW_COLUMN).to_numpy()
        yield from self.margin(table.drop_columns([ROW_COLUMN]), 0, numbers)
        self._report(table.num_rows, 2)
        del table
        with contextlib.suppress(OSError):  # the folder is removed at the end anyway
            path.unlink()


def _load_spill(path: Path) -> pa.Table:
    """A spill file whole, memory-mapped: its batches are views of the file's pages (no copy)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all()


def _one_ahead(items: Iterable[Any], work: Callable[[Any], Any]) -> Iterator[Any]:
    """``work(item)`` for every item, in order, each computed in a worker thread while the caller
    consumes the previous result: two stages of a pipeline overlap on two cores, and no more than
    two results exist at once."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[Any] | None = None
        for item in items:
            submitted = pool.submit(work, item)
            if pending is not None:
                yield pending.result()
            pending = submitted
        if pending is not None:
            yield pending.result()


def _split(rows: int, run: _Run) -> int:
    return max(2, math.ceil(rows / run.budget))


def _plain(ids: pa.Array) -> pa.Array:
    """Account ids comparable across batches: dictionaries decoded, views as large strings."""
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    if pa.types.is_string_view(ids.type):
        ids = ids.cast(pa.large_string())
    return ids


def _decodes(ids: pa.Array, row: int) -> bool:
    """Whether the id at ``row`` is null or valid UTF-8 text (or not text at all)."""
    try:
        ids[row].as_py()
    except UnicodeDecodeError:
        return False
    return True


def _run_starts(ids: pa.Array, last: pa.Array | None) -> np.ndarray:
    """Rows of ``ids`` where a run of one account starts (row 0 unless it continues ``last``,
    the previous batch's last id, a one-row array); a null id starts a run of its own (the engine
    reports it). Ids are compared as bytes, never decoded: text that is not UTF-8 is reported by
    the engine with its row when its chunk is margined."""
    n = len(ids)
    if pa.types.is_null(ids.type):  # every id is null (not comparable): the engine reports row 0
        return np.arange(n, dtype=np.int64)
    head = np.array([last is None or bool(pc.not_equal(ids.slice(0, 1), last).fill_null(True)[0].as_py())])
    if n == 1:
        changes = np.zeros(0, bool)
    else:
        changes = pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).fill_null(True).to_numpy(zero_copy_only=False)
    flags = np.concatenate([head, changes])
    return np.flatnonzero(flags).astype(np.int64)


def _last_start(starts: list[np.ndarray]) -> tuple[int, int] | None:
    """(pending batch, row) of the last account start that is not the very first row."""
    for k in range(len(starts) - 1, -1, -1):
        if len(starts[k]) and (k > 0 or starts[k][-1] > 0):
            return k, int(starts[k][-1])
    return None


def _spill_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with string views as large strings, and an all-null (null-typed) ``account_id``
    as large strings too: the partitioner hashes text, and the engine then reports the null row."""
    fields = [
        pa.field(f.name, pa.large_string(), f.nullable)
        if pa.types.is_string_view(f.type) or (f.name == "account_id" and pa.types.is_null(f.type))
        else f
        for f in schema
    ]
    return pa.schema([*fields, pa.field(ROW_COLUMN, pa.int64(), False)])


def _numbered(batches: Iterator[pa.RecordBatch], schema: pa.Schema, run: _Run) -> Iterator[pa.RecordBatch]:
    """Each batch with its rows' numbers in the whole stream, its columns cast to the spill
    ``schema`` (:func:`_spill_schema`; string views because the spill files are read back by
    ``take``)."""
    offset = 0
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        columns = [c if c.type == f.type else c.cast(f.type) for c, f in zip(batch.columns, schema, strict=False)]
        columns.append(pa.array(np.arange(offset, offset + n, dtype=np.int64)))
        yield pa.RecordBatch.from_arrays(columns, schema=schema)
        offset += n
        run._report(n, 2)


def _spill(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, prefix: Path, count: int, seed: int
) -> list[tuple[Path, int]]:
    """Write every row to spill file ``prefix<i>`` (Arrow IPC stream), ``i`` from its account's
    hash under ``seed``; the files written and their row counts, in partition order (rows keep
    their order within a file)."""
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    rows = np.zeros(count, np.int64)
    try:

        def by_partition(batch: pa.RecordBatch) -> list[pa.RecordBatch]:
            # One native pass: hash, counting sort, each partition gathered once (in parallel).
            with _importing("positions"):
                return _core.group_by_partition(batch, count, seed)

        for pieces in _one_ahead(batches, by_partition):
            for part, piece in enumerate(pieces):
                if piece.num_rows:
                    if part not in writers:
                        writers[part] = pa.ipc.new_stream(str(prefix) + str(part), schema)
                    writers[part].write_batch(piece)
                    rows[part] += piece.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return [(Path(str(prefix) + str(part)), int(rows[part])) for part in sorted(writers)]


@contextlib.contextmanager
def _importing(table: str) -> Iterator[None]:
    """Run a native call on the caller's batches, turning what the Arrow import raises (a batch
    its own schema does not describe, such as nulls in a non-nullable field) into an input error
    at ``table``, as :meth:`MarginEngine.margin` reports it. Our own errors pass through."""
    try:
        yield
    except MarginError:
        raise
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise MarginInputError(f"reading the Arrow stream failed: {exc}", table=table) from exc


def _read_spill(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(str(path)) as source:
        yield from pa.ipc.open_stream(source)
