"""The ``pmargin reconcile`` and ``pmargin report`` commands (docs/accounts.md), registered by
``cli.py``; outputs are checked and written all or none by :mod:`pmargin.stream_io`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa


def _book_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--positions", required=True, type=Path, metavar="P", help="account_id, instrument_id, quantity"
    )
    parser.add_argument("--instruments", required=True, type=Path, metavar="I", help="the instrument table")
    parser.add_argument("--underlyings", required=True, type=Path, metavar="U", help="underlying, spot, rate")
    parser.add_argument("--vols", type=Path, metavar="V", help="instrument_id, implied_vol (needed for options)")
    parser.add_argument("--as-of", required=True, metavar="T", help="valuation time, ISO 8601 (UTC when no offset)")
    parser.add_argument("--config", type=Path, metavar="TOML", help="model (default: the standard grid)")


def add_account_commands(sub: Any) -> None:
    """Add ``reconcile`` and ``report`` to the ``pmargin`` subcommands."""
    reconcile = sub.add_parser("reconcile", help="compare our margins with a venue statement; write the disputes")
    _book_arguments(reconcile)
    reconcile.add_argument(
        "--statement", required=True, type=Path, metavar="S", help="account_id, initial_margin[, components by name]"
    )
    reconcile.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FILE",
        help="the disputes (accounts outside tolerance); <stem>.components<suffix> and <stem>.positions<suffix> beside",
    )
    reconcile.add_argument("--tolerance", type=float, default=0.01, metavar="X", help="absolute (default 0.01)")
    reconcile.add_argument("--relative-tolerance", type=float, default=0.0, metavar="R", help="of theirs (default 0)")
    reconcile.set_defaults(command=run_reconcile)

    report = sub.add_parser("report", help="write the offline HTML risk report of a book")
    _book_arguments(report)
    report.add_argument("--html", required=True, type=Path, metavar="FILE", help="the report to write")
    report.add_argument("--collateral", type=Path, metavar="C", help="account_id, asset, amount (account states)")
    report.add_argument("--assets", type=Path, metavar="A", help="asset, price, haircut")
    report.add_argument("--shock", type=float, metavar="X", help="with --depth: run the liquidation cascade")
    report.add_argument(
        "--depth",
        action="append",
        default=[],
        metavar="U=N",
        help="market depth of underlying U (repeat per underlying)",
    )
    report.add_argument("--top", type=int, default=3, metavar="N", help="accounts drilled into (default 3)")
    report.set_defaults(command=run_report)


def _inputs(args: argparse.Namespace) -> tuple[Any, pa.Table, pa.Table, Any]:
    from .engine import MarginEngine
    from .io import read_table
    from .market import Market
    from .models import load_model

    model = load_model(args.config) if args.config is not None else None
    positions = read_table(args.positions, "positions")
    instruments = read_table(args.instruments, "instruments")
    vols = read_table(args.vols, "vols") if args.vols is not None else None
    market = Market(args.as_of, read_table(args.underlyings, "underlyings"), vols)
    return MarginEngine(instruments, market, model), positions, instruments, market


def run_reconcile(args: argparse.Namespace) -> int:
    from .accounts.reconcile import reconcile
    from .io import read_table
    from .stream_io import beside, check_not_inputs, check_output_path, input_options, write_outputs

    outputs = [args.out, beside(args.out, "components"), beside(args.out, "positions")]
    inputs = input_options(args, "positions", "instruments", "underlyings", "vols", "config", "statement")
    check_not_inputs(outputs, inputs)
    check_output_path(args.out)
    engine, positions, _, _ = _inputs(args)
    statement = read_table(args.statement, "statement")
    result = engine.margin(positions)
    rec = reconcile(result, statement, tolerance=args.tolerance, relative_tolerance=args.relative_tolerance)
    write_outputs(
        [
            (args.out, rec.disputes),
            (beside(args.out, "components"), rec.components),
            (beside(args.out, "positions"), rec.positions),
        ]
    )
    return 0


def _depths(items: Sequence[str]) -> dict[str, float]:
    from .errors import MarginInputError

    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            raise MarginInputError(
                f"expected UNDERLYING=NOTIONAL, got {item!r}", table="cascade", column="depth"
            ) from None
    return out


def run_report(args: argparse.Namespace) -> int:
    from .accounts.cascade import cascade
    from .accounts.status import status
    from .errors import MarginInputError
    from .io import read_table
    from .report import check_report
    from .stream_io import check_not_inputs, input_options

    # Before any work: --html an input, a folder, a missing folder or an unwritable place,
    # --top < 0, --depth without --shock.
    inputs = ("positions", "instruments", "underlyings", "vols", "config", "collateral", "assets")
    check_not_inputs([args.html], input_options(args, *inputs))
    check_report(args.html, top=args.top)
    if args.depth and args.shock is None:
        raise MarginInputError(
            "--depth needs --shock: the cascade runs only with both", table="cascade", column="depth"
        )
    engine, positions, instruments, market = _inputs(args)
    result = engine.margin(positions)
    collateral = read_table(args.collateral, "collateral") if args.collateral is not None else None
    assets = read_table(args.assets, "assets") if args.assets is not None else None
    state = status(result, collateral, assets, distances=False) if collateral is not None else None
    rounds = None
    if args.shock is not None:
        rounds = cascade(
            positions,
            instruments,
            market,
            engine.model,
            collateral,
            assets,
            shock=args.shock,
            depth=_depths(args.depth),
        )
    result.to_html(args.html, status=state, cascade=rounds, top=args.top)
    return 0
