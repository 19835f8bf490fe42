"""The ``pmargin`` command line.

``pmargin demo`` margins a seeded sample book and shows the largest requirements, the positions
that drive the largest one and what netting saves. ``pmargin margin`` margins a book read from
Parquet, CSV or Arrow IPC files under any model (``--config``: grid, historical or Monte Carlo) and
writes the per-account and per-underlying tables (same formats, chosen by extension), optionally
with the by-position attribution and P&L explain (``--by-position``) and the Greeks
(``--greeks``); ``--on-error isolate`` margins every account it can and writes the failed ones
beside the others (``<stem>.failed<suffix>``); ``--memory-budget`` sets the bytes a run may allocate
(:class:`pmargin.Limits`). Bad input prints ``error: <message>`` on stderr and exits with status 2;
an output that would replace an input is bad input (:func:`pmargin.stream_io.check_not_inputs`).
Ctrl-C and SIGTERM stop a run cleanly (its temporary files and spill folder removed), print
``interrupted`` and exit with status 130 and 143 (:func:`console_main`; :func:`main` raises them to
an embedding caller).
``pmargin reconcile`` and ``pmargin report`` are in :mod:`pmargin.accounts_cli`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .stream_io import beside, check_not_inputs, check_output_path, flatten_lists, input_options, write_outputs

if TYPE_CHECKING:
    from .result import GreeksResult, MarginResult

EXIT_OK = 0
EXIT_BAD_INPUT = 2
#: Exit statuses of a run stopped by Ctrl-C (SIGINT) and by SIGTERM: 128 + the signal's number.
EXIT_INTERRUPTED = 128 + 2
EXIT_TERMINATED = 128 + 15
DEFAULT_CHUNK_POSITIONS = 250_000
_TOP = 10
_DRIVERS = 5
#: Output formats of ``--out``, by extension (as :func:`pmargin.io.write_table`).


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status; bad input is reported on stderr with
    status 2, never raised. Ctrl-C and SIGTERM stop the run cleanly (its temporary files and
    spill folder removed, no destination touched) and are then raised to the caller, so that an
    embedding script, scheduler task or notebook loop stops too: KeyboardInterrupt, and
    :class:`Terminated` for SIGTERM (:func:`_sigterm_raises`). The ``pmargin`` command and
    ``python -m pmargin`` run :func:`console_main`, which turns them into exit statuses."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse prints it)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    command: Callable[[argparse.Namespace], int] = args.command
    with _sigterm_raises():
        return run_reporting_errors(command, args)


def console_main(argv: Sequence[str] | None = None) -> int:
    """The ``pmargin`` command (and ``python -m pmargin``): :func:`main`, with Ctrl-C and SIGTERM
    reported as ``interrupted`` on stderr and exit status 130 and 143 (no traceback)."""
    try:
        return main(argv)
    except KeyboardInterrupt:  # the outputs' temporary files and the spill folder are removed by now
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("interrupted (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED


class Terminated(BaseException):
    """SIGTERM (a scheduler's timeout, ``kill``, a pod eviction), raised in the main thread as
    Ctrl-C raises KeyboardInterrupt, so that the run cleans up on the way out: the temporary files
    beside the destinations and the spill folder are removed, no destination is touched."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` in the main thread (once: a
    second SIGTERM during the cleanup is ignored); the default handler is restored afterwards.
    Installed only in place of the default handler (which would end the process with no
    cleanup): a handler of the host program (a Python function, ``SIG_IGN``, or one installed from
    C) stays in place and is called as before. Nothing is installed outside the main thread
    (where Python cannot set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its ``demo`` and ``margin`` subcommands."""
    parser = argparse.ArgumentParser(prog="pmargin", description="Portfolio margin from the net risk of each account.")
    parser.add_argument("--version", action="version", version=f"pmargin {package_version()}")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="margin a seeded sample book and show what netting saves")
    demo.add_argument(
        "--accounts", type=_positive_int, default=3000, metavar="N", help="accounts in the book (default 3000)"
    )
    demo.add_argument("--seed", type=int, default=7, metavar="S", help="random seed of the book (default 7)")
    demo.set_defaults(command=run_demo)

    margin = sub.add_parser("margin", help="margin a book read from Parquet, CSV or Arrow IPC files")
    margin.add_argument(
        "--positions", required=True, type=Path, metavar="P", help="account_id, instrument_id, quantity"
    )
    margin.add_argument("--instruments", required=True, type=Path, metavar="I", help="the instrument table")
    margin.add_argument("--underlyings", required=True, type=Path, metavar="U", help="underlying, spot, rate")
    margin.add_argument("--vols", type=Path, metavar="V", help="instrument_id, implied_vol (needed for options)")
    margin.add_argument("--as-of", required=True, metavar="T", help="valuation time, ISO 8601 (UTC when no offset)")
    margin.add_argument(
        "--config",
        type=Path,
        metavar="TOML",
        help="model: type = grid, historical or montecarlo (default: the standard grid)",
    )
    margin.add_argument(
        "--model",
        metavar="NAME",
        help="a model type by name with its default parameters, e.g. deribit (--config for your own)",
    )
    margin.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write accounts here and by-underlying beside it as <stem>.by_underlying<suffix>",
    )
    margin.add_argument(
        "--by-position",
        action="store_true",
        help="also each position's contribution, standalone and incremental margin and the P&L "
        "explain (grid models): <stem>.by_position<suffix>, <stem>.explain<suffix>",
    )
    margin.add_argument(
        "--greeks",
        action="store_true",
        help="also the Greeks per position and per account and underlying: "
        "<stem>.greeks<suffix>, <stem>.greeks_by_underlying<suffix>",
    )
    margin.add_argument(
        "--chunk-positions",
        type=_positive_int,
        default=DEFAULT_CHUNK_POSITIONS,
        metavar="N",
        help=f"margin N positions per engine call, in chunks of whole accounts (default {DEFAULT_CHUNK_POSITIONS:,})",
    )
    margin.add_argument(
        "--on-error",
        choices=("raise", "isolate"),
        default="raise",
        help="raise (default): stop at the first unknown or unusable instrument; isolate: margin every "
        "other account and write the failed ones with their errors to <stem>.failed<suffix> (or print them)",
    )
    margin.add_argument("--quiet", action="store_true", help="no progress bar")
    margin.add_argument(
        "--grouped",
        action="store_true",
        help="the positions are grouped by account (each account's rows together; an account seen again is an "
        "error). Default: tried as grouped (one pass, accounts in input order), and at the first account seen "
        "again, started over in two passes through spill files partitioned by account",
    )
    margin.add_argument(
        "--spill-dir", type=Path, metavar="DIR", help="where the spill files go (default: the temporary folder)"
    )
    margin.add_argument(
        "--partitions", type=_positive_int, metavar="N", help="spill files (default: 4 x rows / --chunk-positions)"
    )
    margin.add_argument(
        "--memory-budget",
        type=byte_count,
        metavar="BYTES",
        help="bytes the run may allocate for its scenarios and risk arrays (default 8GiB): a whole number, "
        "or with a unit, e.g. 500MB or 16GiB (kB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: of 1024)",
    )
    margin.set_defaults(command=run_margin)
    from .accounts_cli import add_account_commands
    from .cli_sensitivity import add_commands as add_sensitivity_commands

    add_account_commands(sub)
    add_compare_parser(sub)
    add_sensitivity_commands(sub)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


#: Units of ``--memory-budget``, in bytes (case-insensitive).
BYTE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}


def byte_count(text: str) -> int:
    """A number of bytes: ``"1048576"``, ``"500MB"`` (10^6), ``"16GiB"``, ``"1.5 GiB"`` (2^30);
    at least 1 byte and under 2^64."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", text, re.IGNORECASE)
    unit = match.group(2).lower() if match else ""
    if match is None or (unit and unit not in BYTE_UNITS):
        raise argparse.ArgumentTypeError(
            f"not a number of bytes: {text!r} (a whole number, or with a unit: 500MB, 16GiB)"
        )
    from decimal import Decimal

    value = int(Decimal(match.group(1)) * BYTE_UNITS[unit or "b"])
    if not 0 < value < 2**64:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte and under 2^64 bytes, got {text!r}")
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
    """Build the sample book, margin it (with the by-position attribution), print the ten largest
    margins, the positions that drive the largest one with its P&L explain, and the netting benefit."""
    from . import sample
    from .engine import margin

    _load_lazy_imports()
    started = time.perf_counter()
    book = sample.book(n_accounts=args.accounts, seed=args.seed)
    built = time.perf_counter()
    result = margin(book.positions, book.instruments, book.market, by_position=True)
    done = time.perf_counter()

    console = _console()
    title = f"Largest initial margins (sample book, seed {args.seed})"
    console.print(top_table(result.accounts, _TOP, title, console.width))
    print_drivers(console, result)
    print_lines(
        console,
        [
            f"Book: {book.positions.num_rows:,} positions in {result.accounts.num_rows:,} accounts "
            f"on {book.instruments.num_rows:,} instruments, as of {book.as_of:%Y-%m-%d %H:%M} UTC",
            *totals_lines(result.total_initial_margin, result.total_gross_margin),
            f"Time: book built in {_duration(built - started)}, margined in {_duration(done - built)} "
            f"({_rate(book.positions.num_rows, done - built)} positions/s)",
        ],
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# pmargin margin


#: How the memory-budget error tells a library user to raise the budget, and a CLI user.
_LIBRARY_BUDGET_HINT = "pmargin.Limits(memory_budget=...)"
_CLI_BUDGET_HINT = "--memory-budget BYTES"


def run_margin(args: argparse.Namespace) -> int:
    """Stream the positions (a file, a directory of Parquet files or a glob) through the engine in
    chunks of whole accounts (pmargin.stream), writing every table batch by batch or printing a
    summary. A run over the memory budget is told to raise it with ``--memory-budget``."""
    from .errors import MarginConfigError

    try:
        return _run_margin(args)
    except MarginConfigError as exc:
        if _LIBRARY_BUDGET_HINT not in exc.reason:
            raise
        reason = exc.reason.replace(_LIBRARY_BUDGET_HINT, _CLI_BUDGET_HINT)
        raise MarginConfigError(reason, table=exc.table, column=exc.column, row=exc.row) from None


def _run_margin(args: argparse.Namespace) -> int:
    """The ``pmargin margin`` run (:func:`run_margin`)."""
    from .engine import MarginEngine
    from .io import read_table
    from .limits import Limits
    from .market import Market
    from .models import load_model
    from .stream import RegroupedAccountError, iter_margin
    from .stream_io import AtomicOutputs, open_positions, output_path

    names = ["accounts", "by_underlying"]
    names += ["by_position", "explain"] if args.by_position else []
    names += ["greeks", "greeks_by_underlying"] if args.greeks else []
    names += ["failed"] if args.on_error == "isolate" or args.out is None else []
    if args.out is not None:
        inputs = input_options(args, "positions", "instruments", "underlyings", "vols", "config")
        check_not_inputs([output_path(args.out, name) for name in names], inputs)
        check_output_path(args.out)
    model = load_model(args.config) if args.config is not None else None
    if args.model is not None:
        from .errors import MarginConfigError
        from .models import model_class

        if model is not None:
            raise MarginConfigError("give --model or --config, not both", table="model", column="type")
        model = model_class(args.model)()
    positions, total = open_positions(args.positions)
    instruments = read_table(args.instruments, "instruments")
    underlyings = read_table(args.underlyings, "underlyings")
    vols = read_table(args.vols, "vols") if args.vols is not None else None
    market = Market(args.as_of, underlyings, vols)
    _load_lazy_imports()

    started = time.perf_counter()
    limits = Limits(memory_budget=args.memory_budget) if args.memory_budget is not None else None
    engine = MarginEngine(instruments, market, model, limits=limits)
    show_progress = not args.quiet and _stderr_is_terminal()
    tables: dict[str, pa.Table] = {}
    margined = 0  # position rows of the accounts margined (not those of failed accounts)
    # Without --grouped the rows are first tried as grouped (one pass, accounts in input order);
    # at the first account seen again after its group ended, the run starts over unordered.
    for grouped in (True,) if args.grouped else (True, False):
        try:
            with _progress_bar(total, _progress_console() if show_progress else None) as progress:
                stream = iter_margin(
                    positions,
                    engine,
                    tables=names,
                    grouped=grouped,
                    by_position=args.by_position,
                    on_error=args.on_error,
                    batch_positions=args.chunk_positions,
                    partitions=args.partitions,
                    spill_dir=args.spill_dir,
                    total_rows=total,
                    progress=_rows_progress(progress, total),
                )
                with closing(stream):  # its spill folder removed now, also when interrupted
                    if args.out is not None:
                        destinations = {name: output_path(args.out, name) for name in names}
                        with AtomicOutputs(destinations, stream.schemas, flatten_lists) as outputs:
                            outputs.write_all(stream)
                        return EXIT_OK
                    tables = stream.to_tables()
                    margined = stream.positions_margined
            break
        except RegroupedAccountError:
            if args.grouped:
                raise
            positions, total = open_positions(args.positions)
    elapsed = time.perf_counter() - started
    result = _result(tables, engine)
    greeks = None
    if args.greeks:
        from .result import GreeksResult

        greeks = GreeksResult(tables["greeks"], tables["greeks_by_underlying"])
    console = _console()
    title = f"Largest initial margins ({result.accounts.num_rows:,} accounts)"
    console.print(top_table(result.accounts, _TOP, title, console.width))
    if result.failed.num_rows:
        console.print(failed_table(result.failed, f"Failed accounts ({result.failed.num_rows:,}, not margined)"))
    if args.by_position:
        print_drivers(console, result)
    if greeks is not None:
        console.print(greeks_table(greeks.by_underlying, "Greeks by underlying (all accounts)"))
    failed_lines: list[str] = []
    if result.failed.num_rows:
        held = f" holding {_count(total - margined, 'position')}" if total is not None else ""
        failed_lines = [f"Not margined: {_count(result.failed.num_rows, 'account')}{held} (failed, listed above)"]
    print_lines(
        console,
        [
            f"Book: {margined:,} positions in {result.accounts.num_rows:,} accounts "
            f"on {instruments.num_rows:,} instruments",
            *failed_lines,
            *totals_lines(result.total_initial_margin, result.total_gross_margin),
            f"Time: margined in {_duration(elapsed)}",
        ],
    )
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    """``"1 account"``, ``"1,200 accounts"``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _rows_progress(update: Callable[[int, int], None] | None, total: int | None) -> Any:
    """The stream's ``progress(done, total)`` shown on the bar in input rows: an unordered run
    reports every row twice (spill pass, margin pass) against twice the total."""
    if update is None:
        return None

    def report(done: int, reported: int | None) -> None:
        if total is not None and reported:
            update(done * total // reported, total)

    return report


def _result(tables: dict[str, pa.Table], engine: Any) -> MarginResult:
    """The printed tables as a MarginResult (no scenario drill-down: the runs are gone)."""
    from .result import MarginResult

    def no_matrix(index: int) -> pa.Table:
        raise ValueError("scenario matrices are not kept by a streaming run")

    return MarginResult(
        tables["accounts"],
        tables["by_underlying"],
        engine.model,
        no_matrix,
        tables.get("by_position"),
        tables.get("explain"),
        failed=tables["failed"],
    )


def _load_lazy_imports() -> None:
    """pyarrow imports pandas (when installed) the first time it converts an Arrow stream into a
    table, as the engine's results are: do it once here so the timer counts margining only."""
    pa.RecordBatchReader.from_stream(pa.table({"x": pa.array([], pa.float64())})).read_all()


def margined_rows(positions: pa.Table, failed: pa.Table) -> pa.Table:
    """The positions of the accounts that were margined (all, unless some were isolated)."""
    if failed.num_rows == 0:
        return positions
    import pyarrow.compute as pc

    return positions.filter(pc.invert(pc.is_in(positions.column("account_id"), value_set=failed.column("account_id"))))


def by_underlying_path(out: Path) -> Path:
    """``result.parquet`` -> ``result.by_underlying.parquet``."""
    return beside(out, "by_underlying")


def output_tables(out: Path, result: MarginResult, greeks: GreeksResult | None) -> list[tuple[Path, pa.Table]]:
    """Every table to write and where: accounts at ``out``, the others beside it."""
    tables = [(out, result.accounts), (by_underlying_path(out), result.by_underlying)]
    if result.by_position is not None and result.explain is not None:
        tables += [(beside(out, "by_position"), result.by_position), (beside(out, "explain"), result.explain)]
    if greeks is not None:
        tables += [
            (beside(out, "greeks"), greeks.positions),
            (beside(out, "greeks_by_underlying"), greeks.by_underlying),
        ]
    return tables


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _progress_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _progress_bar(total: int | None, console: Any | None) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on ``console`` (stderr, and only when it is a terminal) fed by
    ``(positions_done, positions_total)``, showing ``total`` from the start; None when hidden."""
    if console is None:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("margining positions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("margin", total=total)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# --------------------------------------------------------------------------------------------
# Output


def _console() -> Any:
    """A rich console on stdout: the terminal's width, else ``COLUMNS`` when set, else 120."""
    import os

    from rich.console import Console

    return Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=120)


