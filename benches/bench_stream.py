"""Time streamed margin on a 10,000,000-position book written as Parquet files (issue 15).

The script writes the book twice into a temporary folder, as 10 Parquet files each: grouped by
account (accounts in order) and in random row order (the same rows, permuted). Then, each in a
fresh child process (so that each one's peak RSS, ``VmHWM``, is its own):

  (a) whole:    ``pq.read_table`` of the grouped files, one ``engine.margin(table)``;
  (b) grouped:  ``pmargin.stream.iter_margin(dataset, grouped=True)`` over the grouped files;
  (c) any order: ``iter_margin(dataset)`` over the random-order files (two passes, spill files);
  (d) ray:      ``pmargin.ray.margin_dataset(pmargin.ray.read_positions(...))`` over the
                random-order files on a local Ray cluster (``ray.init(num_cpus=2)``, a 2 GiB
                object store), the accounts table only; its peak RSS is the driver's only. The
                timing includes the Parquet read (one plain Ray task per file), the split and the
                margin;
  (e) ray data: the same with Ray Data's own reader, ``ray.data.read_parquet(...)``, for scale
                (no target).

Every child runs its mode twice and times the second run: steady state, as a long-running
pipeline or cluster sees it. The first run is printed apart: it pays one-off costs (imports, Ray's
worker processes starting, and on virtual machines like the CI's the first touch of fresh memory,
which costs several times a reuse).

Every mode ends with the accounts and by-underlying tables (``(a)`` and ``(b)`` in input order,
``(c)`` to ``(e)`` sorted by account); the script checks they are identical, bit for bit, after a
stable sort by account (exit 1 if not) and prints positions per second end to end (Parquet
decoding included, engine construction excluded), peak memory (of the timed run, and of the cold
first run) and ratios to (b). Targets: (b) at least 5 million positions/s and a cold peak under
1 GiB; (c) and (d) within 3x of (b). Run with
``python benches/bench_stream.py [--positions N] [--repeat R] [--skip-ray]``; wall-clock timings:
note how loaded the machine is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MODES = ("whole", "grouped", "any order", "ray", "ray data")
RAY_MODES = ("ray", "ray data")
TARGET_RATE = 5_000_000
TARGET_PEAK_GIB = 1.0
TARGET_RATIO = 3.0
FILES = 10
BATCH_POSITIONS = 1_000_000
#: (d)'s object store: the book's blocks, their pieces and a run's results, with room to spare (a
#: smaller store than Ray's default of 30% of memory reuses its pages sooner).
OBJECT_STORE_BYTES = 2 << 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--positions", type=int, default=10_000_000, help="positions in the book (default 10,000,000)")
    ap.add_argument("--per-account", type=int, default=10, help="positions per account (default 10)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each mode; the table shows the best and the range")
    ap.add_argument("--skip-ray", action="store_true", help="leave out (d)")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# --------------------------------------------------------------------------------------------
# The book


def write_book(folder: Path, n_positions: int, per_account: int) -> None:
    """Instruments and market of the sample book and its positions tiled to ``n_positions`` rows,
    written grouped and shuffled, ``FILES`` Parquet files each."""
    import pmargin

    sample = pmargin.sample.book(n_accounts=200, seed=7)
    pq.write_table(sample.instruments, folder / "instruments.parquet")
    pq.write_table(sample.underlyings, folder / "underlyings.parquet")
    pq.write_table(sample.vols, folder / "vols.parquet")
    (folder / "as_of.txt").write_text(sample.as_of.isoformat())
    # The sample's accounts (a few strategies on one or two underlyings each) tiled until the book
    # has n_positions rows, each copy's accounts renamed: realistic accounts, generated quickly.
    tile = pmargin.sample.book(n_accounts=max(1, min(20_000, n_positions // per_account)), seed=7).positions
    copies = -(-n_positions // tile.num_rows)
    parts = []
    for k in range(copies):
        ids = pc.binary_join_element_wise(tile.column("account_id"), f"-{k:04d}", "")
        parts.append(tile.set_column(0, "account_id", ids))
    positions = pa.concat_tables(parts).slice(0, n_positions).combine_chunks()
    rng = np.random.default_rng(15)
    order = pa.array(rng.permutation(n_positions))
    for name, table in (("grouped", positions), ("shuffled", positions.take(order))):
        (folder / name).mkdir()
        size = -(-n_positions // FILES)
        for i in range(FILES):
            pq.write_table(table.slice(i * size, size), folder / name / f"part-{i:02d}.parquet", row_group_size=131_072)


# --------------------------------------------------------------------------------------------
# One mode, in a child process


def result_tables(mode: str) -> tuple[str, ...]:
    """The result tables ``mode`` returns and the parent compares (Ray: the accounts only)."""
    return ("accounts",) if mode in RAY_MODES else ("accounts", "by_underlying")


def reset_peak_rss() -> None:
    """Start ``VmHWM`` again from the current RSS (Linux: ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return 0


def engine_of(folder: Path) -> Any:
    import pmargin

    market = pmargin.Market(
        (folder / "as_of.txt").read_text(),
        pq.read_table(folder / "underlyings.parquet"),
        pq.read_table(folder / "vols.parquet"),
    )
    return pq.read_table(folder / "instruments.parquet"), market


def dataset(folder: Path) -> Any:
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns={"instrument_id"}))
    return ds.dataset(str(folder), format=fmt)


