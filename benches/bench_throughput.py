"""Time correlated Monte Carlo margin on the throughput case of issue 4, check agreement, print ratios.

The case (``benches/mc_case.py``): 10,000 unique contracts (futures and options on 20
underlyings), 10,000 Monte Carlo scenarios (ES 97.5%), 100,000 accounts of 10 positions.

1. native: ``pmargin.MarginEngine(instruments, market, model)`` (validates, draws the scenarios
   and prices every contract once per scenario) then ``.margin(positions)`` (every account's ES
   and its per-underlying breakdown), Arrow in to Arrow out.
2. numpy: ``benches/numpy_montecarlo.py``, the same method with NumPy + scipy.sparse on the same
   scenarios (the table from the native generator, ``pmargin.engine.monte_carlo_scenarios``).
3. reference: ``pmargin.reference.margin`` on a scaled-down book (the first
   ``--reference-accounts`` accounts, ``--reference-scenarios`` scenarios), scaled per
   position x scenario to the whole case.

Native and numpy each run in a fresh child process per repetition (interleaved), so each one's
peak memory (peak RSS, ``VmHWM``) is its own; timings are the best of ``--repeat``. Native and
numpy initial, maintenance and gross margins per account and requirements per (account, underlying)
must agree to 1e-9 relative (1e-6 absolute floor) on the full case, native and reference on the
small one, or the script exits 1. Run with ``python benches/bench_throughput.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# NumPy and scipy.sparse are timed on one core, as the table says. An OpenBLAS thread pool would
# only spin idle on the cores native runs on, so it is kept to one thread (before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.feather as feather  # noqa: E402

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

#: Agreement tolerance: |x - native| <= max(ABS_TOL, REL_TOL * |native|).
REL_TOL = 1e-9
ABS_TOL = 1e-6
#: Targets (issue 4): native under this wall time and peak memory, and NumPy this many times slower.
TARGET_SECONDS = 10.0
TARGET_PEAK_GIB = 2.0
TARGET_NUMPY_RATIO = 5.0
#: Result columns compared between implementations.
ACCOUNT_COLUMNS = ("initial_margin", "maintenance_margin", "gross_margin")
MIB = 1024 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=None, help="accounts (default 100,000; --quick 10,000)")
    ap.add_argument("--contracts", type=int, default=None, help="unique contracts (default 10,000; --quick 1,000)")
    ap.add_argument("--scenarios", type=int, default=None, help="Monte Carlo scenarios (default 10,000; --quick 1,000)")
    ap.add_argument("--underlyings", type=int, default=20, help="underlyings (default 20)")
    ap.add_argument("--positions-per-account", type=int, default=10, help="positions per account (default 10)")
    ap.add_argument(
        "--reference-accounts", type=int, default=None, help="accounts margined by the reference (200; --quick 50)"
    )
    ap.add_argument(
        "--reference-scenarios", type=int, default=None, help="scenarios of the reference run (1,000; --quick 400)"
    )
    ap.add_argument("--repeat", type=int, default=2, help="best of R runs of native and of numpy (default 2)")
    ap.add_argument("--quick", action="store_true", help="a 10x smaller case (CI-speed smoke run)")
    ap.add_argument("--seed", type=int, default=11, help="positions seed (default 11)")
    ap.add_argument(
        "--threads", type=int, default=None, help="native worker threads (RAYON_NUM_THREADS; default all cores)"
    )
    ap.add_argument("--skip-numpy", action="store_true", help="native (and reference) only")
    ap.add_argument("--strict", action="store_true", help="also exit 2 when the performance target does not hold")
    ap.add_argument(
        "--child",
        choices=("native", "numpy"),
        help="run one implementation once in this process and print its JSON report (used internally; for perf)",
    )
    ap.add_argument("--out", type=Path, default=None, help="with --child: write its result tables to this folder")
    args = ap.parse_args(argv)
    quick = args.quick
    defaults = {
        "accounts": 10_000 if quick else 100_000,
        "contracts": 1_000 if quick else 10_000,
        "scenarios": 1_000 if quick else 10_000,
        "reference_accounts": 50 if quick else 200,
        "reference_scenarios": 400 if quick else 1_000,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in (*defaults, "underlyings", "positions_per_account", "repeat"):
        if getattr(args, key) < 1:
            ap.error(f"--{key.replace('_', '-')} must be at least 1")
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be at least 1")
    return args


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes: ``VmHWM`` of /proc/self/status
    where there is one (the high-water mark of this program's own memory since exec), else
    ``ru_maxrss``, which Linux carries over exec from the process that forked this one."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build_case(args: argparse.Namespace) -> Any:
    import mc_case

    return mc_case.build(args.accounts, args.contracts, args.underlyings, args.positions_per_account, args.seed)


def case_args(args: argparse.Namespace) -> list[str]:
    return [
        f"--accounts={args.accounts}",
        f"--contracts={args.contracts}",
        f"--scenarios={args.scenarios}",
        f"--underlyings={args.underlyings}",
        f"--positions-per-account={args.positions_per_account}",
        f"--seed={args.seed}",
    ]


# --- child processes: one timed run each ----------------------------------------------------


def run_child(args: argparse.Namespace) -> int:
    """Build the case, run one implementation once, print its timings and memory as JSON, and
    write its result tables to ``--out`` when given."""
    import pmargin

    rss_imports = peak_rss()
    case = build_case(args)
    model = case.model(args.scenarios)
    gc.collect()
    rss_inputs = peak_rss()
    report: dict[str, Any] = {"rss_imports": rss_imports, "rss_inputs": rss_inputs}
    if args.child == "native":
        t0 = time.perf_counter()
        engine = pmargin.MarginEngine(case.instruments, case.market, model)
        t1 = time.perf_counter()
        result = engine.margin(case.positions)
        t2 = time.perf_counter()
        report.update(seconds=t2 - t0, stages={"MarginEngine(...) (scenarios, pricing)": t1 - t0})
        report["stages"]["engine.margin(positions) (ES, breakdown, Arrow out)"] = t2 - t1
        accounts, by_underlying = result.accounts, result.by_underlying
    else:
        import numpy_montecarlo
        from pmargin.engine import monte_carlo_scenarios

        stages: dict[str, float] = {}
        t0 = time.perf_counter()
        scenarios = monte_carlo_scenarios(model)
        t1 = time.perf_counter()
        result = numpy_montecarlo.margin_numpy(
            case.positions, case.instruments, case.market, model, scenarios, stages=stages
        )
        t2 = time.perf_counter()
        report.update(seconds=t2 - t0, stages={"scenario table (native generator)": t1 - t0, **stages})
        accounts, by_underlying = result.accounts, result.by_underlying
    report["rss_peak"] = peak_rss()
    if args.out is not None:
        feather.write_feather(accounts.select(["account_id", *ACCOUNT_COLUMNS]), args.out / "accounts.arrow")
        feather.write_feather(
            by_underlying.select(["account_id", "underlying", "requirement"]), args.out / "by_underlying.arrow"
        )
    print("RESULT " + json.dumps(report), flush=True)
    return 0


def spawn(args: argparse.Namespace, which: str, out: Path | None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", which, *case_args(args)]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        command.append(f"--out={out}")
    env = dict(os.environ)
    if which == "native" and args.threads is not None:
        env["RAYON_NUM_THREADS"] = str(args.threads)
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the {which} child process failed (exit code {done.returncode})")
    report: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return report


# --- agreement ------------------------------------------------------------------------------


def worst_rel(got: np.ndarray, want: np.ndarray) -> tuple[int, float]:
    """Number of entries outside the tolerance and the largest relative difference."""
    diff = np.abs(got - want)
    bad = int(np.count_nonzero(~(diff <= np.maximum(ABS_TOL, REL_TOL * np.abs(want)))))
    scale = np.maximum(np.abs(want), ABS_TOL / REL_TOL)
    return bad, float((diff / scale).max()) if diff.size else 0.0


def keyed(table: pa.Table, account_ids: pa.Array, names: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(account row x n + underlying row) keys of by_underlying, sorted, and the requirements."""
    a = pc.index_in(table.column("account_id"), value_set=account_ids)
    u = pc.index_in(table.column("underlying"), value_set=names)
    if a.null_count or u.null_count:
        raise AssertionError("by_underlying names an account or underlying the accounts table does not have")
    key = a.to_numpy(zero_copy_only=False).astype(np.int64) * len(names) + u.to_numpy(zero_copy_only=False)
    order = np.argsort(key, kind="stable")
    return key[order], table.column("requirement").to_numpy()[order]


