//! ISDA SIMM of one account from its netted risk factors, with each row's Euler contribution
//! (docs/simm.md). Per (product class, risk class, margin type): weighted sensitivities
//! `WS_k = c_k s_k`, `K_b` per bucket with the risk-factor correlations, the buckets aggregated
//! with the bucket correlations; IM per risk class = delta + vega + curvature; per product class
//! `sqrt(sum psi IM IM)`; SIMM = the sum over product classes.
//!
//! Contributions: with the concentration factors and the curvature's theta held fixed, SIMM is
//! positively homogeneous of degree one in the sensitivities, so `s_r dSIMM/ds_r` over the rows
//! adds up to the total. The gradient runs the same steps backwards.

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

/// `K = sqrt(max(sum_k sum_l rho_kl WS_k WS_l, 0))` over `members`, and `dK/dWS_k`.
fn within(ws: &[f64], members: &[usize], rho: &dyn Fn(usize, usize) -> f64) -> (f64, Vec<f64>) {
    let mut q = 0.0;
    let mut lin = Vec::with_capacity(members.len());
    for &k in members {
        let mut acc = 0.0;
        for &l in members {
            acc += rho(k, l) * ws[l];
        }
        lin.push(acc);
        q += ws[k] * acc;
    }
    let big_k = q.max(0.0).sqrt();
    let d = lin.iter().map(|x| if big_k > 0.0 { x / big_k } else { 0.0 }).collect();
    (big_k, d)
}

/// `sqrt(max(sum_b K_b^2 + sum_{b!=c} gamma_bc S_b S_c, 0))` with `S_b = clamp(sum_b, -K_b, K_b)`,
/// and its derivatives by each K_b and by each bucket's sum of WS.
fn across(ks: &[f64], sums: &[f64], gamma: &dyn Fn(usize, usize) -> f64) -> (f64, Vec<f64>, Vec<f64>) {
    let n = ks.len();
    let s: Vec<f64> = (0..n).map(|b| sums[b].min(ks[b]).max(-ks[b])).collect();
    let mut h = Vec::with_capacity(n);
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
    if root <= 0.0 {
        return (root, vec![0.0; n], vec![0.0; n]);
    }
    let mut d_k = Vec::with_capacity(n);
    let mut d_sum = Vec::with_capacity(n);
    for b in 0..n {
        let hb = h[b] / root;
        if sums[b] > ks[b] {
            d_k.push(ks[b] / root + hb);
            d_sum.push(0.0);
        } else if sums[b] < -ks[b] {
            d_k.push(ks[b] / root - hb);
            d_sum.push(0.0);
        } else {
            d_k.push(ks[b] / root);
            d_sum.push(hb);
        }
    }
    (root, d_k, d_sum)
}

fn lambda(theta: f64, q: f64) -> f64 {
    (q * q - 1.0) * (1.0 + theta) - theta
}

fn conc(total: f64, threshold: f64) -> f64 {
    1.0f64.max((total.abs() / threshold).sqrt())
}

/// Consecutive runs of equal `key` over the factors: (labels, members).
fn runs<K: PartialEq + Copy>(n: usize, key: impl Fn(usize) -> K) -> (Vec<K>, Vec<Vec<usize>>) {
    let mut labels: Vec<K> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for k in 0..n {
        let kk = key(k);
        if labels.last() != Some(&kk) {
            labels.push(kk);
            members.push(Vec::new());
        }
        if let Some(m) = members.last_mut() {
            m.push(k);
        }
    }
    (labels, members)
}

fn fx_group(p: &SimmParams, ccy: &str) -> usize {
    usize::from(p.fx.high_vol.iter().any(|c| c == ccy))
}

fn fx_threshold_group(p: &SimmParams, ccy: &str) -> u8 {
    let g = p.fx.threshold_group.get(ccy).unwrap_or(&p.fx.default_threshold_group);
    g.parse().unwrap_or(3)
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
    p.fx.vega_thresholds.get(key).copied().unwrap_or(f64::INFINITY) * p.unit
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
    let g = p.ir.threshold_group.get(ccy).unwrap_or(&p.ir.default_threshold_group);
    let map = if vega { &p.ir.vega_thresholds } else { &p.ir.delta_thresholds };
    map.get(g).copied().unwrap_or(f64::INFINITY) * p.unit
}

