"""Margin a Ray Data dataset of positions across a Ray cluster (``pip install pmargin[ray]``).

Margin is not additive across partial accounts, so every account's rows must reach one engine
call. :func:`margin_dataset` moves them there with a hash shuffle of its own, two rounds of plain
Ray tasks over the dataset's Arrow blocks:

1. split: each block is cut into ``partitions`` pieces by a fixed-seed hash of the account id
   (computed natively; the same on every worker), so an account's rows land in one partition
   whatever the blocks they came in;
2. margin: one task per partition takes that partition's piece of every block (Arrow tables out
   of the object store, concatenated without a copy) and margins them in one call, with a
   :class:`~pmargin.MarginEngine` built once per worker process from the instruments, market and
   model put once in the object store.

Ray Data's own ``groupby``/``repartition(keys=...)`` shuffle does the same job through its
shuffle operators and actor pools, at several times the cost on a small cluster (docs/streaming.md,
"Ray Data"). Results equal a single-process ``engine.margin(whole_table)`` bit for bit after a
stable sort by ``account_id`` (Ray does not keep row order).

This module is ``pmargin.ray``: it imports the ``ray`` package by its absolute name (Python 3
imports are absolute), never itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .errors import MarginInputError, run_flags, unreadable

if TYPE_CHECKING:
    import ray.data

    from .engine import MarginEngine
    from .limits import Limits
    from .market import Market
    from .types import AnyModel, TableLike

#: Result tables :func:`margin_dataset` can return.
TABLES = ("accounts", "by_underlying", "by_position", "explain", "failed")
#: Seed of the account hash: fixed, so every worker puts an account in the same partition.
_SEED = 0x7261_7921
#: Default partitions per cluster CPU: smaller partitions margin faster (an engine call's map of
#: its accounts then fits the CPU caches, as for the spill files) until the tasks' overhead wins;
#: 4 beat 2 and 8 on the 10,000,000-position benchmark (docs/streaming.md).
PARTITIONS_PER_CPU = 4
#: Engines kept per worker process (one per distinct inputs; the oldest is dropped first).
_CACHED_ENGINES = 4
_engines: OrderedDict[str, MarginEngine] = OrderedDict()


def split_by_partition(block: pa.Table, partitions: int) -> list[pa.Table]:
    """``block``'s rows cut into ``partitions`` tables by their account's hash partition (rows
    keep their order within each); every row of an account lands in the same one, in any block."""
    from . import _core

    if "account_id" not in block.column_names:
        raise MarginInputError("missing column", table="positions", column="account_id")
    if partitions == 1:
        return [block]
    # One native pass: hash, counting sort, each partition gathered once (in parallel).
    return [pa.Table.from_batches([piece]) for piece in _core.group_by_partition(block, partitions, _SEED)]


def _split_task(block: pa.Table | pa.RecordBatch, partitions: int) -> Any:
    pieces = split_by_partition(pa.table(block), partitions)
    return pieces[0] if partitions == 1 else tuple(pieces)


def _engine(inputs: Any) -> MarginEngine:
    """The worker process's engine for ``inputs`` (an object ref of (instruments, market, model,
    limits)), built on its first use in this process."""
    import ray

    from .engine import MarginEngine

    key = inputs.hex()
    engine = _engines.get(key)
    if engine is None:
        instruments, market, model, limits = ray.get(inputs)
        engine = MarginEngine(instruments, market, model, limits=limits)
        _engines[key] = engine
        while len(_engines) > _CACHED_ENGINES:
            _engines.popitem(last=False)
    return engine


def _margin_task(
    inputs: list[Any], schema: pa.Schema, table: str, by_position: bool, on_error: str, *pieces: pa.Table
) -> pa.Table:
    """Margin one partition: its piece of every block, in one engine call."""
    positions = pa.concat_tables(pieces) if pieces else schema.empty_table()
    result = _engine(inputs[0]).margin(positions, by_position=by_position, on_error=on_error)
    out = getattr(result, table)
    assert out is not None, table
    margined: pa.Table = out
    return margined


def margin_dataset(
    ds: ray.data.Dataset,
    instruments: TableLike,
    market: Market,
    model: AnyModel | None = None,
    *,
    table: str = "accounts",
    by_position: bool = False,
    on_error: str = "raise",
    limits: Limits | None = None,
    partitions: int | None = None,
    num_cpus: float = 1.0,
) -> ray.data.Dataset:
    """Margin every account of the positions dataset ``ds``; the ``table`` results (default
    ``accounts``) as a ``ray.data.Dataset`` of one block per partition.

    ``ds`` is executed now (its blocks are read into the object store and split as they are
    produced); the margin tasks run in the background and the returned dataset's blocks are their
    results, ready when read. ``partitions``: groups the accounts are hashed into (default four
    times the cluster's CPUs, at least 2); each is margined whole in one task, so one partition's
    positions must fit a worker's memory. ``num_cpus``: CPUs each margin task reserves. The
    output's row order is not defined (sort by ``account_id``); errors come from the worker as
    Ray task errors wrapping :class:`~pmargin.errors.MarginInputError`, with row numbers within
    the partition. ``by_position`` and ``on_error`` as in :meth:`MarginEngine.margin`.
    """
    import ray
    import ray.data

    from .engine import MarginEngine

    if table not in TABLES:
        raise MarginInputError(f"unknown result table {table!r}; choose from {', '.join(TABLES)}", table="options")
    by_position, on_error = run_flags(by_position, on_error)  # here, not in every worker
    if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1):
        raise MarginInputError(f"must be a positive integer, got {partitions!r}", table="options", column="partitions")
    by_position = by_position or table in ("by_position", "explain")
    # Validate here (a bad model or market fails now, not in a worker), then ship the inputs once.
    MarginEngine(instruments, market, model, limits=limits)
    cluster: Any = ray  # ray's own functions are untyped
    count = (
        partitions
        if partitions is not None
        else max(2, PARTITIONS_PER_CPU * int(cluster.cluster_resources().get("CPU", 1)))
    )
    inputs = ray.put((_arrow(instruments), market, model, limits))
    schema = _base_schema(ds.schema())  # from the files' metadata or a first block, before the run
    if "account_id" not in schema.names:
        raise MarginInputError("missing column", table="positions", column="account_id")
    split: Any = cluster.remote(_split_task).options(num_returns=count)
    # Each block is split as soon as the dataset's run produces it (the read and the split overlap).
    pieces = [split.remote(block, count) for bundle in ds.iter_internal_ref_bundles() for block in bundle.block_refs]
    pieces = [[p] if count == 1 else p for p in pieces]
    margin: Any = cluster.remote(_margin_task).options(num_cpus=num_cpus)
    results = [
        margin.remote([inputs], schema, table, by_position, on_error, *(p[i] for p in pieces)) for i in range(count)
    ]
    return ray.data.from_arrow_refs(results)


def read_positions(path: str | Path, *, columns: Sequence[str] | None = None) -> ray.data.Dataset:
    """The positions Parquet files at ``path`` (a file, a directory of Parquet files or a glob,
    as ``pmargin margin --positions`` takes) as a Ray dataset of one block per file, for
    :func:`margin_dataset`. Each file is read by a plain Ray task with pyarrow (``instrument_id``
    as a dictionary, as the streamed runs read it): on a small cluster Ray Data's
    ``read_parquet`` operators cost more to schedule than the read itself (docs/streaming.md).
    The files must be reachable from every node (a local or shared file system); for object
    stores use ``ray.data.read_parquet``. Runs now: the dataset's blocks are the tasks' tables.
    ``columns``: read only these (default all)."""
    import ray
    import ray.data

    from .stream_io import PARQUET_SUFFIXES, positions_files

    files = positions_files(Path(path))
    for f in files:
        if f.suffix.lower() not in PARQUET_SUFFIXES:
            raise MarginInputError(f"not a Parquet file: {f}", table="positions")
    cluster: Any = ray  # ray's own functions are untyped
    read: Any = cluster.remote(_read_task)
    return ray.data.from_arrow_refs([read.remote(str(f), None if columns is None else list(columns)) for f in files])


def _read_task(path: str, columns: list[str] | None) -> pa.Table:
    import pyarrow.parquet as pq

    from .stream_io import DICTIONARY_COLUMNS

    try:
        names = pq.read_schema(path).names
        dictionary = [c for c in DICTIONARY_COLUMNS if c in names and (columns is None or c in columns)]
        return pq.read_table(path, columns=columns, read_dictionary=dictionary)
    except (pa.ArrowException, OSError) as exc:
        raise unreadable("positions", path, exc) from exc


def _base_schema(schema: Any) -> pa.Schema:
    """The Arrow schema of a Ray Data ``Schema`` (or an Arrow one as given)."""
    base = getattr(schema, "base_schema", schema)
    if not isinstance(base, pa.Schema):
        raise MarginInputError(f"expected Arrow blocks, got a dataset of schema {schema}", table="positions")
    return base


def _arrow(instruments: TableLike) -> pa.Table:
    from .io import to_table

    return to_table(instruments, "instruments")