def top_table(accounts: pa.Table, n: int, title: str, width: int | None = None) -> Any:
    """A rich table of the ``n`` accounts with the largest initial margin.

    Account ids are never cut: the id column comes first, as wide as the longest id, and an id
    that fits ``width`` beside the initial margin is never wrapped. To fit ``width`` columns, the
    scenario label is shortened with an ellipsis (to 10 characters), then the maintenance,
    netting-benefit and gross columns are left out, in that order, then the scenario column; only
    an id too wide to fit beside the initial margin is folded over lines. Amounts are never cut."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    grid = "worst_scenario" in accounts.column_names
    rows = []
    for row in largest(accounts, n):
        gross, initial = row["gross_margin"], row["initial_margin"]
        label = row["worst_scenario"] if grid else row.get("measure_scenario_label")
        rows.append(
            {
                "account": str(row["account_id"]),
                "initial": money(initial),
                "maintenance": money(row["maintenance_margin"]),
                "gross": money(gross),
                "netting benefit": money(gross - initial),
                "scenario": label or "-",
            }
        )
    scenario_header = "worst scenario" if grid else "driving scenario"
    amounts = ["initial", "maintenance", "gross", "netting benefit"]

    def cells(name: str) -> int:
        # Terminal cells, not characters: an id may hold wide (East Asian) characters.
        header = scenario_header if name == "scenario" else name
        return max([cell_len(header), *(cell_len(r[name]) for r in rows)])

    def needed(names: list[str], scenario: int | None) -> int:
        # Each column: its text, one space either side and a border; one more border at the left.
        # ``scenario``: the label's width, None without the scenario column.
        return 1 + sum(cells(c) + 3 for c in names) + (0 if scenario is None else scenario + 3)

    shortest_label: int | None = min(cells("scenario"), 10)
    if width is not None:
        for dropped in ("maintenance", "netting benefit", "gross"):
            if needed(["account", *amounts], shortest_label) <= width:
                break
            amounts.remove(dropped)
        if needed(["account", *amounts], shortest_label) > width:
            shortest_label = None  # the scenario column is left out before the id is folded
    table = Table(title=title)
    account_width, label_width = cells("account"), cells("scenario")
    if width is not None:
        # The id column takes what the other columns leave (all of its width when it fits).
        others = needed(["account", *amounts], shortest_label) - account_width
        account_width = max(1, min(account_width, width - others))
        if shortest_label is not None:
            label_width = max(shortest_label, width - needed(["account", *amounts], 0))
    table.add_column("account", no_wrap=False, overflow="fold", min_width=account_width)
    for name in amounts:
        table.add_column(name, justify="right", no_wrap=True, min_width=cells(name))
    if shortest_label is not None:
        table.add_column(scenario_header, no_wrap=True, overflow="ellipsis", max_width=label_width)
    for r in rows:
        scenario = [Text(r["scenario"])] if shortest_label is not None else []
        table.add_row(Text(r["account"]), *(r[name] for name in amounts), *scenario)
    return table


def account_rows(table: pa.Table, account_id: Any) -> list[dict[str, Any]]:
    """The rows of ``table`` whose ``account_id`` is ``account_id``, in table order."""
    import pyarrow.compute as pc

    rows: list[dict[str, Any]] = table.filter(pc.equal(table.column("account_id"), account_id)).to_pylist()
    return rows


def drivers(by_position: pa.Table, account_id: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` positions of the account with the largest contribution, largest first (ties keep
    table order)."""
    return sorted(account_rows(by_position, account_id), key=lambda r: -r["contribution"])[:n]


