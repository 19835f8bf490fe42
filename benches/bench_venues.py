"""Time the venue presets against the plain grid on one sample book, in one run, print the ratios.

The book: ``pmargin.sample.book(--accounts)`` (default 100,000 accounts, about 1,000,000 positions
on BTC and ETH). Each model in :data:`MODELS` (a list of ``(name, model factory)``: venue presets
add their rows with one line) is timed end to end, ``pmargin.margin(positions, instruments,
market, model)``: validation, building its scenarios and risk arrays (each unique contract priced
once per scenario, in parallel, GIL released) and margining every account, Arrow in and out.
Each timing is the best of ``--repeat`` runs, models interleaved; the range over the runs is
printed too, and the ratio of each model's best to the grid's best. Target: every preset within
2x of the plain grid.

The pure-Python reference margins the first ``--reference-accounts`` accounts under each model: its
numbers must equal native to 1e-9 relative (1e-6 absolute) or the script exits 1, and its time is
scaled per position to the whole book. Run with ``python benches/bench_venues.py [--accounts N]``.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import pmargin
from pmargin import reference, sample
from pmargin.presets import span, tims

#: Product classes of the sample book's underlyings under TIMS (crypto as equity-like: +/-15%).
SAMPLE_CLASSES = {"BTC": "equity", "ETH": "equity"}

#: Every model timed, the plain grid first (the baseline of the ratios).
MODELS: list[tuple[str, Callable[[], Any]]] = [
    ("grid", pmargin.GridModel),
    ("span (demo set)", span),
    ("tims", lambda: tims(SAMPLE_CLASSES)),
]
TARGET_RATIO = 2.0
COLUMNS = ("initial_margin", "maintenance_margin")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts in the sample book (default 100,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per model, interleaved (default 3)")
    ap.add_argument("--reference-accounts", type=int, default=200, help="accounts the reference margins (default 200)")
    ap.add_argument("--seed", type=int, default=7, help="sample book seed (default 7)")
    return ap.parse_args(argv)


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    out = run()
    return time.perf_counter() - started, out


def first_accounts(positions: pa.Table, n: int) -> pa.Table:
    ids = positions.column("account_id")
    keep = pc.unique(ids).slice(0, n)
    return positions.filter(pc.is_in(ids, value_set=keep))


def agree(native: pa.Table, ref: pa.Table) -> bool:
    index = {a: i for i, a in enumerate(native.column("account_id").to_pylist())}
    for column in COLUMNS:
        values = native.column(column).to_pylist()
        for a, r in zip(ref.column("account_id").to_pylist(), ref.column(column).to_pylist(), strict=True):
            x = values[index[a]]
            if abs(x - r) > max(1e-6, 1e-9 * abs(x)):
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    book = sample.book(args.accounts, seed=args.seed)
    market = book.market
    n_positions = book.positions.num_rows
    print(f"book: {n_positions:,} positions, {args.accounts:,} accounts, {book.instruments.num_rows:,} instruments")
    models = [(name, factory()) for name, factory in MODELS]
    times: dict[str, list[float]] = {name: [] for name, _ in models}
    totals: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, model in models:
            seconds, result = timed(lambda m=model: pmargin.margin(book.positions, book.instruments, market, m))
            times[name].append(seconds)
            totals[name] = math.fsum(result.accounts.column("initial_margin").to_pylist())
    small = first_accounts(book.positions, args.reference_accounts)
    ok = True
    reference_rate: dict[str, float] = {}
    for name, model in models:
        native = pmargin.margin(small, book.instruments, market, model).accounts
        seconds, ref = timed(lambda m=model: reference.margin(small, book.instruments, market, m))
        reference_rate[name] = seconds / small.num_rows * n_positions
        if not agree(native, ref.accounts):
            print(f"MISMATCH: {name}: native and reference disagree on the first {args.reference_accounts} accounts")
            ok = False
    base = min(times[models[0][0]])
    print(f"{'model':<18}{'best s':>9}{'range s':>17}{'x grid':>8}{'reference s (scaled)':>22}{'initial margin':>20}")
    within = True
    for name, _ in models:
        best = min(times[name])
        ratio = best / base
        within = within and (ratio <= TARGET_RATIO or name == models[0][0])
        span_text = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        print(f"{name:<18}{best:>9.3f}{span_text:>17}{ratio:>8.2f}{reference_rate[name]:>22.1f}{totals[name]:>20,.2f}")
    print(f"target (every preset within {TARGET_RATIO:g}x of the grid): {'met' if within else 'NOT met'}")
    print(f"native == reference on the first {args.reference_accounts} accounts: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
