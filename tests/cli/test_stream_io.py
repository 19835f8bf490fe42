"""pmargin.stream_io through ``pmargin margin``: positions from a directory of Parquet files or a
glob, in any row order; Parquet written by row groups, atomically; a directory output; the
progress bar's total from the Parquet metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import pmargin
from pmargin import sample
from pmargin.cli import main
from pmargin.io import read_table

from .conftest import write_inputs


def by_account(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, [("account_id", "ascending")]))


@pytest.fixture(scope="module")
def whole(book: sample.SampleBook) -> pmargin.MarginResult:
    return pmargin.margin(book.positions, book.instruments, book.market)


def split_positions(positions: pa.Table, folder: Path, rows: int) -> None:
    folder.mkdir()
    for i, part in enumerate(positions.to_batches(max_chunksize=rows)):
        pq.write_table(pa.Table.from_batches([part]), folder / f"part-{i:03d}.parquet")


def inputs_with(positions: str, args: list[str]) -> list[str]:
    i = args.index("--positions")
    return [*args[:i], "--positions", positions, *args[i + 2 :]]


def test_a_directory_and_a_glob_of_parquet_files(
    book: sample.SampleBook, parquet_args: list[str], whole: pmargin.MarginResult, tmp_path: Path
) -> None:
    split_positions(book.positions, tmp_path / "book", 97)
    for source in (tmp_path / "book", tmp_path / "book" / "part-*.parquet"):
        out = tmp_path / "out.parquet"
        assert (
            main(["margin", *inputs_with(str(source), parquet_args), "--out", str(out), "--chunk-positions", "50"]) == 0
        )
        assert read_table(out, "accounts").equals(whole.accounts)  # grouped files: input order, one pass
        assert read_table(tmp_path / "out.by_underlying.parquet", "by_underlying").equals(whole.by_underlying)
        assert pq.ParquetFile(out).num_row_groups > 1  # written chunk by chunk


def test_rows_in_any_order_fall_back_to_the_unordered_run(
    book: sample.SampleBook,
    parquet_args: list[str],
    whole: pmargin.MarginResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = book.positions.take(pa.array(np.random.default_rng(4).permutation(book.positions.num_rows)))
    split_positions(rows, tmp_path / "book", 200)
    args = inputs_with(str(tmp_path / "book"), parquet_args)
    out = tmp_path / "result"
    assert main(["margin", *args, "--out", f"{out}/", "--chunk-positions", "100", "--spill-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["accounts.parquet", "by_underlying.parquet"]
    assert by_account(read_table(out / "accounts.parquet", "a")).equals(by_account(whole.accounts))
    assert by_account(read_table(out / "by_underlying.parquet", "b")).equals(by_account(whole.by_underlying))
    assert not list(tmp_path.glob("pmargin-spill-*"))
    # Declared grouped, the same files are an error naming the account.
    assert main(["margin", *args, "--grouped"]) == 2
    assert "appears again after its group ended" in capsys.readouterr().err


def test_a_bad_row_late_in_the_stream_leaves_no_output(
    book: sample.SampleBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = write_inputs(book, tmp_path / "in", ".parquet")
    ids = book.positions.column("instrument_id")
    late = pa.array(np.arange(book.positions.num_rows) == book.positions.num_rows - 3)
    broken = book.positions.set_column(1, "instrument_id", pc.if_else(late, "NOPE", ids))
    pq.write_table(broken, tmp_path / "in" / "positions.parquet")
    out = tmp_path / "out" / "result.parquet"
    out.parent.mkdir()
    assert main(["margin", *args, "--out", str(out), "--chunk-positions", "40"]) == 2
    err = capsys.readouterr().err
    assert f"row {book.positions.num_rows - 3}" in err and "unknown instrument 'NOPE'" in err
    assert list(out.parent.iterdir()) == []  # earlier chunks were written to temporary files only


def test_the_bar_counts_rows_against_the_parquet_total(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    split_positions(book.positions, tmp_path / "book", 300)
    terminal = io.StringIO()
    monkeypatch.setattr("pmargin.cli._stderr_is_terminal", lambda: True)
    monkeypatch.setattr("pmargin.cli._progress_console", lambda: Console(file=terminal, force_terminal=True, width=120))
    args = inputs_with(str(tmp_path / "book"), parquet_args)
    assert main(["margin", *args, "--out", str(tmp_path / "r.parquet"), "--chunk-positions", "100"]) == 0
    rows = book.positions.num_rows
    assert f"{rows}/{rows}" in terminal.getvalue() and "/?" not in terminal.getvalue()


def test_no_positions_file_matches(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", *inputs_with(str(tmp_path / "*.parquet"), parquet_args)]) == 2
    assert "no file matches" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["margin", *inputs_with(str(tmp_path / "empty"), parquet_args)]) == 2
    assert "no Parquet file" in capsys.readouterr().err
