"""ISDA SIMM margin of each account from its netted risk factors, with Euler contributions.

docs/simm.md gives every formula. In short, per (product class, risk class, margin type):
weighted sensitivities ``WS_k = c_k s_k`` (risk weight x concentration factor, times sigma x HVR
for non-IR vega; curvature: scaling factor x sigma x side sign), ``K_b = sqrt(sum_kl rho_kl WS_k
WS_l)`` per bucket, the buckets aggregated with ``gamma_bc S_b S_c``; IM per risk class = delta +
vega + curvature; per product class ``sqrt(sum psi_rs IM_r IM_s)``; the account's SIMM is the sum.

Contributions: concentration factors and the curvature's theta held fixed, SIMM is positively
homogeneous of degree one in the sensitivities, so ``s_r * dSIMM/ds_r`` over the rows adds up to
the total (Euler). The gradient follows the same steps backwards.

Mirrors: rust/pmargin-core/src/sensitivity/simm.rs
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ...errors import MarginError, MarginInputError
from ...io import TableLike, to_table
from .crif import Factor, read_crif
from .params import MARGIN_TYPES, PRODUCT_CLASSES, RISK_CLASSES, BucketedParams, SimmParams, read_params

IR, FX, EQ, CM = range(4)
DELTA, VEGA, CURVATURE = range(3)


@dataclass
class Term:
    """One margin type of one risk class: its value, buckets and each factor's dValue/dWS."""

    value: float
    buckets: list[tuple[str, float, float]]  # (label, K_b, sum WS_b)
    grad: list[float]  # per factor, dValue / dWS_k
    coef: list[float]  # per factor, WS_k = coef_k * s_k


def within(ws: list[float], members: list[int], rho: Callable[[int, int], float]) -> tuple[float, list[float]]:
    """``K = sqrt(max(sum_k sum_l rho_kl WS_k WS_l, 0))`` and ``dK/dWS_k`` (0 when K is 0)."""
    q = 0.0
    lin = []
    for k in members:
        acc = 0.0
        for j in members:
            acc += rho(k, j) * ws[j]
        lin.append(acc)
        q += ws[k] * acc
    big_k = math.sqrt(max(q, 0.0))
    return big_k, [x / big_k if big_k > 0.0 else 0.0 for x in lin]


def across(
    ks: list[float], sums: list[float], gamma: Callable[[int, int], float]
) -> tuple[float, list[float], list[float]]:
    """``sqrt(max(sum_b K_b^2 + sum_{b!=c} gamma_bc S_b S_c, 0))``, ``S_b = clamp(sum_b, -K_b, K_b)``,
    and its derivatives by K_b and by the bucket's sum of WS."""
    n = len(ks)
    s = [max(min(sums[b], ks[b]), -ks[b]) for b in range(n)]
    h = []
    q = 0.0
    for b in range(n):
        acc = 0.0
        for c in range(n):
            if c != b:
                acc += gamma(b, c) * s[c]
        h.append(acc)
        q += ks[b] * ks[b] + s[b] * acc
    root = math.sqrt(max(q, 0.0))
    if root <= 0.0:
        return root, [0.0] * n, [0.0] * n
    d_k = []
    d_sum = []
    for b in range(n):
        hb = h[b] / root
        if sums[b] > ks[b]:
            d_k.append(ks[b] / root + hb)
            d_sum.append(0.0)
        elif sums[b] < -ks[b]:
            d_k.append(ks[b] / root - hb)
            d_sum.append(0.0)
        else:
            d_k.append(ks[b] / root)
            d_sum.append(hb)
    return root, d_k, d_sum


def lam(theta: float, q: float) -> float:
    return (q * q - 1.0) * (1.0 + theta) - theta


def _conc(total: float, threshold: float) -> float:
    return max(1.0, math.sqrt(abs(total) / threshold))


class _Group:
    """The factors of one (account, product class, risk class, margin type), in canonical order."""

    def __init__(self, factors: list[Factor], amounts: list[float]) -> None:
        self.factors = factors
        self.s = amounts


def _fx_group(p: SimmParams, ccy: str) -> int:
    return 1 if ccy in p.fx.high_vol else 0


def _ir_bucket(p: SimmParams, ccy: str) -> str:
    return p.ir.currency_bucket.get(ccy, p.ir.default_bucket)


