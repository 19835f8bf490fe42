//! Risk arrays: every contract revalued once under every scenario (SPAN's idea). Accounts are
//! then sparse sums of quantity x risk array, so the pricing work does not grow with the book.
//!
//! Layout is block-major: scenarios are cut into blocks of [`BLOCK`], and within a block each
//! contract's slice is contiguous, so an account's block of P&L is a few long sequential reads
//! (the blocked sparse x dense product of risk::tail_stream).

use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::risk::alloc;
use crate::scenarios::ScenarioSet;
use crate::valuation::contract::Contract;

/// Scenarios per block: wide enough that VaR / ES aggregation visits each account's tail state
/// only a few times and can seed its bar from one block (risk::tail::Tail); a block of one
/// account's P&L (32 KiB) still sits in L1/L2.
pub const BLOCK: usize = 4096;

/// The largest P&L a netted position may have under any scenario (|quantity| x the contract's
/// largest |P&L per unit|): far beyond any real book, small enough that sums over any book, and
/// their squares, stay finite (docs/methods.md, "Finite outputs").
pub const MAX_PNL: f64 = 1e100;

#[derive(Debug, Default)]
pub struct RiskArrays {
    pub n_scenarios: usize,
    n_contracts: usize,
    values: Vec<f64>,
    /// Smallest and largest P&L of each contract over all scenarios.
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    /// `max(|min|, |max|)` of each contract: its share of a P&L scale per unit (the noise floor,
    /// `risk::worst_loss`).
    pub extent: Vec<f64>,
    /// Where each contract's P&L per unit is first least and first greatest (a position alone
    /// reads its worst loss there: `risk::worst_loss::single_worst_loss`).
    pub first_min: Vec<FirstExtreme>,
    pub first_max: Vec<FirstExtreme>,
    /// Contracts whose value is not finite under some scenario, with why (an error if held).
    pub non_finite: Vec<(usize, MarginError)>,
}

impl RiskArrays {
    /// Revalue every priceable contract (`Some`) under every scenario; rows of the others stay 0
    /// and are never read, since a position on them is an input error. A contract with a
    /// non-finite value under some scenario is reported in `non_finite` (an error if held).
    pub fn build(contracts: &[Option<Contract>], base_values: &[f64], set: &ScenarioSet) -> Result<RiskArrays> {
        let n = set.n;
        let n_contracts = contracts.len();
        let len = n.checked_mul(n_contracts).ok_or_else(|| MarginError::Config {
            field: "memory_budget".into(),
            reason: format!("{n} scenarios x {n_contracts} instruments do not fit in memory"),
        })?;
        let mut risk = RiskArrays {
            n_scenarios: n,
            n_contracts,
            // The run's estimate was checked against the budget; the allocation may still fail.
            values: alloc::zeroed(len, "risk arrays")?,
            min: vec![0.0; n_contracts],
            max: vec![0.0; n_contracts],
            extent: vec![0.0; n_contracts],
            first_min: Vec::new(),
            first_max: Vec::new(),
            non_finite: Vec::new(),
        };
        // Per contract: smallest and largest P&L and the first non-finite scenario, gathered
        // while each block is still in cache.
        let mut stats = vec![Extremes::default(); n_contracts];
        for b in 0..risk.n_blocks() {
            let range = risk.block_range(b);
            let width = range.len();
            let start = range.start * n_contracts;
            risk.values[start..start + width * n_contracts]
                .par_chunks_mut(width)
                .zip(contracts.par_iter().zip(base_values.par_iter()))
                .zip(stats.par_iter_mut())
                .with_min_len(16)
                .for_each(|((row, (c, base)), stat)| {
                    if let Some(c) = c {
                        revalue_into(c, *base, set, range.start, row);
                        stat.update(row, range.start);
                    }
                });
        }
        risk.non_finite =
            stats.iter().enumerate().filter_map(|(c, st)| st.non_finite.map(|s| (c, non_finite_error(c, s)))).collect();
        (risk.min, risk.max) = stats.iter().map(|st| (st.min, st.max)).unzip();
        (risk.first_min, risk.first_max) = stats.iter().map(|st| (st.first_min, st.first_max)).unzip();
        risk.extent = risk.min.iter().zip(&risk.max).map(|(l, m)| l.abs().max(m.abs())).collect();
        Ok(risk)
    }

