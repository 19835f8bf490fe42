//! The grid method: every contract revalued under a price x vol grid per underlying, the worst
//! loss per underlying, combined across underlyings by the cross rule (sum, joint scenarios or
//! correlation), with per-position attribution and the Greek explain of the driving scenario.
//!
//! - [`spec`]: the typed spec and its parser;
//! - [`outcome`]: what an account's margin is made of;
//! - [`aggregate`]: accounts in parallel, worst loss per underlying, the cross rule;
//! - [`ellipsoid`]: the joint moves of the correlation rule, per held set;
//! - [`cross`]: the correlation rule over those moves and the driving underlying;
//! - [`attribution`]: contributions, standalone and incremental margins, the explain;
//! - [`tables`]: the result tables.

pub mod addons;
pub mod aggregate;
pub mod attribution;
pub mod cross;
pub mod ellipsoid;
pub mod model;
pub mod outcome;
pub mod spec;
pub mod tables;

use std::sync::Arc;

use arrow_array::RecordBatch;

use self::attribution::{Attribution, AttributionInputs};
use self::ellipsoid::Ellipsoid;
use self::model::{Cross, GridModel};
use self::outcome::{AccountOutcome, GridContext, UnderlyingRows};
use super::{tables_in_parallel, Method, MethodConfig, Outcome, ResultBatches, RunView};
use crate::domain::book::Book;
use crate::domain::correlation::CorrelationMatrix;
use crate::domain::market::Underlyings;
use crate::error::{MarginError, Result};
use crate::risk::arrays::RiskArrays;
use crate::risk::budget::{self, WindowSize};
use crate::risk::group_pnl::scenario_matrix;
use crate::scenarios::labels::scenario_label;
use crate::scenarios::ScenarioSet;
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
    /// The joint moves of cross="correlation".
    ellipsoid: Option<Ellipsoid>,
    /// `(price, vol)` scale of each underlyings-table row (1 without per-product ranges).
    scales: Vec<(f64, f64)>,
    /// [`Self::shock`] of each label (same order as `labels`), computed once: result tables
    /// read one per row.
    shocks: Vec<(f64, f64)>,
}

impl GridMethod {
    /// Grid label of a scenario for one underlying, or for all at once (`None`).
    pub fn label(&self, underlying: Option<u32>, scenario: u32) -> &str {
        &self.labels[self.label_index(underlying, scenario)]
    }

    /// Where [`Self::label`] finds its label in `labels`: one block of scenarios per underlying,
    /// then the block of the grid as given.
    /// (No division: it runs once per result row.)
    pub fn label_index(&self, underlying: Option<u32>, scenario: u32) -> usize {
        // One block per underlyings-table row (one scale each), then the joint block.
        let block = underlying.map_or(self.scales.len(), |u| u as usize);
        block * self.model.n_scenarios() + scenario as usize
    }

    /// `(price_shock, vol_shock)` of scenario `s` for one underlying (its own scan range), or
    /// the grid's as given for all at once (`None`).
    pub fn shock(&self, underlying: Option<u32>, scenario: u32) -> (f64, f64) {
        self.shocks[self.label_index(underlying, scenario)]
    }

    fn context<'a>(&'a self, valuation: &'a Valuation) -> GridContext<'a> {
        GridContext {
            model: &self.model,
            risk: &self.risk,
            underlying_of: &valuation.underlying_of,
            correlation_index: &self.correlation_index,
            ellipsoid: self.ellipsoid.as_ref(),
        }
    }
}

impl MethodConfig for GridModel {
    fn from_fields(fields: &mut crate::spec::Fields<'_>) -> Result<Self> {
        spec::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let n_u = valuation.underlyings.names.len();
        let size = WindowSize { n_scenarios: self.n_scenarios(), labels: n_u + 1, draws: 0 };
        budget::check(&valuation.limits, &[size], n_u, valuation.instruments.len(), 0, "memory_budget")?;
        let scales = underlying_scales(valuation, &self)?;
        let set = self.scaled_scenario_set(&scales);
        valuation.drop_missing(&set);
        let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set)?;
        valuation.mark_non_finite(&risk.non_finite);
        let (correlation_index, ellipsoid) = match &self.cross {
            Cross::Correlation { matrix, .. } => {
                mark_uncorrelated(valuation, matrix);
                let index = valuation.underlyings.names.iter().map(|n| matrix.index_of(n)).collect();
                (index, Some(Ellipsoid::new(matrix.clone(), &self.grid.price_shocks)))
            }
            _ => (vec![None; valuation.underlyings.names.len()], None),
        };
        let labels = grid_labels(&valuation.underlyings, &self, &scales);
        let shocks = grid_shocks(&self, &scales);
        Ok(Arc::new(GridMethod { model: self, set, risk, labels, correlation_index, ellipsoid, scales, shocks }))
    }
}