def _ir_threshold(p: SimmParams, ccy: str, vega: bool) -> float:
    g = p.ir.terms.threshold_group.get(ccy, p.ir.terms.default_threshold_group)
    return (p.ir.terms.vega_thresholds if vega else p.ir.terms.delta_thresholds)[g] * p.unit


def _fx_threshold_group(p: SimmParams, ccy: str) -> int:
    return int(p.fx.terms.threshold_group.get(ccy, p.fx.terms.default_threshold_group))


def _fx_vol_threshold(p: SimmParams, pair: str) -> float:
    a, b = sorted((_fx_threshold_group(p, pair[:3]), _fx_threshold_group(p, pair[3:])))
    key = {(1, 1): "1", (1, 2): "2", (1, 3): "3", (2, 2): "4", (2, 3): "5"}.get((a, b), "6")
    return p.fx.terms.vega_thresholds[key] * p.unit


def _fx_sigma(p: SimmParams, pair: str) -> float:
    return p.sigma_multiplier * p.fx.delta_rw[_fx_group(p, pair[3:])][_fx_group(p, pair[:3])]


def _bucket_groups(g: _Group, key: Callable[[Factor], Any]) -> tuple[list[Any], list[list[int]]]:
    labels: list[Any] = []
    members: list[list[int]] = []
    for k, f in enumerate(g.factors):
        kk = key(f)
        if not labels or labels[-1] != kk:
            labels.append(kk)
            members.append([])
        members[-1].append(k)
    return labels, members


def _ir(p: SimmParams, g: _Group, mt: int, sign: float) -> Term:
    """Interest rate delta, vega or curvature: the buckets are the currencies."""
    ir = p.ir
    labels, members = _bucket_groups(g, lambda f: f.qualifier)
    n = len(g.factors)
    coef = [0.0] * n
    conc = []
    for ccy, ms in zip(labels, members, strict=True):
        if mt == CURVATURE:
            conc.append(1.0)
            for k in ms:
                coef[k] = ir.terms.curvature_weights[g.factors[k].tenor] * sign
            continue
        cr = _conc(math.fsum(g.s[k] for k in ms), _ir_threshold(p, ccy, mt == VEGA))
        conc.append(cr)
        for k in ms:
            rw = ir.terms.vega_rw if mt == VEGA else ir.delta_rw[_ir_bucket(p, ccy)][g.factors[k].tenor]
            coef[k] = rw * cr
    ws = [coef[k] * g.s[k] for k in range(n)]

    def rho(k: int, j: int) -> float:
        fk, fl = g.factors[k], g.factors[j]
        r = ir.tenor_corr[fk.tenor][fl.tenor]
        if mt == DELTA and fk.label2 != fl.label2:
            r *= ir.sub_curve_corr
        return r * r if mt == CURVATURE else r

    def gamma(b: int, c: int) -> float:
        if mt == CURVATURE:
            return ir.inter_currency_corr * ir.inter_currency_corr
        return ir.inter_currency_corr * min(conc[b], conc[c]) / max(conc[b], conc[c])

    nonres = list(range(len(labels)))
    abs_groups = [[k] for k in range(n)]
    return _aggregate(
        p,
        g,
        mt,
        ws,
        coef,
        labels,
        members,
        nonres,
        None,
        rho,
        gamma,
        abs_groups,
        1.0 / (ir.terms.hvr * ir.terms.hvr) if mt == CURVATURE else 1.0,
    )


