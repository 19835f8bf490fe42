//! ISDA SIMM of one account from its netted risk factors, with each row's Euler contribution
//! (docs/simm.md). Per (product class, risk class, margin type): weighted sensitivities
//! `WS_k = c_k s_k`, `K_b` per bucket with the risk-factor correlations, the buckets aggregated
//! with the bucket correlations; IM per risk class = delta + vega + curvature; per product class
//! `sqrt(sum psi IM IM)`; SIMM = the sum over product classes.
//!
//! Contributions: with the concentration factors and the curvature's theta held fixed, SIMM is
//! positively homogeneous of degree one in the sensitivities, so `s_r dSIMM/ds_r` over the rows
//! adds up to the total. The gradient runs the same steps backwards.

use std::ops::Range;

use crate::domain::exact_sum::exact_sum;
use crate::sensitivity::crif::{Factor, Keyed};
use crate::sensitivity::params::{BucketedParams, SimmParams, FX, IR};

pub const DELTA: usize = 0;
pub const VEGA: usize = 1;
pub const CURVATURE: usize = 2;

/// `exact_sum` with the short cases done directly: one rounded addition of two floats is already
/// the correctly rounded sum.
fn fsum(values: &[f64]) -> f64 {
    match values {
        [] => 0.0,
        [a] => *a,
        [a, b] => a + b,
        _ => exact_sum(values),
    }
}

/// The concentration factor of `sum_k scale * s_k` (correctly rounded; `buf` holds the
/// products) against `threshold`.
fn scaled_conc(buf: &mut Vec<f64>, s: &[f64], scale: f64, threshold: f64) -> f64 {
    buf.clear();
    buf.extend(s.iter().map(|x| scale * x));
    conc_of_sum(buf, threshold)
}

/// `conc(fsum(values), threshold)`. Summed in floats, the magnitudes are within a relative
/// `(n - 1) u` of their exact sum (`u = 2^-53`); when even `(1 + 2^-50 n)` times that is at
/// most the threshold, so is the exact `|sum|` and its rounding, and the factor is 1 (the same
/// bits) without the exact sum. The usual factor is below its threshold.
fn conc_of_sum(values: &[f64], threshold: f64) -> f64 {
    if values.len() > 2 {
        let magnitude: f64 = values.iter().map(|v| v.abs()).sum();
        if magnitude * (1.0 + 4.0 * values.len() as f64 * f64::EPSILON) <= threshold {
            return 1.0;
        }
    }
    conc(fsum(values), threshold)
}

/// `K = sqrt(max(sum_k sum_l rho_kl WS_k WS_l, 0))` over `members`, with `rho_kl =
/// rho(keys[k], keys[l])`; `dK/dWS_k` into `d[k]`. `symmetric`: `rho_kl = rho_lk` bit for bit,
/// so each pair is evaluated once and feeds both rows; every row still adds its terms in the
/// order l = first, ..., last (the same bits).
fn within(
    ws: &[f64],
    members: Range<usize>,
    keys: &[usize],
    rho: &impl Fn(usize, usize) -> f64,
    symmetric: bool,
    d: &mut [f64],
) -> f64 {
    if members.len() == 1 {
        // One factor (most equity and commodity buckets): the loops below reduce to these
        // operations, in this order (`0.0 +` kept: it turns -0.0 into 0.0 as the sums do).
        let k = members.start;
        let (wk, kk) = (ws[k], keys[k]);
        let acc = 0.0 + rho(kk, kk) * wk;
        let big_k = root_of(0.0 + wk * acc);
        d[k] = if big_k > 0.0 { acc / big_k } else { 0.0 };
        return big_k;
    }
    let (ws_b, keys_b) = (&ws[members.clone()], &keys[members.clone()]);
    let d_b = &mut d[members];
    let mut q = 0.0;
    if symmetric {
        d_b.fill(0.0);
        for (k, (&wk, &kk)) in ws_b.iter().zip(keys_b).enumerate() {
            // d_b[k] holds the terms of l < k, added in order by the rows before.
            let (row, rest) = d_b[k..].split_at_mut(1);
            let mut acc = row[0] + rho(kk, kk) * wk;
            for ((wl, dl), &kl) in ws_b[k + 1..].iter().zip(rest).zip(&keys_b[k + 1..]) {
                let r = rho(kk, kl);
                acc += r * wl;
                *dl += r * wk;
            }
            row[0] = acc;
            q += wk * acc;
        }
    } else {
        for (k, (&wk, &kk)) in ws_b.iter().zip(keys_b).enumerate() {
            let mut acc = 0.0;
            for (wl, &kl) in ws_b.iter().zip(keys_b) {
                acc += rho(kk, kl) * wl;
            }
            d_b[k] = acc;
            q += wk * acc;
        }
    }
    let big_k = root_of(q);
    for x in d_b {
        *x = if big_k > 0.0 { *x / big_k } else { 0.0 };
    }
    big_k
}

/// `sqrt(max(q, 0))`, but NaN stays NaN: an overflowed form must reach the account's
/// finiteness check, not become a margin of zero.
#[inline]
fn root_of(q: f64) -> f64 {
    if q.is_nan() {
        q
    } else {
        q.max(0.0).sqrt()
    }
}

/// `rho * min(a, b) / max(a, b)` for concentration factors `a`, `b`; the usual `a = b = 1`
/// (below the threshold) gives `rho` itself without the arithmetic.
#[inline]
fn conc_ratio(rho: f64, a: f64, b: f64) -> f64 {
    if a == 1.0 && b == 1.0 {
        rho
    } else {
        rho * a.min(b) / a.max(b)
    }
}