def print_drivers(console: Any, result: MarginResult) -> None:
    """The positions that drive the largest account's margin and its P&L explain (needs
    ``by_position=True``); nothing when there is no account."""
    if result.by_position is None or result.explain is None or result.accounts.num_rows == 0:
        return
    top = largest(result.accounts, 1)[0]
    account = top["account_id"]
    console.print(
        drivers_table(
            drivers(result.by_position, account, _DRIVERS),
            f"Positions driving the largest margin: {account} ({money(top['initial_margin'])})",
        )
    )
    console.print(
        explain_table(account_rows(result.explain, account), f"P&L explain of the driving scenarios ({account})")
    )


def drivers_table(rows: Sequence[dict[str, Any]], title: str) -> Any:
    """A rich table of positions: instrument, quantity, contribution, standalone, incremental margin."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    table.add_column("instrument", no_wrap=True)
    for name in ("quantity", "contribution", "standalone", "incremental"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            Text(str(row["instrument_id"])),
            quantity(row["quantity"]),
            money(row["contribution"]),
            money(row["standalone_margin"]),
            money(row["incremental_margin"]),
        )
    return table


def explain_table(rows: Sequence[dict[str, Any]], title: str) -> Any:
    """A rich table of the P&L explain: per underlying, the driving scenario and its P&L split by Greek."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    table.add_column("underlying", no_wrap=True)
    table.add_column("scenario", no_wrap=True)
    for name in ("P&L", "delta", "gamma", "vega", "residual"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            Text(str(row["underlying"])),
            Text(row["scenario"] or "-"),
            *(money(row[c]) for c in ("pnl", "delta_pnl", "gamma_pnl", "vega_pnl", "residual")),
        )
    return table