    /// The largest |P&L per unit| of `contract` over all scenarios.
    pub fn scale(&self, contract: u32) -> f64 {
        let c = contract as usize;
        self.min[c].abs().max(self.max[c].abs())
    }

    pub fn n_blocks(&self) -> usize {
        self.n_scenarios.div_ceil(BLOCK)
    }

    pub fn block_range(&self, b: usize) -> std::ops::Range<usize> {
        b * BLOCK..((b + 1) * BLOCK).min(self.n_scenarios)
    }

    /// P&L per unit of `contract` under the scenarios of block `b`.
    #[inline]
    pub fn block_row(&self, b: usize, contract: u32) -> &[f64] {
        let range = self.block_range(b);
        let width = range.len();
        let start = range.start * self.n_contracts + contract as usize * width;
        &self.values[start..start + width]
    }

    /// The block holding scenario `s`, and its place in the block's rows: the P&L per unit of
    /// `contract` under `s` is `block_row(b, contract)[at]`.
    #[inline]
    pub fn locate(&self, s: usize) -> (usize, usize) {
        (s / BLOCK, s % BLOCK)
    }

    /// P&L per unit of `contract` under every scenario, in scenario order.
    pub fn row(&self, contract: u32) -> impl Iterator<Item = f64> + '_ {
        (0..self.n_blocks()).flat_map(move |b| self.block_row(b, contract).iter().copied())
    }

    /// Margin of `quantity` of `contract` alone under worst-loss aggregation. Exact, because
    /// rounding of `q * x` is monotone in `x`, so the extreme of `q * row` is `q` times an extreme.
    #[inline]
    pub fn standalone(&self, contract: u32, quantity: f64) -> f64 {
        let c = contract as usize;
        // Both extremes loaded, then a select: books mix longs and shorts, so a branch on the
        // sign would mispredict. A zero quantity gives 0 x max = 0.
        let (least, most) = (self.min[c], self.max[c]);
        let worst_pnl = quantity * if quantity > 0.0 { least } else { most };
        (-worst_pnl).max(0.0)
    }
}

/// The first scenario where a row reaches its least (or greatest) value, and the least (or
/// greatest) value before that scenario (+inf, or -inf, when there is none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstExtreme {
    pub value: f64,
    pub at: u32,
    pub before: f64,
}

/// Running extremes of one contract's P&L over the scenarios seen so far.
#[derive(Debug, Clone, Copy)]
struct Extremes {
    min: f64,
    max: f64,
    first_min: FirstExtreme,
    first_max: FirstExtreme,
    non_finite: Option<usize>,
}

impl Default for Extremes {
    fn default() -> Self {
        Extremes {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            first_min: FirstExtreme { value: f64::INFINITY, at: 0, before: f64::INFINITY },
            first_max: FirstExtreme { value: f64::NEG_INFINITY, at: 0, before: f64::NEG_INFINITY },
            non_finite: None,
        }
    }
}

impl Extremes {
    fn update(&mut self, row: &[f64], first: usize) {
        for (i, &x) in row.iter().enumerate() {
            if !x.is_finite() && self.non_finite.is_none() {
                self.non_finite = Some(first + i);
            }
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            // Strictly beyond: ties keep the first scenario, and everything seen so far comes
            // before this one, so the old extreme is the extreme before it.
            let at = (first + i) as u32;
            if x < self.first_min.value {
                self.first_min = FirstExtreme { value: x, at, before: self.first_min.value };
            }
            if x > self.first_max.value {
                self.first_max = FirstExtreme { value: x, at, before: self.first_max.value };
            }
        }
    }
}

fn non_finite_error(contract: usize, scenario: usize) -> MarginError {
    MarginError::cell(
        "instruments",
        "instrument_id",
        contract,
        format!("its value is not finite under scenario {scenario}: the scenario's moves are too extreme"),
    )
}