/// Scratch and results of [`across`]: the clamped sums, `sum_c gamma_bc S_c`, and the
/// derivatives by each K_b and by each bucket's sum of WS.
#[derive(Default)]
struct Across {
    s: Vec<f64>,
    h: Vec<f64>,
    d_k: Vec<f64>,
    d_sum: Vec<f64>,
}

/// `sqrt(max(sum_b K_b^2 + sum_{b!=c} gamma_bc S_b S_c, 0))` with `S_b = clamp(sum_b, -K_b, K_b)`;
/// its derivatives into `a.d_k` and `a.d_sum`. `symmetric` as in [`within`].
fn across(ks: &[f64], sums: &[f64], gamma: &impl Fn(usize, usize) -> f64, symmetric: bool, a: &mut Across) -> f64 {
    let n = ks.len();
    if n == 1 {
        return across_one(ks[0], sums[0], a);
    }
    a.s.clear();
    a.s.extend((0..n).map(|b| sums[b].min(ks[b]).max(-ks[b])));
    a.h.clear();
    a.h.resize(n, 0.0);
    let mut q = 0.0;
    for (b, &kb) in ks.iter().enumerate() {
        let sb = a.s[b];
        let acc = if symmetric {
            // h[b] holds the terms of c < b, added in order by the rows before.
            let (row, rest) = a.h[b..].split_at_mut(1);
            let mut acc = row[0];
            for (c, (sc, hc)) in a.s[b + 1..].iter().zip(rest).enumerate() {
                let g = gamma(b, b + 1 + c);
                acc += g * sc;
                *hc += g * sb;
            }
            acc
        } else {
            let mut acc = 0.0;
            for (c, sc) in a.s.iter().enumerate() {
                if c != b {
                    acc += gamma(b, c) * sc;
                }
            }
            acc
        };
        a.h[b] = acc;
        q += kb * kb + sb * acc;
    }
    let root = root_of(q);
    a.d_k.clear();
    a.d_k.resize(n, 0.0);
    a.d_sum.clear();
    a.d_sum.resize(n, 0.0);
    if root <= 0.0 {
        return root;
    }
    for b in 0..n {
        let hb = a.h[b] / root;
        if sums[b] > ks[b] {
            a.d_k[b] = ks[b] / root + hb;
        } else if sums[b] < -ks[b] {
            a.d_k[b] = ks[b] / root - hb;
        } else {
            a.d_k[b] = ks[b] / root;
            a.d_sum[b] = hb;
        }
    }
    root
}

/// [`across`] of one bucket (IR's one currency, FX): its loops reduce to these operations, in
/// this order (no other bucket: `h = 0.0`).
fn across_one(kb: f64, sum: f64, a: &mut Across) -> f64 {
    let sb = sum.min(kb).max(-kb);
    let acc = 0.0;
    let q = 0.0 + (kb * kb + sb * acc);
    let root = root_of(q);
    for v in [&mut a.s, &mut a.h, &mut a.d_k, &mut a.d_sum] {
        v.clear();
    }
    a.s.push(sb);
    a.h.push(acc);
    if root <= 0.0 {
        a.d_k.push(0.0);
        a.d_sum.push(0.0);
        return root;
    }
    let hb = acc / root;
    let (d_k, d_sum) = if sum > kb {
        (kb / root + hb, 0.0)
    } else if sum < -kb {
        (kb / root - hb, 0.0)
    } else {
        (kb / root, hb)
    };
    a.d_k.push(d_k);
    a.d_sum.push(d_sum);
    root
}

fn lambda(theta: f64, q: f64) -> f64 {
    (q * q - 1.0) * (1.0 + theta) - theta
}

/// `max(1, sqrt(|total| / threshold))`. At or below the threshold the quotient rounds to at most
/// 1, so the factor is 1 (the same bits) without the division and the root.
fn conc(total: f64, threshold: f64) -> f64 {
    if total.abs() <= threshold {
        return 1.0;
    }
    1.0f64.max((total.abs() / threshold).sqrt())
}

/// Consecutive runs of equal `key` over the factors, into `out` (cleared first).
fn runs<'a, K: PartialEq>(f: &[Factor<'a>], key: impl Fn(&Factor<'a>) -> K, out: &mut Vec<Range<usize>>) {
    out.clear();
    let mut start = 0;
    while start < f.len() {
        let end = run_end(f, start, &key);
        out.push(start..end);
        start = end;
    }
}

/// First three characters of a currency pair (checked to be six characters when read).
fn head(pair: &str) -> &str {
    pair.char_indices().nth(3).map_or(pair, |(i, _)| &pair[..i])
}

fn tail(pair: &str) -> &str {
    pair.char_indices().nth(3).map_or("", |(i, _)| &pair[i..])
}

/// What one term's aggregation reads, per factor and per bucket, filled by [`ir`], [`fx`] or
/// [`bucketed`] (reused across terms and accounts).
#[derive(Default)]
struct Inputs<'a> {
    /// Per factor: amount, WS, concentration factor (1 where none), an index into the class's
    /// correlation table, the factor group (equal for factors of one qualifier of one bucket),
    /// and the bucket's intra-bucket correlation.
    s: Vec<f64>,
    ws: Vec<f64>,
    cr: Vec<f64>,
    idx: Vec<usize>,
    qid: Vec<u32>,
    intra: Vec<f64>,
    /// 0, 1, ..., n - 1: the factors as their own keys.
    order: Vec<usize>,
    /// Per bucket: its factors, label, concentration factor (IR) and bucket index (EQ / CM).
    members: Vec<Range<usize>>,
    labels: Vec<&'a str>,
    bucket_cr: Vec<f64>,
    bucket_ids: Vec<usize>,
    /// Runs of equal qualifiers.
    qmembers: Vec<Range<usize>>,
    buf: Vec<f64>,
}

