"""Time SIMM on a large CRIF: pmargin (native) against a NumPy implementation of the same formulas
in the same run, and the pure-Python reference on a subset; check they agree; print ratios.

The CRIF: ``--accounts`` accounts (default 100,000) of 50 rows each, sorted by account: 20 IR
delta rows (USD, random tenor and sub-curve OIS / Libor3m), 10 IR vega rows (USD, random tenor),
5 FX delta rows (EUR, JPY, GBP, BRL, CNY) and 15 equity delta rows (names from a pool of 300,
each name in a fixed bucket 1-12 or Residual). Amounts are drawn so some names and currencies
breach their concentration thresholds. Delta, vega and curvature all run.

The NumPy peer (one core) reads the same Arrow table: string columns dictionary-encoded by
pyarrow, then the fixed layout (50 rows per account, in this order) reshaped to dense
(accounts x rows) arrays, duplicate risk factors handled as correlation-1 pairs (the same result as
netting). It computes the SIMM total only; pmargin also builds the breakdown tables and each
row's Euler contribution, so the ratio is conservative. pmargin is timed end to end from Python
(``SensitivityModel.margin`` on the Arrow table), and the native call alone for the split. Target: native >= 5x NumPy and < 1 s.
The same rows shuffled are then timed end to end (native only; their totals must be bit-identical).

Run with ``python benches/bench_sensitivity.py [--accounts N] [--reference-accounts N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pmargin import _core  # noqa: E402
from pmargin.presets import simm  # noqa: E402
from pmargin.reference.sensitivity import simm_tables  # noqa: E402

TENORS = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"]
FXS = ["EUR", "JPY", "GBP", "BRL", "CNY"]
EQ_BUCKETS = [str(b) for b in range(1, 13)] + ["Residual"]
N_NAMES = 300
LAYOUT = (("ir", 20), ("irv", 10), ("fx", 5), ("eq", 15))
ROWS = sum(n for _, n in LAYOUT)


def make_crif(n_accounts: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = n_accounts
    name_bucket = rng.integers(0, len(EQ_BUCKETS), N_NAMES)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("pc", "rt", "q", "b", "l1", "l2", "amt")}

    def block(
        n: int, pc_: str, rt: str, q: np.ndarray, b: np.ndarray, l1: np.ndarray, l2: np.ndarray, amt: np.ndarray
    ) -> None:
        cols["pc"].append(np.full((a, n), pc_, dtype=object))
        cols["rt"].append(np.full((a, n), rt, dtype=object))
        for k, v in (("q", q), ("b", b), ("l1", l1), ("l2", l2), ("amt", amt)):
            cols[k].append(v)

    empty = lambda n: np.full((a, n), "", dtype=object)  # noqa: E731
    tenors = np.array(TENORS, dtype=object)
    block(
        20,
        "RatesFX",
        "Risk_IRCurve",
        np.full((a, 20), "USD", dtype=object),
        empty(20),
        tenors[rng.integers(0, 12, (a, 20))],
        np.array(["OIS", "Libor3m"], dtype=object)[rng.integers(0, 2, (a, 20))],
        rng.normal(0, 3e4, (a, 20)) * rng.choice([1.0, 1e3], (a, 20), p=[0.9, 0.1]),
    )
    block(
        10,
        "RatesFX",
        "Risk_IRVol",
        np.full((a, 10), "USD", dtype=object),
        empty(10),
        tenors[rng.integers(0, 12, (a, 10))],
        empty(10),
        rng.normal(0, 1e6, (a, 10)),
    )
    block(
        5,
        "RatesFX",
        "Risk_FX",
        np.tile(np.array(FXS, dtype=object), (a, 1)),
        empty(5),
        empty(5),
        empty(5),
        rng.normal(0, 1e8, (a, 5)),
    )
    names = rng.integers(0, N_NAMES, (a, 15))
    block(
        15,
        "Equity",
        "Risk_Equity",
        np.char.add("N", names.astype(str)).astype(object),
        np.array(EQ_BUCKETS, dtype=object)[name_bucket[names]],
        empty(15),
        empty(15),
        rng.normal(0, 2e5, (a, 15)),
    )
    flat = {k: np.concatenate(v, axis=1).reshape(-1) for k, v in cols.items()}
    acct = np.repeat(np.char.add("A", np.arange(a).astype(str).astype("U7")).astype(object), ROWS)
    # pad account ids so the sorted order is the generated order
    acct = np.repeat(np.array([f"A{i:07d}" for i in range(a)], dtype=object), ROWS)
    return pa.table(
        {
            "Portfolio": pa.array(acct, pa.string()),
            "ProductClass": pa.array(flat["pc"], pa.string()),
            "RiskType": pa.array(flat["rt"], pa.string()),
            "Qualifier": pa.array(flat["q"], pa.string()),
            "Bucket": pa.array(flat["b"], pa.string()),
            "Label1": pa.array(flat["l1"], pa.string()),
            "Label2": pa.array(flat["l2"], pa.string()),
            "AmountUSD": pa.array(flat["amt"].astype(float), pa.float64()),
        }
    )


def codes(table: pa.Table, column: str, a: int) -> tuple[np.ndarray, list[str]]:
    enc = pc.dictionary_encode(table.column(column)).combine_chunks()
    return np.asarray(enc.indices).reshape(a, ROWS), enc.dictionary.to_pylist()


def quad(ws: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``sum_ij ws_i rho_ij ws_j`` per account, as two two-operand steps (a three-operand einsum
    runs a slower generic loop)."""
    return (ws * np.einsum("aij,aj->ai", rho, ws)).sum(1)