def compare(
    name: str, accounts: pa.Table, by_underlying: pa.Table, want_accounts: pa.Table, want_by: pa.Table
) -> list[str]:
    """Problems of ``name``'s results against the native ones (empty when they agree)."""
    ids = want_accounts.column("account_id").combine_chunks()
    if not accounts.column("account_id").combine_chunks().equals(ids):
        return [f"{name}: accounts differ from native (count or order)"]
    problems: list[str] = []
    for col in ACCOUNT_COLUMNS:
        bad, rel = worst_rel(accounts.column(col).to_numpy(), want_accounts.column(col).to_numpy())
        print(f"    {name:10s} {col:19s} max rel diff {rel:.1e}" + (f"  {bad} OUTSIDE TOLERANCE" if bad else ""))
        if bad:
            problems.append(f"{name}: {bad} accounts' {col} differ from native")
    names = pa.chunked_array([want_by.column("underlying"), by_underlying.column("underlying")]).unique()
    wk, wr = keyed(want_by, ids, names)
    gk, gr = keyed(by_underlying, ids, names)
    if not np.array_equal(wk, gk):
        return [*problems, f"{name}: by_underlying has {len(gk)} (account, underlying) rows, native {len(wk)}"]
    bad, rel = worst_rel(gr, wr)
    print(f"    {name:10s} {'requirement':19s} max rel diff {rel:.1e}" + (f"  {bad} OUTSIDE TOLERANCE" if bad else ""))
    if bad:
        problems.append(f"{name}: {bad} (account, underlying) requirements differ from native")
    return problems