def run_child(mode: str, folder: Path, out: Path) -> None:
    """Run ``mode`` twice in this process: the first run (cold: Ray's worker processes start, the
    process and the workers touch their memory for the first time) is reported apart, the second
    is the timed one, for every mode alike."""
    import pmargin
    from pmargin.stream import iter_margin

    instruments, market = engine_of(folder)
    engine = pmargin.MarginEngine(instruments, market)
    names = result_tables(mode)
    if mode in RAY_MODES:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        import ray

        from pmargin.ray import margin_dataset, read_positions

        ray.init(
            num_cpus=2,
            object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        ray_rows = pq.ParquetDataset(str(folder / "shuffled")).read(columns=["quantity"]).num_rows

    def once() -> tuple[dict[str, list[pa.RecordBatch]], int]:
        tables: dict[str, list[pa.RecordBatch]] = {name: [] for name in names}
        if mode == "whole":
            table = pq.read_table(folder / "grouped", read_dictionary=["instrument_id"])
            result = engine.margin(table)
            return {name: getattr(result, name).to_batches() for name in names}, table.num_rows
        if mode in ("grouped", "any order"):
            source = dataset(folder / ("grouped" if mode == "grouped" else "shuffled"))
            rows = source.count_rows()
            stream = iter_margin(
                source.scanner(batch_size=131_072),
                engine,
                tables=list(names),
                grouped=mode == "grouped",
                batch_positions=BATCH_POSITIONS,
                total_rows=rows,
            )
            for name, batch in stream:
                tables[name].append(batch)
            return tables, rows
        if mode == "ray":
            positions = read_positions(folder / "shuffled")
        else:
            positions = ray.data.read_parquet(str(folder / "shuffled"))
        got = margin_dataset(positions, instruments, market)
        batches = [b for t in ray.get(got.to_arrow_refs()) for b in t.to_batches() if b.num_rows]
        return {"accounts": batches}, ray_rows

    started = time.perf_counter()
    once()
    cold = time.perf_counter() - started
    cold_peak = peak_rss()
    reset_peak_rss()
    started = time.perf_counter()
    tables, rows = once()
    elapsed = time.perf_counter() - started
    read = 0.0
    if mode in RAY_MODES:
        # For scale: the read alone, after the timed run.
        started = time.perf_counter()
        if mode == "ray":
            ray.get(read_positions(folder / "shuffled").to_arrow_refs())
        else:
            ray.data.read_parquet(str(folder / "shuffled")).materialize()
        read = time.perf_counter() - started
    for name, batches in tables.items():
        pq.write_table(pa.Table.from_batches(batches), f"{out}.{name}.parquet")
    out.write_text(
        json.dumps(
            {"rows": rows, "seconds": elapsed, "peak": peak_rss(), "cold_peak": cold_peak, "cold": cold, "read": read}
        )
    )


# --------------------------------------------------------------------------------------------
# Parent: runs, checks, table


def by_account(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, [("account_id", "ascending")]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        mode, folder, out = args.child
        run_child(mode, Path(folder), Path(out))
        return 0
    import pmargin._core

    if pmargin._core.is_debug_build():
        print("warning: the extension is a debug build; timings are meaningless", file=sys.stderr)
    modes = [m for m in MODES if not (args.skip_ray and m in RAY_MODES)]
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_book(folder, args.positions, args.per_account)
        print(
            f"book: {args.positions:,} positions, {args.positions // args.per_account:,} accounts, "
            f"{FILES} Parquet files x 2 orders, written in {time.perf_counter() - started:.1f} s"
        )
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        results: dict[str, dict[str, pa.Table]] = {}
        for _ in range(args.repeat):
            for mode in modes:  # interleaved: a load spike hits every mode alike
                out = folder / f"out-{mode.replace(' ', '-')}"
                done = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(folder), str(out)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    print(f"{mode} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
                    return 1
                runs[mode].append(json.loads(out.read_text()))
                names = result_tables(mode)
                results[mode] = {n: pq.read_table(f"{out}.{n}.parquet") for n in names}
    base = results["whole"]
    identical = {m: all(by_account(results[m][n]).equals(by_account(base[n])) for n in results[m]) for m in modes}
    in_order = all(results["grouped"][n].equals(base[n]) for n in base)
    best = {m: min(r["seconds"] for r in runs[m]) for m in modes}
    rate = {m: runs[m][0]["rows"] / best[m] for m in modes}
    print(
        f"\n{'mode':<13}{'best s':>8}{'range s':>17}{'M pos/s':>10}{'vs (b)':>9}{'peak MiB':>10}{'cold peak':>11}"
        "  identical"
    )
    for label, m in zip("abcde", modes, strict=False):
        times = [r["seconds"] for r in runs[m]]
        peak = max(r["peak"] for r in runs[m]) / 2**20
        cold_peak = max(r["cold_peak"] for r in runs[m]) / 2**20
        print(
            f"({label}) {m:<9}{best[m]:>8.2f}{f'{min(times):.2f}-{max(times):.2f}':>17}{rate[m] / 1e6:>10.2f}"
            f"{best[m] / best['grouped']:>8.2f}x{peak:>10.0f}{cold_peak:>11.0f}  {identical[m]}"
        )
    print(f"(b) accounts in input order, equal to (a) row for row: {in_order}")
    for label, m in zip("abcde", modes, strict=False):
        colds = [r["cold"] for r in runs[m]]
        print(f"({label}) first run in its process (cold, not timed): {min(colds):.2f}-{max(colds):.2f} s")
    for label, m, what in (("d", "ray", "read_positions"), ("e", "ray data", "read_parquet + materialize")):
        if m in runs:
            reads = [r["read"] for r in runs[m]]
            print(f"({label}) the Parquet read alone ({what}): {min(reads):.2f}-{max(reads):.2f} s")
    # A streamed job runs once per process: the memory target is the first run's peak (the timed
    # run's, with the allocators' memory kept from the first run, is printed beside it).
    peak_b = max(r["cold_peak"] for r in runs["grouped"]) / 2**30
    checks = [
        (f"(b) >= {TARGET_RATE / 1e6:.0f}M positions/s", rate["grouped"] >= TARGET_RATE),
        (f"(b) cold peak < {TARGET_PEAK_GIB:.0f} GiB", peak_b < TARGET_PEAK_GIB),
        *(
            (f"({lab}) within {TARGET_RATIO:.0f}x of (b)", best[m] <= TARGET_RATIO * best["grouped"])
            for lab, m in zip("cd", modes[2:], strict=False)
        ),
    ]
    for text, ok in checks:
        print(f"target {text}: {'met' if ok else 'NOT met'}")
    return 0 if all(identical.values()) and in_order else 1


if __name__ == "__main__":
    sys.exit(main())