impl Method for GridMethod {
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>> {
        let ctx = self.context(valuation);
        super::reject_by_position(
            by_position && self.model.addons.is_on(),
            "attribution covers the scan only: margin a grid with add-ons without by_position",
        )?;
        if !by_position && !self.model.addons.is_on() && matches!(self.model.cross, Cross::Sum) {
            let (accounts, rows) = aggregate::aggregate_sum(book, &ctx)?;
            let (method, valuation) = (self.clone(), valuation.clone());
            return Ok(Box::new(GridOutcome { method, valuation, accounts, rows: Some(rows), attribution: None }));
        }
        let (mut accounts, rows, attribution) = if by_position {
            let inputs = AttributionInputs {
                set: &self.set,
                greeks: &valuation.greeks,
                spot: &valuation.spot_of,
                vol: &valuation.vol_of,
            };
            let (accounts, rows, attribution) = aggregate::aggregate_attributed(book, &ctx, &inputs)?;
            (accounts, Some(rows), Some(attribution))
        } else {
            (aggregate::aggregate(book, &ctx), None, None)
        };
        if self.model.addons.is_on() {
            let inputs = addons::AddonInputs::new(valuation);
            addons::apply(&mut accounts, book, &valuation.underlying_of, &self.risk, &inputs, &self.model.addons);
        }
        Ok(Box::new(GridOutcome { method: self.clone(), valuation: valuation.clone(), accounts, rows, attribution }))
    }

    fn pnl_scale(&self, contract: u32) -> f64 {
        self.risk.scale(contract)
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
    /// The accounts' underlyings when aggregated flat (`aggregate::aggregate_sum`); None: they
    /// are in each [`AccountOutcome`].
    rows: Option<UnderlyingRows>,
    attribution: Option<Attribution>,
}

impl Outcome for GridOutcome {
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::accounts_batch(&self.method, run.account_ids, &self.accounts)
    }

    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        let names = &self.valuation.underlyings.names;
        tables::by_underlying_batch(&self.method, names, run.account_ids, &self.accounts, self.rows.as_ref())
    }

    fn margins(&self) -> Option<Vec<(f64, f64)>> {
        let mm = self.method.model.mm_ratio;
        Some(self.accounts.iter().map(|o| (o.initial, mm * o.initial)).collect())
    }

    fn attribution(&self, run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>> {
        let attribution = self.attribution.as_ref()?;
        let (by_position, explain) =
            rayon::join(|| self.by_position(run, attribution), || self.explain(run, attribution, None));
        Some(by_position.and_then(|p| Ok((p, explain?))))
    }

    /// With attribution, the explain table shares columns of the by-underlying table
    /// ([`tables::explain_batch`]), so it is built after it; the other two alongside.
    fn tables(&self, run: &RunView<'_>) -> Result<ResultBatches> {
        let Some(attribution) = self.attribution.as_ref() else { return tables_in_parallel(self, run) };
        let ((accounts, by_position), underlying_and_explain) = rayon::join(
            || rayon::join(|| self.accounts(run), || self.by_position(run, attribution)),
            || {
                let by_underlying = self.by_underlying(run)?;
                let explain = self.explain(run, attribution, Some(&by_underlying))?;
                Ok::<_, MarginError>((by_underlying, explain))
            },
        );
        // An accounts failure first, as in the default.
        let accounts = accounts?;
        let (by_underlying, explain) = underlying_and_explain?;
        Ok(ResultBatches { accounts, by_underlying, attribution: Some((by_position?, explain)) })
    }
}

