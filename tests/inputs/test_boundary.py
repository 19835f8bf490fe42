"""The Arrow / Polars boundary: zero copy, every string encoding, integer ids, batches and
streams, timestamps of any unit, GIL release and thread-count independence.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pmargin
from pmargin import _core
from pmargin.io import to_table


@pytest.fixture(scope="module")
def book() -> pmargin.sample.SampleBook:
    return pmargin.sample.book(n_accounts=300, seed=11)


def native_address(table: pa.Table, column: str) -> list[int]:
    return _core.column_addresses(to_table(table, "positions"))[column]


def test_pyarrow_table_is_not_copied(book: pmargin.sample.SampleBook) -> None:
    positions = book.positions.combine_chunks()
    quantity = positions.column("quantity").chunk(0)
    assert native_address(positions, "quantity") == [quantity.buffers()[1].address]
    ids = positions.column("instrument_id").chunk(0)
    assert native_address(positions, "instrument_id") == [ids.buffers()[2].address]


#: Batches of fewer rows are copied together as they are read (rust/pmargin-py/src/arrow_io.rs).
SMALL_BATCH_ROWS = 1024


def test_sliced_and_multi_chunk_tables_are_not_copied(book: pmargin.sample.SampleBook) -> None:
    positions = pa.concat_tables([book.positions] * 4).combine_chunks()
    assert positions.num_rows > 3 * SMALL_BATCH_ROWS
    base = positions.column("quantity").chunk(0).buffers()[1].address
    sliced = positions.slice(10, 50)
    assert native_address(sliced, "quantity") == [base + 10 * 8]
    rows = SMALL_BATCH_ROWS
    chunked = pa.Table.from_batches(positions.slice(0, 3 * rows).to_batches(max_chunksize=rows))
    assert native_address(chunked, "quantity") == [base + i * rows * 8 for i in range(3)]


def test_runs_of_small_batches_are_joined_with_the_same_results(book: pmargin.sample.SampleBook) -> None:
    # One-row and empty batches around a large one: the small runs are copied into one batch
    # each (the large batch stays in place), and every result is bit-identical.
    positions = pa.concat_tables([book.positions] * 2).combine_chunks()
    n = positions.num_rows
    large = positions.slice(300, SMALL_BATCH_ROWS)
    assert n - 300 - SMALL_BATCH_ROWS > 2 * SMALL_BATCH_ROWS
    empty = positions.slice(0, 0).to_batches() or [pa.RecordBatch.from_pylist([], schema=positions.schema)]
    head = positions.slice(0, 300).to_batches(max_chunksize=1)
    tail = positions.slice(300 + SMALL_BATCH_ROWS).to_batches(max_chunksize=1)
    batches = head[:100] + empty + head[100:] + large.to_batches() + tail + empty
    table = pa.Table.from_batches(batches, schema=positions.schema)
    assert table.num_rows == n and table.column("quantity").num_chunks > n - SMALL_BATCH_ROWS
    # The 300 head rows joined, the large batch in place, the tail rows in joined batches of
    # 1,024 rows (and its remainder).
    addresses = native_address(table, "quantity")
    base = positions.column("quantity").chunk(0).buffers()[1].address
    assert addresses[1] == base + 300 * 8
    assert len(addresses) == 2 + -(-(n - 300 - SMALL_BATCH_ROWS) // SMALL_BATCH_ROWS)
    expected = pmargin.margin(positions, book.instruments, book.market, by_position=True)
    result = pmargin.margin(table, book.instruments, book.market, by_position=True)
    for name in ("accounts", "by_underlying", "by_position", "explain"):
        assert getattr(result, name).equals(getattr(expected, name)), name


def test_polars_frame_is_not_copied(book: pmargin.sample.SampleBook) -> None:
    frame = pl.from_arrow(book.positions.combine_chunks())
    assert isinstance(frame, pl.DataFrame)
    frame = frame.rechunk()
    expected = frame["quantity"].to_numpy(allow_copy=False).ctypes.data
    assert native_address(frame, "quantity") == [expected]


def margins(result: pmargin.MarginResult) -> list[float]:
    return result.accounts.column("initial_margin").to_pylist()


@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_every_string_encoding_gives_the_same_margins(
    book: pmargin.sample.SampleBook, string_type: pa.DataType
) -> None:
    expected = pmargin.margin(book.positions, book.instruments, book.market)

    def recast(table: pa.Table) -> pa.Table:
        columns = [c.cast(string_type) if pa.types.is_string(c.type) else c for c in table.columns]
        return pa.table(columns, names=table.column_names)

    market = pmargin.Market(book.as_of, recast(book.underlyings), recast(book.vols))
    result = pmargin.margin(recast(book.positions), recast(book.instruments), market)
    assert margins(result) == margins(expected)
    # One output type for string ids, whatever their encoding (docs/methods.md, "Inputs").
    assert result.accounts.column("account_id").type == pa.string()


def test_dictionary_encoded_strings(book: pmargin.sample.SampleBook) -> None:
    expected = pmargin.margin(book.positions, book.instruments, book.market)
    positions = book.positions.set_column(
        1, "instrument_id", pc.dictionary_encode(book.positions.column("instrument_id"))
    )
    assert margins(pmargin.margin(positions, book.instruments, book.market)) == margins(expected)


@pytest.mark.parametrize("int_type", [pa.int64(), pa.int32(), pa.uint64()])
def test_integer_account_ids_come_out_as_int64(book: pmargin.sample.SampleBook, int_type: pa.DataType) -> None:
    expected = pmargin.margin(book.positions, book.instruments, book.market)
    codes = pc.dictionary_encode(book.positions.column("account_id")).combine_chunks().indices
    positions = book.positions.set_column(0, "account_id", pc.add(codes, 1000).cast(int_type))
    result = pmargin.margin(positions, book.instruments, book.market)
    assert result.accounts.column("account_id").type == pa.int64()
    assert result.by_underlying.column("account_id").type == pa.int64()
    assert result.accounts.column("account_id").to_pylist()[:3] == [1000, 1001, 1002]
    assert margins(result) == margins(expected)
    first = result.accounts.column("account_id")[0].as_py()
    assert result.scenarios(first).num_rows == pmargin.GridModel().n_scenarios


def test_batches_streams_and_polars_agree(book: pmargin.sample.SampleBook) -> None:
    expected = pmargin.margin(book.positions, book.instruments, book.market)
    batches = book.positions.to_batches(max_chunksize=97)
    inputs = [
        pa.Table.from_batches(batches),
        pa.RecordBatchReader.from_batches(book.positions.schema, batches),
        book.positions.combine_chunks().to_batches()[0],
        pl.from_arrow(book.positions),
        book.positions.to_pandas(),
    ]
    for data in inputs:
        result = pmargin.margin(data, book.instruments, book.market)
        assert margins(result) == margins(expected), type(data).__name__
        assert result.by_underlying.equals(expected.by_underlying) or type(data).__name__ == "DataFrame"


def test_to_polars(book: pmargin.sample.SampleBook) -> None:
    result = pmargin.margin(pl.from_arrow(book.positions), book.instruments, book.market)
    frames = result.to_polars()
    assert frames.accounts.height == result.accounts.num_rows
    assert frames.by_underlying["requirement"].sum() == pytest.approx(
        sum(result.by_underlying.column("requirement").to_pylist())
    )


@pytest.mark.parametrize(
    "expiry_type", [pa.timestamp("s"), pa.timestamp("ms", tz="UTC"), pa.timestamp("ns", tz="Asia/Tokyo"), pa.date32()]
)
def test_expiry_in_any_time_unit(book: pmargin.sample.SampleBook, expiry_type: pa.DataType) -> None:
    # The sample expiries fall on whole days at 08:00 UTC; shift them to midnight so dates agree.
    expiry = book.instruments.column("expiry").cast(pa.timestamp("us", tz="UTC"))
    midnight = pc.floor_temporal(expiry, unit="day")
    base = book.instruments.set_column(book.instruments.schema.get_field_index("expiry"), "expiry", midnight)
    expected = pmargin.margin(book.positions, base, book.market)
    recast = base.set_column(base.schema.get_field_index("expiry"), "expiry", midnight.cast(expiry_type))
    assert margins(pmargin.margin(book.positions, recast, book.market)) == margins(expected)


def test_the_gil_is_released_while_the_engine_runs() -> None:
    big = pmargin.sample.book(n_accounts=20_000, seed=3)
    engine = pmargin.MarginEngine(big.instruments, big.market)
    ticks = 0
    running = True

    def count() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            time.sleep(0)

    thread = threading.Thread(target=count)
    thread.start()
    try:
        start_ticks = ticks
        for _ in range(3):
            engine._native.margin(big.positions)
        during = ticks - start_ticks
    finally:
        running = False
        thread.join()
    assert during > 10, f"the Python thread advanced only {during} times during native calls"


def _result_digest(threads: int) -> str:
    code = (
        "import hashlib, pmargin, pyarrow as pa\n"
        "b = pmargin.sample.book(n_accounts=5000, seed=5)\n"
        "r = pmargin.margin(b.positions, b.instruments, b.market, pmargin.GridModel(cross='joint'))\n"
        "sink = pa.BufferOutputStream()\n"
        "for t in (r.accounts, r.by_underlying):\n"
        "    with pa.ipc.new_stream(sink, t.schema) as w: w.write_table(t)\n"
        "print(hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest())\n"
    )
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_results_are_bit_identical_across_thread_counts() -> None:
    one, two = _result_digest(1), _result_digest(2)
    assert len(one) == 64 and one == two
    assert hashlib.sha256(b"").hexdigest() != one