def _fx(p: SimmParams, g: _Group, mt: int, sign: float) -> Term:
    """FX: one bucket; delta factors are currencies, vega and curvature factors currency pairs."""
    fx = p.fx
    n = len(g.factors)
    coef = [0.0] * n
    cr = [1.0] * n
    quals, qmembers = _bucket_groups(g, lambda f: f.qualifier)
    calc = _fx_group(p, p.calculation_currency)
    for q, ms in zip(quals, qmembers, strict=True):
        if mt == DELTA:
            c = _conc(math.fsum(g.s[k] for k in ms), fx.terms.delta_thresholds[str(_fx_threshold_group(p, q))] * p.unit)
            for k in ms:
                coef[k] = fx.delta_rw[calc][_fx_group(p, q)] * c
                cr[k] = c
        else:
            sigma = _fx_sigma(p, q)
            if mt == VEGA:
                c = _conc(math.fsum(sigma * fx.terms.hvr * g.s[k] for k in ms), _fx_vol_threshold(p, q))
                for k in ms:
                    coef[k] = fx.terms.vega_rw * sigma * fx.terms.hvr * c
                    cr[k] = c
            else:
                for k in ms:
                    coef[k] = fx.terms.curvature_weights[g.factors[k].tenor] * sigma * sign
    ws = [coef[k] * g.s[k] for k in range(n)]
    corr = fx.corr_high if calc == 1 else fx.corr_regular

    def rho(k: int, j: int) -> float:
        fk, fl = g.factors[k], g.factors[j]
        if k == j:
            return 1.0
        if mt == DELTA:
            r = corr[_fx_group(p, fk.qualifier)][_fx_group(p, fl.qualifier)]
        else:
            r = 1.0 if fk.qualifier == fl.qualifier else fx.vega_corr
        if mt == CURVATURE:
            return r * r
        return r * min(cr[k], cr[j]) / max(cr[k], cr[j])

    return _aggregate(p, g, mt, ws, coef, [""], [list(range(n))], [0], None, rho, lambda b, c: 0.0, qmembers, 1.0)


def _bucketed(p: SimmParams, bp: BucketedParams, g: _Group, mt: int, sign: float) -> Term:
    """Equity or commodity: buckets from the CRIF, a residual bucket added on its own."""
    n = len(g.factors)
    coef = [0.0] * n
    cr = [1.0] * n
    labels, members = _bucket_groups(g, lambda f: f.bucket)
    qlabels, qmembers = _bucket_groups(g, lambda f: (f.bucket, f.qualifier))
    for (b, _q), ms in zip(qlabels, qmembers, strict=True):
        sigma = p.sigma_multiplier * bp.delta_rw[b]
        if mt == DELTA:
            c = _conc(math.fsum(g.s[k] for k in ms), bp.delta_thresholds[b] * p.unit)
            for k in ms:
                coef[k] = bp.delta_rw[b] * c
                cr[k] = c
        elif mt == VEGA:
            c = _conc(math.fsum(sigma * bp.hvr * g.s[k] for k in ms), bp.vega_thresholds[b] * p.unit)
            for k in ms:
                coef[k] = bp.vega_rw[b] * sigma * bp.hvr * c
                cr[k] = c
        else:
            for k in ms:
                coef[k] = 0.0 if bp.curvature_zero[b] else bp.curvature_weights[g.factors[k].tenor] * sigma * sign
    ws = [coef[k] * g.s[k] for k in range(n)]

    def rho(k: int, j: int) -> float:
        fk, fl = g.factors[k], g.factors[j]
        r = 1.0 if fk.qualifier == fl.qualifier else bp.intra[fk.bucket]
        if mt == CURVATURE:
            return r * r
        return r * min(cr[k], cr[j]) / max(cr[k], cr[j])

    nonres = [i for i, b in enumerate(labels) if not bp.is_residual(b)]
    res = next((i for i, b in enumerate(labels) if bp.is_residual(b)), None)

    def gamma(i: int, j: int) -> float:
        r: float = bp.inter[labels[nonres[i]]][labels[nonres[j]]]
        return r * r if mt == CURVATURE else r

    names = [bp.buckets[b] if b < len(bp.buckets) else str(bp.residual) for b in labels]
    return _aggregate(p, g, mt, ws, coef, names, members, nonres, res, rho, gamma, qmembers, 1.0)