def numpy_simm(table: pa.Table, params: dict, sigma: float, q995: float) -> np.ndarray:
    """SIMM total per account (docs/simm.md) for the bench's fixed layout, in dense NumPy."""
    a = table.num_rows // ROWS
    amt = np.asarray(table.column("AmountUSD")).reshape(a, ROWS)
    l1c, l1d = codes(table, "Label1", a)
    l2c, _l2d = codes(table, "Label2", a)
    qc, qd = codes(table, "Qualifier", a)
    bc, bd = codes(table, "Bucket", a)
    ir, fxp, eq = params["interest_rate"], params["fx"], params["equity"]
    unit = params["threshold_unit"]
    tenor_of = np.array([TENORS.index(x) if x in TENORS else -1 for x in l1d])
    tc = np.array(ir["tenor_correlations"])
    # IR delta (USD, bucket 1, threshold group 2)
    s = amt[:, :20]
    t = tenor_of[l1c[:, :20]]
    sub = l2c[:, :20]
    cr = np.maximum(1.0, np.sqrt(np.abs(s.sum(1)) / (ir["delta_thresholds"]["2"] * unit)))
    ws = np.array(ir["delta_risk_weights"]["1"])[t] * s * cr[:, None]
    rho = tc[t[:, :, None], t[:, None, :]] * np.where(
        sub[:, :, None] == sub[:, None, :], 1.0, ir["sub_curve_correlation"]
    )
    delta_ir = np.sqrt(np.maximum(quad(ws, rho), 0.0))
    # IR vega and curvature
    s = amt[:, 20:30]
    t = tenor_of[l1c[:, 20:30]]
    vcr = np.maximum(1.0, np.sqrt(np.abs(s.sum(1)) / (ir["vega_thresholds"]["2"] * unit)))
    ws = ir["vega_risk_weight"] * s * vcr[:, None]
    rho = tc[t[:, :, None], t[:, None, :]]
    vega_ir = np.sqrt(np.maximum(quad(ws, rho), 0.0))
    cvr = np.array(ir["curvature_weights"])[t] * s
    kc = np.sqrt(np.maximum(quad(cvr, rho * rho), 0.0))
    # |CVR| per risk factor: rows of one tenor netted first
    onehot = t[:, :, None] == np.arange(12)[None, None, :]
    per_tenor = np.einsum("ai,ait->at", cvr, onehot)
    tot, absum = cvr.sum(1), np.abs(per_tenor).sum(1)
    theta = np.minimum(np.divide(tot, absum, out=np.zeros_like(tot), where=absum > 0), 0.0)
    lam = (q995 * q995 - 1.0) * (1.0 + theta) - theta
    curv_ir = np.where(absum > 0, np.maximum(tot + lam * kc, 0.0), 0.0) / ir["historical_volatility_ratio"] ** 2
    im_ir = delta_ir + vega_ir + curv_ir
    # FX delta (calculation currency USD: regular vol)
    s = amt[:, 30:35]
    q = [qd[c] for c in qc[0, 30:35]]
    grp = np.array([1 if x in fxp["high_vol_currencies"] else 0 for x in q])
    thr_group = {c: g for g, cs in fxp["threshold_groups"].items() for c in cs}
    thr = np.array([fxp["delta_thresholds"][thr_group.get(x, fxp["default_threshold_group"])] * unit for x in q])
    cr = np.maximum(1.0, np.sqrt(np.abs(s) / thr))
    ws = np.array(fxp["delta_risk_weights"])[0][grp] * s * cr
    corr = np.array(fxp["correlations_regular_calc"])[grp[:, None], grp[None, :]]
    np.fill_diagonal(corr, 1.0)
    f = np.minimum(cr[:, :, None], cr[:, None, :]) / np.maximum(cr[:, :, None], cr[:, None, :])
    im_fx = np.sqrt(np.maximum(quad(ws, corr[None, :, :] * f), 0.0))
    # Equity delta: rows of one name netted through correlation 1 and one CR per name
    s = amt[:, 35:]
    name = qc[:, 35:]
    bnames = [*list(eq["buckets"]), eq["residual_bucket"]]
    bidx = np.array([bnames.index(x) if x in bnames else -1 for x in bd])[bc[:, 35:]]
    same = name[:, :, None] == name[:, None, :]
    name_sum = np.einsum("aij,aj->ai", same, s)
    thr = np.array([eq["delta_thresholds"][b] for b in bnames]) * unit
    crn = np.maximum(1.0, np.sqrt(np.abs(name_sum) / thr[bidx]))
    rw = np.array([eq["delta_risk_weights"][b] for b in bnames])
    ws = rw[bidx] * s * crn
    intra = np.array([eq["intra_bucket_correlations"][b] for b in eq["buckets"]] + [0.0])
    same_b = bidx[:, :, None] == bidx[:, None, :]
    f = np.minimum(crn[:, :, None], crn[:, None, :]) / np.maximum(crn[:, :, None], crn[:, None, :])
    rho = np.where(same, 1.0, np.where(same_b, intra[bidx][:, :, None], 0.0) * f)
    nb = len(bnames)
    member = (bidx[:, :, None] == np.arange(nb)[None, None, :]).astype(float)
    # rho is zero across buckets (a name sits in one bucket): K_b^2 sums each row's term by bucket
    kb2 = np.einsum("ai,aib->ab", ws * np.einsum("aij,aj->ai", rho, ws), member)
    kb = np.sqrt(np.maximum(kb2, 0.0))
    sb = np.clip(np.einsum("ai,aib->ab", ws, member), -kb, kb)
    gamma = np.zeros((nb, nb))
    gamma[:12, :12] = np.array(eq["inter_bucket_correlations"])
    np.fill_diagonal(gamma, 0.0)
    q_nr = (kb[:, :12] ** 2).sum(1) + ((sb @ gamma) * sb).sum(1)
    im_eq = np.sqrt(np.maximum(q_nr, 0.0)) + kb[:, 12]
    # product classes: RatesFX = IR + FX with psi; Equity alone
    psi = params["risk_class_correlations"][0][5]
    ratesfx = np.sqrt(np.maximum(im_ir**2 + im_fx**2 + 2 * psi * im_ir * im_fx, 0.0))
    return ratesfx + im_eq


def timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    best = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best.append(time.perf_counter() - t0)
    return out, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--reference-accounts", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if _core.is_debug_build():
        print("warning: debug build of the extension")
    crif = make_crif(args.accounts)
    model = simm("2.6")
    table, spec = model.prepare(crif)
    print(f"CRIF: {args.accounts:,} accounts x {ROWS} rows = {table.num_rows:,} rows; {os.cpu_count()} cores")
    # pmargin end to end from Python (normalising the CRIF, the native call, the result tables),
    # then the native call alone for the split.
    result, t_native = timed(lambda: model.margin(crif), args.repeat)
    _, t_core = timed(lambda: _core.simm(table, spec), args.repeat)
    totals = np.asarray(result.accounts.column("simm"))
    peer, t_numpy = timed(
        lambda: numpy_simm(table, spec["parameters"], spec["sigma_multiplier"], spec["curvature_q"]), args.repeat
    )
    bad = np.abs(peer - totals) > np.maximum(1e-6, 1e-9 * np.abs(totals))
    sub = table.slice(0, args.reference_accounts * ROWS)
    ref, t_ref = timed(lambda: simm_tables(sub, spec), 1)
    ref_totals = np.asarray(ref["accounts"].column("simm"))
    bad_ref = np.abs(ref_totals - totals[: args.reference_accounts]) > np.maximum(1e-6, 1e-9 * np.abs(ref_totals))
    t_ref_scaled = t_ref[0] * args.accounts / args.reference_accounts
    print(f"native   : {min(t_native):.3f} s (runs {', '.join(f'{t:.3f}' for t in t_native)}) end to end")
    print(f"  core   : {min(t_core):.3f} s (runs {', '.join(f'{t:.3f}' for t in t_core)}) _core.simm alone")
    print(f"numpy    : {min(t_numpy):.3f} s (runs {', '.join(f'{t:.3f}' for t in t_numpy)})")
    print(f"reference: {t_ref[0]:.3f} s for {args.reference_accounts} accounts, {t_ref_scaled:.1f} s scaled")
    ratios = [n / m for n, m in zip(t_numpy, t_native, strict=True)]
    print(
        f"numpy / native: {min(ratios):.1f}x - {max(ratios):.1f}x (per run); best vs best {min(t_numpy) / min(t_native):.1f}x"
    )
    print(f"reference / native (scaled): {t_ref_scaled / min(t_native):.0f}x")
    print(f"agreement: numpy {int(bad.sum())} accounts off, reference {int(bad_ref.sum())} off (1e-9 rel)")
    # The same rows shuffled (accounts interleaved): native only, the NumPy peer needs the fixed
    # layout. The totals must be the same bits (accounts are sorted by id either way).
    perm = np.random.default_rng(11).permutation(len(crif))
    shuffled = crif.take(pa.array(perm))
    moved, t_shuffled = timed(lambda: model.margin(shuffled), args.repeat)
    same = moved.accounts.column("simm").equals(result.accounts.column("simm"))
    print(
        f"shuffled : {min(t_shuffled):.3f} s (runs {', '.join(f'{t:.3f}' for t in t_shuffled)}) end to end, "
        f"{min(t_shuffled) / min(t_native):.1f}x the grouped CRIF; totals bit-identical: {'yes' if same else 'NO'}"
    )
    target = min(t_native) < 1.0 and min(t_numpy) / min(t_native) >= 5.0
    print(f"target (< 1 s and >= 5x numpy): {'met' if target else 'NOT met'}")
    return 1 if bad.any() or bad_ref.any() or not same else 0


if __name__ == "__main__":
    raise SystemExit(main())
