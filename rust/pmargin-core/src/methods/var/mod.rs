//! VaR / ES methods: historical simulation (one window, or a normal and a stressed window) and
//! correlated Monte Carlo. Both reduce to scenario windows of risk arrays; each account's margin
//! is the tail measure of its loss vector in the binding window (docs/methods.md).
//!
//! - [`spec`]: the typed specs and their parsers;
//! - [`aggregate`]: every account's tails in every window;
//! - [`tables`]: the result tables.

pub mod aggregate;
pub mod spec;
pub mod tables;

use std::sync::Arc;

use arrow_array::RecordBatch;

use self::aggregate::VarAccount;
pub use self::spec::{HistoricalSpec, MonteCarloModel, TailSpec};
use super::{Method, MethodConfig, Outcome, RunView};
use crate::domain::book::Book;
use crate::error::Result;
use crate::risk::arrays::RiskArrays;
use crate::risk::group_pnl::scenario_matrix;
use crate::risk::tail::{tail_count, Measure};
use crate::scenarios::{historical, ScenarioSet};
use crate::spec::{config_error, Fields};
use crate::valuation::Valuation;

/// One scenario window of a VaR / ES model (the normal one, or a stressed period).
pub struct Window {
    pub name: &'static str,
    pub risk: RiskArrays,
    /// The number of tail scenarios.
    pub k: usize,
    pub labels: Vec<String>,
}

pub struct VarMethod {
    pub measure: Measure,
    pub mm_ratio: f64,
    pub windows: Vec<Window>,
}

impl VarMethod {
    /// Risk arrays for every window; contracts a window cannot revalue are marked unusable.
    fn build(
        sets: Vec<(&'static str, ScenarioSet)>,
        tail: TailSpec,
        valuation: &mut Valuation,
    ) -> Result<Arc<dyn Method>> {
        for (_, set) in &sets {
            valuation.drop_missing(set);
        }
        let windows = sets
            .into_iter()
            .map(|(name, set)| {
                let k = tail_count(set.n, tail.confidence)?;
                let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set)?;
                Ok(Window { name, risk, k, labels: set.labels })
            })
            .collect::<Result<Vec<_>>>()?;
        for w in &windows {
            valuation.mark_non_finite(&w.risk.non_finite);
        }
        Ok(Arc::new(VarMethod { measure: tail.measure, mm_ratio: tail.mm_ratio, windows }))
    }
}

impl MethodConfig for HistoricalSpec {
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self> {
        HistoricalSpec::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let u = &valuation.underlyings;
        let mut sets =
            vec![("normal", historical::scenario_set(self.moves.view("moves"), u, self.vol_mode, self.ewma_lambda)?)];
        if let Some(stressed) = &self.stressed {
            sets.push(("stressed", historical::scenario_set(stressed.view("stressed"), u, self.vol_mode, None)?));
        }
        VarMethod::build(sets, self.tail, valuation)
    }
}

impl MethodConfig for MonteCarloModel {
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self> {
        MonteCarloModel::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let set = self.scenarios.scenario_set(&valuation.underlyings)?;
        VarMethod::build(vec![("normal", set)], self.tail, valuation)
    }
}

impl Method for VarMethod {
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>> {
        if by_position {
            return Err(config_error(
                "by_position",
                "by_position is available for the grid model only (historical and Monte Carlo report their tail scenarios instead)",
            ));
        }
        let accounts = aggregate::aggregate(&self, book, &valuation.underlying_of, valuation.instruments.len());
        Ok(Box::new(VarOutcome { method: self.clone(), valuation: valuation.clone(), accounts }))
    }

    fn scenario_matrix(&self, valuation: &Valuation, book: &Book, account: usize) -> Result<RecordBatch> {
        let window = &self.windows[0];
        let matrix = scenario_matrix(book, account, &valuation.underlying_of, &window.risk);
        tables::scenario_matrix_batch(window, &valuation.underlyings.names, &matrix)
    }
}

/// The VaR / ES margins of one book.
pub struct VarOutcome {
    method: Arc<VarMethod>,
    valuation: Arc<Valuation>,
    accounts: Vec<VarAccount>,
}

impl Outcome for VarOutcome {
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::accounts_batch(&self.method, run.account_ids, &self.accounts)
    }

    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::by_underlying_batch(&self.method, &self.valuation.underlyings.names, run.account_ids, &self.accounts)
    }

    fn attribution(&self, _run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>> {
        None
    }
}
