//! SPAN risk arrays: each contract's loss per long unit under the 16 risk scenarios (losses
//! positive, the two extreme moves already scaled by their cover), its composite delta and where
//! it sits (combined commodity, tier, delivery month). Computed by pmargin's own revaluation from
//! the scan ranges, or taken as published for the contracts the user supplies arrays for.

use crate::domain::instruments::Kind;
use crate::domain::option_terms::OptionType;
use crate::error::{MarginError, Result};
use crate::risk::arrays::RiskArrays;
use crate::scenarios::ScenarioSet;
use crate::spec::OwnedTable;
use crate::valuation::Valuation;

use super::spec::{Commodity, SpanModel};

/// Risk scenarios per contract.
pub const N: usize = 16;

/// Price move of scenario `s` in thirds of the price scan range (scenarios 1..14), or None for
/// the two extreme moves (15: up, 16: down).
const THIRDS: [i32; 14] = [0, 0, 1, 1, -1, -1, 2, 2, -2, -2, 3, 3, -3, -3];

/// Spot factor and vol direction (+1 up, -1 down, 0 unchanged) of 0-based scenario `s`.
pub fn scenario(s: usize, price_scan: f64, extreme_move: f64) -> (f64, f64) {
    if s < 14 {
        let vol = if s.is_multiple_of(2) { 1.0 } else { -1.0 };
        (1.0 + price_scan * f64::from(THIRDS[s]) / 3.0, vol)
    } else {
        let sign = if s == 14 { 1.0 } else { -1.0 };
        (1.0 + sign * extreme_move * price_scan, 0.0)
    }
}

/// Readable name of 0-based scenario `s` ("price +1/3 vol up", "extreme down").
pub fn label(s: usize) -> String {
    if s >= 14 {
        return if s == 14 { "extreme up".into() } else { "extreme down".into() };
    }
    let t = THIRDS[s];
    let price =
        if t == 0 { "price 0".to_owned() } else { format!("price {}{}/3", if t > 0 { "+" } else { "-" }, t.abs()) };
    format!("{price} vol {}", if s.is_multiple_of(2) { "up" } else { "down" })
}

/// Everything the aggregation reads per contract (table order).
pub struct SpanArrays {
    pub loss: Vec<[f64; N]>,
    pub delta: Vec<f64>,
    pub commodity: Vec<u32>,
    pub tier: Vec<u32>,
    pub delivery: Vec<bool>,
    pub option: Vec<Option<OptionType>>,
}

fn problem(reason: String) -> MarginError {
    MarginError::input("span_parameters", Some("combined_commodities"), None, reason)
}

/// Tier of a contract expiring in `days` (first tier whose bound it does not exceed; the last
/// tier beyond every bound; tier 0 without tiers).
pub fn tier_of(tiers: &[f64], days: f64) -> u32 {
    tiers.iter().position(|&bound| days <= bound).unwrap_or(tiers.len().saturating_sub(1)) as u32
}

/// A published array: the losses and the composite delta.
type Supplied = ([f64; N], f64);

/// Published arrays by instrument row.
fn supplied(table: &OwnedTable, valuation: &Valuation) -> Result<Vec<Option<Supplied>>> {
    let view = table.view("risk_arrays");
    let ids = view.required_strings("instrument_id")?;
    let mut columns = Vec::with_capacity(N);
    for s in 1..=N {
        columns.push(view.required_finite(&format!("risk_{s}"))?);
    }
    let deltas = view.required_finite("composite_delta")?;
    let mut out = vec![None; valuation.instruments.len()];
    for (row, id) in ids.iter().enumerate() {
        let c = valuation.instruments.row_of(id).ok_or_else(|| {
            MarginError::cell("risk_arrays", "instrument_id", row, format!("'{id}' is not in the instruments table"))
        })? as usize;
        if out[c].is_some() {
            return Err(MarginError::cell("risk_arrays", "instrument_id", row, format!("'{id}' has two risk arrays")));
        }
        let mut loss = [0.0; N];
        for (s, col) in columns.iter().enumerate() {
            loss[s] = col[row];
        }
        out[c] = Some((loss, deltas[row]));
    }
    Ok(out)
}

/// The commodity of each underlyings-table row (None when the parameter set has none for it).
fn commodity_of_underlying(model: &SpanModel, valuation: &Valuation) -> Vec<Option<usize>> {
    valuation
        .underlyings
        .names
        .iter()
        .map(|name| model.commodities.iter().position(|c| c.underlyings.iter().any(|u| u == name)))
        .collect()
}

/// The 16 scenarios of every underlying, from its commodity's scan ranges.
fn scenario_set(model: &SpanModel, valuation: &Valuation, commodity_of: &[Option<usize>]) -> ScenarioSet {
    let n_u = commodity_of.len();
    let mut set = ScenarioSet {
        n: N,
        price_factor: vec![1.0; n_u * N],
        vol_change: vec![0.0; n_u * N],
        vol_mode: model.vol_mode,
        missing: vec![None; n_u],
        labels: Vec::new(),
    };
    for (u, cc) in commodity_of.iter().enumerate() {
        let name = &valuation.underlyings.names[u];
        let Some(cc) = cc else {
            set.missing[u] = Some(problem(format!(
                "underlying '{name}' is held but no combined commodity of parameter set '{}' lists it",
                model.parameter_set
            )));
            continue;
        };
        let commodity: &Commodity = &model.commodities[*cc];
        let Some(psr) = commodity.price_scan else {
            set.missing[u] = Some(problem(format!(
                "combined commodity '{}' has no price_scan_range and a held contract on '{name}' has no \
                     supplied risk array",
                commodity.name
            )));
            continue;
        };
        for s in 0..N {
            let (factor, vol) = scenario(s, psr, commodity.extreme_move);
            set.price_factor[u * N + s] = factor;
            set.vol_change[u * N + s] = vol * commodity.vol_scan;
        }
    }
    set
}

