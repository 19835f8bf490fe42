"""Time venue-style models on the 1,000,000-position sample book, each against the plain grid in
the same run, and print the ratios.

Rows are a list of ``(name, model factory)`` (:data:`MODELS`); a factory takes the sample book's
instruments table and returns ``(model, instruments)`` (a model may need its own instruments
column, e.g. a product group). Add a venue with one more row. Each model is timed as a reused
``pmargin.MarginEngine``'s ``margin(positions)`` (aggregation; engine construction is timed apart)
and as a whole ``pmargin.margin`` call, best of ``--repeat``; the pure-Python reference margins
the first ``--reference-accounts`` accounts of the same book (scaled per position to the whole
book) and must agree with native to 1e-9 relative on those accounts, or the script exits 1.

Target: every model within 2x of the plain grid's time (``--strict`` exits 2 when one is not).
Run with ``python benches/bench_venues.py [--accounts N] [--repeat R] [--reference-accounts N]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pyarrow as pa

import pmargin
from pmargin import reference, sample
from pmargin.presets import deribit, span, tims

ModelFactory = Callable[[pa.Table], tuple[Any, pa.Table]]

#: Target: every model's margin time within this many times the plain grid's.
TARGET_RATIO = 2.0


def plain_grid(instruments: pa.Table) -> tuple[Any, pa.Table]:
    return pmargin.GridModel(), instruments


def per_product_grid(instruments: pa.Table) -> tuple[Any, pa.Table]:
    """BTC in the "majors" group at the grid's +-15%, ETH in "alts" at +-25% price and +-50% vol."""
    groups = ["majors" if u == "BTC" else "alts" for u in instruments.column("underlying").to_pylist()]
    model = pmargin.GridModel(price_ranges={"alts": 0.25}, vol_ranges={"alts": 0.5}, range_column="product_group")
    return model, instruments.append_column("product_group", pa.array(groups, pa.string()))


def per_product_grid_with_addons(instruments: pa.Table) -> tuple[Any, pa.Table]:
    """The per-product grid plus a 1% calendar / basis charge, a 2% short option minimum and a
    delta shock above 1M USD."""
    model, instruments = per_product_grid(instruments)
    shock = {"threshold": 1e6, "m_inc": 1e-4, "max_shock": 0.1}
    return replace(model, calendar_rate=0.01, short_option_minimum=0.02, delta_shock=shock), instruments


def deribit_pm(instruments: pa.Table) -> tuple[Any, pa.Table]:
    """Deribit's published BTC / ETH parameters; the sample book's contracts as coin-settled."""
    kinds = instruments.column("kind").to_pylist()
    settlement = pa.array(["linear" if k == "spot" else "inverse" for k in kinds], pa.string())
    return deribit(), instruments.append_column("settlement", settlement)


def span_demo(instruments: pa.Table) -> tuple[Any, pa.Table]:
    """CME SPAN with the demo parameter set (illustrative rates), risk arrays computed by pmargin."""
    return span(), instruments


def tims_equity(instruments: pa.Table) -> tuple[Any, pa.Table]:
    """OCC TIMS with the sample book's crypto underlyings as equity-like classes (+-15%)."""
    return tims({"BTC": "equity", "ETH": "equity"}), instruments


MODELS: list[tuple[str, ModelFactory]] = [
    ("grid", plain_grid),
    ("grid per product", per_product_grid),
    ("grid + add-ons", per_product_grid_with_addons),
    ("deribit", deribit_pm),
    ("span (demo set)", span_demo),
    ("tims", tims_equity),
]


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def first_accounts(positions: pa.Table, n: int) -> pa.Table:
    ids = positions.column("account_id").to_pylist()
    keep, seen = [], set()
    for i, a in enumerate(ids):
        if a not in seen:
            if len(seen) == n:
                continue
            seen.add(a)
        keep.append(i)
    return positions.take(pa.array(keep))


def agree(native: pa.Table, ref: pa.Table) -> bool:
    n = {r["account_id"]: r["initial_margin"] for r in native.to_pylist()}
    return all(
        math.isclose(n[r["account_id"]], r["initial_margin"], rel_tol=1e-9, abs_tol=1e-6) for r in ref.to_pylist()
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts (default 100,000: ~1M positions)")
    ap.add_argument("--repeat", type=int, default=3, help="best of R timings (default 3)")
    ap.add_argument("--reference-accounts", type=int, default=300, help="accounts for the reference (default 300)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--strict", action="store_true", help="exit 2 when a model misses the 2x target")
    args = ap.parse_args(argv)

    book = sample.book(args.accounts, seed=args.seed)
    n_pos = book.positions.num_rows
    small = first_accounts(book.positions, args.reference_accounts)
    print(f"sample book: {args.accounts:,} accounts, {n_pos:,} positions; best of {args.repeat}")
    header = f"{'model':<18}{'engine (s)':>12}{'margin (s)':>12}{'whole call (s)':>16}{'vs grid':>9}{'reference (s, scaled)':>24}"
    print(header)
    # Build every engine, warm each up once, then time the models round-robin (best of R each),
    # so that no model pays the first run's page faults or a neighbour's burst alone.
    rows = []
    for name, factory in MODELS:
        model, instruments = factory(book.instruments)
        build, engine = best(partial(pmargin.MarginEngine, instruments, book.market, model), 1)
        engine.margin(book.positions)
        rows.append((name, model, instruments, engine, build))
    runs: dict[str, list[float]] = {name: [] for name, *_ in rows}
    wholes: dict[str, list[float]] = {name: [] for name, *_ in rows}
    results: dict[str, Any] = {}
    for _ in range(args.repeat):
        for name, model, instruments, engine, _build in rows:
            t, results[name] = best(partial(engine.margin, book.positions), 1)
            runs[name].append(t)
            t, _ = best(partial(pmargin.margin, book.positions, instruments, book.market, model), 1)
            wholes[name].append(t)
    base = min(runs[rows[0][0]])
    failed = False
    mismatch = False
    for name, model, instruments, _engine, build in rows:
        t_ref, ref = best(partial(reference.margin, small, instruments, book.market, model), 1)
        scaled = t_ref * n_pos / small.num_rows
        if not agree(results[name].accounts, ref.accounts):
            mismatch = True
        run = min(runs[name])
        ratio = run / base
        failed |= ratio > TARGET_RATIO
        print(f"{name:<18}{build:>12.3f}{run:>12.3f}{min(wholes[name]):>16.3f}{ratio:>8.2f}x{scaled:>24.1f}")
    print(f"target: every model's margin within {TARGET_RATIO}x of the plain grid: {'missed' if failed else 'met'}")
    if mismatch:
        print("native and reference disagree", file=sys.stderr)
        return 1
    return 2 if failed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
