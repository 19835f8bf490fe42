//! The grid method: every contract revalued under a price x vol grid per underlying, the worst
//! loss per underlying, combined across underlyings by the cross rule (sum, joint scenarios or
//! correlation), with per-position attribution and the Greek explain of the driving scenario.
//!
//! - [`spec`]: the typed spec and its parser;
//! - [`outcome`]: what an account's margin is made of;
//! - [`aggregate`]: accounts in parallel, worst loss per underlying, the cross rule;
//! - [`cross`]: the correlation aggregate and the driving underlying;
//! - [`attribution`]: contributions, standalone and incremental margins, the explain;
//! - [`tables`]: the result tables.

pub mod aggregate;
pub mod attribution;
pub mod cross;
pub mod outcome;
pub mod spec;
pub mod tables;

use std::sync::Arc;

use arrow_array::RecordBatch;

use self::attribution::{Attribution, AttributionInputs};
use self::outcome::{AccountOutcome, GridContext};
use super::{Method, MethodConfig, Outcome, RunView};
use crate::domain::book::Book;
use crate::domain::correlation::CorrelationMatrix;
use crate::domain::market::Underlyings;
use crate::error::{MarginError, Result};
use crate::risk::arrays::RiskArrays;
use crate::risk::group_pnl::scenario_matrix;
use crate::scenarios::labels::scenario_label;
use crate::scenarios::{Cross, GridModel, ScenarioSet};
use crate::valuation::Valuation;

/// A grid model built against a market: its scenario set and risk arrays.
pub struct GridMethod {
    pub model: GridModel,
    set: ScenarioSet,
    risk: RiskArrays,
    /// `(n_underlyings + 1) x S` labels; the last block is for joint scenarios.
    labels: Vec<String>,
    /// Index in the correlation matrix of each underlyings-table row (cross="correlation").
    correlation_index: Vec<Option<usize>>,
}

impl GridMethod {
    /// Grid label of a scenario for one underlying, or for all at once (`None`).
    pub fn label(&self, underlying: Option<u32>, scenario: u32) -> &str {
        let n_underlyings = self.labels.len() / self.model.n_scenarios() - 1;
        let block = underlying.map_or(n_underlyings, |u| u as usize);
        &self.labels[block * self.model.n_scenarios() + scenario as usize]
    }

    fn context<'a>(&'a self, valuation: &'a Valuation) -> GridContext<'a> {
        GridContext {
            model: &self.model,
            risk: &self.risk,
            underlying_of: &valuation.underlying_of,
            correlation_index: &self.correlation_index,
        }
    }
}

impl MethodConfig for GridModel {
    fn from_fields(fields: &mut crate::spec::Fields<'_>) -> Result<Self> {
        spec::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let set = self.scenario_set(valuation.underlyings.names.len());
        valuation.drop_missing(&set);
        let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set)?;
        valuation.mark_non_finite(&risk.non_finite);
        let correlation_index = match &self.cross {
            Cross::Correlation { matrix, .. } => {
                mark_uncorrelated(valuation, matrix);
                valuation.underlyings.names.iter().map(|n| matrix.index_of(n)).collect()
            }
            _ => vec![None; valuation.underlyings.names.len()],
        };
        let labels = grid_labels(&valuation.underlyings, &self);
        Ok(Arc::new(GridMethod { model: self, set, risk, labels, correlation_index }))
    }
}

impl Method for GridMethod {
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>> {
        let ctx = self.context(valuation);
        let (accounts, attribution) = if by_position {
            let inputs = AttributionInputs {
                set: &self.set,
                greeks: &valuation.greeks,
                spot: &valuation.spot_of,
                vol: &valuation.vol_of,
            };
            let (accounts, attribution) = aggregate::aggregate_attributed(book, &ctx, &inputs);
            (accounts, Some(attribution))
        } else {
            (aggregate::aggregate(book, &ctx), None)
        };
        Ok(Box::new(GridOutcome { method: self.clone(), valuation: valuation.clone(), accounts, attribution }))
    }

    fn scenario_matrix(&self, valuation: &Valuation, book: &Book, account: usize) -> Result<RecordBatch> {
        let matrix = scenario_matrix(book, account, &valuation.underlying_of, &self.risk);
        tables::scenario_matrix_batch(self, &valuation.underlyings.names, &matrix)
    }
}

/// The grid margins of one book.
pub struct GridOutcome {
    method: Arc<GridMethod>,
    valuation: Arc<Valuation>,
    accounts: Vec<AccountOutcome>,
    attribution: Option<Attribution>,
}

impl Outcome for GridOutcome {
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::accounts_batch(&self.method, run.account_ids, &self.accounts)
    }

    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::by_underlying_batch(&self.method, &self.valuation.underlyings.names, run.account_ids, &self.accounts)
    }

    fn attribution(&self, run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>> {
        let attribution = self.attribution.as_ref()?;
        let names = &self.valuation.underlyings.names;
        let (by_position, explain) = rayon::join(
            || tables::by_position_batch(self.valuation.instruments.ids(), run.book, run.account_ids, attribution),
            || tables::explain_batch(&self.method, names, run.account_ids, attribution),
        );
        Some(by_position.and_then(|p| Ok((p, explain?))))
    }
}

/// Under cross="correlation", a held underlying missing from the matrix is an input error.
fn mark_uncorrelated(valuation: &mut Valuation, matrix: &CorrelationMatrix) {
    for c in 0..valuation.contracts.len() {
        let Some(contract) = &valuation.contracts[c] else { continue };
        let name = &valuation.underlyings.names[contract.underlying as usize];
        if matrix.index_of(name).is_none() {
            let problem = MarginError::input(
                "correlation",
                None,
                None,
                format!("underlying '{name}' is held but is not in the correlation matrix"),
            );
            valuation.problems[c] = Some(problem);
        }
    }
}

fn grid_labels(underlyings: &Underlyings, model: &GridModel) -> Vec<String> {
    let names = underlyings.names.iter().map(|n| Some(n.as_str())).chain(std::iter::once(None));
    names
        .flat_map(|name| {
            (0..model.n_scenarios()).map(move |s| {
                let (p, v) = model.scenario(s);
                scenario_label(name, p, v, model.vol_mode)
            })
        })
        .collect()
}
