"""pmargin.stream_io through ``pmargin margin``: positions from a directory of Parquet files or a
glob, in any row order; Parquet written by row groups, atomically; a directory output; the
progress bar's total from the Parquet metadata."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path
from typing import Any

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


def with_bad_last_account_id(positions: pa.Table) -> pa.Table:
    """``positions`` with the last account id made the byte 0xff (not UTF-8 text)."""
    ids = [x.encode() for x in positions.column("account_id").to_pylist()]
    ids[-1] = b"\xff"
    offsets = np.cumsum([0, *(len(x) for x in ids)]).astype(np.int32)
    bad = pa.Array.from_buffers(
        pa.string(), len(ids), [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(ids))]
    )
    return positions.set_column(0, "account_id", bad)


@pytest.mark.parametrize("grouped", [[], ["--grouped"]])
def test_an_account_id_that_is_not_text_in_a_parquet_file(
    book: sample.SampleBook, tmp_path: Path, capsys: pytest.CaptureFixture[str], grouped: list[str]
) -> None:
    args = write_inputs(book, tmp_path / "in", ".parquet")
    pq.write_table(with_bad_last_account_id(book.positions), tmp_path / "in" / "positions.parquet")
    out = tmp_path / "out" / "result.parquet"
    out.parent.mkdir()
    last = book.positions.num_rows - 1
    for extra in (["--out", str(out)], []):
        assert main(["margin", *args, *grouped, "--chunk-positions", "40", *extra]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"error: positions.account_id, row {last}: not valid UTF-8 text\n"
        assert captured.out == ""
    assert list(out.parent.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Outputs are committed all or none


def test_a_folder_in_the_way_of_an_output_fails_before_any_file_is_replaced(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "z.by_underlying.csv").mkdir()
    out = tmp_path / "z.csv"
    assert main(["margin", *parquet_args, "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: out: cannot write {tmp_path / 'z.by_underlying.csv'}: it is an existing folder\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["z.by_underlying.csv"]  # no z.csv, no temporary file
    out.write_bytes(b"previous run\n")
    assert main(["margin", *parquet_args, "--out", str(out)]) == 2
    assert out.read_bytes() == b"previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.by_underlying.csv", "z.csv"]


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-links"])
def test_a_move_that_fails_part_way_puts_back_the_files_already_moved(
    parquet_args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    links: bool,
) -> None:
    """accounts is moved into place first, then by_underlying fails: z.csv gets its previous
    bytes back (kept aside by a hard link, or moved aside where links are not supported)."""
    import os

    real_replace = os.replace
    moved: list[str] = []

    def replace(source: Any, destination: Any) -> None:
        if Path(destination).name == "z.by_underlying.csv":
            raise OSError(5, "Input/output error", str(source), None, str(destination))
        moved.append(Path(destination).name)
        real_replace(source, destination)

    def no_link(*args: Any, **kwargs: Any) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "replace", replace)
    if not links:
        monkeypatch.setattr(os, "link", no_link)
    out = tmp_path / "z.csv"
    out.write_bytes(b"previous run\n")
    assert main(["margin", *parquet_args, "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err == f"error: out: cannot write {tmp_path / 'z.by_underlying.csv'}: Input/output error\n"
    )
    assert out.read_bytes() == b"previous run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["z.csv"]  # no temporary or kept-aside file
    if links:
        assert moved == ["z.csv", "z.csv"]  # the new accounts, then the previous file back
    else:
        assert moved[0].startswith(".z.") and moved[1:] == ["z.csv", "z.csv"]  # aside, new, back
    out.unlink()
    assert main(["margin", *parquet_args, "--out", str(out)]) == 2
    assert list(tmp_path.iterdir()) == []  # a new z.csv is removed again


def test_commit_puts_back_every_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three destinations, the third move fails: the first gets its previous file back, the
    second (new) is removed, all temporary files are gone; the error names the destination."""
    import os

    from pmargin.stream_io import commit, temporary_beside

    real_replace = os.replace

    def replace(source: Any, destination: Any) -> None:
        if Path(destination).name == "c.csv":
            raise OSError(28, "No space left on device", str(source))
        real_replace(source, destination)

    (tmp_path / "a.csv").write_bytes(b"old a")
    moves = []
    for name in ("a.csv", "b.csv", "c.csv"):
        temporary = temporary_beside(tmp_path / name)
        temporary.write_bytes(b"new " + name.encode())
        moves.append((temporary, tmp_path / name))
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(pmargin.MarginInputError) as info:
        commit(moves)
    assert str(info.value) == f"out: cannot write {tmp_path / 'c.csv'}: No space left on device"
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("a.csv", b"old a")]
    monkeypatch.setattr(os, "replace", real_replace)
    moves = []
    for name in ("a.csv", "b.csv"):
        temporary = temporary_beside(tmp_path / name)
        temporary.write_bytes(b"new " + name.encode())
        moves.append((temporary, tmp_path / name))
    commit(moves)
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == [
        ("a.csv", b"new a.csv"),
        ("b.csv", b"new b.csv"),
    ]


