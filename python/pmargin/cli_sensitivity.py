"""The ``pmargin simm`` and ``pmargin portfolio-risk`` subcommands (added to the parser built in
:mod:`pmargin.cli`; errors are reported there like every other command's).

Their outputs are written as ``pmargin margin``'s: ``--out`` and every destination beside it are
checked before any work (:func:`pmargin.stream_io.check_output_path`,
:func:`pmargin.stream_io.check_targets`), then all tables are written atomically
(:func:`pmargin.stream_io.write_outputs`: temporary files beside their destinations, then all moved
into place; list columns flattened in CSV). A bad combination of options is an error before any
work too."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pyarrow as pa

_TOP = 10


def add_commands(sub: Any) -> None:
    """Register both subcommands on ``sub`` (the parser's subparsers)."""
    simm = sub.add_parser("simm", help="ISDA SIMM initial margin of a CRIF file (CSV, Parquet or Arrow IPC)")
    simm.add_argument("--crif", required=True, type=Path, metavar="FILE", help="CRIF rows")
    simm.add_argument("--version", dest="simm_version", default="2.6", help="SIMM version (default 2.6)")
    simm.add_argument("--mpor-days", type=int, default=10, help="margin period of risk in days (default 10)")
    simm.add_argument("--side", choices=("call", "post"), default="call", help="call (default) or post")
    simm.add_argument("--calculation-currency", default="USD", metavar="CCY", help="default USD")
    simm.add_argument("--account-column", default=None, metavar="COL", help="default Portfolio")
    simm.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write accounts here and beside it <stem>.product_classes, .risk_classes, .buckets, "
        ".contributions (the CRIF with each row's contribution)",
    )
    simm.set_defaults(command=run_simm)

    risk = sub.add_parser("portfolio-risk", help="delta-normal / delta-gamma portfolio volatility per account")
    risk.add_argument("--positions", required=True, type=Path, metavar="P")
    risk.add_argument("--instruments", required=True, type=Path, metavar="I")
    risk.add_argument("--underlyings", required=True, type=Path, metavar="U")
    risk.add_argument("--vols", type=Path, metavar="V", help="implied vols (needed for options)")
    risk.add_argument("--as-of", required=True, metavar="T")
    risk.add_argument(
        "--return-vol", action="append", default=[], metavar="U=VOL", help="annualised return vol per underlying"
    )
    risk.add_argument("--correlation", type=Path, metavar="FILE", help="correlation table (with --return-vol)")
    risk.add_argument("--moves", type=Path, metavar="FILE", help="historical moves (instead of --return-vol)")
    risk.add_argument("--moves-horizon-days", type=float, help="horizon of each move, with --moves (default 1)")
    risk.add_argument("--ewma-lambda", type=float, help="EWMA decay for --moves (default: sample covariance)")
    risk.add_argument("--horizon-days", type=float, default=1.0, help="volatility horizon (default 1)")
    risk.add_argument("--method", choices=("delta_normal", "delta_gamma"), default="delta_normal")
    risk.add_argument("--out", type=Path, metavar="FILE", help="accounts here, positions in <stem>.positions")
    risk.set_defaults(command=run_portfolio_risk)


#: The tables of ``pmargin simm --out`` and ``pmargin portfolio-risk --out``: the first at ``--out``,
#: the others beside it as ``<stem>.<name><suffix>`` (or all in a folder: :func:`pmargin.stream_io.output_path`).
_SIMM_TABLES = ("accounts", "product_classes", "risk_classes", "buckets", "contributions")
_RISK_TABLES = ("accounts", "positions")


def _destinations(out: Path, names: tuple[str, ...], inputs: dict[str, Path | None]) -> list[Path]:
    """Where each table goes, checked before any work as ``pmargin margin`` checks them: no
    destination may replace one of the ``inputs`` (:func:`pmargin.stream_io.check_not_inputs`),
    ``--out`` itself (its type and folder), then every destination (none may be a folder)."""
    from .stream_io import check_not_inputs, check_output_path, check_targets, output_path

    paths = [output_path(out, name) for name in names]
    check_not_inputs(paths, inputs)
    check_output_path(out)
    check_targets(paths)
    return paths


def _write(paths: list[Path], tables: list[pa.Table]) -> None:
    """All tables or none (:func:`pmargin.stream_io.write_outputs`)."""
    from .stream_io import write_outputs

    write_outputs(list(zip(paths, tables, strict=True)))


