"""Margin a Ray Data dataset of positions across a Ray cluster (``pip install pmargin[ray]``).

:func:`margin_dataset` gives every row a partition number from a hash of its account id, groups
the dataset by that number (a hash shuffle: all rows of an account land in one group, whatever the
blocks they came in) and margins each group whole with a callable class that builds one
:class:`~pmargin.MarginEngine` per worker from the instruments, market and model put once in the
object store. Arrow blocks go straight to the native kernel (``batch_format="pyarrow"``, zero copy).
Results equal a single-process ``engine.margin(whole_table)`` bit for bit after a stable sort by
``account_id`` (Ray does not keep row order). See README "Ray Data" and docs/streaming.md.

This module is ``pmargin.ray``: it imports the ``ray`` package by its absolute name (Python 3
imports are absolute), never itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .errors import MarginInputError

if TYPE_CHECKING:
    import ray.data

    from .limits import Limits
    from .market import Market
    from .types import AnyModel, TableLike

#: The column holding each row's partition while the dataset is grouped (dropped before margining).
PARTITION_COLUMN = "__pmargin_partition"
#: Result tables :func:`margin_dataset` can return.
TABLES = ("accounts", "by_underlying", "by_position", "explain", "failed")
#: Seed of the account hash: fixed, so every worker puts an account in the same partition.
_SEED = 0x7261_7921


def _with_partition(batch: pa.Table, partitions: int) -> pa.Table:
    """``batch`` with each row's partition (a hash of its account id, the same on every worker)."""
    from . import _core

    table = pa.table(batch)
    account = table.column("account_id") if "account_id" in table.column_names else None
    if account is None:
        raise MarginInputError("missing column", table="positions", column="account_id")
    codes = _core.account_partitions(account.combine_chunks(), partitions, _SEED)
    return table.append_column(PARTITION_COLUMN, codes.cast(pa.int32()))


class _Margin:
    """Ray Data callable class: one engine per worker, built from the inputs in the object store."""

    def __init__(self, inputs: list[Any], table: str, by_position: bool, on_error: str) -> None:
        import ray

        from .engine import MarginEngine

        instruments, market, model, limits = ray.get(inputs[0])
        self.engine = MarginEngine(instruments, market, model, limits=limits)
        self.table, self.by_position, self.on_error = table, by_position, on_error

    def __call__(self, group: pa.Table) -> pa.Table:
        from .stream import account_order

        positions = group.drop_columns([PARTITION_COLUMN])
        # The shuffle scatters an account's rows; contiguous ones net several times faster (same results).
        positions = positions.take(account_order(positions))
        result = self.engine.margin(positions, by_position=self.by_position, on_error=self.on_error)
        out = getattr(result, self.table)
        assert out is not None, self.table
        table: pa.Table = out
        return table


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
    concurrency: int | None = None,
    num_cpus: float = 1.0,
) -> ray.data.Dataset:
    """Margin every account of the positions dataset ``ds``; the ``table`` results (default
    ``accounts``) as a lazy ``ray.data.Dataset``.

    ``partitions``: groups the accounts are hashed into (default 4 per CPU of the cluster, at least
    8); each is margined whole in one call, so one group's positions must fit a worker's memory.
    ``concurrency``: engines (Ray actors) margining groups in parallel, each reserving ``num_cpus``
    (default: the cluster's CPUs less one, at least one: the hashing and the shuffle need a CPU
    too, or the pipeline waits for resources forever). The output's row order is not defined (sort by ``account_id``); errors come from the
    worker as Ray task errors wrapping :class:`~pmargin.errors.MarginInputError`, with row numbers
    within the account's group. ``by_position`` and ``on_error`` as in :meth:`MarginEngine.margin`.
    """
    import ray
    import ray.data

    from .engine import MarginEngine

    if table not in TABLES:
        raise MarginInputError(f"unknown result table {table!r}; choose from {', '.join(TABLES)}", table="options")
    by_position = by_position or table in ("by_position", "explain")
    # Validate here (a bad model or market fails now, not in a worker), then ship the inputs once.
    MarginEngine(instruments, market, model, limits=limits)
    cluster: Any = ray  # ray's own functions are untyped
    cpus = int(cluster.cluster_resources().get("CPU", 1))
    count = partitions if partitions is not None else max(8, 4 * cpus)
    inputs = ray.put((_arrow(instruments), market, model, limits))
    hashing: Any = _with_partition
    with_partition = ds.map_batches(
        hashing, batch_format="pyarrow", fn_kwargs={"partitions": count}, zero_copy_batch=True
    )
    return with_partition.groupby(PARTITION_COLUMN, num_partitions=count).map_groups(
        _Margin,
        batch_format="pyarrow",
        zero_copy_batch=True,
        fn_constructor_args=([inputs], table, by_position, on_error),
        compute=ray.data.ActorPoolStrategy(size=concurrency if concurrency is not None else max(1, cpus - 1)),
        num_cpus=num_cpus,
    )


def _arrow(instruments: TableLike) -> pa.Table:
    from .io import to_table

    return to_table(instruments, "instruments")
