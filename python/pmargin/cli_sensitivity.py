"""The ``pmargin simm`` and ``pmargin portfolio-risk`` subcommands (added to the parser built in
:mod:`pmargin.cli`; errors are reported there like every other command's)."""

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
    risk.add_argument("--moves-horizon-days", type=float, default=1.0, help="horizon of each move (default 1)")
    risk.add_argument("--ewma-lambda", type=float, help="EWMA decay for --moves (default: sample covariance)")
    risk.add_argument("--horizon-days", type=float, default=1.0, help="volatility horizon (default 1)")
    risk.add_argument("--method", choices=("delta_normal", "delta_gamma"), default="delta_normal")
    risk.add_argument("--out", type=Path, metavar="FILE", help="accounts here, positions in <stem>.positions")
    risk.set_defaults(command=run_portfolio_risk)


def _beside(out: Path, name: str) -> Path:
    return out.with_name(f"{out.stem}.{name}{out.suffix}")


def _print_top(table: pa.Table, key: str, title: str) -> None:
    rows = sorted(table.to_pylist(), key=lambda r: -(r[key] or 0.0))[:_TOP]
    print(title)
    for r in rows:
        print("  " + "  ".join(f"{k}={v:,.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


def run_simm(args: argparse.Namespace) -> int:
    from .io import write_table
    from .presets import simm

    model = simm(
        args.simm_version, mpor_days=args.mpor_days, calculation_currency=args.calculation_currency, side=args.side
    )
    result = model.margin(args.crif, account_column=args.account_column)
    if args.out is not None:
        write_table(result.accounts, args.out)
        for name in ("product_classes", "risk_classes", "buckets", "contributions"):
            write_table(getattr(result, name), _beside(args.out, name))
        return 0
    _print_top(result.accounts, "simm", f"Largest SIMM ({result.accounts.num_rows:,} accounts, {args.side} side)")
    total = sum(result.accounts.column("simm").to_pylist())
    print(f"Total SIMM: {total:,.2f}  parameters: {result.parameters}")
    return 0


def run_portfolio_risk(args: argparse.Namespace) -> int:
    from .correlation import Correlation
    from .errors import MarginConfigError
    from .io import read_table, write_table
    from .market import Market
    from .portfolio_risk import Covariance, portfolio_risk

    if args.moves is not None:
        cov = Covariance.from_history(
            read_table(args.moves, "moves"), horizon_days=args.moves_horizon_days, ewma_lambda=args.ewma_lambda
        )
    else:
        vols: dict[str, float] = {}
        for item in args.return_vol:
            name, _, value = item.partition("=")
            try:
                vols[name] = float(value)
            except ValueError:
                raise MarginConfigError(f"--return-vol {item!r} must be UNDERLYING=VOL", table="cli") from None
        if not vols:
            raise MarginConfigError("give --return-vol U=VOL (one per underlying) or --moves", table="cli")
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
    if args.out is not None:
        write_table(result.accounts, args.out)
        write_table(result.positions, _beside(args.out, "positions"))
        return 0
    _print_top(
        result.accounts, "volatility", f"Largest volatilities ({result.accounts.num_rows:,} accounts, {args.method})"
    )
    return 0