def _print_top(table: pa.Table, key: str, title: str) -> None:
    rows = sorted(table.to_pylist(), key=lambda r: -(r[key] or 0.0))[:_TOP]
    print(title)
    for r in rows:
        print("  " + "  ".join(f"{k}={v:,.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


def run_simm(args: argparse.Namespace) -> int:
    from .presets import simm
    from .stream_io import input_options

    paths = _destinations(args.out, _SIMM_TABLES, input_options(args, "crif")) if args.out is not None else None
    model = simm(
        args.simm_version, mpor_days=args.mpor_days, calculation_currency=args.calculation_currency, side=args.side
    )
    result = model.margin(args.crif, account_column=args.account_column)
    if paths is not None:
        _write(paths, [getattr(result, name) for name in _SIMM_TABLES])
        return 0
    _print_top(result.accounts, "simm", f"Largest SIMM ({result.accounts.num_rows:,} accounts, {args.side} side)")
    total = sum(result.accounts.column("simm").to_pylist())
    print(f"Total SIMM: {total:,.2f}  parameters: {result.parameters}")
    return 0


def _return_vols(args: argparse.Namespace) -> dict[str, float] | None:
    """The ``--return-vol`` values (None with ``--moves``), after refusing every option the chosen
    covariance would not use: ``--return-vol`` or ``--correlation`` with ``--moves``;
    ``--ewma-lambda`` or ``--moves-horizon-days`` without it; an underlying given twice."""
    from .errors import MarginConfigError

    if args.moves is not None:
        unused = [
            name for name, given in (("--return-vol", args.return_vol), ("--correlation", args.correlation)) if given
        ]
        if unused:
            raise MarginConfigError(
                f"{' and '.join(unused)} cannot be combined with --moves (the covariance is estimated from the "
                f"moves): give --moves, or --return-vol with an optional --correlation",
                table="cli",
            )
        return None
    unused = [
        name
        for name, value in (("--ewma-lambda", args.ewma_lambda), ("--moves-horizon-days", args.moves_horizon_days))
        if value is not None
    ]
    if unused:
        raise MarginConfigError(
            f"{' and '.join(unused)} {'applies' if len(unused) == 1 else 'apply'} only with --moves "
            f"(the covariance estimated from historical moves): add --moves FILE or leave "
            f"{'it' if len(unused) == 1 else 'them'} out",
            table="cli",
        )
    vols: dict[str, float] = {}
    given: dict[str, str] = {}
    for item in args.return_vol:
        name, _, value = item.partition("=")
        vol: float | None
        try:
            vol = float(value)
        except ValueError:
            vol = None
        if not name or vol is None:
            raise MarginConfigError(f"--return-vol {item!r} must be UNDERLYING=VOL", table="cli")
        if name in vols:
            raise MarginConfigError(
                f"--return-vol gives {name} twice ({given[name]!r} and {item!r}): give each underlying once",
                table="cli",
            )
        vols[name], given[name] = vol, item
    if not vols:
        raise MarginConfigError("give --return-vol U=VOL (one per underlying) or --moves", table="cli")
    return vols


def run_portfolio_risk(args: argparse.Namespace) -> int:
    from .correlation import Correlation
    from .io import read_table
    from .market import Market
    from .portfolio_risk import Covariance, portfolio_risk
    from .stream_io import input_options

    vols = _return_vols(args)  # every option check before any file is read
    inputs = input_options(args, "positions", "instruments", "underlyings", "vols", "correlation", "moves")
    paths = _destinations(args.out, _RISK_TABLES, inputs) if args.out is not None else None
    if vols is None:
        horizon = 1.0 if args.moves_horizon_days is None else args.moves_horizon_days
        cov = Covariance.from_history(
            read_table(args.moves, "moves"), horizon_days=horizon, ewma_lambda=args.ewma_lambda
        )
    else:
        corr = Correlation.from_table(read_table(args.correlation, "correlation")) if args.correlation else None
        cov = Covariance.from_vols(vols, corr)
    vols_table = read_table(args.vols, "vols") if args.vols is not None else None
    market = Market(args.as_of, read_table(args.underlyings, "underlyings"), vols_table)
    result = portfolio_risk(
        read_table(args.positions, "positions"),
        read_table(args.instruments, "instruments"),
        market,
        cov,
        horizon_days=args.horizon_days,
        method=args.method,
    )
    if paths is not None:
        _write(paths, [result.accounts, result.positions])
        return 0
    _print_top(
        result.accounts, "volatility", f"Largest volatilities ({result.accounts.num_rows:,} accounts, {args.method})"
    )
    return 0
