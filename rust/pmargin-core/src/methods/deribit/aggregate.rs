//! One account under Deribit portfolio margin: its positions summed into risk vectors (one per
//! underlying and settlement), each vector's dampened and offset entries, worst case, roll
//! shock and delta shock, then the account's USD totals. Accounts are independent and run in
//! parallel (each thread reuses its buffers); every sum runs in the book's canonical order.

use rayon::prelude::*;
use smallvec::SmallVec;

use super::matrix::{moves, EXTENDED_MOVES};
use super::params::DeribitParams;
use crate::domain::book::Book;
use crate::risk::addons::{delta_shock_rate, roll_charge, roll_rate};

/// Roll key of perpetuals (spot has none: no roll).
pub const PERPETUAL: i64 = i64::MIN;

/// Per contract, what aggregation reads (built once by the method).
pub struct ContractRisk {
    /// Index into the method's parameter sets.
    pub params: u32,
    pub underlying: u32,
    pub inverse: bool,
    /// Standard then extended entries per unit: `rows[start..start + len]` of the method.
    pub start: usize,
    pub len: usize,
    pub forward_delta: f64,
    /// Roll bucket: None for spot (no roll), Some(PERPETUAL) for perpetuals, else the expiry.
    pub roll_key: Option<i64>,
    /// Years to expiry (the bucket's T).
    pub t: f64,
}

/// The roll rate of the contract's expiry bucket (0 for spot, which has no roll).
pub fn contract_roll_rate(risk: &ContractRisk, p: &DeribitParams) -> f64 {
    let Some(key) = risk.roll_key else { return 0.0 };
    let (min_move, annual) = if risk.inverse {
        (p.min_annualised_move_coin, p.annualised_move_risk_coin)
    } else {
        (p.min_annualised_move_usd, p.annualised_move_risk_usd)
    };
    roll_rate(min_move, annual, if key == PERPETUAL { None } else { Some(risk.t) })
}

/// The most one unit of the contract adds to a vector's roll and delta shocks: `|delta| x (roll
/// rate + max_delta_shock)`, x the index for USD vectors.
pub fn contract_addon_scale(risk: &ContractRisk, p: &DeribitParams, index: f64) -> f64 {
    let addons = risk.forward_delta.abs() * (contract_roll_rate(risk, p) + p.max_delta_shock);
    if risk.inverse {
        addons
    } else {
        addons * index
    }
}

/// Where a vector's worst case sits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Worst {
    pub extended: bool,
    /// Index within the standard (3 per move) or extended entries.
    pub index: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorOutcome {
    pub underlying: u32,
    pub inverse: bool,
    pub params: u32,
    pub index_price: f64,
    pub worst_case: f64,
    pub worst: Option<Worst>,
    pub roll_shock: f64,
    pub delta_shock: f64,
    pub net_delta: f64,
    pub risk_matrix_margin: f64,
    pub maintenance: f64,
    /// Risk-matrix margin and maintenance in USD (coin amounts x index for inverse vectors).
    pub margin_usd: f64,
    pub maintenance_usd: f64,
}

