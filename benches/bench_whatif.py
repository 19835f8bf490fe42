"""Pre-trade what-if latency (issue 14): ``MarginEngine.what_if`` on one account against the same
question asked through Arrow tables (``engine.margin`` of the book after alone, and of the book
before and after), a NumPy peer on precomputed risk arrays and the pure-Python reference.

Main shape (the target): one account of 50 positions, one trade, default grid, one reused
engine, 10,000 calls; median and p99 end to end from Python (target: median < 20 us, p99 <
100 us). Other shapes: 10 and 150 positions with one trade, 50 positions with 5 trades. Every implementation is checked against
``what_if`` (1e-9 relative) before it is timed; exit 1 if one disagrees.

    python benches/bench_whatif.py [--calls N] [--repeat R] [--strict]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pyarrow as pa

import pmargin
from numpy_grid import contracts, risk_arrays
from pmargin import GridModel, Trade, sample
from pmargin._core import is_debug_build

TARGET_MEDIAN_US, TARGET_P99_US = 20.0, 100.0


def account(n_positions: int, n_trades: int, seed: int) -> tuple[list[str], np.ndarray, list[Trade]]:
    """``n_positions`` distinct sample instruments with seeded quantities, and trades on others."""
    book = sample.book(n_accounts=1, seed=seed)
    ids = book.instruments.column("instrument_id").to_pylist()
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(ids))
    held = [ids[i] for i in picks[:n_positions]]
    quantities = np.round(rng.normal(0.0, 3.0, n_positions), 1) + 0.1
    trades = [
        Trade(ids[i], float(rng.choice([-2.0, 1.0, 3.0])), 100.0, 0.5)
        for i in picks[n_positions : n_positions + n_trades]
    ]
    return held, quantities, trades


def timings(call: Callable[[], object], n: int) -> np.ndarray:
    out = np.empty(n)
    clock = time.perf_counter_ns
    for k in range(n):
        t = clock()
        call()
        out[k] = clock() - t
    return out / 1e3


class NumpyWhatIf:
    """The default grid (cross="sum") on a precomputed (contracts x scenarios) risk array."""

    def __init__(self, instruments: pa.Table, market: pmargin.Market, model: GridModel) -> None:
        ids = instruments.column("instrument_id")
        c = contracts(ids, instruments, market)
        self.risk = risk_arrays(c, model)
        self.underlying = c.underlying
        self.n_underlyings = market.underlyings.num_rows
        self.row = {i: k for k, i in enumerate(ids.to_pylist())}
        self.mm = model.mm_ratio

    def margin(self, rows: np.ndarray, q: np.ndarray) -> float:
        pnl = np.zeros((self.n_underlyings, self.risk.shape[1]))
        np.add.at(pnl, self.underlying[rows], q[:, None] * self.risk[rows])
        return float(np.maximum(0.0, -pnl.min(axis=1)).sum())

    def what_if(self, held: list[str], q: np.ndarray, trades: list[Trade]) -> tuple[float, float]:
        rows = np.fromiter((self.row[i] for i in held), np.int64, len(held))
        t_rows = np.fromiter((self.row[t.instrument_id] for t in trades), np.int64, len(trades))
        t_q = np.array([t.quantity for t in trades])
        before = self.margin(rows, q)
        return before, self.margin(np.concatenate([rows, t_rows]), np.concatenate([q, t_q]))


def shape(
    engine: pmargin.MarginEngine,
    peer: NumpyWhatIf,
    book: sample.SampleBook,
    n_pos: int,
    n_trades: int,
    calls: int,
    repeat: int,
) -> dict[str, np.ndarray]:
    held, q, trades = account(n_pos, n_trades, seed=n_pos + n_trades)
    result = engine.what_if((held, q), trades)
    before_table = pa.table({"account_id": ["a"] * n_pos, "instrument_id": held, "quantity": q})
    after_table = pa.table(
        {
            "account_id": ["a"] * (n_pos + n_trades),
            "instrument_id": held + [t.instrument_id for t in trades],
            "quantity": np.concatenate([q, [t.quantity for t in trades]]),
        }
    )
    checks = {
        "engine.margin": engine.margin(after_table).total_initial_margin,
        "numpy": peer.what_if(held, q, trades)[1],
        "reference": pmargin.reference.margin(after_table, book.instruments, book.market).total_initial_margin,
    }
    for name, im in checks.items():
        if abs(im - result.initial_after) > 1e-9 * max(1.0, abs(im)):
            print(f"MISMATCH {name}: {im} vs what_if {result.initial_after}")
            sys.exit(1)

    def arrow() -> None:
        engine.margin(before_table)
        engine.margin(after_table)

    runs: dict[str, list[np.ndarray]] = {
        "what_if": [],
        "engine.margin x1": [],
        "engine.margin x2": [],
        "numpy": [],
        "reference": [],
    }
    for _ in range(repeat):
        runs["what_if"].append(timings(lambda: engine.what_if((held, q), trades), calls))
        runs["engine.margin x1"].append(timings(lambda: engine.margin(after_table), max(200, calls // 10)))
        runs["engine.margin x2"].append(timings(arrow, max(200, calls // 10)))
        runs["numpy"].append(timings(lambda: peer.what_if(held, q, trades), max(200, calls // 10)))
        runs["reference"].append(
            timings(lambda: pmargin.reference.margin(after_table, book.instruments, book.market), 3)
        )
    return {k: np.stack(v) for k, v in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit 2 when the target is missed")
    args = parser.parse_args()
    if is_debug_build():
        print("WARNING: debug build of the extension; timings are meaningless")
    book = sample.book(n_accounts=1, seed=1)
    model = GridModel()
    engine = pmargin.MarginEngine(book.instruments, book.market, model)
    peer = NumpyWhatIf(book.instruments, book.market, model)
    print(
        f"default grid ({len(model.price_shocks) * len(model.vol_shocks)} scenarios), reused engine, {os.cpu_count()} cores"
    )
    print(
        f"{'shape':<22}{'implementation':<18}{'median us':>11}{'p99 us':>10}{'range of medians':>22}{'x what_if':>11}"
    )
    ok = True
    for n_pos, n_trades in ((50, 1), (10, 1), (150, 1), (50, 5)):
        calls = args.calls if (n_pos, n_trades) == (50, 1) else max(1000, args.calls // 5)
        runs = shape(engine, peer, book, n_pos, n_trades, calls, args.repeat)
        base = float(np.median(runs["what_if"]))
        for name, t in runs.items():
            medians = np.median(t, axis=1)
            median, p99 = float(np.median(t)), float(np.percentile(t, 99))
            label = f"{n_pos} pos, {n_trades} trade{'s' if n_trades > 1 else ''}"
            print(
                f"{label:<22}{name:<18}{median:>11.1f}{p99:>10.1f}"
                f"{f'{medians.min():.1f} .. {medians.max():.1f}':>22}{median / base:>10.1f}x"
            )
            if (n_pos, n_trades) == (50, 1) and name == "what_if":
                ok = median < TARGET_MEDIAN_US and p99 < TARGET_P99_US
                print(
                    f"target (50 positions, 1 trade): median {median:.1f} us < {TARGET_MEDIAN_US:.0f}, "
                    f"p99 {p99:.1f} us < {TARGET_P99_US:.0f}: {'met' if ok else 'MISSED'}"
                )
    return 2 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
