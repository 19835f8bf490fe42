//! Each account's SPAN requirement, accounts in parallel: per combined commodity the scan over
//! the 16 scenarios, the split of scan risk into time, volatility and price risk, intra-commodity
//! spreads by tier, the delivery-month charge, the short option minimum and the net option value;
//! then inter-commodity credits across the account's commodities in priority order.

use rayon::prelude::*;
use smallvec::SmallVec;

use super::arrays::{SpanArrays, N};
use super::spec::{CreditBasis, SpanModel};
use crate::domain::book::Book;
use crate::domain::option_terms::OptionType;

/// One combined commodity of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct CommodityOutcome {
    pub commodity: u32,
    /// Loss of the commodity's positions under each scenario (losses positive).
    pub scenarios: [f64; N],
    pub scan: f64,
    /// 0-based scenario of the scan risk (the first on ties), None when nothing loses.
    pub active: Option<u32>,
    pub time_risk: f64,
    pub volatility_risk: f64,
    pub price_risk: f64,
    pub net_delta: f64,
    pub intra: f64,
    pub delivery: f64,
    pub credit: f64,
    pub short_option_minimum: f64,
    pub net_option_value: f64,
    /// max(scan + intra + delivery - credit, short option minimum).
    pub total: f64,
}

/// One account: its commodities in parameter-set order and the account totals.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountOutcome {
    pub commodities: Vec<CommodityOutcome>,
    /// Sum of the commodities' totals, and of ratio x total.
    pub span_requirement: f64,
    pub initial_requirement: f64,
    pub net_option_value: f64,
    /// Sum of each netted position's initial margin alone ([`standalone`]).
    pub gross: f64,
}

impl AccountOutcome {
    pub fn maintenance(&self) -> f64 {
        (self.span_requirement - self.net_option_value).max(0.0)
    }

    pub fn initial(&self) -> f64 {
        (self.initial_requirement - self.net_option_value).max(0.0)
    }

    pub fn sum(&self, part: impl Fn(&CommodityOutcome) -> f64) -> f64 {
        self.commodities.iter().fold(0.0, |acc, c| acc + part(c))
    }
}

struct Acc {
    commodity: u32,
    scenarios: [f64; N],
    /// Inline up to 8 tiers: no allocation per account for usual tier tables.
    tiers: SmallVec<[f64; 8]>,
    net_delta: f64,
    delivery_delta: f64,
    short_calls: f64,
    short_puts: f64,
    nov: f64,
}

/// Largest loss, its first scenario, and the split into time / volatility / price risk.
pub fn scan(scenarios: &[f64; N]) -> (f64, Option<u32>, f64, f64, f64) {
    let mut active = None;
    let mut worst = 0.0;
    for (s, &loss) in scenarios.iter().enumerate() {
        if loss > worst {
            worst = loss;
            active = Some(s as u32);
        }
    }
    let Some(a) = active else { return (0.0, None, 0.0, 0.0, 0.0) };
    let time = (scenarios[0] + scenarios[1]) / 2.0;
    let a = a as usize;
    let (vol, price) = if a < 14 {
        let pair = scenarios[a ^ 1];
        ((worst - pair) / 2.0, (worst + pair) / 2.0 - time)
    } else {
        (0.0, worst - time)
    };
    (worst, active, time, vol, price)
}

/// Intra-commodity spread charge: spreads formed between tiers in the table's priority order,
/// each from opposite-signed net deltas.
pub fn intra_charge(model_spreads: &[super::spec::IntraSpread], tiers: &mut [f64]) -> f64 {
    let mut charge = 0.0;
    for spread in model_spreads {
        let (a, b) = (tiers[spread.tier_a], tiers[spread.tier_b]);
        if a * b >= 0.0 {
            continue;
        }
        let n = a.abs().min(b.abs());
        charge += n * spread.charge;
        tiers[spread.tier_a] = a - a.signum() * n;
        tiers[spread.tier_b] = b - b.signum() * n;
    }
    charge
}

