"""Time the grid model four ways on one sample book, check they agree, print the ratios.

1. native: ``pmargin.margin(positions, instruments, market)`` (default ``GridModel()``), Arrow in
   to Arrow out with the per-underlying breakdown; also a reused ``pmargin.MarginEngine``.
2. reference: ``pmargin.reference.margin`` on the first ``--reference-accounts`` accounts of the
   same book, timed per position and scaled to the whole book.
3. numpy: plain vectorised NumPy (``benches/numpy_grid.py``): dense gather + ``np.add.reduceat``.
4. scipy.sparse: CSR (account x underlying pairs, contracts) @ risk arrays.

Every implementation's per-account initial and gross margin and per-(account, underlying)
requirement must equal native to 1e-9 relative (1e-6 absolute floor), or the script exits 1.
It also times the reused engine's ``margin(positions)`` against ``margin(positions,
by_position=True)`` (the per-position attribution of issue 5; target: under 2x).
Run with ``python benches/bench_grid.py [--accounts N] [--reference-accounts N] [--repeat R]``.

``--shape all`` (or one shape such as ``shuffled/str/10u/2000c``) instead times books of every
shape (``benches/shapes.py``): accounts sorted or shuffled, integer or string ids, 2 or 10
underlyings, 200 or 2,000 contracts; per shape the reused engine's ``margin``, its
``margin(by_position=True)`` and the scipy.sparse implementation, with one table of ratios.
Targets per shape: under 0.06 s per million positions, scipy.sparse / native >= 2x,
by_position / plain < 2x.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

# NumPy and scipy.sparse are timed on one core, as the table says. An OpenBLAS thread pool would
# only spin idle on the cores native runs on, so it is kept to one thread (before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

T = TypeVar("T")

#: Agreement tolerance: |x - native| <= max(ABS_TOL, REL_TOL * |native|).
REL_TOL = 1e-9
ABS_TOL = 1e-6
#: The performance target: native under this many seconds per million positions, and at least
#: SPARSE_RATIO times faster than scipy.sparse.
TARGET_SECONDS_PER_MILLION = 0.25
TARGET_SPARSE_RATIO = 2.0
#: Issue 5: ``margin(..., by_position=True)`` under this many times the time without it.
TARGET_BY_POSITION_RATIO = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--accounts", type=int, default=100_000, help="accounts in the book (default 100,000: ~1M positions)"
    )
    ap.add_argument(
        "--reference-accounts",
        type=int,
        default=1_000,
        help="accounts margined by the pure-Python reference (default 1,000)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="take the best of R timings (default 3)")
    ap.add_argument("--seed", type=int, default=7, help="sample book seed (default 7)")
    ap.add_argument("--cross", choices=("sum", "joint"), default="sum", help="cross-underlying rule (default sum)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="native worker threads (sets RAYON_NUM_THREADS; default: all cores). "
        "NumPy/SciPy paths are single-threaded",
    )
    ap.add_argument("--strict", action="store_true", help="also exit 2 when the performance target does not hold")
    ap.add_argument(
        "--shape",
        default=None,
        help="time books of every shape ('all') or one ('sorted|shuffled/int|str|text/<n>u/<n>c') instead of the sample book",
    )
    args = ap.parse_args(argv)
    if args.accounts < 1 or args.reference_accounts < 1 or args.repeat < 1:
        ap.error("--accounts, --reference-accounts and --repeat must be at least 1")
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be at least 1")
    return args


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    """Best wall time of ``repeat`` calls and the last call's result."""
    best = math.inf
    out: Any = None
    for _ in range(repeat):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# --- agreement ------------------------------------------------------------------------------


def worst_rel(got: np.ndarray, want: np.ndarray) -> tuple[int, float]:
    """Number of entries outside the tolerance and the largest relative difference."""
    diff = np.abs(got - want)
    bad = int(np.count_nonzero(~(diff <= np.maximum(ABS_TOL, REL_TOL * np.abs(want)))))
    scale = np.maximum(np.abs(want), ABS_TOL / REL_TOL)
    return bad, float((diff / scale).max()) if diff.size else 0.0


