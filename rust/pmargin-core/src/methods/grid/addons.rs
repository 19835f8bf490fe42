//! Add-ons on the grid (docs/methods.md, "Add-ons on the grid"): per account and underlying a
//! calendar / basis charge on the matched spread between expiry buckets (spot, perpetuals and
//! each expiry), a delta-shock charge on the net delta, and a short option minimum; the account's
//! margin is `max(scan + calendar + delta shock, short option minimum)`.

use rayon::prelude::*;
use smallvec::SmallVec;

use super::model::Addons;
use super::outcome::{AccountOutcome, AddonOutcome};
use crate::domain::book::Book;
use crate::domain::instruments::Kind;
use crate::risk::addons::{delta_shock_rate, short_option_minimum};
use crate::risk::arrays::RiskArrays;
use crate::valuation::Valuation;

/// Bucket keys of undated contracts (dated ones use their expiry).
const SPOT: i64 = i64::MIN;
const PERPETUAL: i64 = i64::MIN + 1;

/// What the add-ons read per contract.
pub struct AddonInputs {
    /// Forward delta per unit (multiplier included): dV/dF.
    pub forward_delta: Vec<f64>,
    pub bucket: Vec<i64>,
    /// Units an option counts for the short option minimum (its multiplier; 0 for others).
    pub option_units: Vec<f64>,
    /// Spot of each underlyings-table row.
    pub spot: Vec<f64>,
}

impl AddonInputs {
    pub fn new(valuation: &Valuation) -> AddonInputs {
        let n = valuation.contracts.len();
        let (mut forward_delta, mut bucket, mut option_units) = (vec![0.0; n], vec![SPOT; n], vec![0.0; n]);
        for (c, contract) in valuation.contracts.iter().enumerate() {
            let Some(k) = contract else { continue };
            (forward_delta[c], bucket[c]) = match k.kind {
                Kind::Spot => (k.multiplier, SPOT),
                Kind::Perpetual => (k.multiplier, PERPETUAL),
                Kind::Future => (k.multiplier, valuation.instruments.rows[c].expiry_ns.unwrap_or(0)),
                Kind::Option => {
                    option_units[c] = k.multiplier;
                    (valuation.greeks[c].delta / k.growth, valuation.instruments.rows[c].expiry_ns.unwrap_or(0))
                }
            };
        }
        AddonInputs { forward_delta, bucket, option_units, spot: valuation.underlyings.spot.clone() }
    }
}

/// Per underlying, while summing the account's positions.
#[derive(Default, Clone)]
struct Sums {
    buckets: SmallVec<[(i64, f64); 4]>,
    net: f64,
    short_units: f64,
}

fn delta_shock(addons: &Addons, delta: f64, spot: f64) -> f64 {
    match addons.delta_shock {
        Some(d) => delta.abs() * spot * delta_shock_rate(delta.abs(), spot, d.threshold, d.m_inc, d.max_shock),
        None => 0.0,
    }
}

fn max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

fn apply_account(
    outcome: &mut AccountOutcome,
    book: &Book,
    a: usize,
    underlying_of: &[u32],
    risk: &RiskArrays,
    inputs: &AddonInputs,
    addons: &Addons,
) {
    let mut sums: SmallVec<[Sums; 2]> = smallvec::smallvec![Sums::default(); outcome.underlyings.len()];
    let mut gross = 0.0;
    for p in book.positions(a) {
        let c = book.instrument[p] as usize;
        let q = book.quantity[p];
        let u = underlying_of[c];
        let spot = inputs.spot[u as usize];
        let k = outcome.underlyings.iter().position(|x| x.underlying == u).unwrap_or(0);
        let delta = q * inputs.forward_delta[c];
        let s = &mut sums[k];
        s.net += delta;
        match s.buckets.iter_mut().find(|b| b.0 == inputs.bucket[c]) {
            Some(b) => b.1 += delta,
            None => s.buckets.push((inputs.bucket[c], 0.0 + delta)),
        }
        let units = if q < 0.0 { -q * inputs.option_units[c] } else { 0.0 };
        s.short_units += units;
        // This position alone: its scan, its own delta shock, or its short option minimum.
        let alone = risk.standalone(c as u32, q) + delta_shock(addons, delta, spot);
        gross += max(alone, short_option_minimum(units, addons.short_option_minimum * spot));
    }
    let mut out = AddonOutcome { scan: outcome.initial, ..AddonOutcome::default() };
    let (mut charges, mut minimum) = (0.0, 0.0);
    for (k, s) in sums.iter().enumerate() {
        let spot = inputs.spot[outcome.underlyings[k].underlying as usize];
        let long = s.buckets.iter().fold(0.0, |acc, b| if b.1 > 0.0 { acc + b.1 } else { acc });
        let short = s.buckets.iter().fold(0.0, |acc, b| if b.1 < 0.0 { acc - b.1 } else { acc });
        let spread = if short < long { short } else { long };
        let calendar = addons.calendar_rate * spot * spread;
        let shock = delta_shock(addons, s.net, spot);
        let som = short_option_minimum(s.short_units, addons.short_option_minimum * spot);
        out.calendar += calendar;
        out.delta_shock += shock;
        out.short_option_minimum += som;
        charges += calendar + shock;
        minimum += som;
        out.per_underlying.push([calendar, shock, som]);
    }
    outcome.initial = max(outcome.initial + charges, minimum);
    outcome.undiversified = max(outcome.undiversified + charges, minimum);
    outcome.gross = gross;
    outcome.addons = Some(Box::new(out));
}

