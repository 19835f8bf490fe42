"""What real pipelines send (python/pmargin/io.py and the id output rule of the core's
engine.rs / output/arrow.rs and reference/output/arrow.py): pyarrow Datasets and Polars
LazyFrames are accepted, anything else says what to call, and account ids come out as ``string``
or ``int64`` whatever their input encoding, so pyarrow compute and CSV writing work on results
from Polars, pandas and every pyarrow string type.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import pmargin
import pmargin.reference
from pmargin import MarginInputError, sample
from pmargin.batch import margin_in_chunks
from pmargin.io import to_table

ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {
    "native": pmargin.margin,
    "reference": pmargin.reference.margin,
}


@pytest.fixture(scope="module")
def book() -> sample.SampleBook:
    return sample.book(12, seed=5)


def shuffled(table: pa.Table) -> pa.Table:
    """Rows in a fixed scrambled order, so accounts are not contiguous."""
    order = sorted(range(table.num_rows), key=lambda i: (i * 7919) % table.num_rows)
    return table.take(pa.array(order))


def with_ids(positions: pa.Table, ids: pa.Array | pa.ChunkedArray) -> pa.Table:
    return positions.set_column(positions.schema.get_field_index("account_id"), "account_id", ids)


def flavours(positions: pa.Table) -> dict[str, Any]:
    """The same positions as every producer and id encoding a pipeline may send."""
    ids = positions.column("account_id")
    codes = pc.dictionary_encode(ids).combine_chunks().indices
    return {
        "pyarrow string": positions,
        "pyarrow large_string": with_ids(positions, ids.cast(pa.large_string())),
        "pyarrow string_view": with_ids(positions, ids.cast(pa.string_view())),
        "pyarrow dictionary": with_ids(positions, pc.dictionary_encode(ids)),
        "polars": pl.from_arrow(positions),
        "pandas": positions.to_pandas(),
        "pandas pyarrow strings": positions.to_pandas(types_mapper=pd.ArrowDtype),
        "int32": with_ids(positions, pc.add(codes, 100).cast(pa.int32())),
        "uint16 dictionary": with_ids(positions, pc.dictionary_encode(pc.add(codes, 100).cast(pa.uint16()))),
        "polars int": pl.from_arrow(with_ids(positions, pc.add(codes, 100).cast(pa.int16()))),
    }


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_ids_come_out_as_string_or_int64_and_work_with_pyarrow_compute_and_csv(
    book: sample.SampleBook, engine: str
) -> None:
    positions = shuffled(book.positions)
    for name, data in flavours(positions).items():
        result = ENGINES[engine](data, book.instruments, book.market, by_position=engine == "native")
        expected = pa.int64() if "int" in name else pa.string()
        tables = [result.accounts, result.by_underlying]
        if result.by_position is not None and result.explain is not None:
            tables += [result.by_position, result.explain]
        for table in tables:
            assert table.schema.field("account_id").type == expected, (name, table.schema)
            ordered = table.sort_by("account_id")
            first = ordered.column("account_id")[0]
            assert table.filter(pc.equal(table.column("account_id"), first)).num_rows >= 1
            assert table.take([0]).num_rows == 1
            out = io.BytesIO()
            pcsv.write_csv(table, out)
            assert out.getvalue().count(b"\n") == table.num_rows + 1
        assert result.accounts.num_rows == len(set(positions.column("account_id").to_pylist()))


def test_every_flavour_gives_the_same_margins(book: sample.SampleBook) -> None:
    positions = shuffled(book.positions)
    expected = pmargin.margin(positions, book.instruments, book.market).accounts.column("initial_margin")
    for name, data in flavours(positions).items():
        for engine in ENGINES.values():
            got = engine(data, book.instruments, book.market).accounts.column("initial_margin")
            assert got.to_pylist() == pytest.approx(expected.to_pylist(), rel=1e-9), name


def test_chunked_runs_of_an_unsorted_polars_book(book: sample.SampleBook) -> None:
    frame = pl.from_arrow(shuffled(book.positions))
    engine = pmargin.MarginEngine(book.instruments, book.market)
    whole = engine.margin(frame)
    chunked = margin_in_chunks(engine, frame, 10)
    assert chunked.accounts.equals(whole.accounts)


def test_a_dataset_and_a_lazy_frame_are_accepted(book: sample.SampleBook, tmp_path: Path) -> None:
    pq.write_table(book.positions, tmp_path / "positions.parquet")
    dataset = ds.dataset(tmp_path / "positions.parquet")
    lazy = pl.LazyFrame(book.positions).filter(pl.col("quantity") != 0.0)
    expected = pmargin.margin(book.positions.filter(pc.field("quantity") != 0.0), book.instruments, book.market)
    for engine in ENGINES.values():
        whole = engine(book.positions, book.instruments, book.market).accounts.column("initial_margin")
        assert engine(dataset, book.instruments, book.market).accounts.column("initial_margin").equals(whole)
        got = engine(lazy, book.instruments, book.market).accounts.column("initial_margin").to_pylist()
        assert got == pytest.approx(expected.accounts.column("initial_margin").to_pylist(), rel=1e-9)
    assert to_table(dataset.scanner(), "positions").num_rows == book.positions.num_rows
    market = pmargin.Market(book.as_of, pl.LazyFrame(book.underlyings), ds.dataset(book.vols))
    assert market.underlyings.num_rows == book.underlyings.num_rows


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (pd.Series([1.0, 2.0]), "call .to_frame() on it first"),
        ([1, 2, 3], "build one with pyarrow.table(...)"),
        (pl.Series("q", [1.0]), "call .to_frame() on it first"),
    ],
)
def test_anything_else_says_what_to_call(data: Any, hint: str) -> None:
    with pytest.raises(MarginInputError) as info:
        to_table(data, "positions")
    assert info.value.table == "positions"
    assert hint in info.value.reason, info.value.reason


def test_engine_errors_of_the_callers_source_name_the_table(book: sample.SampleBook, tmp_path: Path) -> None:
    pq.write_table(book.positions, tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    dataset = ds.dataset(tmp_path, format="parquet", exclude_invalid_files=False)
    lazy = pl.LazyFrame(book.positions).select(pl.col("nope"))

    def on_positions(e: Callable[..., object]) -> Callable[[Any], object]:
        return lambda d: e(d, book.instruments, book.market)

    def on_instruments(e: Callable[..., object]) -> Callable[[Any], object]:
        return lambda d: e(book.positions, d, book.market)

    calls: dict[str, Callable[[Any], object]] = {
        **{f"{name} positions": on_positions(e) for name, e in ENGINES.items()},
        **{f"{name} instruments": on_instruments(e) for name, e in ENGINES.items()},
        "native greeks": lambda d: pmargin.greeks(d, book.instruments, book.market),
        "reference greeks": lambda d: pmargin.reference.greeks(d, book.instruments, book.market),
        "chunks": lambda d: margin_in_chunks(pmargin.MarginEngine(book.instruments, book.market), d, 5),
    }
    for source, kind, cause in (
        (dataset, "FileSystemDataset", pa.ArrowInvalid),
        (lazy, "LazyFrame", pl.exceptions.ColumnNotFoundError),
    ):
        for label, call in calls.items():
            with pytest.raises(MarginInputError) as info:
                call(source)
            table = "instruments" if label.endswith("instruments") else "positions"
            assert (info.value.table, info.value.column, info.value.row) == (table, None, None), label
            assert info.value.reason == f"cannot read the {kind}: {info.value.__cause__}", label
            assert isinstance(info.value.__cause__, cause), label