def test_parquet_parts_of_different_number_types_keep_their_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A float32 or decimal(12, 2) first part no longer narrows a later float64 part: account b's
    1.234567891 BTC is margined as written (15% of 60,000 x 1.234567891)."""
    pq.write_table(
        pa.table({"instrument_id": ["BTC-SPOT"], "underlying": ["BTC"], "kind": ["spot"]}), tmp_path / "i.parquet"
    )
    pq.write_table(pa.table({"underlying": ["BTC"], "spot": [60000.0]}), tmp_path / "u.parquet")
    common = ["--instruments", str(tmp_path / "i.parquet"), "--underlyings", str(tmp_path / "u.parquet")]
    common += ["--as-of", "2026-06-30T08:00:00Z", "--quiet"]
    for name, first in (("f32", pa.float32()), ("dec", pa.decimal128(12, 2)), ("int", pa.int64())):
        parts = tmp_path / name
        parts.mkdir()
        pq.write_table(
            pa.table({"account_id": ["a"], "instrument_id": ["BTC-SPOT"], "quantity": pa.array([1.0]).cast(first)}),
            parts / "part-0.parquet",
        )
        pq.write_table(
            pa.table({"account_id": ["b"], "instrument_id": ["BTC-SPOT"], "quantity": [1.234567891]}),
            parts / "part-1.parquet",
        )
        out = tmp_path / f"{name}.parquet"
        assert main(["margin", "--positions", str(parts), *common, "--out", str(out)]) == 0, capsys.readouterr().err
        margins = read_table(out, "out").column("initial_margin").to_pylist()
        assert margins == [9000.0, pytest.approx(0.15 * 60000 * 1.234567891, rel=1e-15)], name
    # A quantity written as text in one part: the parts cannot be read as one table.
    parts = tmp_path / "text"
    parts.mkdir()
    pq.write_table(
        pa.table({"account_id": ["a"], "instrument_id": ["BTC-SPOT"], "quantity": [1.0]}), parts / "p0.parquet"
    )
    pq.write_table(
        pa.table({"account_id": ["b"], "instrument_id": ["BTC-SPOT"], "quantity": ["1"]}), parts / "p1.parquet"
    )
    capsys.readouterr()
    assert main(["margin", "--positions", str(parts), *common]) == 2
    assert "disagree on a column's type" in capsys.readouterr().err


def test_parquet_parts_where_one_has_a_required_column_the_others_lack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The unified schema is all nullable: part 0 has no ``desk``, part 1 declares it non-nullable
    (Parquet REQUIRED); the rows of part 0 read it as null, in both the one-pass and the
    spill-file run."""
    pq.write_table(
        pa.table({"instrument_id": ["BTC-SPOT"], "underlying": ["BTC"], "kind": ["spot"]}), tmp_path / "i.parquet"
    )
    pq.write_table(pa.table({"underlying": ["BTC"], "spot": [60000.0]}), tmp_path / "u.parquet")
    book = tmp_path / "book"
    book.mkdir()
    pq.write_table(
        pa.table({"account_id": ["a", "b"], "instrument_id": ["BTC-SPOT"] * 2, "quantity": [1.0, 2.0]}),
        book / "part-0.parquet",
    )
    required = pa.schema(
        [
            ("account_id", pa.string()),
            ("instrument_id", pa.string()),
            ("quantity", pa.float64()),
            pa.field("desk", pa.string(), nullable=False),
        ]
    )
    for name, accounts in (("part-1.parquet", ["c", "d"]), ("part-2.parquet", ["a", "e"])):
        rows = {"account_id": accounts, "instrument_id": ["BTC-SPOT"] * 2, "quantity": [1.0, 3.0], "desk": ["x", "y"]}
        pq.write_table(pa.table(rows, schema=required), book / name)
    common = ["--instruments", str(tmp_path / "i.parquet"), "--underlyings", str(tmp_path / "u.parquet")]
    common += ["--as-of", "2026-06-30T08:00:00Z", "--quiet", "--spill-dir", str(tmp_path)]
    out = tmp_path / "out.parquet"
    # Account a comes back in part 2: the run falls back to the spill files.
    assert main(["margin", "--positions", str(book), *common, "--out", str(out)]) == 0, capsys.readouterr().err
    accounts = read_table(out, "out")
    margins = dict(zip(accounts["account_id"].to_pylist(), accounts["initial_margin"].to_pylist(), strict=True))
    assert margins == {"a": 18000.0, "b": 18000.0, "c": 9000.0, "d": 27000.0, "e": 27000.0}
    (book / "part-2.parquet").unlink()
    assert main(["margin", "--positions", str(book), *common, "--out", str(out), "--grouped"]) == 0
    assert read_table(out, "out").column("account_id").to_pylist() == ["a", "b", "c", "d"]
    assert not list(tmp_path.glob("pmargin-spill-*"))