pub fn aggregate_one(
    model: &SpanModel,
    arrays: &SpanArrays,
    base_values: &[f64],
    book: &Book,
    a: usize,
) -> AccountOutcome {
    account(model, arrays, base_values, book, a)
}

/// Initial margin of one netted position alone: its own commodity, one tier, no spread.
pub fn standalone(model: &SpanModel, arrays: &SpanArrays, base_values: &[f64], c: usize, q: f64) -> f64 {
    let commodity = &model.commodities[arrays.commodity[c] as usize];
    let scan = arrays.loss[c].iter().fold(0.0, |m: f64, &x| m.max(q * x));
    let delivery = if arrays.delivery[c] { commodity.delivery_charge * (q * arrays.delta[c]).abs() } else { 0.0 };
    let (som, nov) = match arrays.option[c] {
        Some(_) => (if q < 0.0 { commodity.short_option_minimum * -q } else { 0.0 }, q * base_values[c]),
        None => (0.0, 0.0),
    };
    (commodity.initial_ratio * (scan + delivery).max(som) - nov).max(0.0)
}

fn account(model: &SpanModel, arrays: &SpanArrays, base_values: &[f64], book: &Book, a: usize) -> AccountOutcome {
    let range = book.positions(a);
    let mut accs: SmallVec<[Acc; 2]> = SmallVec::new();
    let mut gross = 0.0;
    for k in range {
        let c = book.instrument[k] as usize;
        let q = book.quantity[k];
        gross += standalone(model, arrays, base_values, c, q);
        let cc = arrays.commodity[c];
        let i = match accs.iter().position(|x| x.commodity == cc) {
            Some(i) => i,
            None => {
                let n_tiers = model.commodities[cc as usize].tiers.len().max(1);
                accs.push(Acc {
                    commodity: cc,
                    scenarios: [0.0; N],
                    tiers: SmallVec::from_elem(0.0, n_tiers),
                    net_delta: 0.0,
                    delivery_delta: 0.0,
                    short_calls: 0.0,
                    short_puts: 0.0,
                    nov: 0.0,
                });
                accs.len() - 1
            }
        };
        let acc = &mut accs[i];
        for (s, loss) in arrays.loss[c].iter().enumerate() {
            acc.scenarios[s] += q * loss;
        }
        let delta = q * arrays.delta[c];
        acc.tiers[arrays.tier[c] as usize] += delta;
        acc.net_delta += delta;
        if arrays.delivery[c] {
            acc.delivery_delta += delta;
        }
        if let Some(option_type) = arrays.option[c] {
            if q < 0.0 {
                match option_type {
                    OptionType::Call => acc.short_calls -= q,
                    OptionType::Put => acc.short_puts -= q,
                }
            }
            acc.nov += q * base_values[c];
        }
    }
    accs.sort_by_key(|x| x.commodity);
    let mut outs: Vec<CommodityOutcome> = accs
        .iter_mut()
        .map(|acc| {
            let commodity = &model.commodities[acc.commodity as usize];
            let (scan, active, time_risk, volatility_risk, price_risk) = scan(&acc.scenarios);
            let intra = intra_charge(&commodity.intra, &mut acc.tiers);
            CommodityOutcome {
                commodity: acc.commodity,
                scenarios: acc.scenarios,
                scan,
                active,
                time_risk,
                volatility_risk,
                price_risk,
                net_delta: acc.net_delta,
                intra,
                delivery: commodity.delivery_charge * acc.delivery_delta.abs(),
                credit: 0.0,
                short_option_minimum: commodity.short_option_minimum * acc.short_calls.max(acc.short_puts),
                net_option_value: acc.nov,
                total: 0.0,
            }
        })
        .collect();
    inter_credits(model, &mut outs);
    for o in &mut outs {
        o.total = (o.scan + o.intra + o.delivery - o.credit).max(o.short_option_minimum);
    }
    let span_requirement = outs.iter().fold(0.0, |acc, o| acc + o.total);
    let initial_requirement =
        outs.iter().fold(0.0, |acc, o| acc + model.commodities[o.commodity as usize].initial_ratio * o.total);
    let net_option_value = outs.iter().fold(0.0, |acc, o| acc + o.net_option_value);
    AccountOutcome { commodities: outs, span_requirement, initial_requirement, net_option_value, gross }
}