impl VectorOutcome {
    pub fn usd(&self, x: f64) -> f64 {
        if self.inverse {
            x * self.index_price
        } else {
            x
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountOutcome {
    pub vectors: SmallVec<[VectorOutcome; 1]>,
    pub initial: f64,
    pub maintenance: f64,
    pub worst_case: f64,
    pub roll_shock: f64,
    pub delta_shock: f64,
}

/// What aggregation needs besides the book.
pub struct Context<'a> {
    pub params: &'a [DeribitParams],
    pub risk: &'a [Option<ContractRisk>],
    pub rows: &'a [f64],
    pub spot: &'a [f64],
}

/// An account's risk vector before any adjustment.
#[derive(Default)]
pub struct RawVector {
    pub underlying: u32,
    pub inverse: bool,
    pub params: u32,
    pub pnl: Vec<f64>,
    pub net_delta: f64,
    /// (roll key, T, delta) per expiry bucket, first-seen order.
    pub buckets: Vec<(i64, f64, f64)>,
}

/// One thread's reusable risk vectors: the first `used` are the current account's.
#[derive(Default)]
pub struct Scratch {
    pub vectors: Vec<RawVector>,
    pub used: usize,
}

/// Sum an account's positions into raw risk vectors, first-seen order (`scratch.vectors[..used]`).
pub fn raw_vectors(book: &Book, a: usize, ctx: &Context<'_>, scratch: &mut Scratch) {
    scratch.used = 0;
    for p in book.positions(a) {
        let c = book.instrument[p] as usize;
        let q = book.quantity[p];
        let Some(risk) = &ctx.risk[c] else { continue };
        let found = scratch.vectors[..scratch.used]
            .iter()
            .position(|v| v.underlying == risk.underlying && v.inverse == risk.inverse);
        let k = match found {
            Some(k) => k,
            None => {
                if scratch.vectors.len() == scratch.used {
                    scratch.vectors.push(RawVector::default());
                }
                let v = &mut scratch.vectors[scratch.used];
                (v.underlying, v.inverse, v.params, v.net_delta) = (risk.underlying, risk.inverse, risk.params, 0.0);
                v.pnl.clear();
                v.pnl.resize(risk.len, 0.0);
                v.buckets.clear();
                scratch.used += 1;
                scratch.used - 1
            }
        };
        let v = &mut scratch.vectors[k];
        let row = &ctx.rows[risk.start..risk.start + risk.len];
        for (acc, x) in v.pnl.iter_mut().zip(row) {
            *acc += q * x;
        }
        let delta = q * risk.forward_delta;
        v.net_delta += delta;
        if let Some(key) = risk.roll_key {
            match v.buckets.iter_mut().find(|b| b.0 == key) {
                Some(b) => b.2 += delta,
                None => v.buckets.push((key, risk.t, 0.0 + delta)),
            }
        }
    }
}

/// Entry `j` of a raw vector adjusted: an extended entry moves toward zero by the dampener
/// (USD; in coin at the standard table's edge price for coin vectors), then a gain is
/// multiplied by `pnl_offset` and capped at `max_offsetable_pnl` (USD) when that is > 0.
#[inline]
fn adjust(inverse: bool, p: &DeribitParams, index: f64, n_standard: usize, j: usize, v: f64) -> f64 {
    let mut v = v;
    if j >= n_standard {
        let e = EXTENDED_MOVES[j - n_standard];
        let (r, damp) = (p.price_range, if inverse { p.extended_dampener_coin } else { p.extended_dampener_usd });
        let sign = if e < 0.0 { -1.0 } else { 1.0 };
        let d =
            if inverse { (e.abs() / r - 1.0) * damp / ((1.0 + sign * r) * index) } else { (e.abs() / r - 1.0) * damp };
        if v > 0.0 {
            v -= if d < v { d } else { v };
        } else if v < 0.0 {
            v += if d < -v { d } else { -v };
        }
    }
    if v > 0.0 {
        v *= if inverse { p.pnl_offset_coin } else { p.pnl_offset_usd };
        let cap = if inverse { p.max_offsetable_pnl / index } else { p.max_offsetable_pnl };
        if p.max_offsetable_pnl > 0.0 && v > cap {
            v = cap;
        }
    }
    v
}

/// Every adjusted entry of a raw vector (the risk vectors table).
pub fn adjusted(raw: &RawVector, p: &DeribitParams, index: f64) -> Vec<f64> {
    let n_standard = raw.pnl.len() - EXTENDED_MOVES.len();
    raw.pnl.iter().enumerate().map(|(j, &v)| adjust(raw.inverse, p, index, n_standard, j, v)).collect()
}

/// The least adjusted entry and where: standard moves in order, within a move the unchanged
/// vol first (then down, up), then the extended entries; the first strictly least wins.
pub fn least(raw: &RawVector, p: &DeribitParams, index: f64) -> (f64, Worst) {
    let n_standard = raw.pnl.len() - EXTENDED_MOVES.len();
    let at = |j: usize| adjust(raw.inverse, p, index, n_standard, j, raw.pnl[j]);
    let mut best = (at(1), Worst { extended: false, index: 1 });
    for i in 0..n_standard / 3 {
        for k in [1, 0, 2] {
            let j = 3 * i + k;
            let x = at(j);
            if x < best.0 {
                best = (x, Worst { extended: false, index: j as u32 });
            }
        }
    }
    for j in 0..EXTENDED_MOVES.len() {
        let x = at(n_standard + j);
        if x < best.0 {
            best = (x, Worst { extended: true, index: j as u32 });
        }
    }
    best
}

fn vector_outcome(raw: &RawVector, ctx: &Context<'_>) -> VectorOutcome {
    let p = &ctx.params[raw.params as usize];
    let index = ctx.spot[raw.underlying as usize];
    let (low, at) = least(raw, p, index);
    let (worst_case, worst) = if low < 0.0 { (-low, Some(at)) } else { (0.0, None) };
    let (min_move, annual) = if raw.inverse {
        (p.min_annualised_move_coin, p.annualised_move_risk_coin)
    } else {
        (p.min_annualised_move_usd, p.annualised_move_risk_usd)
    };
    let buckets = raw
        .buckets
        .iter()
        .map(|&(key, t, delta)| (delta, roll_rate(min_move, annual, if key == PERPETUAL { None } else { Some(t) })));
    // Deltas are in underlying units: a coin amount for inverse vectors, x index for USD ones.
    let to_ccy = |x: f64| if raw.inverse { x } else { x * index };
    let roll_shock = to_ccy(roll_charge(buckets));
    let abs_delta = raw.net_delta.abs();
    let rate = delta_shock_rate(abs_delta, index, p.delta_total_liq_shock_threshold, p.m_inc, p.max_delta_shock);
    let delta_shock = to_ccy(abs_delta * rate);
    let risk_matrix_margin = worst_case + roll_shock + delta_shock;
    let maintenance = p.mm_factor * risk_matrix_margin;
    let mut out = VectorOutcome {
        underlying: raw.underlying,
        inverse: raw.inverse,
        params: raw.params,
        index_price: index,
        worst_case,
        worst,
        roll_shock,
        delta_shock,
        net_delta: raw.net_delta,
        risk_matrix_margin,
        maintenance,
        margin_usd: 0.0,
        maintenance_usd: 0.0,
    };
    out.margin_usd = out.usd(risk_matrix_margin);
    out.maintenance_usd = out.usd(maintenance);
    out
}

pub fn account_outcome(book: &Book, a: usize, ctx: &Context<'_>, scratch: &mut Scratch) -> AccountOutcome {
    raw_vectors(book, a, ctx, scratch);
    let vectors: SmallVec<[VectorOutcome; 1]> =
        scratch.vectors[..scratch.used].iter().map(|raw| vector_outcome(raw, ctx)).collect();
    let sum = |f: &dyn Fn(&VectorOutcome) -> f64| vectors.iter().fold(0.0, |acc, v| acc + f(v));
    AccountOutcome {
        initial: sum(&|v| v.margin_usd),
        maintenance: sum(&|v| v.maintenance_usd),
        worst_case: sum(&|v| v.usd(v.worst_case)),
        roll_shock: sum(&|v| v.usd(v.roll_shock)),
        delta_shock: sum(&|v| v.usd(v.delta_shock)),
        vectors,
    }
}

pub fn aggregate(book: &Book, ctx: &Context<'_>) -> Vec<AccountOutcome> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(256)
        .map_init(Scratch::default, |scratch, a| account_outcome(book, a, ctx, scratch))
        .collect()
}

/// Price move of standard entry `index` or extended entry `index`.
pub fn move_of(p: &DeribitParams, worst: Worst) -> f64 {
    if worst.extended {
        EXTENDED_MOVES[worst.index as usize]
    } else {
        moves(p)[worst.index as usize / 3]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::ArrayRef;

    use super::super::matrix::tests::btc;
    use super::super::params::DeribitModel;
    use crate::methods::{MethodConfig, RunView};
    use crate::test_support::{book, f64_column, strings, Inst, Market};

    /// Linear perpetual A (row 0) and futures A 30D (row 1), 90D (row 2) at spot 100.
    fn margins(positions: &[&[(u32, f64)]]) -> arrow_array::RecordBatch {
        let perpetual = Inst { kind: "perpetual", ..Inst::spot("P", "A") };
        let market = Market::new(
            &[perpetual, Inst::future("F30", "A", 30), Inst::future("F90", "A", 90)],
            &[("A", 100.0, 0.0)],
            &[],
        );
        let mut valuation = market.valuation().expect("valid");
        let model = DeribitModel { parameter_set: "t@1#0".into(), params: vec![("A".into(), btc())], default: None };
        let method = model.build(&mut valuation).expect("built");
        let b = book(positions);
        let outcome = method.margin(&Arc::new(valuation), &b, false).expect("margined");
        let ids: ArrayRef = strings(&vec!["x"; positions.len()]);
        outcome.accounts(&RunView { book: &b, account_ids: &ids }).expect("a table")
    }

    #[test]
    fn a_calendar_pays_the_roll_shock_on_both_legs() {
        let t = margins(&[&[(1, 10.0), (2, -10.0)]]);
        // USD vector: the floor min_annualised_move_usd 0.01 beats exp(0.1 x 90/365) - 1 = 0.0250?
        let r90 = (0.1f64 * 90.0 / 365.0).exp() - 1.0;
        let r30 = (0.1f64 * 30.0 / 365.0).exp() - 1.0;
        let expected = 10.0 * 100.0 * r30.max(0.01) + 10.0 * 100.0 * r90.max(0.01);
        assert!((f64_column(&t, "roll_shock")[0] - expected).abs() < 1e-9);
        assert_eq!(f64_column(&t, "worst_case")[0], 0.0);
    }

    #[test]
    fn a_long_perpetual_loses_the_range_and_pays_its_floor() {
        let t = margins(&[&[(0, 2.0)]]);
        assert!((f64_column(&t, "worst_case")[0] - 2.0 * 100.0 * 0.16).abs() < 1e-9);
        assert!((f64_column(&t, "roll_shock")[0] - 2.0 * 100.0 * 0.01).abs() < 1e-12);
        let im = f64_column(&t, "initial_margin")[0];
        assert!((f64_column(&t, "maintenance_margin")[0] - 0.8 * im).abs() < 1e-12);
    }
}