impl Inputs<'_> {
    /// Amounts of `f`; the per-factor vectors risk class `rc` reads sized to it (CR 1).
    fn reset(&mut self, f: &[Factor<'_>], rc: usize) {
        let n = f.len();
        self.s.clear();
        self.s.extend(f.iter().map(|x| x.amount));
        if rc == IR || rc == FX {
            self.idx.clear();
            self.idx.resize(n, 0);
        }
        if rc != IR {
            self.order.clear();
            self.order.extend(0..n);
            self.qid.clear();
            self.qid.extend(f.iter().map(|x| x.group));
            self.cr.clear();
            self.cr.resize(n, 1.0);
        }
        if rc != IR && rc != FX {
            self.intra.clear();
            self.intra.resize(n, 0.0);
        }
        self.labels.clear();
        self.bucket_cr.clear();
        self.bucket_ids.clear();
    }

    /// `WS_k = coef_k s_k`.
    fn weigh(&mut self, coef: &[f64]) {
        self.ws.clear();
        self.ws.extend(coef.iter().zip(&self.s).map(|(c, s)| c * s));
    }

    /// Runs of equal qualifiers (of one bucket) into `qmembers`.
    fn qualifier_runs(&mut self, f: &[Factor<'_>]) {
        runs(f, |x| x.group, &mut self.qmembers);
    }
}

/// Scratch and outputs of [`aggregate`] (reused across terms and accounts).
#[derive(Default)]
struct Agg<'a> {
    /// dK_b / dWS_k per factor; K_b and sum WS_b per bucket.
    dk: Vec<f64>,
    ks: Vec<f64>,
    sums: Vec<f64>,
    across: Across,
    buf: Vec<f64>,
    /// The term's buckets: (label, K_b, sum of WS_b).
    buckets: Vec<(&'a str, f64, f64)>,
}

fn ir<'a>(p: &'a SimmParams, f: &[Factor<'a>], mt: usize, sign: f64, w: &mut Work<'a>, off: usize) -> f64 {
    let (ir, d) = (&p.ir, &p.dense);
    let (inp, coef) = (&mut w.inp, &mut w.coef[off..off + f.len()]);
    // A term's factors share product and risk class: a group is a currency.
    runs(f, |x| x.group, &mut inp.members);
    for ms in &inp.members {
        let row = &f[ms.start].row;
        let ccy = row.qualifier;
        inp.labels.push(ccy);
        if mt == CURVATURE {
            inp.bucket_cr.push(1.0);
            for k in ms.clone() {
                coef[k] = ir.terms.curvature_weights[f[k].row.tenor as usize] * sign;
            }
            continue;
        }
        let cur = p.currency_prefixed(row.qprefix, ccy);
        let threshold = if mt == VEGA { cur.ir_vega_threshold } else { cur.ir_delta_threshold };
        let c = conc_of_sum(&inp.s[ms.clone()], threshold);
        inp.bucket_cr.push(c);
        let weights = cur.ir_rw.map(|i| &d.ir_delta_rw[i]);
        for k in ms.clone() {
            let tenor = f[k].row.tenor as usize;
            let rw = if mt == VEGA { ir.terms.vega_rw } else { weights.map_or(f64::NAN, |row| row[tenor]) };
            coef[k] = rw * c;
        }
    }
    inp.weigh(coef);
    for (i, x) in inp.idx.iter_mut().zip(f) {
        let tenor = x.row.tenor as usize;
        *i = if mt == DELTA { d.ir_delta_index(tenor, x.row.label2 as usize) } else { tenor };
    }
    // The closures capture slices by value: their lengths and pointers then stay in registers
    // (captured references to vectors are read again after every store in the loops).
    let (table, dim): (&[f64], usize) = (&d.ir_rho[mt], d.ir_rho_dim[mt]);
    let cr: &[f64] = &inp.bucket_cr;
    let rho = move |a: usize, b: usize| table[a * dim + b];
    let gamma = move |b: usize, c: usize| {
        if mt == CURVATURE {
            ir.inter_currency_corr * ir.inter_currency_corr
        } else {
            conc_ratio(ir.inter_currency_corr, cr[b], cr[c])
        }
    };
    let scale = if mt == CURVATURE { 1.0 / (ir.terms.hvr * ir.terms.hvr) } else { 1.0 };
    let symmetric = d.ir_symmetric;
    let (keys, members, labels) = (&inp.idx[..], &inp.members[..], &inp.labels[..]);
    let shape = Shape { keys, members, labels, residual: false, abs_groups: None, symmetric };
    aggregate(p, mt, &inp.ws, &shape, &rho, &gamma, scale, &mut w.agg, &mut w.grad[off..off + f.len()])
}

fn fx<'a>(p: &'a SimmParams, f: &[Factor<'a>], mt: usize, sign: f64, w: &mut Work<'a>, off: usize) -> f64 {
    let fxp = &p.fx;
    let (inp, coef) = (&mut w.inp, &mut w.coef[off..off + f.len()]);
    inp.qualifier_runs(f);
    let calc = p.dense.fx_calc_group;
    for ms in &inp.qmembers {
        let row = &f[ms.start].row;
        let q = row.qualifier;
        if mt == DELTA {
            let cur = p.currency_prefixed(row.qprefix, q);
            let c = conc_of_sum(&inp.s[ms.clone()], cur.fx_delta_threshold);
            for k in ms.clone() {
                coef[k] = fxp.delta_rw[calc][cur.fx_group] * c;
                inp.cr[k] = c;
                inp.idx[k] = cur.fx_group;
            }
            continue;
        }
        let (a, b) = (p.currency(head(q)), p.currency(tail(q)));
        let sigma = p.sigma_multiplier * fxp.delta_rw[b.fx_group][a.fx_group];
        if mt == VEGA {
            let threshold = p.dense.fx_vega_threshold(a.fx_category, b.fx_category);
            let c = scaled_conc(&mut inp.buf, &inp.s[ms.clone()], sigma * fxp.terms.hvr, threshold);
            for k in ms.clone() {
                coef[k] = fxp.terms.vega_rw * sigma * fxp.terms.hvr * c;
                inp.cr[k] = c;
            }
        } else {
            for k in ms.clone() {
                coef[k] = fxp.terms.curvature_weights[f[k].row.tenor as usize] * sigma * sign;
            }
        }
    }
    inp.weigh(coef);
    let corr = if calc == 1 { &fxp.corr_high } else { &fxp.corr_regular };
    let (group, qid, cr): (&[usize], &[u32], &[f64]) = (&inp.idx, &inp.qid, &inp.cr);
    let rho = move |k: usize, l: usize| {
        if k == l {
            return 1.0;
        }
        let r = if mt == DELTA {
            corr[group[k]][group[l]]
        } else if qid[k] == qid[l] {
            1.0
        } else {
            fxp.vega_corr
        };
        if mt == CURVATURE {
            r * r
        } else {
            conc_ratio(r, cr[k], cr[l])
        }
    };
    let gamma = |_: usize, _: usize| 0.0;
    // FX is one bucket of every factor.
    let all = 0..f.len();
    let symmetric = mt != DELTA || p.dense.fx_symmetric;
    let shape = Shape {
        keys: &inp.order,
        members: std::slice::from_ref(&all),
        labels: &[""],
        residual: false,
        abs_groups: Some(&inp.qmembers),
        symmetric,
    };
    aggregate(p, mt, &inp.ws, &shape, &rho, &gamma, 1.0, &mut w.agg, &mut w.grad[off..off + f.len()])
}

fn bucketed<'a>(
    p: &'a SimmParams,
    bp: &'a BucketedParams,
    f: &[Factor<'a>],
    mt: usize,
    sign: f64,
    w: &mut Work<'a>,
    off: usize,
) -> f64 {
    let (inp, coef) = (&mut w.inp, &mut w.coef[off..off + f.len()]);
    runs(f, |x| x.row.bucket, &mut inp.members);
    for ms in &inp.members {
        let b = f[ms.start].row.bucket as usize;
        inp.bucket_ids.push(b);
        inp.labels.push(bp.name(b));
        inp.intra[ms.clone()].fill(bp.intra[b]);
    }
    inp.qualifier_runs(f);
    for ms in &inp.qmembers {
        let b = f[ms.start].row.bucket as usize;
        let sigma = p.sigma_multiplier * bp.delta_rw[b];
        if mt == DELTA {
            let c = conc_of_sum(&inp.s[ms.clone()], bp.delta_thresholds[b] * p.unit);
            for k in ms.clone() {
                coef[k] = bp.delta_rw[b] * c;
                inp.cr[k] = c;
            }
        } else if mt == VEGA {
            let threshold = bp.vega_thresholds[b] * p.unit;
            let c = scaled_conc(&mut inp.buf, &inp.s[ms.clone()], sigma * bp.hvr, threshold);
            for k in ms.clone() {
                coef[k] = bp.vega_rw[b] * sigma * bp.hvr * c;
                inp.cr[k] = c;
            }
        } else {
            for k in ms.clone() {
                coef[k] = if bp.curvature_zero[b] {
                    0.0
                } else {
                    bp.curvature_weights[f[k].row.tenor as usize] * sigma * sign
                };
            }
        }
    }
    inp.weigh(coef);
    let (qid, cr, intra): (&[u32], &[f64], &[f64]) = (&inp.qid, &inp.cr, &inp.intra);
    let (ids, inter, n_inter): (&[usize], &[f64], usize) = (&inp.bucket_ids, &bp.inter, bp.buckets.len());
    let rho = move |k: usize, l: usize| {
        let r = if qid[k] == qid[l] { 1.0 } else { intra[k] };
        if mt == CURVATURE {
            r * r
        } else {
            conc_ratio(r, cr[k], cr[l])
        }
    };
    // Buckets are in index order, so the residual one (the last index) is the last bucket.
    let residual = ids.last().is_some_and(|&b| bp.is_residual(b));
    let gamma = move |i: usize, j: usize| {
        let r = inter[ids[i] * n_inter + ids[j]];
        if mt == CURVATURE {
            r * r
        } else {
            r
        }
    };
    // Within a bucket rho is symmetric; across, gamma is when the inter-bucket matrix is.
    let (members, labels, abs_groups) = (&inp.members, &inp.labels, Some(&inp.qmembers[..]));
    let shape = Shape { keys: &inp.order, members, labels, residual, abs_groups, symmetric: bp.inter_symmetric };
    aggregate(p, mt, &inp.ws, &shape, &rho, &gamma, 1.0, &mut w.agg, &mut w.grad[off..off + f.len()])
}

/// A term's buckets: their factors and labels, whether the last one is the residual bucket
/// (aggregated apart), the groups whose summed CVR enter the curvature's `sum |CVR|` (None:
/// each factor alone), whether both correlations are symmetric bit for bit, and each factor's
/// key for rho (IR: its row of the correlation table; others: the factor itself).
struct Shape<'s, 'a> {
    keys: &'s [usize],
    members: &'s [Range<usize>],
    labels: &'s [&'a str],
    residual: bool,
    abs_groups: Option<&'s [Range<usize>]>,
    symmetric: bool,
}

