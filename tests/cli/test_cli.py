"""The ``pmargin`` command line: demo, margin round trips, chunked runs, and bad input."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import sample
from pmargin.batch import combine, margin_in_chunks
from pmargin.cli import Terminated, by_underlying_path, main, money
from pmargin.io import read_table, write_table
from tests.cli.conftest import write_inputs

FORMATS = [".parquet", ".csv", ".arrow"]

ACCOUNT_COLUMNS = ("initial_margin", "maintenance_margin", "gross_margin")


@pytest.fixture(scope="module")
def expected(book: sample.SampleBook) -> pmargin.MarginResult:
    return pmargin.margin(book.positions, book.instruments, book.market)


@pytest.fixture(scope="module")
def parquet_args(book: sample.SampleBook, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_inputs(book, tmp_path_factory.mktemp("inputs"), ".parquet")


def subprocess_env() -> dict[str, str]:
    """The environment with this checkout's ``python`` folder first on PYTHONPATH."""
    source = str(Path(pmargin.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": source if not path else source + os.pathsep + path}


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmargin", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
        check=False,
    )


def column(table: pa.Table, name: str) -> list[Any]:
    return list(table.column(name).to_pylist())


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pmargin ") and len(out.split()) == 2


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", "--positions", "p.parquet"]) == 2
    assert "required" in capsys.readouterr().err


def _demo_expectations(accounts: int, seed: int) -> tuple[sample.SampleBook, pmargin.MarginResult, dict[str, Any]]:
    book = sample.book(accounts, seed=seed)
    result = pmargin.margin(book.positions, book.instruments, book.market)
    top = max(result.accounts.to_pylist(), key=lambda r: r["initial_margin"])
    return book, result, top


def test_demo_prints_the_largest_margins_and_the_benefit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--accounts", "400", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    book, result, top = _demo_expectations(400, 3)
    top_line = next(line for line in out.splitlines() if top["account_id"] in line)
    for value in (
        top["initial_margin"],
        top["maintenance_margin"],
        top["gross_margin"],
        top["gross_margin"] - top["initial_margin"],
    ):
        assert money(value) in top_line
    assert (top["worst_scenario"] or "-") in top_line
    ranked = sorted(result.accounts.to_pylist(), key=lambda r: -r["initial_margin"])
    shown = [r["account_id"] for r in ranked if r["account_id"] in out]
    assert shown == [r["account_id"] for r in ranked[:10]]
    assert f"Book: {book.positions.num_rows:,} positions in 400 accounts on 188 instruments" in out
    assert f"Initial margin: {money(result.total_initial_margin)}" in out
    benefit = result.netting_benefit
    share = 100 * benefit / result.total_gross_margin
    assert benefit > 0
    assert f"Netting benefit (gross - net): {money(benefit)} ({share:.1f}% of gross)" in out
    assert "Time: book built in" in out and "margined in" in out


def test_demo_runs_as_a_module() -> None:
    done = run_module("demo", "--accounts", "200", "--seed", "5")
    assert done.returncode == 0, done.stderr
    _, result, top = _demo_expectations(200, 5)
    assert top["account_id"] in done.stdout and money(top["initial_margin"]) in done.stdout
    assert f"{money(result.netting_benefit)} (" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("suffix", FORMATS)
def test_margin_round_trip(
    book: sample.SampleBook, expected: pmargin.MarginResult, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"result{suffix}"
    assert main(["margin", *write_inputs(book, tmp_path / "in", suffix), "--out", str(out)]) == 0
    accounts = read_table(out, "accounts")
    by_underlying = read_table(tmp_path / f"result.by_underlying{suffix}", "by_underlying")

    want = expected.accounts
    assert column(accounts, "account_id") == column(want, "account_id")
    for name in ACCOUNT_COLUMNS:
        np.testing.assert_allclose(column(accounts, name), column(want, name), rtol=1e-15, atol=0, err_msg=name)
    # CSV has no null string: a missing worst scenario (nothing loses) may read back as "".
    labels = [s or None for s in column(accounts, "worst_scenario")]
    assert labels == column(want, "worst_scenario")
    assert None in labels and sum(s is not None for s in labels) >= 100
    assert float(np.sum(column(accounts, "initial_margin"))) == pytest.approx(expected.total_initial_margin, rel=1e-14)

    want_u = expected.by_underlying
    assert column(by_underlying, "account_id") == column(want_u, "account_id")
    assert column(by_underlying, "underlying") == column(want_u, "underlying")
    np.testing.assert_allclose(column(by_underlying, "requirement"), column(want_u, "requirement"), rtol=1e-15, atol=0)


def test_parquet_round_trip_is_bit_exact(
    expected: pmargin.MarginResult, parquet_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "result.parquet"
    assert main(["margin", *parquet_args, "--out", str(out)]) == 0
    assert read_table(out, "accounts").equals(expected.accounts)
    assert read_table(by_underlying_path(out), "by_underlying").equals(expected.by_underlying)


def test_by_underlying_path() -> None:
    assert by_underlying_path(Path("/x/result.parquet")) == Path("/x/result.by_underlying.parquet")
    assert by_underlying_path(Path("out.csv")) == Path("out.by_underlying.csv")


def test_margin_without_out_prints_a_summary(
    expected: pmargin.MarginResult, parquet_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["margin", *parquet_args]) == 0
    captured = capsys.readouterr()
    top = max(expected.accounts.to_pylist(), key=lambda r: r["initial_margin"])
    assert top["account_id"] in captured.out and money(top["initial_margin"]) in captured.out
    assert f"Initial margin: {money(expected.total_initial_margin)}" in captured.out
    assert f"{money(expected.netting_benefit)} (" in captured.out
    assert captured.err == ""  # below the chunk threshold: no progress bar


def test_chunked_run_equals_unchunked(
    expected: pmargin.MarginResult, parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "chunked.arrow"
    assert main(["margin", *parquet_args, "--out", str(out), "--chunk-positions", "37"]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal: no progress bar
    assert read_table(out, "accounts").equals(expected.accounts)
    assert read_table(by_underlying_path(out), "by_underlying").equals(expected.by_underlying)


def test_quiet_hides_the_progress_bar(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "quiet.parquet"
    assert main(["margin", *parquet_args, "--out", str(out), "--chunk-positions", "37", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert read_table(out, "accounts").num_rows == 150


class RecordingEngine:
    """A MarginEngine stand-in that records the chunks it is given."""

    def __init__(self, engine: pmargin.MarginEngine) -> None:
        self.engine = engine
        self.chunks: list[pa.Table] = []

    def margin(
        self, positions: pa.Table, *, by_position: bool = False, on_error: str = "raise"
    ) -> pmargin.MarginResult:
        self.chunks.append(positions)
        return self.engine.margin(positions, by_position=by_position, on_error=on_error)


@pytest.fixture(scope="module")
def engine(book: sample.SampleBook) -> pmargin.MarginEngine:
    return pmargin.MarginEngine(book.instruments, book.market)


def _interleaved(book: sample.SampleBook) -> pa.Table:
    """The book's positions shuffled, so accounts are no longer contiguous."""
    order = np.random.default_rng(0).permutation(book.positions.num_rows)
    return book.positions.take(pa.array(order))


@pytest.mark.parametrize("chunk_positions", [1, 25, 400])
def test_chunks_hold_whole_accounts_in_first_seen_order(
    book: sample.SampleBook, engine: pmargin.MarginEngine, chunk_positions: int
) -> None:
    positions = _interleaved(book)
    whole = engine.margin(positions)
    recorder = RecordingEngine(engine)
    calls: list[tuple[int, int]] = []
    result = margin_in_chunks(recorder, positions, chunk_positions, lambda done, total: calls.append((done, total)))  # type: ignore[arg-type]

    assert result.accounts.equals(whole.accounts)
    assert result.by_underlying.equals(whole.by_underlying)
    first_seen = list(dict.fromkeys(column(positions, "account_id")))
    assert column(result.accounts, "account_id") == first_seen

    seen: set[str] = set()
    for chunk in recorder.chunks:
        ids = set(column(chunk, "account_id"))
        assert not ids & seen  # no account is split across chunks
        seen |= ids
        assert chunk.num_rows <= chunk_positions or len(ids) == 1
    assert seen == set(first_seen)
    assert sum(c.num_rows for c in recorder.chunks) == positions.num_rows
    n_rows = positions.num_rows
    assert len(calls) == len(recorder.chunks) > 1
    assert calls[-1] == (n_rows, n_rows)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    if chunk_positions == 1:
        assert len(recorder.chunks) == 150


def test_chunked_scenarios_dispatch_to_the_right_chunk(book: sample.SampleBook, engine: pmargin.MarginEngine) -> None:
    positions = _interleaved(book)
    whole = engine.margin(positions)
    chunked = margin_in_chunks(engine, positions, 60)
    for account in ("acct-000001", "acct-000077", "acct-000150", column(positions, "account_id")[-1]):
        got, want = chunked.scenarios(account), whole.scenarios(account)
        assert got.equals(want), account
        assert got.num_rows == 63
        # cross="sum": the initial margin is the sum over underlyings of each one's worst loss.
        underlyings = [c for c in got.column_names if c not in ("scenario", "price_shock", "vol_shock", "total")]
        worst = sum(max(0.0, -min(column(got, u))) for u in underlyings)
        initial = whole.accounts.column("initial_margin")[whole.account_index(account)].as_py()
        assert worst == pytest.approx(initial, rel=1e-12, abs=1e-9)
    with pytest.raises(pmargin.MarginInputError, match="unknown account"):
        chunked.scenarios("acct-999999")


def test_a_bad_row_is_reported_with_its_row_in_the_whole_table(
    book: sample.SampleBook, engine: pmargin.MarginEngine
) -> None:
    positions = book.positions
    bad_row = positions.num_rows - 5
    ids = column(positions, "instrument_id")
    ids[bad_row] = "BTC-NOPE"
    broken = positions.set_column(1, "instrument_id", pa.array(ids, pa.string()))
    with pytest.raises(pmargin.MarginInputError) as whole:
        engine.margin(broken)
    with pytest.raises(pmargin.MarginInputError) as chunked:
        margin_in_chunks(engine, broken, 50)
    assert whole.value.row == bad_row
    assert (chunked.value.table, chunked.value.column, chunked.value.row) == ("positions", "instrument_id", bad_row)
    assert str(chunked.value) == str(whole.value)


def test_combine_rejects_nothing() -> None:
    with pytest.raises(ValueError, match="at least one"):
        combine([])


def test_chunk_size_must_be_positive(book: sample.SampleBook, engine: pmargin.MarginEngine) -> None:
    with pytest.raises(pmargin.MarginInputError, match="positive integer"):
        margin_in_chunks(engine, book.positions, 0)


def _expect_error(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in captured.err
    return captured.err


def test_missing_file(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = tmp_path / "absent.parquet"
    argv = ["margin", *parquet_args]
    argv[argv.index("--positions") + 1] = str(absent)
    _expect_error(argv, capsys, f"error: positions: file not found: {absent}")


def test_unsupported_extension(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "vols.xlsx"
    odd.write_text("x")
    argv = ["margin", *parquet_args]
    argv[argv.index("--vols") + 1] = str(odd)
    _expect_error(argv, capsys, "unsupported file type '.xlsx'")


def test_bad_column(book: sample.SampleBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["margin", *write_inputs(book, tmp_path, ".parquet")]
    write_table(book.positions.rename_columns(["account_id", "instrument_id", "qty"]), tmp_path / "positions.parquet")
    _expect_error(argv, capsys, "quantity")


def test_bad_value(book: sample.SampleBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["margin", *write_inputs(book, tmp_path, ".parquet")]
    spots = book.underlyings.set_column(1, "spot", pa.array([60_000.0, -1.0]))
    write_table(spots, tmp_path / "underlyings.parquet")
    _expect_error(argv, capsys, "spot", "row 1")


def test_bad_as_of(parquet_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["margin", *parquet_args]
    argv[argv.index("--as-of") + 1] = "yesterday"
    _expect_error(argv, capsys, "error: market.as_of: not an ISO 8601 time: 'yesterday'")


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01T00:00:00Z", "2262-04-12"])
def test_as_of_outside_the_supported_time_range(
    parquet_args: list[str], capsys: pytest.CaptureFixture[str], as_of: str
) -> None:
    argv = ["margin", *parquet_args]
    argv[argv.index("--as-of") + 1] = as_of
    _expect_error(argv, capsys, "error: market.as_of: time is outside the supported time range 1677-09-21")


def test_bad_toml(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "model.toml"
    config.write_text("price_shocks = [0.1,\n")
    _expect_error(["margin", *parquet_args, "--config", str(config)], capsys, "not valid TOML", str(config))


def test_missing_toml(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "absent.toml"
    _expect_error(["margin", *parquet_args, "--config", str(config)], capsys, f"cannot read {config}")


def test_unwritable_output(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "such" / "dir" / "result.parquet"
    _expect_error(["margin", *parquet_args, "--out", str(out)], capsys)
    assert not out.exists()


def test_bad_input_in_a_real_process(parquet_args: list[str], tmp_path: Path) -> None:
    argv = ["margin", *parquet_args]
    argv[argv.index("--instruments") + 1] = str(tmp_path / "absent.csv")
    done = run_module(*argv)
    assert done.returncode == 2
    assert done.stderr == f"error: instruments: file not found: {tmp_path / 'absent.csv'}\n"
    assert done.stdout == ""


# --------------------------------------------------------------------------------------------
# Output files are written atomically; the progress bar; the timer; the top table's width


def test_out_into_a_missing_folder_fails_before_any_work(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the inputs were read or margined before the output folder was checked")

    monkeypatch.setattr("pmargin.io.read_table", no_work)
    monkeypatch.setattr("pmargin.engine.MarginEngine.__init__", no_work)
    out = tmp_path / "missing" / "result.csv"
    _expect_error(
        ["margin", *parquet_args, "--out", str(out)], capsys, f"the folder {out.parent} of {out} does not exist"
    )
    assert not out.parent.exists()


def test_out_under_a_file_says_it_is_not_a_folder(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_bytes(b"a file\n")
    for out in (afile / "x.parquet", afile / "x", afile / "sub" / "x.csv"):
        assert main(["margin", *parquet_args, "--out", str(out)]) == 2
        assert capsys.readouterr().err == f"error: out: cannot write {out}: {afile} is not a folder\n"
    assert main(["margin", *parquet_args, "--out", str(afile)]) == 2  # no extension: a folder output
    assert capsys.readouterr().err == (
        f"error: out: {afile} is not a folder: an output without an extension is a folder of <table>.parquet files\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["afile"] and afile.read_bytes() == b"a file\n"


def test_a_failed_write_leaves_no_file(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second table fails to write (as an Arrow type CSV cannot hold would) after part of it
    was written: neither the accounts file, written first, nor any temporary file is left.
    (Tables are written batch by batch by pmargin.stream_io since the streaming CLI.)"""
    import pmargin.stream_io

    real = pmargin.stream_io._Writer.write
    calls: list[Path] = []

    def failing(self: Any, batch: pa.RecordBatch) -> None:
        path = Path(self.writer_path)
        if path not in calls:
            calls.append(path)
        if len(calls) == 2:
            real(self, batch.slice(0, 1))  # a partial file...
            raise pa.ArrowNotImplementedError("Unsupported Type:string_view")  # ...then the failure
        real(self, batch)

    monkeypatch.setattr(pmargin.stream_io._Writer, "write", failing)
    out = tmp_path / "result.csv"
    _expect_error(["margin", *parquet_args, "--out", str(out)], capsys, "Unsupported Type:string_view")
    assert len(calls) == 2 and all(c.parent == tmp_path for c in calls)  # temporary files beside the output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced_only_when_every_table_is_written(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pmargin.stream_io

    out = tmp_path / "result.parquet"
    out.write_bytes(b"previous run")

    def failing(self: Any, batch: pa.RecordBatch) -> None:
        raise OSError(28, "No space left on device", str(self.writer_path))

    monkeypatch.setattr(pmargin.stream_io._Writer, "write", failing)
    _expect_error(["margin", *parquet_args, "--out", str(out)], capsys, "No space left on device")
    assert out.read_bytes() == b"previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.parquet"]
    monkeypatch.undo()
    assert main(["margin", *parquet_args, "--out", str(out)]) == 0
    assert read_table(out, "accounts").num_rows == 150
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.by_underlying.parquet", "result.parquet"]
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_progress_bar_shows_the_total_from_the_start() -> None:
    import io

    from rich.console import Console

    from pmargin.cli import _progress_bar

    text = io.StringIO()
    with _progress_bar(12_345, Console(file=text, force_terminal=True, width=100)) as update:
        assert update is not None  # never called: the total is known before any chunk ends
    assert "0/12345" in text.getvalue() and "/?" not in text.getvalue()
    with _progress_bar(12_345, None) as hidden:
        assert hidden is None


def test_the_progress_bar_is_drawn_on_a_terminal_only(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    terminal = io.StringIO()
    monkeypatch.setattr("pmargin.cli._stderr_is_terminal", lambda: True)
    monkeypatch.setattr("pmargin.cli._progress_console", lambda: Console(file=terminal, force_terminal=True))
    out = tmp_path / "bar.parquet"
    rows = read_table(parquet_args[1], "positions").num_rows
    assert main(["margin", *parquet_args, "--out", str(out), "--chunk-positions", "37"]) == 0
    assert f"{rows}/{rows}" in terminal.getvalue() and "margining positions" in terminal.getvalue()
    assert capsys.readouterr().err == ""
    # Not a terminal (the default here): no bar at all, in a real process too.
    done = run_module("margin", *parquet_args, "--out", str(out), "--chunk-positions", "37")
    assert done.returncode == 0 and done.stderr == ""


def test_the_timer_counts_margining_only(
    book: sample.SampleBook, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything before the engine is built (reading, chunking, pyarrow's lazy pandas import)
    is outside the timer: with a clock that jumps 100 s on each of those steps, the run still
    reports the 2 s the engine took."""
    import pmargin.cli

    argv = ["margin", *write_inputs(book, tmp_path, ".csv")]
    clock = iter([1000.0, 1002.0])
    monkeypatch.setattr(pmargin.cli.time, "perf_counter", lambda: next(clock))
    assert main(argv) == 0
    assert "Time: margined in 2,000 ms" in capsys.readouterr().out


def test_the_timer_does_not_count_a_pandas_import(book: sample.SampleBook, tmp_path: Path) -> None:
    """In a fresh process a small CSV book margins in well under the 300-400 ms importing pandas
    takes (which the timer used to count)."""
    argv = ["margin", *write_inputs(book, tmp_path, ".csv")]
    done = run_module(*argv)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("Time: margined in "))
    assert line.endswith(" ms") and float(line.split()[-2].replace(",", "")) < 200, line


def largest_margins_at_80_columns(args: list[str]) -> list[str]:
    """The lines of the largest-margins table that ``pmargin margin`` prints with COLUMNS=80."""
    done = subprocess.run(
        [sys.executable, "-m", "pmargin", "margin", *args],
        capture_output=True,
        text=True,
        env={**subprocess_env(), "COLUMNS": "80"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return lines[: next(i for i, x in enumerate(lines) if x.startswith("Book:"))]


def test_account_ids_are_not_cut_in_an_80_column_terminal(book: sample.SampleBook, tmp_path: Path) -> None:
    ids = book.positions.column("account_id").to_pylist()
    long = pa.array([f"ACCOUNT-WITH-A-VERY-LONG-IDENTIFIER-{i}" for i in ids])
    positions = book.positions.set_column(0, "account_id", long)
    args = write_inputs(book, tmp_path, ".parquet")
    write_table(positions, tmp_path / "positions.parquet")
    table = largest_margins_at_80_columns(args)
    assert max(len(x) for x in table) <= 80
    assert all(x.endswith(("┓", "┃", "┩", "│", "┘")) for x in table[1:]), "the table's right border is cut"
    expected = pmargin.margin(positions, book.instruments, book.market)
    top = sorted(expected.accounts.to_pylist(), key=lambda r: -r["initial_margin"])[:10]
    for row in top:
        line = next(x for x in table if row["account_id"] in x)  # the whole id, on one line
        assert money(row["initial_margin"]) in line


#: 57 characters: too wide for the 10-character scenario label at 80 columns, narrow enough alone.
LONG_ID = "a-very-long-account-identifier-that-is-wide-acct-000289-x"


def top_table_lines(accounts: pa.Table, width: int) -> list[str]:
    from rich.console import Console

    from pmargin.cli import top_table

    console = Console(width=width, record=True)
    console.print(top_table(accounts, 10, "top", console.width))
    return console.export_text().splitlines()


def _accounts(ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "account_id": ids,
            "initial_margin": [327_125.78 - i for i in range(n)],
            "maintenance_margin": [245_344.33] * n,
            "gross_margin": [400_000.0] * n,
            "worst_scenario": ["BTC +15.0% vol -30%"] * n,
        }
    )


def test_an_id_that_fits_beside_the_initial_margin_is_never_wrapped() -> None:
    assert len(LONG_ID) == 57
    accounts = _accounts([LONG_ID, "b"])
    for width in (80, 75, 74):  # 1 + (57 + 3) + (10 + 3) = 74: the narrowest that fits both
        lines = top_table_lines(accounts, width)
        assert max(len(x) for x in lines) <= width
        line = next(x for x in lines if LONG_ID in x)  # the whole id, on one line
        assert "327,125.78" in line, lines
        assert not any(x.startswith("│ ") and x[2] != " " and x[2:].split()[0] not in (LONG_ID, "b") for x in lines)
    # Where there is room the scenario column stays; it is left out only to keep the id whole.
    assert "worst" in top_table_lines(accounts, 90)[2]
    assert "worst" not in top_table_lines(accounts, 80)[2]
    # Wide (East Asian) characters take two cells each: 26 of them need 52 columns.
    wide = "账户" * 13
    line = next(x for x in top_table_lines(_accounts([wide]), 80) if wide in x)
    assert "327,125.78" in line


def test_an_id_too_wide_to_fit_is_folded_not_cut() -> None:
    too_wide = "z" * 70 + "-tail"
    lines = top_table_lines(_accounts([too_wide]), 80)
    assert max(len(x) for x in lines) <= 80
    cells = [x.split("│")[1].strip() for x in lines if x.startswith("│")]
    assert "".join(cells) == too_wide and len(cells) == 2  # folded over two lines, nothing cut


def test_a_57_character_id_prints_on_one_line_at_80_columns(book: sample.SampleBook, tmp_path: Path) -> None:
    ids = book.positions.column("account_id").to_pylist()
    long = pa.array([f"{LONG_ID[: 57 - len(i)]}{i}" for i in ids])
    assert {len(x) for x in long.to_pylist()} == {57}
    positions = book.positions.set_column(0, "account_id", long)
    args = write_inputs(book, tmp_path, ".csv")
    write_table(positions, tmp_path / "positions.csv")
    table = largest_margins_at_80_columns(args)
    assert max(len(x) for x in table) <= 80
    expected = pmargin.margin(positions, book.instruments, book.market)
    top = sorted(expected.accounts.to_pylist(), key=lambda r: -r["initial_margin"])[:10]
    body = [x for x in table if x.startswith("│")]
    assert len(body) == 10, table  # one line per account: no id wrapped
    for row, line in zip(top, body, strict=True):
        assert row["account_id"] in line and money(row["initial_margin"]) in line


def test_the_top_table_keeps_every_column_when_there_is_room(book: sample.SampleBook, tmp_path: Path) -> None:
    from rich.console import Console

    from pmargin.cli import top_table

    expected = pmargin.margin(book.positions, book.instruments, book.market)
    console = Console(width=120, record=True)
    console.print(top_table(expected.accounts, 3, "top", console.width))
    text = console.export_text()
    for header in ("account", "initial", "maintenance", "gross", "netting benefit", "worst scenario"):
        assert header in text
    narrow = Console(width=50, record=True)
    narrow.print(top_table(expected.accounts, 3, "top", narrow.width))
    lines = narrow.export_text().splitlines()
    assert max(len(x) for x in lines) <= 50 and "initial" in lines[2] and "maintenance" not in lines[2]


def test_on_error_isolate_writes_the_failed_accounts_beside_the_others(
    book: sample.SampleBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One account holding an unknown instrument: strict runs fail; isolated runs margin the
    others and write ``<stem>.failed<suffix>`` (also in chunks, with rows of the whole table)."""
    bad = pa.table(
        {
            "account_id": ["zz-bad", "zz-bad"],
            "instrument_id": [book.positions.column("instrument_id")[0].as_py(), "NO-SUCH"],
            "quantity": [1.0, 2.0],
        }
    )
    positions = pa.concat_tables([bad, book.positions.cast(bad.schema)])
    args = write_inputs(dataclasses.replace(book, positions=positions), tmp_path / "in", ".parquet")
    assert main(["margin", *args, "--out", str(tmp_path / "strict.parquet")]) == 2
    assert "positions.instrument_id, row 1: unknown instrument 'NO-SUCH'" in capsys.readouterr().err
    clean = pmargin.margin(book.positions, book.instruments, book.market)
    for chunk in ("1000000", "37"):
        out = tmp_path / f"isolated-{chunk}.parquet"
        assert main(["margin", *args, "--out", str(out), "--on-error", "isolate", "--chunk-positions", chunk]) == 0
        assert read_table(out, "accounts").to_pylist() == clean.accounts.to_pylist()
        failed = read_table(out.with_name(f"isolated-{chunk}.failed.parquet"), "failed").to_pylist()
        assert [(f["account_id"], f["table"], f["column"], f["row"]) for f in failed] == [
            ("zz-bad", "positions", "instrument_id", 1)
        ]
    assert main(["margin", *args, "--on-error", "isolate", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Failed accounts (1, not margined)" in printed
    # The summary counts what was margined; the failed account's two rows are counted apart.
    rows, accounts = book.positions.num_rows, clean.accounts.num_rows
    assert (rows, accounts, book.instruments.num_rows) == (1473, 150, 188)
    assert "Book: 1,473 positions in 150 accounts on 188 instruments\n" in printed
    assert "Not margined: 1 account holding 2 positions (failed, listed above)\n" in printed


def test_compare_refuses_an_output_that_is_an_input(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text('type = "grid"\n')
    vols = parquet_args[parquet_args.index("--vols") + 1]
    for out, label in ((vols, "--vols"), (str(toml), f"--model mine={toml}")):
        assert main(["compare", *parquet_args, "--model", "grid", "--model", f"mine={toml}", "--out", out]) == 2
        assert capsys.readouterr().err == (
            f"error: out: cannot write {out}: it is the {label} file {out}; write the results somewhere else\n"
        )
    assert toml.read_text() == 'type = "grid"\n'


#: Runs ``pmargin`` with the margin pass held at its first spill file (a sleep a signal cuts
#: short), so the test signals a run that is certainly still going. SIGINT is set to raise
#: KeyboardInterrupt as in a terminal (a background job may have started with it ignored). The
#: first argument picks the entry point: ``console_main`` (the ``pmargin`` command) or ``module``
#: (``python -m pmargin``).
_HELD_RUN = """
import runpy, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import pmargin.stream
load = pmargin.stream._load_spill
def held(path):
    time.sleep(60)
    return load(path)
pmargin.stream._load_spill = held
entry = sys.argv.pop(1)
if entry == "module":
    runpy.run_module("pmargin", run_name="__main__", alter_sys=True)
from pmargin.cli import console_main
raise SystemExit(console_main(sys.argv[1:]))
"""


def _unordered_run(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> tuple[list[str], Path]:
    """The arguments of an unordered run (spilled to ``tmp_path / "spill"``, with the
    by-position tables) whose ``--out`` holds a previous run's file, and that ``--out``."""
    rows = book.positions.take(pa.array(np.random.default_rng(2).permutation(book.positions.num_rows)))
    write_table(rows, tmp_path / "shuffled.parquet")
    i = parquet_args.index("--positions")
    args = [*parquet_args[:i], "--positions", str(tmp_path / "shuffled.parquet"), *parquet_args[i + 2 :]]
    (tmp_path / "out").mkdir()
    (tmp_path / "spill").mkdir()
    out = tmp_path / "out" / "res.parquet"
    out.write_bytes(b"previous run")
    argv = ["margin", *args, "--out", str(out), "--spill-dir", str(tmp_path / "spill"), "--by-position", "--quiet"]
    return argv, out


def _assert_cleaned_up(tmp_path: Path, out: Path) -> None:
    """The previous output untouched, no temporary file beside it, no spill folder left."""
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["res.parquet"]
    assert out.read_bytes() == b"previous run"
    assert list((tmp_path / "spill").iterdir()) == []


@pytest.mark.parametrize("entry", ["console_main", "module"], ids=["pmargin", "python-m-pmargin"])
@pytest.mark.parametrize(
    ("sig", "status", "message"),
    [(signal.SIGINT, 130, "interrupted\n"), (signal.SIGTERM, 143, "interrupted (SIGTERM)\n")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_the_run_cleanly(
    book: sample.SampleBook,
    parquet_args: list[str],
    tmp_path: Path,
    sig: signal.Signals,
    status: int,
    message: str,
    entry: str,
) -> None:
    """Ctrl-C or SIGTERM (a scheduler's timeout, kill) during an unordered run of the ``pmargin``
    command or ``python -m pmargin``: one line on stderr (no traceback), exit 128 + the signal,
    the previous output untouched, no temporary file beside it and no spill folder left."""
    argv, out = _unordered_run(book, parquet_args, tmp_path)
    run = subprocess.Popen(
        [sys.executable, "-c", _HELD_RUN, entry, *argv], stderr=subprocess.PIPE, text=True, env=subprocess_env()
    )
    try:
        deadline = time.monotonic() + 60
        # Held: the spill files are written and the temporary outputs are open.
        while not (list((tmp_path / "spill").glob("*/p*")) and len(list((tmp_path / "out").iterdir())) > 1):
            if run.poll() is not None:
                pytest.fail(f"the run ended before it was signalled: {run.communicate()[1]}")
            assert time.monotonic() < deadline, "no spill file after 60 s"
            time.sleep(0.01)
        run.send_signal(sig)
        _, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert (run.returncode, err) == (status, message)
    _assert_cleaned_up(tmp_path, out)


def _interrupt_at_the_first_spill(monkeypatch: pytest.MonkeyPatch, interrupt: Callable[[], None]) -> None:
    """Call ``interrupt`` when the margin pass reaches its first spill file (the temporary
    outputs are open by then)."""
    import pmargin.stream

    load = pmargin.stream._load_spill

    def held(path: Any) -> Any:
        interrupt()
        return load(path)

    monkeypatch.setattr(pmargin.stream, "_load_spill", held)


def test_main_raises_ctrl_c_to_its_caller_after_cleaning_up(
    book: sample.SampleBook,
    parquet_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A script, scheduler task or notebook loop calling ``main`` stops at Ctrl-C: ``main``
    cleans up, then raises KeyboardInterrupt (only the ``pmargin`` command turns it into 130)."""

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    argv, out = _unordered_run(book, parquet_args, tmp_path)
    _interrupt_at_the_first_spill(monkeypatch, ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert capsys.readouterr().err == ""
    _assert_cleaned_up(tmp_path, out)


def test_main_raises_sigterm_to_its_caller_as_terminated(
    book: sample.SampleBook,
    parquet_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the default SIGTERM handler, ``main`` raises :class:`pmargin.cli.Terminated` on
    SIGTERM after cleaning up, and puts the default handler back."""

    def sigterm() -> None:  # what the signal does: call the handler in the main thread
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler), handler
        handler(signal.SIGTERM, None)

    argv, out = _unordered_run(book, parquet_args, tmp_path)
    _interrupt_at_the_first_spill(monkeypatch, sigterm)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(Terminated):
            main(argv)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err == ""
    _assert_cleaned_up(tmp_path, out)


def test_main_leaves_a_host_sigterm_handler_in_place(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program that handles SIGTERM itself keeps its handler while ``main`` runs (it is called
    on SIGTERM, and the run goes on when it returns) and after."""
    calls: list[int] = []

    def host(signum: int, frame: Any) -> None:
        calls.append(signum)

    argv, out = _unordered_run(book, parquet_args, tmp_path)
    _interrupt_at_the_first_spill(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    previous = signal.signal(signal.SIGTERM, host)
    try:
        assert main(argv) == 0
        assert signal.getsignal(signal.SIGTERM) is host
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls and set(calls) == {signal.SIGTERM}
    assert read_table(out, "accounts").num_rows > 0


@pytest.mark.parametrize(
    ("raised", "status", "message"),
    [(KeyboardInterrupt, 130, "interrupted\n"), (Terminated, 143, "interrupted (SIGTERM)\n")],
    ids=["SIGINT", "SIGTERM"],
)
def test_console_main_turns_an_interrupt_into_its_exit_status(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: type[BaseException],
    status: int,
    message: str,
) -> None:
    """The ``pmargin`` command: Ctrl-C and SIGTERM raised by ``main`` become ``interrupted`` on
    stderr and exit status 130 and 143."""
    import pmargin.cli

    def interrupted(argv: Any) -> int:
        raise raised

    monkeypatch.setattr(pmargin.cli, "main", interrupted)
    assert pmargin.cli.console_main(["demo"]) == status
    assert capsys.readouterr().err == message


def test_the_pmargin_command_runs_console_main() -> None:
    """The console script (and ``python -m pmargin``: the signal tests) runs ``console_main``, not
    ``main``, which raises an interrupt to its caller."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not run from a source checkout")
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts == {"pmargin": "pmargin.cli:console_main"}