def keyed_by_underlying(table: pa.Table, account_ids: Any, names: Any) -> tuple[np.ndarray, pa.Table]:
    """by_underlying rows sorted by (account row in the native accounts table, underlying)."""
    a = pc.index_in(table.column("account_id"), value_set=account_ids)
    u = pc.index_in(table.column("underlying"), value_set=names)
    if a.null_count or u.null_count:
        raise AssertionError("by_underlying names an account or underlying the native result does not have")
    key = a.to_numpy(zero_copy_only=False).astype(np.int64) * len(names) + u.to_numpy(zero_copy_only=False)
    order = np.argsort(key, kind="stable")
    return key[order], table.take(pa.array(order))


def compare(name: str, got: Any, want: Any) -> list[str]:
    """Problems of ``got`` against the native result ``want`` (empty when they agree)."""
    problems: list[str] = []
    wa, ga = want.accounts, got.accounts
    if not ga.column("account_id").equals(wa.column("account_id")):
        want_ids = wa.column("account_id").combine_chunks()
        got_ids = ga.column("account_id").combine_chunks()
        if not got_ids.cast(want_ids.type).equals(want_ids):
            return [f"{name}: accounts differ from native (count or order)"]
    for col in ("initial_margin", "maintenance_margin", "gross_margin"):
        bad, rel = worst_rel(ga.column(col).to_numpy(), wa.column(col).to_numpy())
        print(f"    {name:13s} {col:19s} max rel diff {rel:.1e}" + (f"  {bad} OUTSIDE TOLERANCE" if bad else ""))
        if bad:
            problems.append(f"{name}: {bad} accounts' {col} differ from native")
    ids = wa.column("account_id")
    names = pa.chunked_array([want.by_underlying.column("underlying"), got.by_underlying.column("underlying")]).unique()
    wk, wu = keyed_by_underlying(want.by_underlying, ids, names)
    gk, gu = keyed_by_underlying(got.by_underlying, ids, names)
    if not np.array_equal(wk, gk):
        return [
            *problems,
            f"{name}: by_underlying has {len(gk)} (account, underlying) rows, native {len(wk)}, or others",
        ]
    bad, rel = worst_rel(gu.column("requirement").to_numpy(), wu.column("requirement").to_numpy())
    print(f"    {name:13s} {'requirement':19s} max rel diff {rel:.1e}" + (f"  {bad} OUTSIDE TOLERANCE" if bad else ""))
    if bad:
        problems.append(f"{name}: {bad} (account, underlying) requirements differ from native")
    # information only: the worst scenario may legitimately differ on near-ties (summation order)
    loses = wu.column("requirement").to_numpy() > ABS_TOL
    same = np.asarray(pc.equal(gu.column("worst_scenario"), wu.column("worst_scenario")).fill_null(True))
    flips = int(np.count_nonzero(loses & ~same))
    if flips:
        print(f"    {name:13s} worst scenario differs on {flips} of {int(loses.sum())} losing rows (near-ties)")
    return problems


# --- output ---------------------------------------------------------------------------------


def fmt_rate(n: float, seconds: float) -> str:
    rate = n / seconds
    return f"{rate / 1e6:,.2f} M" if rate >= 1e6 else f"{rate / 1e3:,.1f} k"


#: Issue 11: every shape under this many seconds per million positions.
TARGET_SHAPE_SECONDS_PER_MILLION = 0.06


def parse_shape(text: str, accounts: int) -> list[Any]:
    from shapes import Shape, all_shapes

    if text == "all":
        return all_shapes(accounts)
    try:
        order, ids, n_u, n_c = text.split("/")
        shape = Shape(order, ids, int(n_u.rstrip("u")), int(n_c.rstrip("c")), accounts)
    except ValueError:
        raise SystemExit(f"--shape: expected 'all' or 'sorted|shuffled/int|str|text/<n>u/<n>c', got {text!r}") from None
    if shape.order not in ("sorted", "shuffled") or shape.ids not in ("int", "str", "text"):
        raise SystemExit(f"--shape: unknown order or ids in {text!r}")
    return [shape]