/// The term's value from its weighted sensitivities; its buckets into `agg.buckets` and
/// dValue/dWS_k into `grad` (zeroed by the caller).
#[allow(clippy::too_many_arguments)]
fn aggregate<'a>(
    p: &SimmParams,
    mt: usize,
    ws: &[f64],
    shape: &Shape<'_, 'a>,
    rho: &impl Fn(usize, usize) -> f64,
    gamma: &impl Fn(usize, usize) -> f64,
    scale: f64,
    agg: &mut Agg<'a>,
    grad: &mut [f64],
) -> f64 {
    let members = shape.members;
    let nonres = members.len() - usize::from(shape.residual);
    agg.dk.clear();
    agg.dk.resize(ws.len(), 0.0);
    agg.ks.clear();
    agg.sums.clear();
    for ms in members {
        agg.ks.push(within(ws, ms.clone(), shape.keys, rho, shape.symmetric, &mut agg.dk));
        agg.sums.push(fsum(&ws[ms.clone()]));
    }
    let rows = shape.labels.iter().zip(&agg.ks).zip(&agg.sums);
    agg.buckets.extend(rows.map(|((l, k), s)| (*l, *k, *s)));
    let dk = &agg.dk;
    if mt != CURVATURE {
        let mut value = across(&agg.ks[..nonres], &agg.sums[..nonres], gamma, shape.symmetric, &mut agg.across);
        let a = &agg.across;
        for (j, ms) in members[..nonres].iter().enumerate() {
            for k in ms.clone() {
                grad[k] += a.d_k[j] * dk[k] + a.d_sum[j];
            }
        }
        if shape.residual {
            value += agg.ks[nonres];
            for k in members[nonres].clone() {
                grad[k] += dk[k];
            }
        }
        return value;
    }
    let mut value = 0.0;
    // The non-residual buckets together, then the residual one alone.
    let split = members.get(nonres).map_or(ws.len(), |r| r.start);
    for (buckets, factors) in [(0..nonres, 0..split), (nonres..members.len(), split..ws.len())] {
        if buckets.is_empty() {
            continue;
        }
        let total = fsum(&agg.sums[buckets.clone()]);
        agg.buf.clear();
        match shape.abs_groups {
            None => agg.buf.extend(ws[factors.clone()].iter().map(|x| x.abs())),
            Some(groups) => {
                agg.buf.extend(groups.iter().filter(|g| factors.contains(&g.start)).map(|g| fsum(&ws[g.clone()]).abs()))
            }
        }
        let abs_total = fsum(&agg.buf);
        if abs_total == 0.0 {
            continue;
        }
        let theta = (total / abs_total).min(0.0);
        let lm = lambda(theta, p.curvature_q);
        let a = &mut agg.across;
        let root = if buckets.start == nonres {
            a.d_k.clear();
            a.d_k.push(1.0);
            a.d_sum.clear();
            a.d_sum.push(0.0);
            agg.ks[nonres]
        } else {
            across(&agg.ks[buckets.clone()], &agg.sums[buckets.clone()], gamma, shape.symmetric, a)
        };
        let v = total + lm * root;
        if v <= 0.0 {
            continue;
        }
        value += v;
        for (j, ms) in members[buckets].iter().enumerate() {
            for k in ms.clone() {
                grad[k] += 1.0 + lm * (a.d_k[j] * dk[k] + a.d_sum[j]);
            }
        }
    }
    for g in grad.iter_mut() {
        *g *= scale;
    }
    scale * value
}

