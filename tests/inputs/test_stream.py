"""pmargin.stream on bad input: an account id that is not UTF-8 text, wherever it falls in a batch
(last row, first row, the only row), is a MarginInputError naming its row in the whole stream,
grouped or not; the accounts before it are produced first. An all-null id column, a column of a
type margin() ignores, a spill folder that cannot be made, a failing source and arguments of the
wrong type get pmargin errors, as margin() does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import pmargin
from pmargin.stream import iter_margin, margin_stream

IDS = ["alice", "alice", "bob", "bob"]  # then the bad id, at row 4
INSTRUMENTS = ["BTC-SPOT", "BTC-30D-60000-C", "BTC-SPOT", "BTC-30D-60000-C", "BTC-SPOT"]


def ids_ending_in_bad_text(ids: list[str]) -> pa.Array:
    """A string array of ``ids`` and a last id of one byte 0xff (not UTF-8), built from its
    buffers (pyarrow checks nothing)."""
    data = b"".join(x.encode() for x in ids) + b"\xff"
    offsets = np.cumsum([0, *(len(x.encode()) for x in ids), 1]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(ids) + 1, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def positions() -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [ids_ending_in_bad_text(IDS), pa.array(INSTRUMENTS), pa.array([10.0, -10.0, 1.0, -1.0, 5.0])],
        names=["account_id", "instrument_id", "quantity"],
    )


@pytest.fixture(scope="module")
def engine() -> pmargin.MarginEngine:
    instruments = pa.table(
        {
            "instrument_id": ["BTC-SPOT", "BTC-30D-60000-C"],
            "underlying": ["BTC", "BTC"],
            "kind": ["spot", "option"],
            "option_type": [None, "call"],
            "strike": [None, 60000.0],
            "expiry": pa.array([None, dt.datetime(2026, 7, 30, 8)], pa.timestamp("ns", tz="UTC")),
        }
    )
    market = pmargin.Market(
        "2026-06-30T08:00:00Z",
        pa.table({"underlying": ["BTC"], "spot": [60000.0], "rate": [0.04]}),
        pa.table({"instrument_id": ["BTC-30D-60000-C"], "implied_vol": [0.55]}),
    )
    return pmargin.MarginEngine(instruments, market)


def assert_bad_text_at_row_4(error: pmargin.MarginInputError) -> None:
    assert isinstance(error, ValueError)
    assert (error.table, error.column, error.row, error.reason) == (
        "positions",
        "account_id",
        4,
        "not valid UTF-8 text",
    )
    assert str(error) == "positions.account_id, row 4: not valid UTF-8 text"


@pytest.mark.parametrize("grouped", [True, False])
def test_bad_text_in_the_last_row_of_the_only_batch(engine: pmargin.MarginEngine, grouped: bool) -> None:
    with pytest.raises(pmargin.MarginInputError) as info:
        list(margin_stream(positions(), engine, grouped=grouped))
    assert_bad_text_at_row_4(info.value)


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_bad_text_after_any_batch_split(engine: pmargin.MarginEngine, grouped: bool, cut: int) -> None:
    """Batches of rows [0, cut) and [cut, 5): the bad id is the last row of the second batch (its
    only row when cut is 4). Grouped, with one position per engine call, the accounts before it
    come out first (unordered, the spill files come out in hash order)."""
    batch = positions()
    stream = iter_margin([batch.slice(0, cut), batch.slice(cut)], engine, grouped=grouped, batch_positions=1)
    produced: list[str] = []
    with pytest.raises(pmargin.MarginInputError) as info:
        for name, part in stream:
            produced += part.column("account_id").to_pylist() if name == "accounts" else []
    assert_bad_text_at_row_4(info.value)
    if grouped:
        assert produced == ["alice", "bob"]


@pytest.mark.parametrize("grouped", [True, False])
def test_bad_text_first_in_a_later_batch(engine: pmargin.MarginEngine, grouped: bool) -> None:
    """The bad id is the first row of the second batch (compared with the first batch's last id
    to find where an account starts) and the last of the stream."""
    batch = positions()
    with pytest.raises(pmargin.MarginInputError) as info:
        list(margin_stream([batch.slice(0, 4), batch.slice(4)], engine, grouped=grouped))
    assert_bad_text_at_row_4(info.value)


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("id_type", [pa.string(), pa.string_view(), pa.dictionary(pa.int32(), pa.string())])
def test_isolated_accounts_are_not_counted_as_margined(
    engine: pmargin.MarginEngine, grouped: bool, id_type: pa.DataType
) -> None:
    """bob's two rows hold an unknown instrument: isolated, they are left out of
    ``positions_margined`` and of the Greeks (whatever the type of the account ids)."""
    batch = pa.table(
        {
            "account_id": pa.array(["alice", "alice", "bob", "bob", "carol"]).cast(id_type),
            "instrument_id": ["BTC-SPOT", "BTC-30D-60000-C", "NOPE", "BTC-SPOT", "BTC-SPOT"],
            "quantity": [10.0, -10.0, 1.0, 1.0, 5.0],
        }
    )
    stream = iter_margin(
        batch, engine, tables=("accounts", "failed", "greeks"), grouped=grouped, on_error="isolate", batch_positions=2
    )
    assert stream.positions_margined == 0
    tables = stream.to_tables()
    assert stream.positions_margined == 3
    assert sorted(tables["accounts"].column("account_id").cast(pa.string()).to_pylist()) == ["alice", "carol"]
    assert tables["failed"].select(["account_id", "row"]).to_pylist() == [{"account_id": "bob", "row": 2}]
    assert sorted(tables["greeks"].column("account_id").cast(pa.string()).to_pylist()) == ["alice", "alice", "carol"]


def spot_book(**extra: Any) -> pa.Table:
    return pa.table(
        {"account_id": ["a", "a", "b"], "instrument_id": ["BTC-SPOT"] * 3, "quantity": [1.0, 3.0, -2.0], **extra}
    )


@pytest.mark.parametrize("grouped", [True, False])
def test_stream_all_null_account_ids_are_the_error_of_margin(engine: pmargin.MarginEngine, grouped: bool) -> None:
    book = spot_book(account_id=pa.nulls(3))
    with pytest.raises(pmargin.MarginInputError) as whole:
        engine.margin(book)
    with pytest.raises(pmargin.MarginInputError) as streamed:
        margin_stream(book, engine, grouped=grouped, batch_positions=1).read_all()
    where = (streamed.value.table, streamed.value.column, streamed.value.row, streamed.value.reason)
    assert where == (whole.value.table, whole.value.column, whole.value.row, whole.value.reason)
    assert where == ("positions", "account_id", 0, "null is not allowed")


@pytest.mark.parametrize("grouped", [True, False])
def test_stream_ignores_a_union_column_as_margin_does(engine: pmargin.MarginEngine, grouped: bool) -> None:
    note = pa.UnionArray.from_dense(
        pa.array([0, 0, 0], pa.int8()), pa.array([0, 1, 2], pa.int32()), [pa.array(["x", "y", "z"])]
    )
    book = spot_book(note=note)
    whole = engine.margin(book).accounts
    streamed = margin_stream(book, engine, grouped=grouped, batch_positions=1).read_all().sort_by("account_id")
    assert streamed.equals(whole.sort_by("account_id"))
    # a: 4 BTC long, b: 2 BTC short, at 60,000 and a 15% move.
    assert streamed.column("initial_margin").to_pylist() == [pytest.approx(36_000.0), pytest.approx(18_000.0)]


def test_stream_spill_folder_that_cannot_be_made(engine: pmargin.MarginEngine, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases: list[tuple[str | Path, str]] = [
        ("/proc", "cannot create a spill folder in /proc: No such file or directory"),
        (a_file, f"the spill folder {a_file} is not a folder"),
        (tmp_path / "nope", f"the spill folder {tmp_path / 'nope'} does not exist"),
    ]
    for spill_dir, reason in cases:
        with pytest.raises(pmargin.MarginInputError) as info:
            margin_stream(spot_book(), engine, spill_dir=spill_dir).read_all()
        assert (info.value.table, info.value.column, info.value.reason) == ("options", "spill_dir", reason)


@pytest.mark.parametrize(
    ("options", "argument", "got"),
    [
        ({"total_rows": "x"}, "total_rows", "str 'x'"),
        ({"total_rows": -5}, "total_rows", "int -5"),
        ({"total_rows": 1.5}, "total_rows", "float 1.5"),
        ({"total_rows": True}, "total_rows", "bool True"),
        ({"grouped": "yes"}, "grouped", "str 'yes'"),
    ],
)
def test_stream_options_of_the_wrong_type(
    engine: pmargin.MarginEngine, options: dict[str, Any], argument: str, got: str
) -> None:
    with pytest.raises(pmargin.MarginConfigError) as info:
        iter_margin(spot_book(), engine, **options)
    assert (info.value.table, info.value.column, info.value.row) == (argument, None, None)
    assert info.value.reason.endswith(f", got {got}")


@pytest.mark.parametrize("grouped", [True, False])
def test_stream_errors_of_the_source_name_positions(
    engine: pmargin.MarginEngine, grouped: bool, tmp_path: Path
) -> None:
    pq.write_table(spot_book(), tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    dataset = ds.dataset(tmp_path, format="parquet", exclude_invalid_files=False)
    lazy = pl.from_arrow(spot_book()).lazy().select(pl.col("nope"))  # type: ignore[union-attr]

    def failing() -> Iterator[pa.RecordBatch]:
        yield from spot_book().to_batches()
        raise OSError("the network share went away")

    for source, kind, cause in (
        (dataset, "FileSystemDataset", pa.ArrowInvalid),
        (lazy, "LazyFrame", pl.exceptions.ColumnNotFoundError),
        (failing(), "generator", OSError),
    ):
        with pytest.raises(pmargin.MarginInputError) as info:
            margin_stream(source, engine, grouped=grouped).read_all()
        assert (info.value.table, info.value.column, info.value.row) == ("positions", None, None)
        assert info.value.reason.startswith(f"cannot read the {kind}: ")
        assert isinstance(info.value.__cause__, cause)
        assert str(info.value.__cause__) in info.value.reason


def test_integer_ids_of_a_stream_out_of_its_id_type_name_their_row() -> None:
    """A later batch's integer id that does not fit the stream's id type (int64 from int32 /
    int64 first batches, uint64 from a uint64 one) is an error at its row; an all-null batch
    (Polars' null type) reads as nulls of the stream's types and the engine names its row; an
    ignored column that changes type is dropped to nulls, not an error."""
    instruments = pa.table({"instrument_id": ["BTC-SPOT"], "underlying": ["BTC"], "kind": ["spot"]})
    engine = pmargin.MarginEngine(
        instruments, pmargin.Market("2026-06-30T08:00:00Z", pa.table({"underlying": ["BTC"], "spot": [60000.0]}))
    )
    rows = {"instrument_id": ["BTC-SPOT", "BTC-SPOT"], "quantity": [1.0, 1.0]}
    cases = [
        (pa.array([1, 2], pa.int32()), pa.array([3, 2**63], pa.uint64()), 3, "9223372036854775808 does not fit int64"),
        (pa.array([1, 2], pa.uint64()), pa.array([3, -4]), 3, "-4 does not fit uint64"),
    ]
    for first, later, row, text in cases:
        items = [pa.table({"account_id": first, **rows}), pa.table({"account_id": later, **rows})]
        with pytest.raises(pmargin.MarginInputError) as caught:
            margin_stream(items, engine, grouped=True).read_all()
        assert (caught.value.column, caught.value.row) == ("account_id", row)
        assert caught.value.reason == f"{text}, the type of the account ids of the stream (from its first batch)"
    nulls = pa.table({"account_id": pa.nulls(1), "instrument_id": ["BTC-SPOT"], "quantity": [1.0]})
    with pytest.raises(pmargin.MarginInputError) as caught:
        margin_stream([pa.table({"account_id": ["a", "b"], **rows}), nulls], engine, grouped=True).read_all()
    assert (caught.value.table, caught.value.column, caught.value.row) == ("positions", "account_id", 2)
    items = [
        pa.table({"account_id": ["a", "b"], **rows, "note": [1, 2]}),
        pa.table({"account_id": ["c", "d"], **rows, "note": ["x", "y"]}),
    ]
    got = margin_stream(items, engine, grouped=True).read_all()
    assert got.column("account_id").to_pylist() == ["a", "b", "c", "d"]
    assert got.column("initial_margin").to_pylist() == [9000.0] * 4
