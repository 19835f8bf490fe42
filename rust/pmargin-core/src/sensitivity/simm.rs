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

use smallvec::SmallVec;

use crate::domain::exact_sum::exact_sum;
use crate::sensitivity::crif::Factor;
use crate::sensitivity::params::{BucketedParams, SimmParams, FX, IR};

pub const DELTA: usize = 0;
pub const VEGA: usize = 1;
pub const CURVATURE: usize = 2;

/// One margin type of one risk class.
pub struct Term<'a> {
    pub value: f64,
    /// (bucket label, K_b, sum of WS_b)
    pub buckets: Vec<(&'a str, f64, f64)>,
    /// dValue / dWS_k per factor.
    pub grad: Vec<f64>,
    /// WS_k = coef_k * s_k.
    pub coef: Vec<f64>,
}

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

/// Small per-account vectors live on the stack.
type Small<T> = SmallVec<[T; 32]>;

/// `let name: Small<T> = iter.collect()`, built in place: a collected inline vector is returned
/// by value, which copies its whole buffer.
macro_rules! small {
    ($name:ident: $t:ty = $iter:expr) => {
        let mut $name: Small<$t> = SmallVec::new();
        $name.extend($iter);
    };
}

/// `K = sqrt(max(sum_k sum_l rho_kl WS_k WS_l, 0))` over `members`; `dK/dWS_k` into `d[k]`.
fn within(ws: &[f64], members: Range<usize>, rho: &impl Fn(usize, usize) -> f64, d: &mut [f64]) -> f64 {
    let mut q = 0.0;
    for k in members.clone() {
        let mut acc = 0.0;
        for l in members.clone() {
            acc += rho(k, l) * ws[l];
        }
        d[k] = acc;
        q += ws[k] * acc;
    }
    let big_k = q.max(0.0).sqrt();
    for k in members {
        d[k] = if big_k > 0.0 { d[k] / big_k } else { 0.0 };
    }
    big_k
}

/// `sqrt(max(sum_b K_b^2 + sum_{b!=c} gamma_bc S_b S_c, 0))` with `S_b = clamp(sum_b, -K_b, K_b)`,
/// and its derivatives by each K_b and by each bucket's sum of WS into `d_k` and `d_sum` (cleared
/// and filled in place: returning inline vectors copies their whole buffers).
fn across(
    ks: &[f64],
    sums: &[f64],
    gamma: &impl Fn(usize, usize) -> f64,
    d_k: &mut Small<f64>,
    d_sum: &mut Small<f64>,
) -> f64 {
    let n = ks.len();
    let mut s: Small<f64> = SmallVec::new();
    s.extend((0..n).map(|b| sums[b].min(ks[b]).max(-ks[b])));
    let mut h: Small<f64> = SmallVec::new();
    let mut q = 0.0;
    for b in 0..n {
        let mut acc = 0.0;
        for (c, sc) in s.iter().enumerate() {
            if c != b {
                acc += gamma(b, c) * sc;
            }
        }
        h.push(acc);
        q += ks[b] * ks[b] + s[b] * acc;
    }
    let root = q.max(0.0).sqrt();
    d_k.clear();
    d_k.resize(n, 0.0);
    d_sum.clear();
    d_sum.resize(n, 0.0);
    if root <= 0.0 {
        return root;
    }
    for b in 0..n {
        let hb = h[b] / root;
        if sums[b] > ks[b] {
            d_k[b] = ks[b] / root + hb;
        } else if sums[b] < -ks[b] {
            d_k[b] = ks[b] / root - hb;
        } else {
            d_k[b] = ks[b] / root;
            d_sum[b] = hb;
        }
    }
    root
}

fn lambda(theta: f64, q: f64) -> f64 {
    (q * q - 1.0) * (1.0 + theta) - theta
}

fn conc(total: f64, threshold: f64) -> f64 {
    1.0f64.max((total.abs() / threshold).sqrt())
}

