//! OCC TIMS / FINRA Rule 4210(g) customer portfolio margin: ten equidistant valuation points
//! over each class group's range (5 down, 5 up), full offset within a class group, a partial
//! offset of gains between the class groups of a product group, none across product groups, and
//! the per-contract minimum (docs/tims.md).
//!
//! - [`spec`]: the class groups, product groups and minimum, and its parser;
//! - [`aggregate`]: each account's requirement;
//! - [`tables`]: the result tables.

pub mod aggregate;
pub mod spec;
pub mod tables;

use std::sync::Arc;

use arrow_array::RecordBatch;

pub use self::spec::TimsModel;

use self::aggregate::AccountOutcome;
use super::{Method, MethodConfig, Outcome, RunView};
use crate::domain::book::Book;
use crate::domain::instruments::Kind;
use crate::error::{MarginError, Result};
use crate::risk::arrays::RiskArrays;
use crate::scenarios::{ScenarioSet, VolShockMode};
use crate::spec::Fields;
use crate::valuation::Valuation;

/// Valuation points per class group.
pub const N: usize = 10;

/// Move of point `k` (0-based, ordered -down .. -down/5, +up/5 .. +up) over a range.
pub fn point(k: usize, down: f64, up: f64) -> f64 {
    if k < 5 {
        -down * (5 - k) as f64 / 5.0
    } else {
        up * (k - 4) as f64 / 5.0
    }
}

/// A TIMS parameter set built against a market.
pub struct TimsMethod {
    pub model: TimsModel,
    risk: RiskArrays,
    /// Each contract's P&L per unit at the ten points, contiguous (the risk arrays, copied).
    pnl: Vec<[f64; N]>,
    /// Class group (index in `model.class_groups`) of each instrument.
    pub class_of: Vec<u32>,
    /// The per-contract minimum of each instrument per unit (0 for non-options), and its value.
    pub minimum: Vec<f64>,
    pub value: Vec<f64>,
}

impl MethodConfig for TimsModel {
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self> {
        spec::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let n_u = valuation.underlyings.names.len();
        let class_of_underlying: Vec<Option<usize>> = valuation
            .underlyings
            .names
            .iter()
            .map(|name| self.class_groups.iter().position(|g| &g.underlying == name))
            .collect();
        let mut set = ScenarioSet {
            n: N,
            price_factor: vec![1.0; n_u * N],
            vol_change: vec![0.0; n_u * N],
            vol_mode: VolShockMode::Absolute,
            missing: vec![None; n_u],
            labels: Vec::new(),
        };
        for (u, g) in class_of_underlying.iter().enumerate() {
            match g {
                Some(g) => {
                    let group = &self.class_groups[*g];
                    for k in 0..N {
                        set.price_factor[u * N + k] = 1.0 + point(k, group.down, group.up);
                    }
                }
                None => {
                    set.missing[u] = Some(MarginError::input(
                        "instruments",
                        Some("product_class"),
                        None,
                        format!(
                            "underlying '{}' is held but has no product class in parameter set '{}'",
                            valuation.underlyings.names[u], self.parameter_set
                        ),
                    ))
                }
            }
        }
        valuation.drop_missing(&set);
        let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set)?;
        valuation.mark_non_finite(&risk.non_finite);
        let n = valuation.instruments.len();
        let mut class_of = vec![0; n];
        let mut minimum = vec![0.0; n];
        for c in 0..n {
            let Some(contract) = &valuation.contracts[c] else { continue };
            class_of[c] = class_of_underlying[contract.underlying as usize].unwrap_or(0) as u32;
            if contract.kind == Kind::Option {
                minimum[c] = self.minimum_per_contract * contract.multiplier;
            }
        }
        let value = valuation.base_values.clone();
        let pnl = (0..n as u32)
            .map(|c| {
                let mut row = [0.0; N];
                for (slot, x) in row.iter_mut().zip(risk.row(c)) {
                    *slot = x;
                }
                row
            })
            .collect();
        Ok(Arc::new(TimsMethod { model: self, risk, pnl, class_of, minimum, value }))
    }
}

impl Method for TimsMethod {
    fn margin(
        self: Arc<Self>,
        _valuation: &Arc<Valuation>,
        book: &Book,
        by_position: bool,
    ) -> Result<Box<dyn Outcome>> {
        super::reject_by_position(
            by_position,
            "TIMS results are per class and product group; by-position attribution is not defined for it",
        )?;
        let accounts = aggregate::aggregate(&self, book);
        Ok(Box::new(TimsOutcome { method: self.clone(), accounts }))
    }

    fn pnl_scale(&self, contract: u32) -> f64 {
        self.risk.scale(contract)
    }

    fn scenario_matrix(&self, _valuation: &Valuation, book: &Book, account: usize) -> Result<RecordBatch> {
        let outcome = aggregate::account(self, book, account);
        tables::scenario_matrix_batch(self, &outcome)
    }
}

impl TimsMethod {
    /// P&L per unit of `contract` at each valuation point.
    pub fn row(&self, contract: u32) -> &[f64; N] {
        &self.pnl[contract as usize]
    }
}

pub struct TimsOutcome {
    method: Arc<TimsMethod>,
    accounts: Vec<AccountOutcome>,
}

impl Outcome for TimsOutcome {
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::accounts_batch(&self.method.model, run.account_ids, &self.accounts)
    }

    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::by_class_group_batch(&self.method.model, run.account_ids, &self.accounts)
    }

    fn attribution(&self, _run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_points_as_published() {
        let pts: Vec<f64> = (0..N).map(|k| point(k, 0.15, 0.15)).collect();
        let want = [-0.15, -0.12, -0.09, -0.06, -0.03, 0.03, 0.06, 0.09, 0.12, 0.15];
        for (p, w) in pts.iter().zip(want) {
            assert!((p - w).abs() < 1e-15, "{p} vs {w}");
        }
        let pts: Vec<f64> = (0..N).map(|k| point(k, 0.08, 0.06)).collect();
        let want = [-0.08, -0.064, -0.048, -0.032, -0.016, 0.012, 0.024, 0.036, 0.048, 0.06];
        for (p, w) in pts.iter().zip(want) {
            assert!((p - w).abs() < 1e-15, "{p} vs {w}");
        }
    }
}
