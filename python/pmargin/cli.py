"""The ``pmargin`` command line.

``pmargin demo`` margins a seeded sample book and shows the largest requirements and what netting
saves. ``pmargin margin`` margins a book read from Parquet, CSV or Arrow IPC files and writes the
per-account and per-underlying tables (same formats, chosen by extension). Bad input prints
``error: <message>`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

EXIT_OK = 0
EXIT_BAD_INPUT = 2
DEFAULT_CHUNK_POSITIONS = 250_000
_TOP = 10


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (never raises for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse prints it)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    command: Callable[[argparse.Namespace], int] = args.command
    return run_reporting_errors(command, args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its ``demo`` and ``margin`` subcommands."""
    parser = argparse.ArgumentParser(prog="pmargin", description="Portfolio margin from the net risk of each account.")
    parser.add_argument("--version", action="version", version=f"pmargin {package_version()}")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="margin a seeded sample book and show what netting saves")
    demo.add_argument("--accounts", type=_positive_int, default=3000, metavar="N", help="accounts in the book (default 3000)")
    demo.add_argument("--seed", type=int, default=7, metavar="S", help="random seed of the book (default 7)")
    demo.set_defaults(command=run_demo)

    margin = sub.add_parser("margin", help="margin a book read from Parquet, CSV or Arrow IPC files")
    margin.add_argument("--positions", required=True, type=Path, metavar="P", help="account_id, instrument_id, quantity")
    margin.add_argument("--instruments", required=True, type=Path, metavar="I", help="the instrument table")
    margin.add_argument("--underlyings", required=True, type=Path, metavar="U", help="underlying, spot, rate")
    margin.add_argument("--vols", type=Path, metavar="V", help="instrument_id, implied_vol (needed for options)")
    margin.add_argument("--as-of", required=True, metavar="T", help="valuation time, ISO 8601 (UTC when no offset)")
    margin.add_argument("--config", type=Path, metavar="TOML", help="model configuration (default: the standard grid)")
    margin.add_argument("--out", type=Path, metavar="FILE",
                        help="write accounts here and by-underlying beside it as <stem>.by_underlying<suffix>")
    margin.add_argument("--chunk-positions", type=_positive_int, default=DEFAULT_CHUNK_POSITIONS, metavar="N",
                        help=f"margin books above N positions in chunks of whole accounts (default {DEFAULT_CHUNK_POSITIONS:,})")
    margin.add_argument("--quiet", action="store_true", help="no progress bar")
    margin.set_defaults(command=run_margin)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def package_version() -> str:
    """The version of the native core (the workspace version of the build)."""
    from . import _core

    return str(_core.__version__)


def run_reporting_errors(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; report bad input as ``error: <message>`` on stderr with exit status 2."""
    from .errors import MarginError

    try:
        return command(args)
    except (MarginError, OSError, pa.ArrowException) as exc:
        print(f"error: {_message(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


# --------------------------------------------------------------------------------------------
# pmargin demo


def run_demo(args: argparse.Namespace) -> int:
    """Build the sample book, margin it, print the ten largest margins and the netting benefit."""
    from . import sample
    from .api import margin

    started = time.perf_counter()
    book = sample.book(n_accounts=args.accounts, seed=args.seed)
    built = time.perf_counter()
    result = margin(book.positions, book.instruments, book.market)
    done = time.perf_counter()

    console = _console()
    console.print(top_table(result.accounts, _TOP, f"Largest initial margins (sample book, seed {args.seed})"))
    print_lines(console, [
        f"Book: {book.positions.num_rows:,} positions in {result.accounts.num_rows:,} accounts "
        f"on {book.instruments.num_rows:,} instruments, as of {book.as_of:%Y-%m-%d %H:%M} UTC",
        *totals_lines(result.total_initial_margin, result.total_gross_margin),
        f"Time: book built in {_duration(built - started)}, margined in {_duration(done - built)} "
        f"({_rate(book.positions.num_rows, done - built)} positions/s)",
    ])
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# pmargin margin


def run_margin(args: argparse.Namespace) -> int:
    """Read the inputs, margin them (in chunks of whole accounts when large), write or print the result."""
    from .api import MarginEngine
    from .batch import margin_in_chunks
    from .io import read_table, write_table
    from .market import Market
    from .models import GridModel

    model = GridModel.from_toml(args.config) if args.config is not None else None
    positions = read_table(args.positions, "positions")
    instruments = read_table(args.instruments, "instruments")
    underlyings = read_table(args.underlyings, "underlyings")
    vols = read_table(args.vols, "vols") if args.vols is not None else None
    market = Market(args.as_of, underlyings, vols)

    started = time.perf_counter()
    engine = MarginEngine(instruments, market, model)
    show_progress = positions.num_rows > args.chunk_positions and not args.quiet
    with _progress_bar(show_progress) as progress:
        result = margin_in_chunks(engine, positions, args.chunk_positions, progress)
    elapsed = time.perf_counter() - started

    if args.out is not None:
        write_table(result.accounts, args.out)
        write_table(result.by_underlying, by_underlying_path(args.out))
        return EXIT_OK
    console = _console()
    console.print(top_table(result.accounts, _TOP, f"Largest initial margins ({result.accounts.num_rows:,} accounts)"))
    print_lines(console, [
        f"Book: {positions.num_rows:,} positions in {result.accounts.num_rows:,} accounts "
        f"on {instruments.num_rows:,} instruments",
        *totals_lines(result.total_initial_margin, result.total_gross_margin),
        f"Time: margined in {_duration(elapsed)}",
    ])
    return EXIT_OK


def by_underlying_path(out: Path) -> Path:
    """``result.parquet`` -> ``result.by_underlying.parquet``."""
    return out.with_name(f"{out.stem}.by_underlying{out.suffix}")


@contextmanager
def _progress_bar(show: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr fed by ``(positions_done, positions_total)``; None when hidden."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("margining positions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task("margin", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# --------------------------------------------------------------------------------------------
# Output


def _console() -> Any:
    """A rich console on stdout, 120 columns wide when stdout is not a terminal."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=120)


def top_table(accounts: pa.Table, n: int, title: str) -> Any:
    """A rich table of the ``n`` accounts with the largest initial margin."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    table.add_column("account", no_wrap=True)
    for name in ("initial", "maintenance", "gross", "benefit"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("worst scenario", no_wrap=True)
    for row in largest(accounts, n):
        gross, initial = row["gross_margin"], row["initial_margin"]
        table.add_row(
            Text(str(row["account_id"])),
            money(initial),
            money(row["maintenance_margin"]),
            money(gross),
            money(gross - initial),
            Text(row["worst_scenario"] or "-"),
        )
    return table


def largest(accounts: pa.Table, n: int) -> list[dict[str, Any]]:
    """The ``n`` rows with the largest initial margin, largest first (ties keep table order)."""
    ordered = accounts.sort_by([("initial_margin", "descending")])
    rows: list[dict[str, Any]] = ordered.slice(0, n).to_pylist()
    return rows


def totals_lines(initial: float, gross: float) -> list[str]:
    """Total initial and gross margin, and the diversification benefit (gross minus net) with its share."""
    benefit = gross - initial
    share = 100.0 * benefit / gross if gross else 0.0
    return [
        f"Initial margin: {money(initial)}    Gross margin: {money(gross)}",
        f"Diversification benefit (gross - net): {money(benefit)} ({share:.1f}% of gross)",
    ]


def print_lines(console: Any, lines: Sequence[str]) -> None:
    """Print plain lines: no markup, no highlighting, never wrapped."""
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def money(x: float) -> str:
    return f"{x:,.2f}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "-"