def run_shapes(args: argparse.Namespace) -> int:
    """Time the reused engine, its by_position run and scipy.sparse on books of every shape."""
    from pmargin import _core
    from pmargin.models import GridModel
    from shapes import shaped_book

    if _core.is_debug_build():
        print("WARNING: pmargin._core is a DEBUG build; native timings are meaningless (make build)")
    model = GridModel(cross=args.cross)
    shapes = parse_shape(args.shape, args.accounts)
    print(f"pmargin grid benchmark by shape: {args.accounts:,} accounts x 10 positions, cross={args.cross!r}")
    print(
        f"  best of {args.repeat}; native on all cores (RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'all')}),"
    )
    print("  scipy.sparse on one core; plain and by_position runs interleaved, after one untimed call of each")
    print()
    header = (
        f"  {'shape':28s} {'positions':>10s} {'native s':>9s} {'s / 1M':>7s} {'sparse s':>9s} "
        f"{'sparse/nat':>10s} {'by_pos s':>9s} {'by_pos/plain':>12s}  agree"
    )
    print(header)
    failures: list[str] = []
    for shape in shapes:
        plain_s, by_position_s, sparse_s, n, agree = time_shape(shaped_book(shape, args.seed), model, args.repeat)
        per_million = plain_s / n * 1e6
        ratio, by_ratio = sparse_s / plain_s, by_position_s / plain_s
        print(
            f"  {shape.name:28s} {n:>10,d} {plain_s:>9.4f} {per_million:>7.3f} {sparse_s:>9.4f} "
            f"{ratio:>9.1f}x {by_position_s:>9.4f} {by_ratio:>11.2f}x  {'yes' if agree else 'NO'}"
        )
        if not agree:
            failures.append(f"{shape.name}: scipy.sparse disagrees with native")
        if per_million >= TARGET_SHAPE_SECONDS_PER_MILLION:
            failures.append(
                f"{shape.name}: {per_million:.3f} s per 1M positions (target < {TARGET_SHAPE_SECONDS_PER_MILLION})"
            )
        if ratio < TARGET_SPARSE_RATIO:
            failures.append(f"{shape.name}: scipy.sparse / native = {ratio:.1f}x (target >= {TARGET_SPARSE_RATIO:g}x)")
        if by_ratio >= TARGET_BY_POSITION_RATIO:
            failures.append(
                f"{shape.name}: by_position / plain = {by_ratio:.2f}x (target < {TARGET_BY_POSITION_RATIO:g}x)"
            )
    print()
    for f in failures:
        print(f"  MISSED: {f}")
    print(f"target (every shape): {'holds' if not failures else 'DOES NOT HOLD'}")
    if any("disagrees" in f for f in failures):
        return 1
    return 2 if args.strict and failures else 0


def time_shape(book: Any, model: Any, repeat: int) -> tuple[float, float, float, int, bool]:
    """(plain, by_position, scipy.sparse seconds, positions, agreement) of one shaped book."""
    import numpy_grid
    import pmargin

    positions = book.positions
    engine = pmargin.MarginEngine(book.instruments, book.market, model)
    # One untimed call of each side first: the first calls on a new book fault in fresh memory,
    # and the first shape of a run would otherwise pay for it alone.
    engine.margin(positions)
    engine.margin(positions, by_position=True)
    numpy_grid.margin_sparse(positions, book.instruments, book.market, model)
    plain_s = by_position_s = math.inf
    native = None
    for _ in range(repeat):
        seconds, native = best_of(1, lambda: engine.margin(positions))
        plain_s = min(plain_s, seconds)
        seconds, _ = best_of(1, lambda: engine.margin(positions, by_position=True))
        by_position_s = min(by_position_s, seconds)
    sparse_s, sparse_result = best_of(
        repeat, lambda: numpy_grid.margin_sparse(positions, book.instruments, book.market, model)
    )
    return plain_s, by_position_s, sparse_s, positions.num_rows, not compare_quiet(sparse_result, native)