_GREEK_SUMS = ("delta", "cash_delta", "cash_gamma", "vega_1pct", "theta")


def failed_table(failed: pa.Table, title: str) -> Any:
    """The accounts left out by ``--on-error isolate`` and their first problem."""
    from rich.table import Table

    table = Table(title=title)
    for name in ("account", "where", "reason"):
        table.add_column(name)
    for row in failed.to_pylist():
        where = row["table"] + (f".{row['column']}" if row["column"] else "")
        where += f", row {row['row']}" if row["row"] is not None else ""
        table.add_row(str(row["account_id"]), where, row["reason"])
    return table


def greeks_table(by_underlying: pa.Table, title: str) -> Any:
    """A rich table of the Greeks summed over accounts per underlying (first-seen order)."""
    from rich.table import Table
    from rich.text import Text

    sums = by_underlying.group_by("underlying", use_threads=False).aggregate([(c, "sum") for c in _GREEK_SUMS])
    table = Table(title=title)
    table.add_column("underlying", no_wrap=True)
    for name in ("delta", "cash delta", "cash gamma (1%)", "vega (1 vol pt)", "theta (per year)"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in sums.to_pylist():
        table.add_row(
            Text(str(row["underlying"])),
            f"{row['delta_sum']:,.4f}",
            *(money(row[f"{c}_sum"]) for c in _GREEK_SUMS[1:]),
        )
    return table


def largest(accounts: pa.Table, n: int) -> list[dict[str, Any]]:
    """The ``n`` rows with the largest initial margin, largest first (ties keep table order)."""
    ordered = accounts.sort_by([("initial_margin", "descending")])
    rows: list[dict[str, Any]] = ordered.slice(0, n).to_pylist()
    return rows


def totals_lines(initial: float, gross: float) -> list[str]:
    """Total initial and gross margin, and the netting benefit (gross minus net) with its share."""
    benefit = gross - initial
    share = 100.0 * benefit / gross if gross else 0.0
    return [
        f"Initial margin: {money(initial)}    Gross margin: {money(gross)}",
        f"Netting benefit (gross - net): {money(benefit)} ({share:.1f}% of gross)",
    ]


def print_lines(console: Any, lines: Sequence[str]) -> None:
    """Print plain lines: no markup, no highlighting, never wrapped."""
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def money(x: float) -> str:
    return f"{x:,.2f}"


def quantity(x: float) -> str:
    """A quantity with up to 6 decimals and no trailing zeros: ``24``, ``-0.3``, ``1,000``."""
    text = f"{x:,.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "-"


def add_compare_parser(sub: Any) -> None:
    """``pmargin compare``: one book under several models, one row per account and model."""
    compare = sub.add_parser("compare", help="margin one book under several models and mark the cheapest")
    compare.add_argument(
        "--positions", required=True, type=Path, metavar="P", help="account_id, instrument_id, quantity"
    )
    compare.add_argument("--instruments", required=True, type=Path, metavar="I", help="the instrument table")
    compare.add_argument("--underlyings", required=True, type=Path, metavar="U", help="underlying, spot, rate")
    compare.add_argument("--vols", type=Path, metavar="V", help="instrument_id, implied_vol (needed for options)")
    compare.add_argument("--as-of", required=True, metavar="T", help="valuation time, ISO 8601 (UTC when no offset)")
    compare.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME[=TOML]",
        help="a model: NAME=model.toml (any type, e.g. span or tims), or 'grid' (the standard grid) or "
        "'span' (the demo SPAN parameter set); repeat for each model",
    )
    compare.add_argument("--out", type=Path, metavar="FILE", help="write the comparison table here")
    compare.set_defaults(command=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Read the inputs, margin them under every model, write or print the comparison."""
    from .compare import compare
    from .errors import MarginConfigError
    from .io import read_table
    from .market import Market
    from .models import GridModel, load_model
    from .presets import span

    if args.out is not None:
        inputs = input_options(args, "positions", "instruments", "underlyings", "vols")
        tomls = {f"--model {item}": Path(item.partition("=")[2]) for item in args.model if item.partition("=")[2]}
        check_not_inputs([args.out], {**inputs, **tomls})
    models: dict[str, Any] = {}
    for item in args.model:
        name, _, path = item.partition("=")
        if path:
            models[name] = load_model(Path(path))
        elif name in ("grid", "span"):
            models[name] = GridModel() if name == "grid" else span()
        else:
            raise MarginConfigError(
                f"{item!r}: give NAME=model.toml, or 'grid' or 'span'", table="compare", column="model"
            )
    if args.out is not None:
        check_output_path(args.out)
    positions = read_table(args.positions, "positions")
    instruments = read_table(args.instruments, "instruments")
    vols = read_table(args.vols, "vols") if args.vols is not None else None
    market = Market(args.as_of, read_table(args.underlyings, "underlyings"), vols)
    table = compare(positions, instruments, market, models)
    if args.out is not None:
        write_outputs([(args.out, table)])
        return EXIT_OK
    from rich.table import Table

    console = _console()
    summary = Table(title=f"Margin by model ({table.num_rows // len(models):,} accounts)")
    for column in ("model", "type", "parameter set", "initial margin", "maintenance margin", "cheapest for"):
        summary.add_column(column, justify="right" if "margin" in column or "cheapest" in column else "left")
    rows = table.to_pydict()
    for name, model in models.items():
        picked = [i for i, m in enumerate(rows["model"]) if m == name]
        summary.add_row(
            name,
            model.type,
            (rows["parameter_set"][picked[0]] or "-") if picked else "-",
            money(sum(rows["initial_margin"][i] for i in picked)),
            money(sum(rows["maintenance_margin"][i] for i in picked)),
            f"{sum(1 for i in picked if rows['cheapest'][i]):,} accounts",
        )
    console.print(summary)
    return EXIT_OK