/// One margin type of one risk class over its factors (sorted by key), their coefficients
/// (`WS_k = coef_k s_k`) and dValue/dWS_k written at `off` of `w.coef` and `w.grad` (zeroed);
/// its buckets into `w.agg.buckets`. Returns the term's value.
fn term<'a>(p: &'a SimmParams, rc: usize, mt: usize, f: &[Factor<'a>], w: &mut Work<'a>, off: usize) -> f64 {
    let sign = if p.post && mt == CURVATURE { -1.0 } else { 1.0 };
    w.inp.reset(f, rc);
    w.agg.buckets.clear();
    match rc {
        IR => ir(p, f, mt, sign, w, off),
        FX => fx(p, f, mt, sign, w, off),
        _ => bucketed(p, p.bucketed(rc), f, mt, sign, w, off),
    }
}

/// Per-task scratch of [`account_simm`], reused across its accounts: once warm, an account
/// allocates nothing.
#[derive(Default)]
pub struct Work<'a> {
    inp: Inputs<'a>,
    agg: Agg<'a>,
    /// Per factor of each term of the current product class, at the term's offset: `coef_k`
    /// and dTerm/dWS_k.
    coef: Vec<f64>,
    grad: Vec<f64>,
    /// The product class's terms: (risk class, factors, offset in `coef` and `grad`).
    terms: Vec<(usize, Range<usize>, usize)>,
}