/// Weighted price risk of a commodity: its credit basis per unit of |net delta|.
pub fn weighted_price_risk(basis: CreditBasis, o: &CommodityOutcome) -> f64 {
    if o.net_delta == 0.0 {
        return 0.0;
    }
    let risk = match basis {
        CreditBasis::Scan => o.scan,
        CreditBasis::PriceRisk => o.price_risk.max(0.0),
    };
    risk / o.net_delta.abs()
}

/// Inter-commodity credits, spreads formed in the table's priority order from the remaining net
/// deltas; each leg's commodity is credited rate x spreads x delta ratio x its weighted price risk.
fn inter_credits(model: &SpanModel, outs: &mut [CommodityOutcome]) {
    if outs.len() < 2 || model.inter.is_empty() {
        return; // a spread needs two commodities
    }
    let mut remaining: Vec<f64> = outs.iter().map(|o| o.net_delta).collect();
    let wpr: Vec<f64> = outs.iter().map(|o| weighted_price_risk(model.credit_basis, o)).collect();
    for spread in &model.inter {
        let mut at = Vec::with_capacity(spread.legs.len());
        for leg in &spread.legs {
            match outs.iter().position(|o| o.commodity as usize == leg.commodity) {
                Some(i) => at.push(i),
                None => break,
            }
        }
        if at.len() != spread.legs.len() {
            continue;
        }
        let direction = remaining[at[0]].signum() * spread.legs[0].side;
        let formed = spread
            .legs
            .iter()
            .zip(&at)
            .all(|(leg, &i)| remaining[i] != 0.0 && remaining[i].signum() == direction * leg.side);
        if !formed {
            continue;
        }
        let n =
            spread.legs.iter().zip(&at).fold(f64::INFINITY, |m, (leg, &i)| m.min(remaining[i].abs() / leg.delta_ratio));
        for (leg, &i) in spread.legs.iter().zip(&at) {
            let used = n * leg.delta_ratio;
            outs[i].credit += spread.credit_rate * used * wpr[i];
            let left = remaining[i].abs() - used;
            remaining[i] = if left > 0.0 { remaining[i].signum() * left } else { 0.0 };
        }
    }
}

/// Every account, in parallel (each account's arithmetic is sequential: thread count never
/// changes a number).
pub fn aggregate(model: &SpanModel, arrays: &SpanArrays, base_values: &[f64], book: &Book) -> Vec<AccountOutcome> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(64)
        .map(|a| account(model, arrays, base_values, book, a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::span::spec::IntraSpread;

    #[test]
    fn scan_splits_time_volatility_and_price_risk() {
        let mut s = [0.0; N];
        s[0] = 10.0;
        s[1] = 6.0;
        s[12] = 100.0;
        s[13] = 80.0;
        let (worst, active, time, vol, price) = scan(&s);
        assert_eq!((worst, active), (100.0, Some(12)));
        assert_eq!((time, vol, price), (8.0, 10.0, 82.0));
        assert_eq!(scan(&[-1.0; N]), (0.0, None, 0.0, 0.0, 0.0));
    }

    #[test]
    fn intra_spreads_follow_priority() {
        let spreads = vec![
            IntraSpread { tier_a: 0, tier_b: 1, charge: 200.0 },
            IntraSpread { tier_a: 0, tier_b: 2, charge: 50.0 },
        ];
        let mut tiers = vec![3.0, -1.0, -5.0];
        assert_eq!(intra_charge(&spreads, &mut tiers), 200.0 + 2.0 * 50.0);
        assert_eq!(tiers, vec![0.0, 0.0, -3.0]);
    }
}
