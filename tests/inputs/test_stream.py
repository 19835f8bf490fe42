"""pmargin.stream on bad input: an account id that is not UTF-8 text, wherever it falls in a batch
(last row, first row, the only row), is a MarginInputError naming its row in the whole stream,
grouped or not; the accounts before it are produced first."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
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
