"""pmargin.ray on a local two-CPU Ray cluster: the dataset's results equal one whole-table run
bit for bit (after a sort by account: Ray keeps no row order), whatever the blocks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pmargin
from pmargin import sample

ray = pytest.importorskip("ray")


def by_account(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, [("account_id", "ascending")]))


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


def collect(ds: ray.data.Dataset) -> pa.Table:
    return pa.concat_tables([t for t in ray.get(ds.to_arrow_refs()) if t.num_rows])


def test_margin_dataset_equals_one_whole_run(cluster: None) -> None:
    from pmargin.ray import margin_dataset

    book = sample.book(400, seed=9)
    # Rows shuffled and cut into many small blocks: every account is spread over several blocks.
    rows = book.positions.take(pa.array(np.random.default_rng(3).permutation(book.positions.num_rows)))
    ds = ray.data.from_arrow(rows.to_batches(max_chunksize=300))
    engine = pmargin.MarginEngine(book.instruments, book.market)
    want = engine.margin(rows, by_position=True)
    got = collect(margin_dataset(ds, book.instruments, book.market, partitions=5))
    assert got.num_rows == want.accounts.num_rows == 400  # no partial accounts
    assert by_account(got).equals(by_account(want.accounts))
    explain = collect(margin_dataset(ds, book.instruments, book.market, table="explain", partitions=3))
    assert by_account(explain).equals(by_account(want.explain))


def test_a_bad_table_name_fails_before_any_work(cluster: None) -> None:
    from pmargin.ray import margin_dataset

    book = sample.book(5, seed=1)
    with pytest.raises(pmargin.MarginInputError, match="unknown result table"):
        margin_dataset(ray.data.from_arrow(book.positions), book.instruments, book.market, table="nope")