/// SIMM and breakdown of a run of accounts (one worker chunk), account `i` of the run first
/// in each tuple: flat vectors, not a few small ones per account.
#[derive(Default)]
pub struct AccountSimm<'a> {
    pub totals: Vec<f64>,
    /// (account, product class, SIMM)
    pub product: Vec<(u32, u8, f64)>,
    /// (account, product class, risk class, [delta, vega, curvature], IM)
    pub risk: Vec<(u32, u8, u8, [f64; 3], f64)>,
    pub buckets: BucketRows<'a>,
}

/// The per-bucket rows, a vector per field: a result column reads only its own field (each row
/// is read once per column, and the whole record would be five times the bytes).
#[derive(Default)]
pub struct BucketRows<'a> {
    pub account: Vec<u32>,
    /// (product class, risk class, margin type)
    pub class: Vec<[u8; 3]>,
    pub label: Vec<&'a str>,
    pub k: Vec<f64>,
    pub ws_sum: Vec<f64>,
}

impl<'a> BucketRows<'a> {
    pub fn len(&self) -> usize {
        self.account.len()
    }

    pub fn is_empty(&self) -> bool {
        self.account.is_empty()
    }

    fn reserve(&mut self, more: usize) {
        self.account.reserve(more);
        self.class.reserve(more);
        self.label.reserve(more);
        self.k.reserve(more);
        self.ws_sum.reserve(more);
    }

    fn push(&mut self, account: u32, class: [u8; 3], (label, k, ws_sum): (&'a str, f64, f64)) {
        self.account.push(account);
        self.class.push(class);
        self.label.push(label);
        self.k.push(k);
        self.ws_sum.push(ws_sum);
    }
}

impl AccountSimm<'_> {
    /// After the first account of a run: room for `accounts` like it, and a quarter more (the
    /// vectors then rarely grow, and growing copies and touches fresh memory).
    pub fn reserve_like_first(&mut self, accounts: usize) {
        let room = |n: usize| (n * accounts + n * accounts / 4).saturating_sub(n);
        self.totals.reserve(room(self.totals.len()));
        self.product.reserve(room(self.product.len()));
        self.risk.reserve(room(self.risk.len()));
        self.buckets.reserve(room(self.buckets.len()));
    }
}

/// End of the run of factors from `start` whose `key` equals the first one's.
fn run_end<'a, K: PartialEq>(f: &[Factor<'a>], start: usize, key: impl Fn(&Factor<'a>) -> K) -> usize {
    let first = key(&f[start]);
    let mut end = start + 1;
    while end < f.len() && key(&f[end]) == first {
        end += 1;
    }
    end
}