/// Shocked value minus base value of one contract under scenarios `first..first + out.len()`.
fn revalue_into(contract: &Contract, base: f64, set: &ScenarioSet, first: usize, out: &mut [f64]) {
    for (i, slot) in out.iter_mut().enumerate() {
        let s = first + i;
        let spot = contract.spot * set.price_factor(contract.underlying, s);
        let vol = set.shocked_vol(contract.vol, set.vol_change(contract.underlying, s));
        *slot = contract.value(spot, vol) - base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::Kind;
    use crate::methods::grid::model::{Cross, GridModel};
    use crate::scenarios::VolShockMode;

    fn spot_contract() -> Contract {
        Contract {
            underlying: 0,
            kind: Kind::Spot,
            option_type: None,
            strike: 0.0,
            t: 0.0,
            multiplier: 2.0,
            spot: 100.0,
            rate: 0.0,
            vol: 0.0,
            growth: 1.0,
            discount: 1.0,
            sqrt_t: 0.0,
            payoff: crate::domain::instruments::Payoff::Vanilla,
        }
    }

    #[test]
    fn linear_risk_array() {
        let m =
            GridModel::new(vec![-0.1, 0.0, 0.1], vec![0.0], VolShockMode::Relative, Cross::Sum, 1.0).expect("valid");
        let contracts = [Some(spot_contract()), None];
        let ra = RiskArrays::build(&contracts, &[200.0, 0.0], &m.scenario_set(1)).expect("finite");
        let row: Vec<f64> = ra.row(0).collect();
        assert!((row[0] + 20.0).abs() < 1e-12 && row[1] == 0.0 && (row[2] - 20.0).abs() < 1e-12);
        assert_eq!(ra.row(1).collect::<Vec<_>>(), vec![0.0, 0.0, 0.0]);
        assert!((ra.standalone(0, 3.0) - 60.0).abs() < 1e-9);
        assert!((ra.standalone(0, -1.0) - 20.0).abs() < 1e-9);
        assert_eq!(ra.standalone(0, 0.0), 0.0);
    }

    #[test]
    fn blocks_cover_every_scenario_in_order() {
        let shocks: Vec<f64> = (0..(2 * BLOCK + 7)).map(|i| i as f64 * 1e-4).collect();
        let m = GridModel::new(shocks.clone(), vec![0.0], VolShockMode::Relative, Cross::Sum, 1.0).expect("valid");
        let contracts = [Some(spot_contract()), Some(spot_contract())];
        let ra = RiskArrays::build(&contracts, &[200.0, 200.0], &m.scenario_set(1)).expect("finite");
        assert_eq!(ra.n_blocks(), 3);
        let row: Vec<f64> = ra.row(1).collect();
        assert_eq!(row.len(), shocks.len());
        for (x, p) in row.iter().zip(&shocks) {
            assert!((x - 200.0 * p).abs() < 1e-9);
        }
    }

    #[test]
    fn extremes_locations_and_non_finite_values() {
        let m =
            GridModel::new(vec![-0.5, 0.0, 9.0], vec![0.0], VolShockMode::Relative, Cross::Sum, 1.0).expect("valid");
        let huge = Contract { spot: 1e308, multiplier: 1.0, ..spot_contract() };
        let contracts = [Some(spot_contract()), Some(huge)];
        let ra = RiskArrays::build(&contracts, &[200.0, 1e308], &m.scenario_set(1)).expect("built");
        // Contract 0 (2 x 100): P&L -100, 0, +1800.
        assert!((ra.min[0] + 100.0).abs() < 1e-9 && (ra.max[0] - 1800.0).abs() < 1e-9);
        // 1e308 x 10 overflows under the third scenario: reported, not an error yet.
        assert_eq!(ra.non_finite.len(), 1);
        let (c, e) = &ra.non_finite[0];
        assert_eq!(*c, 1);
        assert_eq!(
            e.to_string(),
            "instruments.instrument_id, row 1: its value is not finite under scenario 2: the scenario's moves are too extreme"
        );
        assert_eq!(ra.locate(2), (0, 2));
        assert_eq!(ra.locate(BLOCK + 3), (1, 3));
        let (b, at) = ra.locate(2);
        assert!((ra.block_row(b, 0)[at] - 1800.0).abs() < 1e-9);
    }
}