def _aggregate(
    p: SimmParams,
    g: _Group,
    mt: int,
    ws: list[float],
    coef: list[float],
    labels: list[Any],
    members: list[list[int]],
    nonres: list[int],
    res: int | None,
    rho: Callable[[int, int], float],
    gamma: Callable[[int, int], float],
    abs_groups: list[list[int]],
    scale: float,
) -> Term:
    n = len(ws)
    grad = [0.0] * n
    ks: list[float] = []
    dks: list[list[float]] = []
    sums: list[float] = []
    for ms in members:
        k, dk = within(ws, ms, rho)
        ks.append(k)
        dks.append(dk)
        sums.append(math.fsum(ws[i] for i in ms))
    buckets = [(str(labels[i]), ks[i], sums[i]) for i in range(len(members))]
    is_res = [False] * len(members)
    if res is not None:
        is_res[res] = True
    bucket_of_group = {}
    for i, ms in enumerate(members):
        for k in ms:
            bucket_of_group[k] = i

    def spread(i: int, weight: float) -> None:
        for j, k in enumerate(members[i]):
            grad[k] += weight * dks[i][j]

    if mt != CURVATURE:
        root, d_k, d_sum = across([ks[i] for i in nonres], [sums[i] for i in nonres], gamma)
        value = root
        for j, i in enumerate(nonres):
            spread(i, d_k[j])
            for k in members[i]:
                grad[k] += d_sum[j]
        if res is not None:
            value += ks[res]
            spread(res, 1.0)
        return Term(value, buckets, grad, coef)

    value = 0.0
    for part in ([i for i in range(len(members)) if not is_res[i]], [res] if res is not None else []):
        if not part:
            continue
        in_part = set(part)
        total = math.fsum(sums[i] for i in part)
        abs_total = math.fsum(
            abs(math.fsum(ws[k] for k in ag)) for ag in abs_groups if bucket_of_group[ag[0]] in in_part
        )
        if abs_total == 0.0:
            continue
        theta = min(total / abs_total, 0.0)
        lm = lam(theta, p.curvature_q)
        if res is not None and part == [res]:
            root, d_k, d_sum = ks[res], [1.0], [0.0]
        else:
            root, d_k, d_sum = across([ks[i] for i in part], [sums[i] for i in part], gamma)
        v = total + lm * root
        if v <= 0.0:
            continue
        value += v
        for j, i in enumerate(part):
            for jj, k in enumerate(members[i]):
                grad[k] += 1.0 + lm * (d_k[j] * dks[i][jj] + d_sum[j])
    return Term(scale * value, buckets, [scale * x for x in grad], coef)


def _term(p: SimmParams, rc: int, mt: int, g: _Group) -> Term:
    sign = -1.0 if p.post and mt == CURVATURE else 1.0
    if rc == IR:
        return _ir(p, g, mt, sign)
    if rc == FX:
        return _fx(p, g, mt, sign)
    return _bucketed(p, p.equity if rc == EQ else p.commodity, g, mt, sign)


@dataclass
class AccountSimm:
    total: float
    product: list[tuple[int, float]]
    risk: list[tuple[int, int, list[float], float]]  # (pc, rc, [delta, vega, curvature], IM)
    buckets: list[tuple[int, int, int, str, float, float]]
    contributions: dict[int, float]  # row -> contribution


def account_simm(p: SimmParams, factors: Mapping[tuple[Any, ...], Factor]) -> AccountSimm:
    """One account's SIMM, its breakdown and each row's Euler contribution."""
    ordered = [factors[k] for k in sorted(factors)]
    contributions: dict[int, float] = {}
    for f in ordered:
        for r in f.rows:
            contributions[r] = 0.0
    product: list[tuple[int, float]] = []
    risk: list[tuple[int, int, list[float], float]] = []
    buckets: list[tuple[int, int, int, str, float, float]] = []
    total = 0.0
    for pc in range(len(PRODUCT_CLASSES)):
        in_pc = [f for f in ordered if f.product_class == pc]
        if not in_pc:
            continue
        ims = [0.0] * len(RISK_CLASSES)
        present = [False] * len(RISK_CLASSES)
        terms: list[tuple[int, list[Factor], Term]] = []
        for rc in range(len(RISK_CLASSES)):
            in_rc = [f for f in in_pc if f.risk_class == rc]
            if not in_rc:
                continue
            present[rc] = True
            parts = [0.0, 0.0, 0.0]
            for mt in (DELTA, VEGA, CURVATURE):
                fs = [f for f in in_rc if f.vol == (mt != DELTA)]
                if not fs:
                    continue
                t = _term(p, rc, mt, _Group(fs, [f.amount for f in fs]))
                parts[mt] = t.value
                terms.append((rc, fs, t))
                for label, k, s in t.buckets:
                    buckets.append((pc, rc, mt, label, k, s))
            ims[rc] = parts[0] + parts[1] + parts[2]
            risk.append((pc, rc, parts, ims[rc]))
        q = 0.0
        lin = [0.0] * len(RISK_CLASSES)
        for r in range(len(RISK_CLASSES)):
            for s in range(len(RISK_CLASSES)):
                lin[r] += (1.0 if r == s else p.psi[r][s]) * ims[s]
            q += ims[r] * lin[r]
        simm_pc = math.sqrt(max(q, 0.0))
        product.append((pc, simm_pc))
        total += simm_pc
        for rc, fs, t in terms:
            d_im = lin[rc] / simm_pc if simm_pc > 0.0 else 0.0
            for k, f in enumerate(fs):
                for r, a in zip(f.rows, f.amounts, strict=True):
                    contributions[r] += t.coef[k] * a * t.grad[k] * d_im
        del present
    return AccountSimm(total, product, risk, buckets, contributions)