/// `factors` sorted by key and `keyed` their rows ([`crate::sensitivity::crif::factors`]);
/// `contributions[i]` receives the share of the account's row `i`.
/// The account's figures are appended to `out` under number `account`; `w` is the task's scratch.
/// False when any figure is not finite (amounts or parameters so large that the arithmetic
/// overflowed): the caller reports the account instead of its figures.
#[allow(clippy::too_many_arguments)]
#[must_use]
pub fn account_simm<'a>(
    p: &'a SimmParams,
    factors: &[Factor<'a>],
    keyed: &[Keyed],
    contributions: &mut [f64],
    account: u32,
    out: &mut AccountSimm<'a>,
    w: &mut Work<'a>,
) -> bool {
    let marks = (out.product.len(), out.risk.len(), out.buckets.len());
    let mut total = 0.0;
    let mut start = 0;
    while start < factors.len() {
        let pc = factors[start].row.product_class;
        let mut ims = [0.0f64; 4];
        w.coef.clear();
        w.grad.clear();
        w.terms.clear();
        let mut parts = [0.0; 3];
        // The product class's runs of equal (risk class, vol), found in one pass: each run is
        // one margin type's factors (vol: vega's and curvature's).
        loop {
            let (rc, vol) = (factors[start].row.risk_class as usize, factors[start].row.vol);
            let end = run_end(factors, start, |f| (f.row.product_class, f.row.risk_class, f.row.vol));
            let types: &[usize] = if vol { &[VEGA, CURVATURE] } else { &[DELTA] };
            for &mt in types {
                let off = w.coef.len();
                w.coef.resize(off + end - start, 0.0);
                w.grad.resize(off + end - start, 0.0);
                parts[mt] = term(p, rc, mt, &factors[start..end], w, off);
                for &row in &w.agg.buckets {
                    out.buckets.push(account, [pc, rc as u8, mt as u8], row);
                }
                w.terms.push((rc, start..end, off));
            }
            start = end;
            let next = factors.get(end).map(|f| (f.row.product_class, f.row.risk_class as usize));
            if next != Some((pc, rc)) {
                ims[rc] = parts[0] + parts[1] + parts[2];
                out.risk.push((account, pc, rc as u8, parts, ims[rc]));
                parts = [0.0; 3];
            }
            if next.map(|x| x.0) != Some(pc) {
                break;
            }
        }
        let mut q = 0.0;
        let mut lin = [0.0; 4];
        for r in 0..4 {
            for (s, im) in ims.iter().enumerate() {
                lin[r] += (if r == s { 1.0 } else { p.psi[r][s] }) * im;
            }
            q += ims[r] * lin[r];
        }
        let simm_pc = root_of(q);
        out.product.push((account, pc, simm_pc));
        total += simm_pc;
        for (rc, range, off) in &w.terms {
            let d_im = if simm_pc > 0.0 { lin[*rc] / simm_pc } else { 0.0 };
            let (coef, grad) = (&w.coef[*off..], &w.grad[*off..]);
            // The term's rows are contiguous in factor order: one pass over them, each with its
            // factor (the same products, added in the same order, as factor by factor).
            let (lo, hi) = (factors[range.start].start as usize, factors[range.end - 1].end as usize);
            for row in &keyed[lo..hi] {
                let k = row.factor as usize - range.start;
                contributions[row.position as usize] += coef[k] * row.amount * grad[k] * d_im;
            }
        }
    }
    out.totals.push(total);
    total.is_finite()
        && out.product[marks.0..].iter().all(|x| x.2.is_finite())
        && out.risk[marks.1..].iter().all(|x| x.3.iter().all(|v| v.is_finite()) && x.4.is_finite())
        && out.buckets.k[marks.2..].iter().chain(&out.buckets.ws_sum[marks.2..]).all(|x| x.is_finite())
        && contributions.iter().all(|c| c.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sums_are_exact() {
        assert_eq!(fsum(&[]), 0.0);
        assert_eq!(fsum(&[0.1]), 0.1);
        assert_eq!(fsum(&[0.1, 0.2]), 0.1 + 0.2);
        assert_eq!(fsum(&[1e16, 1.0, -1e16]), 1.0);
    }

    #[test]
    fn within_bucket_is_the_quadratic_form_and_its_gradient() {
        let ws = [3.0, 4.0];
        let rho = |k: usize, l: usize| if k == l { 1.0 } else { 0.0 };
        let mut d = [0.0; 2];
        let k = within(&ws, 0..2, &[0, 1], &rho, false, &mut d);
        assert_eq!(k, 5.0);
        assert_eq!(d, [0.6, 0.8]);
    }

    #[test]
    fn symmetric_forms_give_the_same_bits() {
        let ws = [3.1, -4.7, 0.3, 1e-3, 2.9e5];
        let rho = |k: usize, l: usize| if k == l { 1.0 } else { 0.1 + 0.37 / (1.0 + (k + l) as f64) };
        for members in [0..5, 1..4, 2..3, 0..0, 3..4] {
            let (mut full, mut sym) = ([0.0; 5], [0.0; 5]);
            let keys = [0, 1, 2, 3, 4];
            let a = within(&ws, members.clone(), &keys, &rho, false, &mut full);
            let b = within(&ws, members.clone(), &keys, &rho, true, &mut sym);
            assert_eq!((a.to_bits(), full.map(f64::to_bits)), (b.to_bits(), sym.map(f64::to_bits)));
        }
        let (ks, sums) = ([5.0, 2.0, 7.5, 1.0], [7.0, -1.0, 0.3, -4.0]);
        let (mut full, mut sym) = (Across::default(), Across::default());
        let a = across(&ks, &sums, &rho, false, &mut full);
        let b = across(&ks, &sums, &rho, true, &mut sym);
        assert_eq!(a.to_bits(), b.to_bits());
        assert_eq!((full.h, full.d_k, full.d_sum), (sym.h, sym.d_k, sym.d_sum));
    }

    #[test]
    fn one_factor_buckets_give_the_loops_bits() {
        // The loops' arithmetic for one factor, written out: signed zeros, NaN and infinities
        // included.
        let general = |w: f64, r: f64| {
            let mut acc = 0.0;
            acc += r * w;
            let mut q = 0.0;
            q += w * acc;
            let k = root_of(q);
            (k, if k > 0.0 { acc / k } else { 0.0 })
        };
        for w in [3.5, -2.25, 0.0, -0.0, 1e300, -1e-300, f64::NAN, f64::INFINITY] {
            for r in [1.0, 0.5, -0.0, 1e10] {
                let mut d = [7.0; 3];
                let k = within(&[9.0, w, 9.0], 1..2, &[0, 1, 2], &|_, _| r, true, &mut d);
                let (want_k, want_d) = general(w, r);
                assert_eq!((k.to_bits(), d[1].to_bits()), (want_k.to_bits(), want_d.to_bits()), "{w} {r}");
                assert_eq!((d[0], d[2]), (7.0, 7.0));
            }
        }
    }

    #[test]
    fn one_bucket_across_gives_the_loops_bits() {
        // The general loops on two buckets whose second is all zero (gamma 0 to it) give the
        // first bucket's terms plus exact zeros; compare with the one-bucket path bit for bit.
        let values = [5.0, -2.5, 0.0, -0.0, 1e300, 3e-310, f64::NAN, f64::INFINITY, -f64::INFINITY];
        for &k in &values {
            for &sum in &values {
                let mut one = Across::default();
                let got = across(&[k], &[sum], &|_, _| 0.5, true, &mut one);
                // Written out from the loops for n = 1.
                let sb = sum.min(k).max(-k);
                let root = root_of(0.0 + (k * k + sb * 0.0));
                let (d_k, d_sum) = if root <= 0.0 {
                    (0.0, 0.0)
                } else if sum > k {
                    (k / root + 0.0 / root, 0.0)
                } else if sum < -k {
                    (k / root - 0.0 / root, 0.0)
                } else {
                    (k / root, 0.0 / root)
                };
                let bits = |x: f64| x.to_bits();
                assert_eq!(bits(got), bits(root), "{k} {sum}");
                assert_eq!((bits(one.d_k[0]), bits(one.d_sum[0])), (bits(d_k), bits(d_sum)), "{k} {sum}");
                assert_eq!((one.s.len(), one.h.len(), one.d_k.len(), one.d_sum.len()), (1, 1, 1, 1));
                // The general loops, with a second bucket of exact zeros, agree on the first
                // (a NaN's sign may differ: more operations; NaN figures are reported, never
                // output).
                let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                for symmetric in [true, false] {
                    let mut two = Across::default();
                    let root2 = across(&[k, 0.0], &[sum, 0.0], &|_, _| 0.5, symmetric, &mut two);
                    assert!(same(root2, got), "{k} {sum}");
                    assert!(same(two.d_k[0], d_k) && same(two.d_sum[0], d_sum), "{k} {sum}");
                }
            }
        }
    }

    #[test]
    fn across_buckets_clamps_and_is_euler() {
        // Two buckets, K = (5, 2), sums (7, -1): S = (5, -1), gamma 0.5.
        let (ks, sums) = ([5.0, 2.0], [7.0, -1.0]);
        let mut a = Across::default();
        let root = across(&ks, &sums, &|_, _| 0.5, true, &mut a);
        let (d_k, d_sum) = (&a.d_k, &a.d_sum);
        let q: f64 = 25.0 + 4.0 - 2.0 * 0.5 * 5.0;
        assert!((root - q.sqrt()).abs() < 1e-15);
        // Degree-one homogeneity: K . dK + sums . dSum = root.
        let euler = ks[0] * d_k[0] + ks[1] * d_k[1] + sums[0] * d_sum[0] + sums[1] * d_sum[1];
        assert!((euler - root).abs() < 1e-12);
        assert_eq!(d_sum[0], 0.0); // clamped bucket: only through K
    }

    #[test]
    fn concentration_ratio_skips_only_exact_ones() {
        assert_eq!(conc_ratio(0.3, 1.0, 1.0), 0.3);
        assert_eq!(conc_ratio(0.3, 3.0, 3.0), 0.3 * 3.0 / 3.0);
        assert_eq!(conc_ratio(0.3, 1.0, 2.0), 0.3 * 1.0 / 2.0);
        assert_eq!(conc_ratio(0.3, 2.0, 1.0), 0.3 * 1.0 / 2.0);
    }

    #[test]
    fn runs_split_at_key_changes() {
        let factor = |bucket: u8| Factor {
            row: crate::sensitivity::crif::Row { bucket, ..Default::default() },
            start: 0,
            end: 1,
            amount: 0.0,
            group: 0,
        };
        let f: Vec<Factor<'_>> = [1, 1, 2, 5, 5, 5].into_iter().map(factor).collect();
        // Stale contents are cleared first.
        let mut out = vec![0..9, 9..10];
        runs(&f, |x| x.row.bucket, &mut out);
        assert_eq!(out, [0..2, 2..3, 3..6]);
        runs(&f[..0], |x| x.row.bucket, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn concentration_skips_the_root_only_where_it_is_one() {
        let formula = |t: f64, th: f64| 1.0f64.max((t.abs() / th).sqrt());
        let below = f64::from_bits(1e9f64.to_bits() - 1);
        let above = f64::from_bits(1e9f64.to_bits() + 1);
        for t in [0.0, -0.0, 1.0, -1e9, 1e9, below, above, -above, 4e9, f64::NAN, f64::INFINITY, 1e300] {
            for th in [1e9, above, 1e-300, f64::INFINITY, 0.0] {
                assert_eq!(conc(t, th).to_bits(), formula(t, th).to_bits(), "{t} / {th}");
            }
        }
        assert_eq!(conc(4e9, 1e9), 2.0);
    }

    #[test]
    fn concentration_of_a_sum_is_that_of_its_exact_sum() {
        // Sums just below, at and above the threshold, with cancellation, many terms, tiny and
        // non-finite ones: the bound's shortcut gives the exact sum's factor, bit for bit.
        let mut g = crate::test_support::Lcg(5);
        let th = 1e9;
        let mut cases: Vec<Vec<f64>> = vec![
            vec![4e8, 3e8, 3e8],
            vec![4e8, 3e8, f64::from_bits(3e8f64.to_bits() + 1)],
            vec![5e8, 5e8, -1e-7, 1e-7],
            vec![1e9, -1e9, 1e9, 1e-300],
            vec![f64::NAN, 1.0, 2.0],
            vec![f64::INFINITY, 1.0, 2.0],
            vec![f64::INFINITY, f64::NEG_INFINITY, 2.0],
            vec![3.3e8; 3],
            vec![3.4e8; 3],
        ];
        for n in [3, 10, 50] {
            for scale in [1e6, 3.3e7, 1e8, 2e8] {
                cases.push((0..n).map(|_| (g.next_unit() - 0.5) * scale).collect());
            }
        }
        for values in &cases {
            assert_eq!(conc_of_sum(values, th).to_bits(), conc(fsum(values), th).to_bits(), "{values:?}");
        }
    }

    #[test]
    fn lambda_at_theta_zero_and_minus_one() {
        let q = 2.5758293035489004;
        assert!((lambda(0.0, q) - (q * q - 1.0)).abs() < 1e-15);
        assert!((lambda(-1.0, q) - 1.0).abs() < 1e-15);
    }
}