/// Consecutive runs of equal `key` over the factors into (labels, members), filled in place.
fn runs<K: PartialEq + Copy>(
    n: usize,
    key: impl Fn(usize) -> K,
    labels: &mut Small<K>,
    members: &mut Small<Range<usize>>,
) {
    for k in 0..n {
        let kk = key(k);
        match members.last_mut() {
            Some(m) if labels.last() == Some(&kk) => m.end = k + 1,
            _ => {
                labels.push(kk);
                members.push(k..k + 1);
            }
        }
    }
}

/// `sum_{k in range} scale * s_k`, correctly rounded.
fn sum_of(s: &[f64], range: Range<usize>, scale: f64) -> f64 {
    small!(v: f64 = s[range].iter().map(|x| scale * x));
    fsum(&v)
}

/// `(value(k), run of k)` for every factor k into (values, ids), given the runs covering 0..n
/// in order.
fn per_factor(
    runs: &[Range<usize>],
    value: impl Fn(usize) -> usize,
    values: &mut Small<usize>,
    ids: &mut Small<usize>,
) {
    for (i, run) in runs.iter().enumerate() {
        for k in run.clone() {
            values.push(value(k));
            ids.push(i);
        }
    }
}

fn fx_group(p: &SimmParams, ccy: &str) -> usize {
    usize::from(p.fx.high_vol.iter().any(|c| c == ccy))
}

fn fx_threshold_group(p: &SimmParams, ccy: &str) -> u8 {
    let g = p.fx.terms.threshold_group.get(ccy).unwrap_or(&p.fx.terms.default_threshold_group);
    g.parse().unwrap_or(3)
}

fn fx_delta_threshold(p: &SimmParams, ccy: &str) -> f64 {
    let g = p.fx.terms.threshold_group.get(ccy).unwrap_or(&p.fx.terms.default_threshold_group);
    p.fx.terms.delta_thresholds.get(g).copied().unwrap_or(f64::INFINITY) * p.unit
}

fn fx_vol_threshold(p: &SimmParams, pair: &str) -> f64 {
    let (a, b) = (fx_threshold_group(p, head(pair)), fx_threshold_group(p, tail(pair)));
    let (a, b) = (a.min(b), a.max(b));
    let key = match (a, b) {
        (1, 1) => "1",
        (1, 2) => "2",
        (1, 3) => "3",
        (2, 2) => "4",
        (2, 3) => "5",
        _ => "6",
    };
    p.fx.terms.vega_thresholds.get(key).copied().unwrap_or(f64::INFINITY) * p.unit
}

/// First three characters of a currency pair (checked to be six characters when read).
fn head(pair: &str) -> &str {
    pair.char_indices().nth(3).map_or(pair, |(i, _)| &pair[..i])
}

fn tail(pair: &str) -> &str {
    pair.char_indices().nth(3).map_or("", |(i, _)| &pair[i..])
}

fn fx_sigma(p: &SimmParams, pair: &str) -> f64 {
    p.sigma_multiplier * p.fx.delta_rw[fx_group(p, tail(pair))][fx_group(p, head(pair))]
}

fn ir_threshold(p: &SimmParams, ccy: &str, vega: bool) -> f64 {
    let g = p.ir.terms.threshold_group.get(ccy).unwrap_or(&p.ir.terms.default_threshold_group);
    let map = if vega { &p.ir.terms.vega_thresholds } else { &p.ir.terms.delta_thresholds };
    map.get(g).copied().unwrap_or(f64::INFINITY) * p.unit
}

