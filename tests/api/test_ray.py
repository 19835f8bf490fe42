"""pmargin.ray on a local two-CPU Ray cluster: the dataset's results equal one whole-table run
bit for bit (after a sort by account: Ray keeps no row order), whatever the blocks; and its
split of a block by account hash (no cluster needed): every account in exactly one partition,
whatever the block, rows in their order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import sample

ray = pytest.importorskip("ray")

from pmargin.ray import split_by_partition  # noqa: E402  (after the skip: pmargin.ray needs no ray to import)


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


@pytest.fixture(scope="module")
def book() -> sample.SampleBook:
    return sample.book(150, seed=4)


def shuffled(table: pa.Table, seed: int) -> pa.Table:
    return table.take(pa.array(np.random.default_rng(seed).permutation(table.num_rows)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(partitions=st.integers(1, 40), chunk=st.integers(1, 900), seed=st.integers(0, 99), integer=st.booleans())
def test_split_puts_every_account_in_exactly_one_partition_whatever_the_block(
    book: sample.SampleBook, partitions: int, chunk: int, seed: int, integer: bool
) -> None:
    rows = shuffled(book.positions, seed)
    if integer:  # integer ids hash their value
        codes = pc.dictionary_encode(rows.column("account_id")).combine_chunks().indices
        rows = rows.set_column(0, "account_id", pc.multiply(codes.cast(pa.int64()), 7919))
    rows = rows.append_column("n", pa.array(np.arange(rows.num_rows)))
    home: dict[object, int] = {}
    total = 0
    for block in rows.to_batches(max_chunksize=chunk):
        pieces = split_by_partition(pa.table(block), partitions)
        assert len(pieces) == partitions
        for part, piece in enumerate(pieces):
            n = piece.column("n").to_numpy()
            assert (np.diff(n) > 0).all()  # rows keep their order within a piece
            for account in set(piece.column("account_id").to_pylist()):
                assert home.setdefault(account, part) == part  # the same partition in every block
            total += piece.num_rows
    assert total == rows.num_rows  # every row in exactly one piece
    assert set(home) == set(rows.column("account_id").to_pylist())


@pytest.mark.parametrize("partitions", [1, 2, 7])
def test_margining_the_partitions_apart_equals_the_whole_table(book: sample.SampleBook, partitions: int) -> None:
    engine = pmargin.MarginEngine(book.instruments, book.market)
    rows = shuffled(book.positions, partitions)
    blocks = [split_by_partition(pa.table(b), partitions) for b in rows.to_batches(max_chunksize=97)]
    results = [engine.margin(pa.concat_tables([b[i] for b in blocks]), by_position=True) for i in range(partitions)]
    want = engine.margin(rows, by_position=True)
    for name in ("accounts", "by_underlying", "by_position", "explain"):
        got = pa.concat_tables([getattr(r, name) for r in results])
        assert by_account(got).equals(by_account(getattr(want, name))), name  # bit for bit


def test_split_needs_the_account_column(book: sample.SampleBook) -> None:
    with pytest.raises(pmargin.MarginInputError) as error:
        split_by_partition(book.positions.drop_columns(["account_id"]), 3)
    assert (error.value.table, error.value.column) == ("positions", "account_id")


def test_one_partition_and_bad_options(cluster: None, book: sample.SampleBook) -> None:
    from pmargin.ray import margin_dataset

    ds = ray.data.from_arrow(shuffled(book.positions, 1).to_batches(max_chunksize=200))
    want = pmargin.MarginEngine(book.instruments, book.market).margin(book.positions).accounts
    assert by_account(collect(margin_dataset(ds, book.instruments, book.market, partitions=1))).equals(by_account(want))
    with pytest.raises(pmargin.MarginInputError, match="positive integer"):
        margin_dataset(ds, book.instruments, book.market, partitions=0)
    with pytest.raises(pmargin.MarginInputError) as error:
        margin_dataset(ray.data.from_arrow(book.positions.drop_columns(["account_id"])), book.instruments, book.market)
    assert error.value.column == "account_id"


def test_read_positions_reads_each_file_in_a_task_and_margins_like_one_run(cluster: None, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from pmargin.ray import margin_dataset, read_positions

    book = sample.book(300, seed=12)
    rows = shuffled(book.positions, 8)
    folder = tmp_path / "book"
    folder.mkdir()
    size = -(-rows.num_rows // 3)
    for i in range(3):
        pq.write_table(rows.slice(i * size, size), folder / f"part-{i}.parquet")
    (folder / "notes.txt").write_text("not a positions file")  # a directory reads its Parquet files only
    ds = read_positions(folder)
    blocks = ray.get(ds.to_arrow_refs())
    assert len(blocks) == 3 and sum(b.num_rows for b in blocks) == rows.num_rows
    assert pa.types.is_dictionary(blocks[0].schema.field("instrument_id").type)  # as the streamed runs read it
    want = pmargin.MarginEngine(book.instruments, book.market).margin(rows)
    got = collect(margin_dataset(ds, book.instruments, book.market))
    assert got.num_rows == want.accounts.num_rows == 300
    assert by_account(got).equals(by_account(want.accounts))
    # A glob and one file; `columns` reads only those.
    assert ray.get(read_positions(str(folder / "part-*.parquet")).to_arrow_refs())[2].num_rows == blocks[2].num_rows
    one = ray.get(read_positions(folder / "part-1.parquet", columns=["account_id", "quantity"]).to_arrow_refs())
    assert one[0].column_names == ["account_id", "quantity"] and one[0].num_rows == blocks[1].num_rows


def test_read_positions_errors_name_the_positions(cluster: None, tmp_path: Path) -> None:
    from pmargin.ray import read_positions

    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(pmargin.MarginInputError, match="no Parquet file") as empty:
        read_positions(folder)
    assert empty.value.table == "positions"
    with pytest.raises(pmargin.MarginInputError, match="file not found"):
        read_positions(folder / "missing.parquet")
    (folder / "book.csv").write_text("account_id,instrument_id,quantity\na,x,1\n")
    with pytest.raises(pmargin.MarginInputError, match="not a Parquet file"):
        read_positions(str(folder / "*.csv"))
    (folder / "broken.parquet").write_bytes(b"not parquet at all")
    # Read in a task: Ray's task error is also the package's error.
    with pytest.raises(pmargin.MarginInputError, match="cannot read"):
        ray.get(read_positions(folder / "broken.parquet").to_arrow_refs())