/// Add the add-ons to every account's outcome (accounts in parallel).
pub fn apply(
    outcomes: &mut [AccountOutcome],
    book: &Book,
    underlying_of: &[u32],
    risk: &RiskArrays,
    inputs: &AddonInputs,
    addons: &Addons,
) {
    outcomes.par_iter_mut().with_min_len(256).enumerate().for_each(|(a, outcome)| {
        apply_account(outcome, book, a, underlying_of, risk, inputs, addons);
    });
}

#[cfg(test)]
mod tests {
    use crate::test_support::{f64_column, grid_spec, positions, Inst, Market};
    use crate::OnError;
    use crate::Value;

    fn accounts(rows: &[(&str, &str, f64)], extra: Vec<(&str, Value)>) -> arrow_array::RecordBatch {
        let market = Market::new(
            &[Inst::future("F30", "A", 30), Inst::future("F90", "A", 90), Inst::spot("S", "A")],
            &[("A", 100.0, 0.0)],
            &[],
        );
        let Value::Map(mut spec) = grid_spec(&[-0.1, 0.0, 0.1], &[0.0], "sum", 1.0, None) else { panic!("a map") };
        spec.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let engine = market.engine(&Value::Map(spec)).expect("valid");
        let run = engine.margin(positions(rows).view("positions"), false, OnError::Raise).expect("margined");
        run.accounts_batch().expect("a table")
    }

    #[test]
    fn a_calendar_pays_on_its_matched_spread_and_an_outright_does_not() {
        let rows = [("cal", "F30", 10.0), ("cal", "F90", -10.0), ("out", "F30", 10.0), ("basis", "S", 4.0)];
        let t = accounts(&rows, vec![("calendar_rate", Value::Float(0.01))]);
        assert_eq!(f64_column(&t, "calendar_charge"), [10.0, 0.0, 0.0]);
        assert_eq!(f64_column(&t, "scan_margin")[1], 100.0);
        assert_eq!(f64_column(&t, "initial_margin")[0], f64_column(&t, "scan_margin")[0] + 10.0);
    }

    #[test]
    fn add_on_rates_past_the_bound_are_config_errors() {
        let market = Market::new(&[Inst::spot("S", "A")], &[("A", 100.0, 0.0)], &[]);
        let shock = |max_shock: f64| {
            let fields = [("threshold", 0.0), ("m_inc", 1e300), ("max_shock", max_shock)];
            Value::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), Value::Float(v))).collect())
        };
        for (key, value, column) in [
            ("calendar_rate", Value::Float(10.5), "calendar_rate"),
            ("short_option_minimum", Value::Float(1e300), "short_option_minimum"),
            ("calendar_rate", Value::Float(f64::INFINITY), "calendar_rate"),
            ("delta_shock", shock(1e300), "delta_shock.max_shock"),
        ] {
            let Value::Map(mut spec) = grid_spec(&[-0.1, 0.0, 0.1], &[0.0], "sum", 1.0, None) else { panic!("a map") };
            spec.push((key.to_owned(), value));
            let err = market.engine(&Value::Map(spec)).err().expect("refused").to_string();
            assert!(err.starts_with(&format!("model.{column}: must be")), "{err}");
        }
        // At the bound, with an unbounded m_inc: finite (the rate is capped by max_shock).
        let t = accounts(&[("a", "S", 1e6)], vec![("calendar_rate", Value::Float(10.0)), ("delta_shock", shock(10.0))]);
        assert_eq!(f64_column(&t, "delta_shock"), [1e6 * 100.0 * 10.0]);
    }

    #[test]
    fn without_add_ons_the_tables_are_the_plain_grids() {
        let t = accounts(&[("a", "F30", 1.0)], vec![]);
        assert!(t.column_by_name("scan_margin").is_none());
    }
}