def compare_quiet(got: Any, want: Any) -> list[str]:
    """``compare`` without its per-column lines."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return compare("scipy.sparse", got, want)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before the native pool starts
    if args.shape is not None:
        return run_shapes(args)
    import numpy_grid
    import pmargin
    import pmargin.reference
    from pmargin import _core, sample
    from pmargin.io import to_table
    from pmargin.models import GridModel
    from pmargin.result import MarginResult

    repeat = args.repeat
    model = GridModel(cross=args.cross)
    default_model = args.cross == "sum"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = os.environ.get("RAYON_NUM_THREADS")

    if _core.is_debug_build():
        print("WARNING: pmargin._core is a DEBUG build; native timings are meaningless (make build)")

    t0 = time.perf_counter()
    book = sample.book(args.accounts, args.seed)
    book_seconds = time.perf_counter() - t0
    positions, instruments, market = book.positions, book.instruments, book.market
    n_pos = positions.num_rows
    codes = pc.dictionary_encode(positions.column("account_id").combine_chunks()).indices
    small_positions = positions.filter(pc.less(codes, args.reference_accounts))
    n_small = small_positions.num_rows
    n_small_accounts = min(args.reference_accounts, args.accounts)

    print("pmargin grid benchmark")
    print(
        f"  book: {args.accounts:,} accounts, {n_pos:,} positions, {instruments.num_rows} instruments, "
        f"{market.underlyings.num_rows} underlyings (seed {args.seed}, built in {book_seconds:.2f} s)"
    )
    print(f"  model: {model.n_scenarios} scenarios, cross={model.cross!r}, vol_shock={model.vol_shock!r}")
    print(
        f"  threads: native {threads or cores} "
        f"({'RAYON_NUM_THREADS=' + threads if threads else 'all cores'}; {cores} available); "
        "numpy and scipy.sparse run on one core"
    )
    print(f"  timings: best of {repeat}; reference on the first {n_small_accounts:,} accounts ({n_small:,} positions)")
    print()

    # 1. native
    def native_margin(p: pa.Table = positions) -> MarginResult:
        return pmargin.margin(p, instruments, market, None if default_model else model)

    native_s, native = best_of(repeat, native_margin)
    engine = pmargin.MarginEngine(instruments, market, model)
    reuse_s, _ = best_of(repeat, lambda: engine.margin(positions))

    # breakdown of the native path (see pmargin/engine.py)
    steps: dict[str, float] = {}

    def step(name: str, fn: Callable[[], T]) -> T:
        seconds, out = best_of(repeat, fn)
        steps[name] = seconds
        return out

    table = step("io.to_table(positions)", lambda: to_table(positions, "positions"))
    step("MarginEngine(instruments, market)", lambda: pmargin.MarginEngine(instruments, market, model))
    run = step("engine._native.margin(table)", lambda: engine._native.margin(table))
    step("run.accounts()", run.accounts)
    step("run.by_underlying()", run.by_underlying)

    # cost of by_position=True (issue 5) on the reused engine: interleaved, best of R each
    plain_s = by_position_s = math.inf
    by_position_rows = 0
    for _ in range(repeat):
        seconds, _ = best_of(1, lambda: engine.margin(positions))
        plain_s = min(plain_s, seconds)
        seconds, attributed = best_of(1, lambda: engine.margin(positions, by_position=True))
        by_position_s = min(by_position_s, seconds)
        by_position_rows = attributed.by_position.num_rows
        attributed = None
    attributed_run = step("engine._native.margin(table, by_position=True)", lambda: engine._native.margin(table, True))
    step("run.attribution() (by_position, explain)", attributed_run.attribution)
    attributed_run = None

    # 2. reference, on the small book (native on it too, for the agreement check)
    ref_s, ref = best_of(repeat, lambda: pmargin.reference.margin(small_positions, instruments, market, model))
    native_small = native_margin(small_positions)
    ref_scaled = ref_s / n_small * n_pos

    # 3, 4. numpy implementations
    numpy_runs: dict[str, tuple[float, Any, dict[str, float]]] = {}
    for name, fn in numpy_grid.IMPLEMENTATIONS.items():
        best, result, stages = math.inf, None, {}
        for _ in range(repeat):
            st: dict[str, float] = {}
            result = None
            gc.collect()
            t0 = time.perf_counter()
            result = fn(positions, instruments, market, model, stages=st)
            seconds = time.perf_counter() - t0
            if seconds < best:
                best, stages = seconds, st
        numpy_runs[name] = (best, result, stages)

    # table
    rows: list[tuple[str, int, float, str]] = [
        ("native pmargin.margin()", n_pos, native_s, "1.0x"),
        ("native MarginEngine reused", n_pos, reuse_s, f"{reuse_s / native_s:.2f}x"),
    ]
    for name, (seconds, _, _) in numpy_runs.items():
        rows.append((name, n_pos, seconds, f"{seconds / native_s:.1f}x"))
    rows.append((f"reference ({n_small_accounts:,} accounts)", n_small, ref_s, ""))
    rows.append(("reference, scaled", n_pos, ref_scaled, f"{ref_scaled / native_s:,.0f}x"))
    print(f"  {'implementation':30s} {'positions':>10s} {'seconds':>9s} {'positions/s':>12s} {'vs native':>10s}")
    for name, n, seconds, ratio in rows:
        print(f"  {name:30s} {n:>10,d} {seconds:>9.4f} {fmt_rate(n, seconds):>12s} {ratio:>10s}")
    print()
    for name, (seconds, _, _) in numpy_runs.items():
        print(f"  {name} / native = {seconds / native_s:.1f}x")
    print(
        f"  reference / native = {ref_scaled / native_s:,.0f}x (per position, reference scaled to {n_pos:,} positions)"
    )
    print()

    print("  native breakdown (best of each step, seconds):")
    plain_steps = list(steps.items())[:5]
    for name, seconds in plain_steps:
        print(f"    {name:52s} {seconds:.4f}")
    total = sum(s for _, s in plain_steps)
    print(f"    {'sum of steps':52s} {total:.4f}  (pmargin.margin() measured {native_s:.4f})")
    by_position_ratio = by_position_s / plain_s
    print("  cost of by_position=True (reused MarginEngine, interleaved, best of each):")
    print(f"    {'engine.margin(positions)':52s} {plain_s:.4f}")
    print(f"    {'engine.margin(positions, by_position=True)':52s} {by_position_s:.4f}  ({by_position_rows:,} rows)")
    print(f"    {'ratio':52s} {by_position_ratio:.2f}x")
    print("    of which (best of each step):")
    for name, seconds in list(steps.items())[5:]:
        print(f"    {name:52s} {seconds:.4f}")
    for name, (_, _, stages) in numpy_runs.items():
        print(f"  {name} stages (its best run, seconds):")
        for stage, s in stages.items():
            print(f"    {stage:52s} {s:.4f}")
    print()

    # agreement
    print(f"  agreement with native (tolerance {REL_TOL:g} relative, {ABS_TOL:g} absolute):")
    problems: list[str] = []
    for name, (_, result, _) in numpy_runs.items():
        problems += compare(name, result, native)
    problems += compare("reference", ref, native_small)
    print()
    if problems:
        for p in problems:
            print(f"  DISAGREEMENT: {p}")
        print("agree: NO")
        return 1
    print("agree: yes")

    per_million = native_s / n_pos * 1e6
    sparse_ratio = numpy_runs["scipy.sparse"][0] / native_s
    fast = per_million < TARGET_SECONDS_PER_MILLION
    ahead = sparse_ratio >= TARGET_SPARSE_RATIO
    print(
        f"target: native {per_million:.3f} s per 1,000,000 positions "
        f"(< {TARGET_SECONDS_PER_MILLION} s: {'yes' if fast else 'NO'}); "
        f"scipy.sparse / native = {sparse_ratio:.1f}x (>= {TARGET_SPARSE_RATIO:g}x: {'yes' if ahead else 'NO'}) "
        f"-> {'holds' if fast and ahead else 'DOES NOT HOLD'}"
    )
    cheap = by_position_ratio < TARGET_BY_POSITION_RATIO
    print(
        f"target (by_position): margin(by_position=True) / margin() = {by_position_ratio:.2f}x on {n_pos:,} positions "
        f"(< {TARGET_BY_POSITION_RATIO:g}x) -> {'holds' if cheap else 'DOES NOT HOLD'}"
    )
    if _core.is_debug_build():
        print("WARNING: debug build of pmargin._core")
    return 2 if args.strict and not (fast and ahead and cheap) else 0


if __name__ == "__main__":
    sys.exit(main())