# --- main -----------------------------------------------------------------------------------


def rate(n: float, seconds: float) -> str:
    r = n / seconds
    return f"{r / 1e9:,.2f} G" if r >= 1e9 else (f"{r / 1e6:,.1f} M" if r >= 1e6 else f"{r / 1e3:,.1f} k")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return run_child(args)

    import mc_case
    import pmargin
    import pmargin.reference
    from pmargin import _core
    from pmargin.reference.risk.tail import tail_count

    if _core.is_debug_build():
        print("WARNING: pmargin._core is a DEBUG build; native timings are meaningless (make build)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = str(args.threads) if args.threads is not None else os.environ.get("RAYON_NUM_THREADS")

    # the case, in this process too: for the header and the reference's small book
    case = build_case(args)
    model = case.model(args.scenarios)
    k = tail_count(args.scenarios, model.confidence)
    positions, instruments = case.positions, case.instruments
    n_pos, n_s = positions.num_rows, args.scenarios
    n_futures = int(pc.sum(pc.equal(instruments.column("kind"), "future")).as_py())
    print("pmargin Monte Carlo throughput benchmark (issue 4)")
    print(
        f"  case: {args.accounts:,} accounts x {args.positions_per_account} positions = {n_pos:,} positions on "
        f"{instruments.num_rows:,} contracts ({n_futures:,} futures, {instruments.num_rows - n_futures:,} options) "
        f"over {args.underlyings} underlyings{' (--quick)' if args.quick else ''}"
    )
    print(
        f"  model: correlated Monte Carlo, {n_s:,} scenarios, {model.measure.upper()} {model.confidence:.1%} "
        f"(k = {k} tail scenarios), {mc_case.HORIZON_DAYS:g}-day horizon, vol of vol {model.vol_of_vol:g} "
        f"(spot-vol correlation {model.spot_vol_correlation:g})"
    )
    print(
        f"  threads: native {threads or cores} ({'RAYON_NUM_THREADS=' + threads if threads else 'all cores'}; "
        f"{cores} available); numpy + scipy.sparse one core"
    )
    print(
        f"  timings: best of {args.repeat}, each run in a fresh process (native and numpy interleaved); "
        "peak = that process's peak RSS (VmHWM)"
    )
    print()

    # 1, 2. native and numpy, interleaved, in child processes
    runs: dict[str, list[dict[str, Any]]] = {"native": [], "numpy": []}
    which = ["native"] if args.skip_numpy else ["native", "numpy"]
    with tempfile.TemporaryDirectory(prefix="pmargin-throughput-") as tmp:
        for r in range(args.repeat):
            for name in which:
                runs[name].append(spawn(args, name, Path(tmp) / name if r == 0 else None))
        results = {
            name: (
                feather.read_table(Path(tmp) / name / "accounts.arrow"),
                feather.read_table(Path(tmp) / name / "by_underlying.arrow"),
            )
            for name in which
        }
    best = {name: min(rs, key=lambda x: x["seconds"]) for name, rs in runs.items() if rs}

    # 3. reference on the small book (native on it too, for the agreement check)
    n_small_accounts = min(args.reference_accounts, args.accounts)
    codes = pc.dictionary_encode(positions.column("account_id").combine_chunks()).indices
    small = positions.filter(pc.less(codes, n_small_accounts))
    small_model = case.model(args.reference_scenarios)
    t0 = time.perf_counter()
    ref = pmargin.reference.margin(small, instruments, case.market, small_model)
    ref_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    native_small = pmargin.margin(small, instruments, case.market, small_model)
    native_small_s = time.perf_counter() - t0
    work = n_pos * n_s
    small_work = small.num_rows * args.reference_scenarios
    ref_scaled = ref_s / small_work * work

    # table
    native_s = best["native"]["seconds"]
    print(
        f"  {'implementation':34s} {'positions':>10s} {'scenarios':>9s} {'seconds':>9s} {'pos x scen/s':>12s} "
        f"{'vs native':>9s} {'peak RSS':>10s} {'above inputs':>12s}"
    )

    def row(name: str, n: int, s: int, seconds: float, ratio: str, report: dict[str, Any] | None = None) -> None:
        mem = ("", "")
        if report is not None:
            mem = (
                f"{report['rss_peak'] / MIB:,.0f} MiB",
                f"{(report['rss_peak'] - report['rss_inputs']) / MIB:,.0f} MiB",
            )
        print(
            f"  {name:34s} {n:>10,d} {s:>9,d} {seconds:>9.2f} {rate(n * s, seconds):>12s} {ratio:>9s} "
            f"{mem[0]:>10s} {mem[1]:>12s}"
        )

    row("native (engine + margin)", n_pos, n_s, native_s, "1.0x", best["native"])
    if "numpy" in best:
        numpy_s = best["numpy"]["seconds"]
        row("numpy + scipy.sparse", n_pos, n_s, numpy_s, f"{numpy_s / native_s:.1f}x", best["numpy"])
    row("native, small book", small.num_rows, args.reference_scenarios, native_small_s, "")
    row(f"reference ({n_small_accounts:,} accounts)", small.num_rows, args.reference_scenarios, ref_s, "")
    row("reference, scaled", n_pos, n_s, ref_scaled, f"{ref_scaled / native_s:,.0f}x")
    print()
    for name, rs in runs.items():
        if rs:
            times = ", ".join(f"{x['seconds']:.2f}" for x in rs)
            print(f"  {name} runs (s): {times}")
    if "numpy" in best:
        print(f"  numpy / native = {best['numpy']['seconds'] / native_s:.1f}x (same case, same scenarios)")
    print(f"  reference / native = {ref_scaled / native_s:,.0f}x (per position x scenario, scaled to the full case)")
    for name, report in best.items():
        print(
            f"  {name} process memory: {report['rss_imports'] / MIB:,.0f} MiB after imports, "
            f"{report['rss_inputs'] / MIB:,.0f} MiB with the input tables, peak {report['rss_peak'] / MIB:,.0f} MiB"
        )
    print()
    for name, report in best.items():
        print(f"  {name} breakdown (its best run, seconds):")
        for stage, seconds in report["stages"].items():
            print(f"    {stage:56s} {seconds:8.3f}")
    print()

    # agreement
    print(f"  agreement (tolerance {REL_TOL:g} relative, {ABS_TOL:g} absolute):")
    problems: list[str] = []
    native_accounts, native_by = results["native"]
    if "numpy" in results:
        problems += compare("numpy", *results["numpy"], native_accounts, native_by)
    problems += compare("reference", ref.accounts, ref.by_underlying, native_small.accounts, native_small.by_underlying)
    print()
    if problems:
        for p in problems:
            print(f"  DISAGREEMENT: {p}")
        print("agree: NO")
        return 1
    print("agree: yes")

    peak_gib = best["native"]["rss_peak"] / (1024 * MIB)
    fast = native_s < TARGET_SECONDS
    small_enough = peak_gib < TARGET_PEAK_GIB
    checks = [
        f"native {native_s:.2f} s (< {TARGET_SECONDS:g} s: {'yes' if fast else 'NO'})",
        f"peak {peak_gib:.2f} GiB (< {TARGET_PEAK_GIB:g} GiB: {'yes' if small_enough else 'NO'})",
    ]
    ahead = True
    if "numpy" in best:
        ratio = best["numpy"]["seconds"] / native_s
        ahead = ratio >= TARGET_NUMPY_RATIO
        checks.append(f"numpy / native = {ratio:.1f}x (>= {TARGET_NUMPY_RATIO:g}x: {'yes' if ahead else 'NO'})")
    holds = fast and small_enough and ahead
    full = (args.accounts, args.contracts, args.scenarios) == (100_000, 10_000, 10_000)
    verdict = "holds" if holds else "DOES NOT HOLD"
    print(f"target: {'; '.join(checks)} -> {verdict}" + ("" if full else " (the target is for the full case)"))
    if _core.is_debug_build():
        print("WARNING: debug build of pmargin._core")
    return 2 if args.strict and not holds else 0


if __name__ == "__main__":
    sys.exit(main())