def test_a_corrupt_page_in_one_parquet_part_is_named_by_its_file(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The footer is intact (the row count is read), a data page in the middle of the second part
    is not: the error names that file, not the folder's scanner."""
    split_positions(book.positions, tmp_path / "book", 1000)
    broken = tmp_path / "book" / "part-001.parquet"
    data = bytearray(broken.read_bytes())
    middle = pq.ParquetFile(broken).metadata.row_group(0).column(0)  # the account ids' pages
    start = middle.data_page_offset + 16
    data[start : start + 64] = bytes(range(64))
    broken.write_bytes(bytes(data))
    assert main(["margin", *inputs_with(str(tmp_path / "book"), parquet_args), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: positions: cannot read {broken}: ") and "Scanner" not in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# No output may replace an input


def option(args: list[str], name: str) -> Path:
    return Path(args[args.index(name) + 1])


def with_option(args: list[str], name: str, value: Path | str) -> list[str]:
    i = args.index(name)
    return [*args[:i], name, str(value), *args[i + 2 :]]


def test_an_output_that_is_an_input_file_is_refused_before_any_work(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming an input file (as given, spelled otherwise, or through a link), or a table
    beside --out landing on an input file: exit 2 naming both; every input is left as it was."""
    positions, instruments = option(parquet_args, "--positions"), option(parquet_args, "--instruments")
    folder = positions.parent
    vols = tmp_path / "res.by_underlying.parquet"  # where the by-underlying table of res.parquet goes
    vols.write_bytes(option(parquet_args, "--vols").read_bytes())
    args = with_option(parquet_args, "--vols", vols)
    (tmp_path / "link.parquet").symlink_to(instruments)
    os.link(positions, tmp_path / "hard.parquet")
    before = {path: path.read_bytes() for path in (positions, instruments, vols)}
    cases = [
        (positions, positions, "--positions", positions),
        (folder / ".." / folder.name / "instruments.parquet", None, "--instruments", instruments),
        (tmp_path / "link.parquet", None, "--instruments", instruments),
        (tmp_path / "hard.parquet", None, "--positions", positions),
        (tmp_path / "res.parquet", vols, "--vols", vols),
    ]
    for out, written, given, path in cases:
        assert main(["margin", *args, "--quiet", "--out", str(out)]) == 2, out
        assert capsys.readouterr().err == (
            f"error: out: cannot write {written or out}: it is the {given} file {path}; "
            "write the results somewhere else\n"
        )
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.parquet", "link.parquet", "res.by_underlying.parquet"]


def test_an_output_inside_the_positions_folder_or_glob_is_refused(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Parquet results written into the positions folder would be read as positions by the next
    run; a result matching the positions glob too. Nothing is created there (not even a results
    folder)."""
    split_positions(book.positions, tmp_path / "book", 500)
    files = sorted(p.name for p in (tmp_path / "book").iterdir())
    folder = tmp_path / "book"
    for out in (folder, folder / "results", folder / "result.parquet", tmp_path / "." / "book" / "r.pq"):
        assert main(["margin", *inputs_with(str(folder), parquet_args), "--quiet", "--out", str(out)]) == 2, out
        err = capsys.readouterr().err
        assert err.startswith(f"error: out: cannot write {out if out.suffix else out / 'accounts.parquet'}: ")
        assert f"it is inside the --positions folder {folder}, whose Parquet files are all read as input" in err
    pattern = str(folder / "part-*.parquet")
    assert (
        main(["margin", *inputs_with(pattern, parquet_args), "--quiet", "--out", str(folder / "part-9.parquet")]) == 2
    )
    assert f"part-9.parquet: it matches the --positions pattern {pattern}; " in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == files
    # Beside the files a glob reads, an output it does not match is fine.
    assert main(["margin", *inputs_with(pattern, parquet_args), "--quiet", "--out", str(folder / "r.parquet")]) == 0


@pytest.mark.parametrize("suffix", [".csv", ".arrow"])
def test_an_output_the_positions_folder_never_reads_may_be_written_there(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, suffix: str
) -> None:
    """Only the Parquet files of a positions folder are read: a CSV or Arrow summary beside them
    is no input of a later run."""
    folder = tmp_path / "book"
    split_positions(book.positions, folder, 500)
    out = folder / f"summary{suffix}"
    assert main(["margin", *inputs_with(str(folder), parquet_args), "--quiet", "--out", str(out)]) == 0
    assert read_table(out, "out").num_rows == book.positions.group_by("account_id").aggregate([]).num_rows
    # ... and the next run reads the same positions.
    again = tmp_path / f"again{suffix}"
    assert main(["margin", *inputs_with(str(folder), parquet_args), "--quiet", "--out", str(again)]) == 0
    assert read_table(again, "out").equals(read_table(out, "out"))


def test_a_glob_through_a_symlinked_folder_protects_its_files(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``parts/a -> ../real``: the glob ``parts/*/p*.parquet`` reads ``real/p0.parquet`` as
    ``parts/a/p0.parquet``. Neither that file (by its real name) nor a new file the glob would
    match as typed (``parts/a/p9.parquet``, created as ``real/p9.parquet``) may be written."""
    (tmp_path / "real").mkdir()
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a").symlink_to(Path("..") / "real")
    positions = tmp_path / "real" / "p0.parquet"
    pq.write_table(book.positions, positions)
    before = positions.read_bytes()
    pattern = str(tmp_path / "parts" / "*" / "p*.parquet")
    args = inputs_with(pattern, parquet_args)
    assert main(["margin", *args, "--quiet", "--out", str(positions)]) == 2
    assert capsys.readouterr().err == (
        f"error: out: cannot write {positions}: it is {tmp_path / 'parts' / 'a' / 'p0.parquet'}, which the "
        f"--positions pattern {pattern} reads as input; write the results somewhere else\n"
    )
    out = tmp_path / "parts" / "a" / "p9.parquet"
    assert main(["margin", *args, "--quiet", "--out", str(out)]) == 2
    assert f"cannot write {out}: it matches the --positions pattern {pattern}; " in capsys.readouterr().err
    # A new file in the real folder is read through the link too.
    out = tmp_path / "real" / "p8.parquet"
    assert main(["margin", *args, "--quiet", "--out", str(out)]) == 2
    assert f"cannot write {out}: it matches the --positions pattern {pattern}; " in capsys.readouterr().err
    assert positions.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["p0.parquet"]


def test_check_not_inputs(tmp_path: Path) -> None:
    from pmargin.stream_io import check_not_inputs

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "a.csv").write_text("x\n")
    inputs: dict[str, Path | str | None] = {
        "--a": tmp_path / "a.csv",
        "--d": tmp_path / "d",
        "--g": str(tmp_path / "g" / "**" / "*.pq"),
        "--none": None,
    }
    refused = [
        tmp_path / "a.csv",
        tmp_path / "d" / "x.parquet",
        tmp_path / "d" / "X.PQ",
        tmp_path / "d" / "sub" / "new" / "x.parquet",
        tmp_path / "g" / "x.pq",
        tmp_path / "g" / "1" / "2" / "x.pq",
    ]
    for path in refused:
        with pytest.raises(pmargin.MarginInputError, match="cannot write"):
            check_not_inputs([path], inputs)
    allowed = [
        tmp_path / "b.csv",
        tmp_path / "dd" / "x.parquet",
        tmp_path / "g" / "x.parquet",
        # Never read from a folder: only its Parquet files are.
        tmp_path / "d" / "x.csv",
        tmp_path / "d" / "sub" / "x.arrow",
        tmp_path / "d" / "report.html",
        # A glob's wildcard matches no dot-file (glob.glob skips them), nor a hidden folder.
        tmp_path / "g" / ".x.pq",
        tmp_path / "g" / ".hidden" / "x.pq",
    ]
    check_not_inputs(allowed, inputs)


def test_check_not_inputs_finds_the_files_a_folder_or_glob_reads_through_links(tmp_path: Path) -> None:
    """The files a folder or glob reads are compared with each output by identity: a file of the
    folder that is a link to a file elsewhere, or a hard link, is protected under every name."""
    from pmargin.stream_io import check_not_inputs

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "p.parquet").write_bytes(b"positions")
    (elsewhere / "h.parquet").write_bytes(b"positions")
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "link.parquet").symlink_to(elsewhere / "p.parquet")
    os.link(elsewhere / "h.parquet", folder / "hard.parquet")
    for given in (folder, str(folder / "*.parquet")):
        kind = "folder" if isinstance(given, Path) else "pattern"
        for out, read in ((elsewhere / "p.parquet", "link.parquet"), (elsewhere / "h.parquet", "hard.parquet")):
            with pytest.raises(pmargin.MarginInputError) as caught:
                check_not_inputs([out], {"--positions": given})
            assert str(caught.value) == (
                f"out: cannot write {out}: it is {folder / read}, which the --positions {kind} {given} reads as "
                "input; write the results somewhere else"
            )
    check_not_inputs([elsewhere / "q.parquet"], {"--positions": folder, "--p": str(folder / "*.parquet")})


def test_parquet_parts_that_store_text_differently_margin_as_one_table(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One part from pandas with ``category`` ids (Parquet dictionary, int8 codes), one from
    pyarrow (string), one from Polars (large_string), one with string views: text is text, and
    the folder margins exactly as the whole book does (audit 11d, finding 2). Each pair of a
    dictionary part and a plain part used to be refused ("disagree on a column's type")."""
    import polars as pl

    from pmargin.stream_io import open_positions

    positions = book.positions
    cut = [0, 300, 600, 900, positions.num_rows]
    pieces = [positions.slice(a, b - a) for a, b in itertools.pairwise(cut)]
    folder = tmp_path / "parts"
    folder.mkdir()
    frame = pieces[0].to_pandas()
    frame["account_id"] = frame["account_id"].astype("category")
    frame.to_parquet(folder / "part-0.parquet")
    pq.write_table(pieces[1], folder / "part-1.parquet")
    pl.DataFrame(pieces[2]).write_parquet(folder / "part-2.parquet")
    views = pieces[3].set_column(0, "account_id", pieces[3].column("account_id").cast(pa.string_view()))
    pq.write_table(views, folder / "part-3.parquet")
    kinds = [pq.read_schema(folder / f"part-{i}.parquet").field("account_id").type for i in range(4)]
    assert kinds == [pa.dictionary(pa.int8(), pa.string()), pa.string(), pa.large_string(), pa.string_view()]
    reader, total = open_positions(folder)
    assert total == positions.num_rows
    assert reader.schema.field("account_id").type == pa.large_string()
    assert reader.read_all().column("account_id").to_pylist() == positions.column("account_id").to_pylist()
    whole = pmargin.margin(positions, book.instruments, book.market).accounts
    for extra in ([], ["--grouped"]):
        out = tmp_path / f"out{len(extra)}.parquet"
        code = main(["margin", *inputs_with(str(folder), parquet_args), "--quiet", "--out", str(out), *extra])
        assert code == 0, capsys.readouterr().err
        assert by_account(read_table(out, "out")).equals(by_account(whole))
    # Two of the pairs alone (each used to fail): a category part with a pyarrow or a Polars part.
    for other in ("part-1.parquet", "part-2.parquet"):
        pair = tmp_path / f"pair-{other}"
        pair.mkdir()
        (pair / "part-0.parquet").write_bytes((folder / "part-0.parquet").read_bytes())
        (pair / other).write_bytes((folder / other).read_bytes())
        code = main(["margin", *inputs_with(str(pair), parquet_args), "--quiet", "--out", str(pair / "out.csv")])
        assert code == 0, capsys.readouterr().err
    # Dictionaries that differ only in their index width stay dictionaries (unified as before).
    wide = tmp_path / "wide"
    wide.mkdir()
    for i, piece in enumerate(pieces[:2]):
        encoded = piece.column("account_id").combine_chunks().dictionary_encode()
        index = pa.int8() if i == 0 else pa.int16()
        table = piece.set_column(0, "account_id", encoded.cast(pa.dictionary(index, pa.string())))
        pq.write_table(table, wide / f"part-{i}.parquet", store_schema=True)
    assert open_positions(wide)[0].schema.field("account_id").type == pa.dictionary(pa.int16(), pa.string())


def test_parquet_parts_with_integer_and_text_ids_are_still_refused(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text against integers is a real conflict: refused with the existing clear error."""
    folder = tmp_path / "parts"
    folder.mkdir()
    rows = {"instrument_id": ["BTC-PERP"], "quantity": [1.0]}
    pq.write_table(pa.table({"account_id": [1], **rows}), folder / "part-0.parquet")
    pq.write_table(pa.table({"account_id": pa.array(["b"]).dictionary_encode(), **rows}), folder / "part-1.parquet")
    capsys.readouterr()
    assert main(["margin", *inputs_with(str(folder), parquet_args), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: positions: the Parquet files under {folder} disagree on a column's type: ")
    assert "account_id" in err


def test_a_parquet_file_with_a_column_name_twice_is_named(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A join's output with ``quantity`` twice: the error names the column and the file, as the
    engine does for a table in memory, never the scanner's internals (``__fragment_index``) nor
    "Can't unify schema" (audit 11d, finding 6): a single file, and a folder's second part."""
    from pmargin.stream_io import open_positions

    columns = [pa.array(["a"]), pa.array(["BTC-PERP"]), pa.array([1.0]), pa.array([2.0])]
    twice = pa.Table.from_arrays(columns, names=["account_id", "instrument_id", "quantity", "quantity"])
    single = tmp_path / "pos.parquet"
    pq.write_table(twice, single)
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(twice.select([0, 1, 2]), folder / "part-0.parquet")
    pq.write_table(twice, folder / "part-1.parquet")
    for given, named in ((single, single), (folder, folder / "part-1.parquet")):
        capsys.readouterr()
        assert main(["margin", *inputs_with(str(given), parquet_args), "--quiet"]) == 2
        expected = f"column 'quantity' appears 2 times in {named}: rename or drop the extra ones"
        assert capsys.readouterr().err == f"error: positions.quantity: {expected}\n"
        with pytest.raises(pmargin.MarginInputError) as caught:
            open_positions(given)
        assert (caught.value.table, caught.value.column, caught.value.row) == ("positions", "quantity", None)
        assert caught.value.reason == expected