impl GridOutcome {
    fn by_position(&self, run: &RunView<'_>, attribution: &Attribution) -> Result<RecordBatch> {
        tables::by_position_batch(self.valuation.instruments.ids(), run.book, run.account_ids, attribution)
    }

    fn explain(
        &self,
        run: &RunView<'_>,
        attribution: &Attribution,
        by_underlying: Option<&RecordBatch>,
    ) -> Result<RecordBatch> {
        let names = &self.valuation.underlyings.names;
        tables::explain_batch(&self.method, names, run.account_ids, attribution, by_underlying)
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

fn grid_labels(underlyings: &Underlyings, model: &GridModel, scales: &[(f64, f64)]) -> Vec<String> {
    let names = underlyings.names.iter().zip(scales).map(|(n, s)| (Some(n.as_str()), *s));
    names
        .chain(std::iter::once((None, (1.0, 1.0))))
        .flat_map(|(name, (a, b))| {
            (0..model.n_scenarios()).map(move |s| {
                let (p, v) = model.scenario(s);
                let (p, v) = if name.is_some() { (p * a, v * b) } else { (p, v) };
                scenario_label(name, p, v, model.vol_mode())
            })
        })
        .collect()
}

/// `(price_shock, vol_shock)` of every label of [`grid_labels`], in its order: each
/// underlying's scenarios scaled by its range, then the grid's as given.
fn grid_shocks(model: &GridModel, scales: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let blocks = scales.iter().map(|&s| Some(s)).chain(std::iter::once(None));
    blocks
        .flat_map(|scale| {
            (0..model.n_scenarios()).map(move |s| {
                let (p, v) = model.scenario(s);
                scale.map_or((p, v), |(a, b)| (p * a, v * b))
            })
        })
        .collect()
}

/// Each underlying's `(price, vol)` scale under the model's per-product ranges. With a
/// `range_column`, an underlying's group is that of its first instrument (table order); an
/// instrument of the same underlying in another group cannot be margined (one range per
/// underlying keeps the account's scenarios joint).
fn underlying_scales(valuation: &mut Valuation, model: &GridModel) -> Result<Vec<(f64, f64)>> {
    let names = valuation.underlyings.names.clone();
    if model.ranges.is_empty() {
        return Ok(vec![(1.0, 1.0); names.len()]);
    }
    let mut group_of: Vec<Option<(u32, usize)>> = vec![None; names.len()];
    let mut conflicts = Vec::new();
    if let Some(column) = &model.ranges.column {
        let grouping = valuation
            .group(column)
            .ok_or_else(|| MarginError::Internal(format!("the grouping by '{column}' was not read")))?;
        for (c, u) in valuation.by_underlying.of_contract.iter().enumerate() {
            let (Some(u), Some(g)) = (u, grouping.of_contract[c]) else { continue };
            match group_of[*u as usize] {
                None => group_of[*u as usize] = Some((g, c)),
                Some((first, row)) if first != g => conflicts.push((
                    c,
                    MarginError::cell(
                        "instruments",
                        column,
                        c,
                        format!(
                            "underlying '{}' is in group '{}' (row {row}) but this row says '{}': one scan range per \
                         underlying",
                            names[*u as usize], grouping.names[first as usize], grouping.names[g as usize]
                        ),
                    ),
                )),
                Some(_) => {}
            }
        }
        for (c, e) in conflicts {
            valuation.mark_problem(c, e);
        }
        let groups = &grouping_names(valuation, column);
        return Ok(names
            .iter()
            .enumerate()
            .map(|(u, n)| model.scales(n, group_of[u].map(|(g, _)| groups[g as usize].as_str())))
            .collect());
    }
    Ok(names.iter().map(|n| model.scales(n, None)).collect())
}

fn grouping_names(valuation: &Valuation, column: &str) -> Vec<String> {
    valuation.group(column).map(|g| g.names.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::VolShockMode;
    use crate::spec::Value;
    use crate::test_support::{
        assert_all_close, correlation, f64_column, grid_spec, positions, schema_of, two_underlyings, Market,
    };
    use arrow_schema::DataType;

    /// A grid method built on `market` as [`MethodConfig::build`] builds it for cross "sum" or
    /// "joint", kept concrete so tests can reach its tables and labels.
    pub(in crate::methods::grid) fn built(market: &Market, model: GridModel) -> (Valuation, GridMethod) {
        let mut valuation = market.valuation().expect("a valid market");
        let n = valuation.underlyings.names.len();
        let set = model.scenario_set(n);
        let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set).expect("finite");
        let scales = vec![(1.0, 1.0); n];
        let labels = grid_labels(&valuation.underlyings, &model, &scales);
        let shocks = grid_shocks(&model, &scales);
        valuation.mark_non_finite(&risk.non_finite);
        let correlation_index = vec![None; n];
        (valuation, GridMethod { model, set, risk, labels, correlation_index, ellipsoid: None, scales, shocks })
    }

    pub(in crate::methods::grid) fn model(price_shocks: &[f64], vol_shocks: &[f64], cross: Cross) -> GridModel {
        GridModel::new(price_shocks.to_vec(), vol_shocks.to_vec(), VolShockMode::Relative, cross, 0.5).expect("valid")
    }

    #[test]
    fn labels_per_underlying_and_for_joint_scenarios() {
        let (_, grid) = built(&two_underlyings(), model(&[-0.1, 0.1], &[-0.25, 0.0, 0.25], Cross::Joint));
        // Two underlyings and the joint block, six scenarios each.
        assert_eq!(grid.labels.len(), 18);
        assert_eq!(grid.label(Some(0), 0), "A -10.0% vol -25%");
        assert_eq!(grid.label(Some(1), 4), "B +10.0% vol +0%");
        assert_eq!(grid.label(None, 5), "ALL +10.0% vol +25%");
        assert_eq!((grid.label_index(Some(1), 4), grid.label_index(None, 5)), (10, 17));
        assert_eq!((grid.shock(Some(1), 4), grid.shock(None, 0)), ((0.1, 0.0), (-0.1, -0.25)));
    }

    #[test]
    fn the_scenario_matrix_is_the_accounts_pnl_per_underlying() {
        let market = two_underlyings();
        let (valuation, grid) = built(&market, model(&[-0.1, 0.0, 0.1], &[0.0], Cross::Sum));
        // Long 2 FA (A at 100), short 1 FB (B at 50, multiplier 2).
        let book = crate::test_support::book(&[&[(0, 2.0), (1, -1.0)]]);
        let matrix = grid.scenario_matrix(&valuation, &book, 0).expect("a table");
        let schema = schema_of(&matrix);
        assert_eq!(schema[0], ("scenario".to_owned(), DataType::Int32, false));
        assert_eq!(
            schema.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["scenario", "price_shock", "vol_shock", "A", "B", "total"]
        );
        assert_eq!(f64_column(&matrix, "price_shock"), vec![-0.1, 0.0, 0.1]);
        assert_all_close(&f64_column(&matrix, "A"), &[-20.0, 0.0, 20.0], 1e-9);
        assert_all_close(&f64_column(&matrix, "B"), &[10.0, 0.0, -10.0], 1e-9);
        assert_all_close(&f64_column(&matrix, "total"), &[-10.0, 0.0, 10.0], 1e-9);
    }

    #[test]
    fn a_held_underlying_missing_from_the_correlation_matrix_is_an_input_error() {
        let rho: Value = correlation(&["A"], &[1.0]);
        let engine =
            two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "correlation", 1.0, Some(rho))).expect("valid");
        let on_a = positions(&[("a", "FA", 1.0), ("a", "CA", 1.0)]);
        assert!(engine.margin(on_a.view("positions"), false, crate::OnError::Raise).is_ok());
        let on_b = positions(&[("a", "FA", 1.0), ("b", "FB", 1.0)]);
        let err =
            engine.margin(on_b.view("positions"), false, crate::OnError::Raise).err().expect("B is not in the matrix");
        assert_eq!(err.to_string(), "correlation: underlying 'B' is held but is not in the correlation matrix");
    }

    #[test]
    fn an_outcome_without_by_position_has_no_attribution() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        let run = engine
            .margin(positions(&[("a", "FA", 1.0)]).view("positions"), false, crate::OnError::Raise)
            .expect("margined");
        assert!(run.all_batches().expect("tables").attribution.is_none());
    }
}