def _finite_simm(p: SimmParams, factors: Mapping[tuple[Any, ...], Factor]) -> AccountSimm | None:
    """``account_simm``, or None when any of its figures is not finite (Python's exact sums
    raise on overflow where the core's give inf or NaN)."""
    try:
        res = account_simm(p, factors)
    except (OverflowError, ValueError) as e:
        if isinstance(e, MarginError):
            raise
        return None
    figures = [res.total, *(v for _, v in res.product), *res.contributions.values()]
    figures += [x for *_, parts, im in res.risk for x in (*parts, im)]
    figures += [x for *_, k, s in res.buckets for x in (k, s)]
    return res if all(math.isfinite(x) for x in figures) else None


def simm_tables(crif: TableLike, spec: Mapping[str, Any]) -> dict[str, pa.Table]:
    """The SIMM tables of every account of ``crif`` (accounts sorted by id), as the core builds them."""
    p = read_params(spec)
    table = to_table(crif, "crif")
    by_account = read_crif(
        table, str(spec.get("account_column", "Portfolio")), str(spec.get("amount_column", "AmountUSD")), p
    )
    accounts = sorted(by_account)
    acc_rows: dict[str, list[Any]] = {"account": [], "simm": []}
    pc_rows: dict[str, list[Any]] = {"account": [], "product_class": [], "simm": []}
    rc_rows: dict[str, list[Any]] = {
        k: [] for k in ("account", "product_class", "risk_class", "delta", "vega", "curvature", "margin")
    }
    b_rows: dict[str, list[Any]] = {
        k: [] for k in ("account", "product_class", "risk_class", "margin_type", "bucket", "k", "ws_sum")
    }
    contrib = [0.0] * table.num_rows
    results = []
    for a in accounts:
        res = _finite_simm(p, by_account[a])
        if res is None:
            raise MarginInputError(
                f"account '{a}': SIMM is not a finite number (the amounts, or the parameters' risk "
                "weights and thresholds, are so large that the arithmetic overflows)",
                table="crif",
                column=str(spec.get("amount_column", "AmountUSD")),
            )
        results.append((a, res))
    for a, res in results:
        acc_rows["account"].append(a)
        acc_rows["simm"].append(res.total)
        for pc, v in res.product:
            pc_rows["account"].append(a)
            pc_rows["product_class"].append(PRODUCT_CLASSES[pc])
            pc_rows["simm"].append(v)
        for pc, rc, parts, im in res.risk:
            for key, cell in zip(rc_rows, (a, PRODUCT_CLASSES[pc], RISK_CLASSES[rc], *parts, im), strict=True):
                rc_rows[key].append(cell)
        for pc, rc, mt, label, big_k, ws_sum in res.buckets:
            row = (a, PRODUCT_CLASSES[pc], RISK_CLASSES[rc], MARGIN_TYPES[mt], label, big_k, ws_sum)
            for key, cell in zip(b_rows, row, strict=True):
                b_rows[key].append(cell)
        for r, c in res.contributions.items():
            contrib[r] = c
    return {
        "accounts": pa.table(acc_rows, schema=_schema(acc_rows)),
        "product_classes": pa.table(pc_rows, schema=_schema(pc_rows)),
        "risk_classes": pa.table(rc_rows, schema=_schema(rc_rows)),
        "buckets": pa.table(b_rows, schema=_schema(b_rows)),
        "contributions": pa.table(
            {"contribution": pa.array(contrib, pa.float64())},
            schema=pa.schema([pa.field("contribution", pa.float64(), nullable=False)]),
        ),
    }


def _schema(cols: Mapping[str, list[Any]]) -> pa.Schema:
    """As the native tables: every column not null."""
    strings = {"account", "product_class", "risk_class", "margin_type", "bucket"}
    return pa.schema([pa.field(k, pa.string() if k in strings else pa.float64(), nullable=False) for k in cols])