/// Build the arrays of every contract; contracts SPAN cannot margin are marked on `valuation`.
pub fn build(model: &SpanModel, valuation: &mut Valuation) -> Result<SpanArrays> {
    let n = valuation.instruments.len();
    let given = match &model.risk_arrays {
        Some(table) => supplied(table, valuation)?,
        None => vec![None; n],
    };
    let commodity_of = commodity_of_underlying(model, valuation);
    let set = scenario_set(model, valuation, &commodity_of);
    // Contracts revalued here: usable ones without a published array.
    let mut to_revalue = valuation.contracts.clone();
    for (c, given) in given.iter().enumerate() {
        if given.is_some() {
            to_revalue[c] = None;
            continue;
        }
        let missing = to_revalue[c].as_ref().and_then(|k| set.missing[k.underlying as usize].clone());
        if let Some(e) = missing {
            valuation.drop_contract(c, e);
            to_revalue[c] = None;
        }
    }
    let risk = RiskArrays::build(&to_revalue, &valuation.base_values, &set)?;
    valuation.mark_non_finite(&risk.non_finite);
    let mut arrays = SpanArrays {
        loss: vec![[0.0; N]; n],
        delta: vec![0.0; n],
        commodity: vec![0; n],
        tier: vec![0; n],
        delivery: vec![false; n],
        option: vec![None; n],
    };
    for (c, published) in given.iter().enumerate() {
        let Some(contract) = valuation.contracts[c].clone() else { continue };
        let Some(cc) = commodity_of[contract.underlying as usize] else {
            // Only a contract with a supplied array gets here without a commodity.
            let name = &valuation.underlyings.names[contract.underlying as usize];
            let e = problem(format!(
                "underlying '{name}' is held but no combined commodity of parameter set '{}' lists it",
                model.parameter_set
            ));
            valuation.drop_contract(c, e);
            continue;
        };
        let commodity = &model.commodities[cc];
        let (loss, delta) = match *published {
            Some(g) => g,
            None => {
                let mut loss = [0.0; N];
                for (s, pnl) in risk.row(c as u32).enumerate() {
                    loss[s] = if s >= 14 { -pnl * commodity.extreme_cover } else { -pnl };
                }
                (loss, composite_delta(valuation, c))
            }
        };
        let days = contract.t * 365.0;
        arrays.loss[c] = loss;
        arrays.delta[c] = delta;
        arrays.commodity[c] = cc as u32;
        arrays.tier[c] = tier_of(&commodity.tiers, days);
        arrays.delivery[c] = contract.kind.expires() && days <= commodity.delivery_days;
        arrays.option[c] = if contract.kind == Kind::Option { contract.option_type } else { None };
    }
    Ok(arrays)
}

/// Composite delta per unit, in contracts of the underlying: 1 for a delta-one contract; for an
/// option, its delta to its own expiry's forward per unit of multiplier (the delta at the current
/// price: the published scenario weights for averaging deltas are not public).
fn composite_delta(valuation: &Valuation, c: usize) -> f64 {
    let Some(contract) = &valuation.contracts[c] else { return 0.0 };
    match contract.kind {
        Kind::Option => valuation.greeks[c].delta / (contract.multiplier * contract.growth),
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_follow_the_published_order() {
        let moves: Vec<(f64, f64)> = (0..N).map(|s| scenario(s, 0.06, 2.0)).collect();
        assert_eq!(moves[0], (1.0, 1.0));
        assert_eq!(moves[1], (1.0, -1.0));
        assert!((moves[2].0 - 1.02).abs() < 1e-15 && moves[2].1 == 1.0);
        assert!((moves[5].0 - 0.98).abs() < 1e-15 && moves[5].1 == -1.0);
        assert!((moves[12].0 - 0.94).abs() < 1e-15);
        assert!((moves[14].0 - 1.12).abs() < 1e-15 && moves[14].1 == 0.0);
        assert!((moves[15].0 - 0.88).abs() < 1e-15);
        assert_eq!(label(3), "price +1/3 vol down");
        assert_eq!(label(12), "price -3/3 vol up");
        assert_eq!(label(15), "extreme down");
    }

    #[test]
    fn tiers_by_days_to_expiry() {
        assert_eq!(tier_of(&[30.0, 90.0], 10.0), 0);
        assert_eq!(tier_of(&[30.0, 90.0], 30.0), 0);
        assert_eq!(tier_of(&[30.0, 90.0], 60.0), 1);
        assert_eq!(tier_of(&[30.0, 90.0], 400.0), 1);
        assert_eq!(tier_of(&[], 400.0), 0);
    }
}