fn ir<'a>(p: &'a SimmParams, f: &[Factor<'a>], s: &[f64], mt: usize, sign: f64) -> Term<'a> {
    let ir = &p.ir;
    let n = f.len();
    let (mut labels, mut members) = (SmallVec::new(), SmallVec::new());
    runs(n, |k| f[k].row.qual(), &mut labels, &mut members);
    let mut coef = vec![0.0; n];
    let mut cr: Small<f64> = SmallVec::with_capacity(labels.len());
    for (ccy, ms) in labels.iter().zip(&members) {
        let ccy = ccy.name;
        if mt == CURVATURE {
            cr.push(1.0);
            for k in ms.clone() {
                coef[k] = ir.terms.curvature_weights[f[k].row.tenor as usize] * sign;
            }
            continue;
        }
        let c = conc(fsum(&s[ms.clone()]), ir_threshold(p, ccy, mt == VEGA));
        cr.push(c);
        let bucket = ir.currency_bucket.get(ccy).unwrap_or(&ir.default_bucket);
        let weights = ir.delta_rw.get(bucket);
        for k in ms.clone() {
            let rw =
                if mt == VEGA { ir.terms.vega_rw } else { weights.map_or(f64::NAN, |w| w[f[k].row.tenor as usize]) };
            coef[k] = rw * c;
        }
    }
    small!(ws: f64 = (0..n).map(|k| coef[k] * s[k]));
    let cr: &[f64] = &cr;
    let rho = |k: usize, l: usize| {
        let (a, b) = (&f[k].row, &f[l].row);
        let mut r = ir.tenor_corr[a.tenor as usize][b.tenor as usize];
        if mt == DELTA && a.label2 != b.label2 {
            r *= ir.sub_curve_corr;
        }
        if mt == CURVATURE {
            r * r
        } else {
            r
        }
    };
    let gamma = |b: usize, c: usize| {
        if mt == CURVATURE {
            ir.inter_currency_corr * ir.inter_currency_corr
        } else {
            ir.inter_currency_corr * cr[b].min(cr[c]) / cr[b].max(cr[c])
        }
    };
    small!(nonres: usize = 0..labels.len());
    small!(abs_groups: Range<usize> = (0..n).map(|k| k..k + 1));
    let scale = if mt == CURVATURE { 1.0 / (ir.terms.hvr * ir.terms.hvr) } else { 1.0 };
    small!(names: &'a str = labels.iter().map(|l| l.name));
    aggregate(p, mt, &ws, coef, &names, &members, &nonres, None, &rho, &gamma, &abs_groups, scale)
}

fn fx<'a>(p: &'a SimmParams, f: &[Factor<'a>], s: &[f64], mt: usize, sign: f64) -> Term<'a> {
    let fxp = &p.fx;
    let n = f.len();
    let mut coef = vec![0.0; n];
    let mut cr: Small<f64> = SmallVec::new();
    cr.resize(n, 1.0);
    let (mut quals, mut qmembers) = (SmallVec::new(), SmallVec::new());
    runs(n, |k| f[k].row.qual(), &mut quals, &mut qmembers);
    let calc = fx_group(p, &p.calculation_currency);
    // Each qualifier's volatility group once (a search of the high-volatility list by name).
    small!(qgroup: usize = quals.iter().map(|q| fx_group(p, q.name)));
    for (i, (q, ms)) in quals.iter().zip(&qmembers).enumerate() {
        let q = q.name;
        if mt == DELTA {
            let c = conc(fsum(&s[ms.clone()]), fx_delta_threshold(p, q));
            for k in ms.clone() {
                coef[k] = fxp.delta_rw[calc][qgroup[i]] * c;
                cr[k] = c;
            }
        } else {
            let sigma = fx_sigma(p, q);
            if mt == VEGA {
                let c = conc(sum_of(s, ms.clone(), sigma * fxp.terms.hvr), fx_vol_threshold(p, q));
                for k in ms.clone() {
                    coef[k] = fxp.terms.vega_rw * sigma * fxp.terms.hvr * c;
                    cr[k] = c;
                }
            } else {
                for k in ms.clone() {
                    coef[k] = fxp.terms.curvature_weights[f[k].row.tenor as usize] * sigma * sign;
                }
            }
        }
    }
    small!(ws: f64 = (0..n).map(|k| coef[k] * s[k]));
    let corr = if calc == 1 { &fxp.corr_high } else { &fxp.corr_regular };
    // Per factor once, not per pair: its qualifier's run (factors are sorted by qualifier, so
    // equal qualifiers are one run) and that qualifier's volatility group.
    let (mut unused, mut qid) = (SmallVec::new(), SmallVec::new());
    per_factor(&qmembers, |_| 0, &mut unused, &mut qid);
    small!(group: usize = qid.iter().map(|&i| qgroup[i]));
    let (group, qid, cr): (&[usize], &[usize], &[f64]) = (&group, &qid, &cr);
    let rho = |k: usize, l: usize| {
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
            r * cr[k].min(cr[l]) / cr[k].max(cr[l])
        }
    };
    let gamma = |_: usize, _: usize| 0.0;
    let all = 0..n;
    let nonres = [0];
    aggregate(p, mt, &ws, coef, &[""], std::slice::from_ref(&all), &nonres, None, &rho, &gamma, &qmembers, 1.0)
}

fn bucketed<'a>(
    p: &'a SimmParams,
    bp: &'a BucketedParams,
    f: &[Factor<'a>],
    s: &[f64],
    mt: usize,
    sign: f64,
) -> Term<'a> {
    let n = f.len();
    let mut coef = vec![0.0; n];
    let mut cr: Small<f64> = SmallVec::new();
    cr.resize(n, 1.0);
    let (mut labels, mut members) = (SmallVec::new(), SmallVec::new());
    runs(n, |k| f[k].row.bucket as usize, &mut labels, &mut members);
    let (mut qlabels, mut qmembers) = (SmallVec::new(), SmallVec::new());
    runs(n, |k| (f[k].row.bucket as usize, f[k].row.qual()), &mut qlabels, &mut qmembers);
    for ((b, _), ms) in qlabels.iter().zip(&qmembers) {
        let b = *b;
        let sigma = p.sigma_multiplier * bp.delta_rw[b];
        if mt == DELTA {
            let c = conc(fsum(&s[ms.clone()]), bp.delta_thresholds[b] * p.unit);
            for k in ms.clone() {
                coef[k] = bp.delta_rw[b] * c;
                cr[k] = c;
            }
        } else if mt == VEGA {
            let c = conc(sum_of(s, ms.clone(), sigma * bp.hvr), bp.vega_thresholds[b] * p.unit);
            for k in ms.clone() {
                coef[k] = bp.vega_rw[b] * sigma * bp.hvr * c;
                cr[k] = c;
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
    small!(ws: f64 = (0..n).map(|k| coef[k] * s[k]));
    // Within a bucket, equal qualifiers are one run of `qmembers`.
    let (mut unused, mut qid) = (SmallVec::new(), SmallVec::new());
    per_factor(&qmembers, |_| 0, &mut unused, &mut qid);
    let (qid, cr): (&[usize], &[f64]) = (&qid, &cr);
    let rho = |k: usize, l: usize| {
        let r = if qid[k] == qid[l] { 1.0 } else { bp.intra[f[k].row.bucket as usize] };
        if mt == CURVATURE {
            r * r
        } else {
            r * cr[k].min(cr[l]) / cr[k].max(cr[l])
        }
    };
    small!(nonres: usize = (0..labels.len()).filter(|&i| !bp.is_residual(labels[i])));
    let res = (0..labels.len()).find(|&i| bp.is_residual(labels[i]));
    let (lab, nr): (&[usize], &[usize]) = (&labels, &nonres);
    let gamma = |i: usize, j: usize| {
        let r = bp.inter[lab[nr[i]]][lab[nr[j]]];
        if mt == CURVATURE {
            r * r
        } else {
            r
        }
    };
    small!(names: &'a str = labels.iter().map(|b| bp.name(*b)));
    aggregate(p, mt, &ws, coef, &names, &members, &nonres, res, &rho, &gamma, &qmembers, 1.0)
}

#[allow(clippy::too_many_arguments)]
fn aggregate<'a>(
    p: &SimmParams,
    mt: usize,
    ws: &[f64],
    coef: Vec<f64>,
    labels: &[&'a str],
    members: &[Range<usize>],
    nonres: &[usize],
    res: Option<usize>,
    rho: &impl Fn(usize, usize) -> f64,
    gamma: &impl Fn(usize, usize) -> f64,
    abs_groups: &[Range<usize>],
    scale: f64,
) -> Term<'a> {
    let n = ws.len();
    let mut grad = vec![0.0; n];
    let mut dk: Small<f64> = SmallVec::new();
    dk.resize(n, 0.0);
    let mut ks: Small<f64> = SmallVec::with_capacity(members.len());
    let mut sums: Small<f64> = SmallVec::with_capacity(members.len());
    for ms in members {
        ks.push(within(ws, ms.clone(), rho, &mut dk));
        sums.push(fsum(&ws[ms.clone()]));
    }
    let buckets = labels.iter().enumerate().map(|(i, l)| (*l, ks[i], sums[i])).collect();
    if mt != CURVATURE {
        small!(nk: f64 = nonres.iter().map(|&i| ks[i]));
        small!(ns: f64 = nonres.iter().map(|&i| sums[i]));
        let (mut d_k, mut d_sum) = (SmallVec::new(), SmallVec::new());
        let root = across(&nk, &ns, gamma, &mut d_k, &mut d_sum);
        let mut value = root;
        for (j, &i) in nonres.iter().enumerate() {
            for k in members[i].clone() {
                grad[k] += d_k[j] * dk[k] + d_sum[j];
            }
        }
        if let Some(r) = res {
            value += ks[r];
            for k in members[r].clone() {
                grad[k] += dk[k];
            }
        }
        return Term { value, buckets, grad, coef };
    }
    let mut value = 0.0;
    small!(not_res: usize = (0..members.len()).filter(|&i| Some(i) != res));
    small!(res_part: usize = res.into_iter());
    for (is_res, part) in [(false, &not_res), (true, &res_part)] {
        if part.is_empty() {
            continue;
        }
        let in_part = |k: usize| part.iter().any(|&i| members[i].contains(&k));
        small!(part_sums: f64 = part.iter().map(|&i| sums[i]));
        let total = fsum(&part_sums);
        let in_part_abs = |ag: &Range<usize>| in_part(ag.start).then(|| fsum(&ws[ag.clone()]).abs());
        small!(abs_values: f64 = abs_groups.iter().filter_map(in_part_abs));
        let abs_total = fsum(&abs_values);
        if abs_total == 0.0 {
            continue;
        }
        let theta = (total / abs_total).min(0.0);
        let lm = lambda(theta, p.curvature_q);
        let (mut d_k, mut d_sum): (Small<f64>, Small<f64>) = (SmallVec::new(), SmallVec::new());
        let root = if is_res {
            d_k.push(1.0);
            d_sum.push(0.0);
            ks[part[0]]
        } else {
            small!(pk: f64 = part.iter().map(|&i| ks[i]));
            across(&pk, &part_sums, gamma, &mut d_k, &mut d_sum)
        };
        let v = total + lm * root;
        if v <= 0.0 {
            continue;
        }
        value += v;
        for (j, &i) in part.iter().enumerate() {
            for k in members[i].clone() {
                grad[k] += 1.0 + lm * (d_k[j] * dk[k] + d_sum[j]);
            }
        }
    }
    Term { value: scale * value, buckets, grad: grad.iter().map(|g| scale * g).collect(), coef }
}

/// One margin type of one risk class over its factors (sorted by key).
pub fn term<'a>(p: &'a SimmParams, rc: usize, mt: usize, f: &[Factor<'a>]) -> Term<'a> {
    let sign = if p.post && mt == CURVATURE { -1.0 } else { 1.0 };
    small!(s: f64 = f.iter().map(|x| x.amount));
    match rc {
        IR => ir(p, f, &s, mt, sign),
        FX => fx(p, f, &s, mt, sign),
        _ => bucketed(p, p.bucketed(rc), f, &s, mt, sign),
    }
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
    /// (account, product class, risk class, margin type, bucket, K, sum WS)
    pub buckets: Vec<(u32, u8, u8, u8, &'a str, f64, f64)>,
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
fn run_end<K: PartialEq>(f: &[Factor<'_>], start: usize, key: impl Fn(&Factor<'_>) -> K) -> usize {
    let first = key(&f[start]);
    let mut end = start + 1;
    while end < f.len() && key(&f[end]) == first {
        end += 1;
    }
    end
}

/// `factors` sorted by key, `keyed` their rows and `positions` those rows' places among the
/// account's rows ([`crate::sensitivity::crif::factors`]); `contributions[i]` receives the
/// share of the account's row `i`.
/// The account's figures are appended to `out` under number `account`.
#[allow(clippy::too_many_arguments)]
pub fn account_simm<'a>(
    p: &'a SimmParams,
    factors: &[Factor<'a>],
    keyed: &[u32],
    positions: &[u32],
    amounts: &[f64],
    contributions: &mut [f64],
    account: u32,
    out: &mut AccountSimm<'a>,
) {
    let mut total = 0.0;
    let mut pc_start = 0;
    while pc_start < factors.len() {
        let pc = factors[pc_start].row.product_class;
        let pc_end = run_end(factors, pc_start, |f| f.row.product_class);
        let mut ims = [0.0f64; 4];
        let mut terms: Small<(usize, Range<usize>, Term<'a>)> = SmallVec::new();
        let mut rc_start = pc_start;
        while rc_start < pc_end {
            let rc = factors[rc_start].row.risk_class as usize;
            let rc_end = run_end(&factors[..pc_end], rc_start, |f| f.row.risk_class);
            let mut parts = [0.0; 3];
            let mut vol_start = rc_start;
            while vol_start < rc_end {
                let vol = factors[vol_start].row.vol;
                let vol_end = run_end(&factors[..rc_end], vol_start, |f| f.row.vol);
                let types: &[usize] = if vol { &[VEGA, CURVATURE] } else { &[DELTA] };
                for &mt in types {
                    let t = term(p, rc, mt, &factors[vol_start..vol_end]);
                    parts[mt] = t.value;
                    for &(label, k, s) in &t.buckets {
                        out.buckets.push((account, pc, rc as u8, mt as u8, label, k, s));
                    }
                    terms.push((rc, vol_start..vol_end, t));
                }
                vol_start = vol_end;
            }
            ims[rc] = parts[0] + parts[1] + parts[2];
            out.risk.push((account, pc, rc as u8, parts, ims[rc]));
            rc_start = rc_end;
        }
        let mut q = 0.0;
        let mut lin = [0.0; 4];
        for r in 0..4 {
            for (s, im) in ims.iter().enumerate() {
                lin[r] += (if r == s { 1.0 } else { p.psi[r][s] }) * im;
            }
            q += ims[r] * lin[r];
        }
        let simm_pc = q.max(0.0).sqrt();
        out.product.push((account, pc, simm_pc));
        total += simm_pc;
        for (rc, range, t) in &terms {
            let d_im = if simm_pc > 0.0 { lin[*rc] / simm_pc } else { 0.0 };
            for (k, f) in factors[range.clone()].iter().enumerate() {
                let (start, end) = (f.start as usize, f.end as usize);
                for (&r, &at) in keyed[start..end].iter().zip(&positions[start..end]) {
                    contributions[at as usize] += t.coef[k] * amounts[r as usize] * t.grad[k] * d_im;
                }
            }
        }
        pc_start = pc_end;
    }
    out.totals.push(total);
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
        let k = within(&ws, 0..2, &rho, &mut d);
        assert_eq!(k, 5.0);
        assert_eq!(d, [0.6, 0.8]);
    }

    #[test]
    fn across_buckets_clamps_and_is_euler() {
        // Two buckets, K = (5, 2), sums (7, -1): S = (5, -1), gamma 0.5.
        let (ks, sums) = ([5.0, 2.0], [7.0, -1.0]);
        let (mut d_k, mut d_sum) = (SmallVec::new(), SmallVec::new());
        let root = across(&ks, &sums, &|_, _| 0.5, &mut d_k, &mut d_sum);
        let q: f64 = 25.0 + 4.0 - 2.0 * 0.5 * 5.0;
        assert!((root - q.sqrt()).abs() < 1e-15);
        // Degree-one homogeneity: K . dK + sums . dSum = root.
        let euler = ks[0] * d_k[0] + ks[1] * d_k[1] + sums[0] * d_sum[0] + sums[1] * d_sum[1];
        assert!((euler - root).abs() < 1e-12);
        assert_eq!(d_sum[0], 0.0); // clamped bucket: only through K
    }

    #[test]
    fn lambda_at_theta_zero_and_minus_one() {
        let q = 2.5758293035489004;
        assert!((lambda(0.0, q) - (q * q - 1.0)).abs() < 1e-15);
        assert!((lambda(-1.0, q) - 1.0).abs() < 1e-15);
    }
}