fn ir<'a>(p: &'a SimmParams, f: &[&Factor<'a>], s: &[f64], mt: usize, sign: f64) -> Term<'a> {
    let ir = &p.ir;
    let n = f.len();
    let (labels, members) = runs(n, |k| f[k].row.qualifier);
    let mut coef = vec![0.0; n];
    let mut cr = Vec::with_capacity(labels.len());
    for (ccy, ms) in labels.iter().zip(&members) {
        if mt == CURVATURE {
            cr.push(1.0);
            for &k in ms {
                coef[k] = ir.curvature_weights[f[k].row.tenor as usize] * sign;
            }
            continue;
        }
        let amounts: Vec<f64> = ms.iter().map(|&k| s[k]).collect();
        let c = conc(exact_sum(&amounts), ir_threshold(p, ccy, mt == VEGA));
        cr.push(c);
        let bucket = ir.currency_bucket.get(*ccy).unwrap_or(&ir.default_bucket);
        for &k in ms {
            let rw = if mt == VEGA {
                ir.vega_rw
            } else {
                ir.delta_rw.get(bucket).map_or(f64::NAN, |w| w[f[k].row.tenor as usize])
            };
            coef[k] = rw * c;
        }
    }
    let ws: Vec<f64> = (0..n).map(|k| coef[k] * s[k]).collect();
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
    let names: Vec<&'a str> = labels.clone();
    let nonres: Vec<usize> = (0..labels.len()).collect();
    let abs_groups: Vec<Vec<usize>> = (0..n).map(|k| vec![k]).collect();
    let scale = if mt == CURVATURE { 1.0 / (ir.hvr * ir.hvr) } else { 1.0 };
    aggregate(p, mt, &ws, coef, names, &members, &nonres, None, &rho, &gamma, &abs_groups, scale)
}

fn fx<'a>(p: &'a SimmParams, f: &[&Factor<'a>], s: &[f64], mt: usize, sign: f64) -> Term<'a> {
    let fxp = &p.fx;
    let n = f.len();
    let mut coef = vec![0.0; n];
    let mut cr = vec![1.0; n];
    let (quals, qmembers) = runs(n, |k| f[k].row.qualifier);
    let calc = fx_group(p, &p.calculation_currency);
    for (q, ms) in quals.iter().zip(&qmembers) {
        if mt == DELTA {
            let amounts: Vec<f64> = ms.iter().map(|&k| s[k]).collect();
            let threshold = fxp
                .delta_thresholds
                .get(fx_threshold_group(p, q).to_string().as_str())
                .copied()
                .unwrap_or(f64::INFINITY);
            let c = conc(exact_sum(&amounts), threshold * p.unit);
            for &k in ms {
                coef[k] = fxp.delta_rw[calc][fx_group(p, q)] * c;
                cr[k] = c;
            }
        } else {
            let sigma = fx_sigma(p, q);
            if mt == VEGA {
                let amounts: Vec<f64> = ms.iter().map(|&k| sigma * fxp.hvr * s[k]).collect();
                let c = conc(exact_sum(&amounts), fx_vol_threshold(p, q));
                for &k in ms {
                    coef[k] = fxp.vega_rw * sigma * fxp.hvr * c;
                    cr[k] = c;
                }
            } else {
                for &k in ms {
                    coef[k] = fxp.curvature_weights[f[k].row.tenor as usize] * sigma * sign;
                }
            }
        }
    }
    let ws: Vec<f64> = (0..n).map(|k| coef[k] * s[k]).collect();
    let corr = if calc == 1 { &fxp.corr_high } else { &fxp.corr_regular };
    let rho = |k: usize, l: usize| {
        if k == l {
            return 1.0;
        }
        let (a, b) = (&f[k].row, &f[l].row);
        let r = if mt == DELTA {
            corr[fx_group(p, a.qualifier)][fx_group(p, b.qualifier)]
        } else if a.qualifier == b.qualifier {
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
    let all: Vec<Vec<usize>> = vec![(0..n).collect()];
    aggregate(p, mt, &ws, coef, vec![""], &all, &[0], None, &rho, &gamma, &qmembers, 1.0)
}

fn bucketed<'a>(
    p: &'a SimmParams,
    bp: &'a BucketedParams,
    f: &[&Factor<'a>],
    s: &[f64],
    mt: usize,
    sign: f64,
) -> Term<'a> {
    let n = f.len();
    let mut coef = vec![0.0; n];
    let mut cr = vec![1.0; n];
    let (labels, members) = runs(n, |k| f[k].row.bucket as usize);
    let (qlabels, qmembers) = runs(n, |k| (f[k].row.bucket as usize, f[k].row.qualifier));
    for ((b, _), ms) in qlabels.iter().zip(&qmembers) {
        let b = *b;
        let sigma = p.sigma_multiplier * bp.delta_rw[b];
        if mt == DELTA {
            let amounts: Vec<f64> = ms.iter().map(|&k| s[k]).collect();
            let c = conc(exact_sum(&amounts), bp.delta_thresholds[b] * p.unit);
            for &k in ms {
                coef[k] = bp.delta_rw[b] * c;
                cr[k] = c;
            }
        } else if mt == VEGA {
            let amounts: Vec<f64> = ms.iter().map(|&k| sigma * bp.hvr * s[k]).collect();
            let c = conc(exact_sum(&amounts), bp.vega_thresholds[b] * p.unit);
            for &k in ms {
                coef[k] = bp.vega_rw[b] * sigma * bp.hvr * c;
                cr[k] = c;
            }
        } else {
            for &k in ms {
                coef[k] = if bp.curvature_zero[b] {
                    0.0
                } else {
                    bp.curvature_weights[f[k].row.tenor as usize] * sigma * sign
                };
            }
        }
    }
    let ws: Vec<f64> = (0..n).map(|k| coef[k] * s[k]).collect();
    let rho = |k: usize, l: usize| {
        let (a, b) = (&f[k].row, &f[l].row);
        let r = if a.qualifier == b.qualifier { 1.0 } else { bp.intra[a.bucket as usize] };
        if mt == CURVATURE {
            r * r
        } else {
            r * cr[k].min(cr[l]) / cr[k].max(cr[l])
        }
    };
    let nonres: Vec<usize> = (0..labels.len()).filter(|&i| !bp.is_residual(labels[i])).collect();
    let res = (0..labels.len()).find(|&i| bp.is_residual(labels[i]));
    let gamma = |i: usize, j: usize| {
        let r = bp.inter[labels[nonres[i]]][labels[nonres[j]]];
        if mt == CURVATURE {
            r * r
        } else {
            r
        }
    };
    let names: Vec<&'a str> = labels.iter().map(|b| bp.name(*b)).collect();
    aggregate(p, mt, &ws, coef, names, &members, &nonres, res, &rho, &gamma, &qmembers, 1.0)
}

#[allow(clippy::too_many_arguments)]
fn aggregate<'a>(
    p: &SimmParams,
    mt: usize,
    ws: &[f64],
    coef: Vec<f64>,
    labels: Vec<&'a str>,
    members: &[Vec<usize>],
    nonres: &[usize],
    res: Option<usize>,
    rho: &dyn Fn(usize, usize) -> f64,
    gamma: &dyn Fn(usize, usize) -> f64,
    abs_groups: &[Vec<usize>],
    scale: f64,
) -> Term<'a> {
    let n = ws.len();
    let mut grad = vec![0.0; n];
    let mut ks = Vec::with_capacity(members.len());
    let mut dks = Vec::with_capacity(members.len());
    let mut sums = Vec::with_capacity(members.len());
    let mut bucket_of = vec![0usize; n];
    for (i, ms) in members.iter().enumerate() {
        let (k, dk) = within(ws, ms, rho);
        ks.push(k);
        dks.push(dk);
        let v: Vec<f64> = ms.iter().map(|&k| ws[k]).collect();
        sums.push(exact_sum(&v));
        for &k in ms {
            bucket_of[k] = i;
        }
    }
    let buckets = labels.into_iter().enumerate().map(|(i, l)| (l, ks[i], sums[i])).collect();
    let spread = |grad: &mut Vec<f64>, i: usize, weight: f64| {
        for (j, &k) in members[i].iter().enumerate() {
            grad[k] += weight * dks[i][j];
        }
    };
    if mt != CURVATURE {
        let nk: Vec<f64> = nonres.iter().map(|&i| ks[i]).collect();
        let ns: Vec<f64> = nonres.iter().map(|&i| sums[i]).collect();
        let (root, d_k, d_sum) = across(&nk, &ns, gamma);
        let mut value = root;
        for (j, &i) in nonres.iter().enumerate() {
            spread(&mut grad, i, d_k[j]);
            for &k in &members[i] {
                grad[k] += d_sum[j];
            }
        }
        if let Some(r) = res {
            value += ks[r];
            spread(&mut grad, r, 1.0);
        }
        return Term { value, buckets, grad, coef };
    }
    let mut value = 0.0;
    let not_res: Vec<usize> = (0..members.len()).filter(|&i| Some(i) != res).collect();
    let res_part: Vec<usize> = res.into_iter().collect();
    for (is_res, part) in [(false, &not_res), (true, &res_part)] {
        if part.is_empty() {
            continue;
        }
        let in_part = |b: usize| part.contains(&b);
        let part_sums: Vec<f64> = part.iter().map(|&i| sums[i]).collect();
        let total = exact_sum(&part_sums);
        let abs_values: Vec<f64> = abs_groups
            .iter()
            .filter(|ag| in_part(bucket_of[ag[0]]))
            .map(|ag| {
                let v: Vec<f64> = ag.iter().map(|&k| ws[k]).collect();
                exact_sum(&v).abs()
            })
            .collect();
        let abs_total = exact_sum(&abs_values);
        if abs_total == 0.0 {
            continue;
        }
        let theta = (total / abs_total).min(0.0);
        let lm = lambda(theta, p.curvature_q);
        let (root, d_k, d_sum) = if is_res {
            (ks[part[0]], vec![1.0], vec![0.0])
        } else {
            let pk: Vec<f64> = part.iter().map(|&i| ks[i]).collect();
            across(&pk, &part_sums, gamma)
        };
        let v = total + lm * root;
        if v <= 0.0 {
            continue;
        }
        value += v;
        for (j, &i) in part.iter().enumerate() {
            for (jj, &k) in members[i].iter().enumerate() {
                grad[k] += 1.0 + lm * (d_k[j] * dks[i][jj] + d_sum[j]);
            }
        }
    }
    Term { value: scale * value, buckets, grad: grad.iter().map(|g| scale * g).collect(), coef }
}

/// One margin type of one risk class over its factors (sorted by key).
pub fn term<'a>(p: &'a SimmParams, rc: usize, mt: usize, f: &[&Factor<'a>]) -> Term<'a> {
    let sign = if p.post && mt == CURVATURE { -1.0 } else { 1.0 };
    let s: Vec<f64> = f.iter().map(|x| x.amount).collect();
    match rc {
        IR => ir(p, f, &s, mt, sign),
        FX => fx(p, f, &s, mt, sign),
        _ => bucketed(p, p.bucketed(rc), f, &s, mt, sign),
    }
}

/// One account's SIMM and breakdown.
#[derive(Default)]
pub struct AccountSimm<'a> {
    pub total: f64,
    pub product: Vec<(u8, f64)>,
    /// (product class, risk class, [delta, vega, curvature], IM)
    pub risk: Vec<(u8, u8, [f64; 3], f64)>,
    /// (product class, risk class, margin type, bucket, K, sum WS)
    pub buckets: Vec<(u8, u8, u8, &'a str, f64, f64)>,
}

/// `rows`: the account's rows (ascending); `contributions[i]` receives row `rows[i]`'s share.
pub fn account_simm<'a>(
    p: &'a SimmParams,
    factors: &[Factor<'a>],
    amounts: &[f64],
    rows: &[u32],
    contributions: &mut [f64],
) -> AccountSimm<'a> {
    let mut out = AccountSimm::default();
    for pc in 0..4u8 {
        let in_pc: Vec<&Factor<'a>> = factors.iter().filter(|f| f.row.product_class == pc).collect();
        if in_pc.is_empty() {
            continue;
        }
        let mut ims = [0.0f64; 4];
        let mut terms: Vec<(usize, Vec<&Factor<'a>>, Term<'a>)> = Vec::new();
        for rc in 0..4usize {
            let in_rc: Vec<&Factor<'a>> = in_pc.iter().copied().filter(|f| f.row.risk_class as usize == rc).collect();
            if in_rc.is_empty() {
                continue;
            }
            let mut parts = [0.0; 3];
            for mt in [DELTA, VEGA, CURVATURE] {
                let fs: Vec<&Factor<'a>> = in_rc.iter().copied().filter(|f| f.row.vol == (mt != DELTA)).collect();
                if fs.is_empty() {
                    continue;
                }
                let t = term(p, rc, mt, &fs);
                parts[mt] = t.value;
                for &(label, k, s) in &t.buckets {
                    out.buckets.push((pc, rc as u8, mt as u8, label, k, s));
                }
                terms.push((rc, fs, t));
            }
            ims[rc] = parts[0] + parts[1] + parts[2];
            out.risk.push((pc, rc as u8, parts, ims[rc]));
        }
        let mut q = 0.0;
        let mut lin = [0.0; 4];
        for r in 0..4 {
            for s in 0..4 {
                lin[r] += (if r == s { 1.0 } else { p.psi[r][s] }) * ims[s];
            }
            q += ims[r] * lin[r];
        }
        let simm_pc = q.max(0.0).sqrt();
        out.product.push((pc, simm_pc));
        out.total += simm_pc;
        for (rc, fs, t) in &terms {
            let d_im = if simm_pc > 0.0 { lin[*rc] / simm_pc } else { 0.0 };
            for (k, f) in fs.iter().enumerate() {
                for &r in &f.rows {
                    let at = rows.binary_search(&r).unwrap_or(0);
                    contributions[at] += t.coef[k] * amounts[r as usize] * t.grad[k] * d_im;
                }
            }
        }
    }
    out
}
