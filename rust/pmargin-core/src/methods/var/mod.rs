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
use crate::risk::budget::{self, WindowSize};
use crate::risk::group_pnl::scenario_matrix;
use crate::risk::tail::{tail_count, Measure};
use crate::risk::tail_stream::{plans, Plan};
use crate::scenarios::{historical, ScenarioSet};
use crate::spec::Fields;
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
    /// How many tail scenarios the accounts table lists (None: no column).
    pub tail_scenarios: Option<usize>,
    /// The windows' sizes for the memory estimate, and the setting an over-budget run names.
    pub sizes: Vec<WindowSize>,
    pub budget_field: &'static str,
}

impl VarMethod {
    /// Risk arrays for every window; contracts a window cannot revalue are marked unusable.
    fn build(
        sets: Vec<(&'static str, ScenarioSet)>,
        tail: TailSpec,
        valuation: &mut Valuation,
        sizes: Vec<WindowSize>,
        budget_field: &'static str,
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
        Ok(Arc::new(VarMethod {
            measure: tail.measure,
            mm_ratio: tail.mm_ratio,
            windows,
            tail_scenarios: tail.tail_scenarios,
            sizes,
            budget_field,
        }))
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
        let sizes: Vec<WindowSize> =
            sets.iter().map(|(_, set)| WindowSize { n_scenarios: set.n, labels: 1, draws: 0 }).collect();
        budget::check(&valuation.limits, &sizes, u.names.len(), valuation.instruments.len(), 0, "memory_budget")?;
        VarMethod::build(sets, self.tail, valuation, sizes, "memory_budget")
    }
}

impl MethodConfig for MonteCarloModel {
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self> {
        MonteCarloModel::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        // Checked before drawing: the draws alone are 16 bytes per scenario and name.
        self.scenarios.validate()?;
        let n_u = valuation.underlyings.names.len();
        let size =
            WindowSize { n_scenarios: self.scenarios.n_scenarios, labels: 1, draws: self.scenarios.correlation.dim() };
        budget::check(&valuation.limits, &[size], n_u, valuation.instruments.len(), 0, "n_scenarios")?;
        let set = self.scenarios.scenario_set(&valuation.underlyings)?;
        VarMethod::build(vec![("normal", set)], self.tail, valuation, vec![size], "n_scenarios")
    }
}

impl Method for VarMethod {
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>> {
        super::reject_by_position(
            by_position,
            "by_position is available for the grid model only (historical and Monte Carlo report their tail scenarios instead)",
        )?;
        let plans = plans(book, &valuation.underlying_of);
        // The tail state grows with the book and k: checked now that the book is known.
        let mut streamed: Vec<usize> = plans.iter().map(Plan::streamed).collect();
        let ks: Vec<usize> = self.windows.iter().map(|w| w.k).collect();
        let tail = budget::tail_state(&mut streamed, &ks);
        let (n_u, n_c) = (valuation.underlyings.names.len(), valuation.instruments.len());
        budget::check(&valuation.limits, &self.sizes, n_u, n_c, tail, self.budget_field)?;
        let accounts = aggregate::aggregate(&self, book, plans, &valuation.underlying_of, n_c);
        Ok(Box::new(VarOutcome { method: self.clone(), valuation: valuation.clone(), accounts }))
    }

    fn pnl_scale(&self, contract: u32) -> f64 {
        self.windows.iter().fold(0.0, |m, w| m.max(w.risk.scale(contract)))
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
    fn margins(&self) -> Option<Vec<(f64, f64)>> {
        let mm = self.method.mm_ratio;
        Some(self.accounts.iter().map(|a| (a.binding().0, mm * a.binding().0)).collect())
    }

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

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::Array;

    use crate::engine::Engine;
    use crate::methods::MethodSpec;
    use crate::spec::{OwnedTable, Value};
    use crate::test_support::{
        assert_all_close, correlation, f64_column, float_list, historical_spec, map, moves, positions, str_column,
        two_underlyings,
    };

    /// 20 dates: A returns -10%, -9%, ..., +9% (day i: (i - 10)%); B the opposite.
    fn twenty_days() -> OwnedTable {
        let rows: Vec<(i64, &str, f64)> = (0..20)
            .flat_map(|i| {
                let r = (i - 10) as f64 / 100.0;
                [(i, "A", r), (i, "B", -r)]
            })
            .collect();
        moves(&rows)
    }

    fn engine(measure: &str, stressed: Option<OwnedTable>) -> Engine {
        two_underlyings().engine(&historical_spec(twenty_days(), stressed, measure, 0.9, 0.5)).expect("valid")
    }

    fn tails(batch: &arrow_array::RecordBatch) -> Vec<Vec<i32>> {
        let lists = batch.column_by_name("tail_scenarios").expect("a column").as_list::<i32>();
        (0..lists.len()).map(|i| lists.value(i).as_primitive::<Int32Type>().values().to_vec()).collect()
    }

    #[test]
    fn var_and_es_of_a_known_loss_vector() {
        // Long 1 FA (A at 100): losses 10, 9, 8, ... on days 0, 1, 2, ...; 20 days at 90%: k = 2.
        let book = positions(&[("a", "FA", 1.0), ("s", "FA", -1.0)]);
        let var = engine("var", None).margin(book.view("positions"), false, crate::OnError::Raise).expect("margined");
        let accounts = var.accounts_batch().expect("a table");
        // Short 1: losses 9, 8 on days 19, 18.
        assert_all_close(&f64_column(&accounts, "initial_margin"), &[9.0, 8.0], 1e-9);
        assert_all_close(&f64_column(&accounts, "maintenance_margin"), &[4.5, 4.0], 1e-9);
        assert_all_close(&f64_column(&accounts, "gross_margin"), &[9.0, 8.0], 1e-9);
        let scenario = accounts.column_by_name("measure_scenario").expect("a column").as_primitive::<Int32Type>();
        assert_eq!(scenario.values().to_vec(), vec![1, 18]);
        assert_eq!(
            str_column(&accounts, "measure_scenario_label"),
            vec![Some("2024-01-02".to_owned()), Some("2024-01-19".to_owned())]
        );
        assert_eq!(tails(&accounts), vec![vec![1], vec![18]]);
        assert_eq!(str_column(&accounts, "binding_window"), vec![None, None]);

        let es = engine("es", None).margin(book.view("positions"), false, crate::OnError::Raise).expect("margined");
        let accounts = es.accounts_batch().expect("a table");
        assert_all_close(&f64_column(&accounts, "initial_margin"), &[9.5, 8.5], 1e-9);
        // ES reports its worst scenario and the whole tail.
        let scenario = accounts.column_by_name("measure_scenario").expect("a column").as_primitive::<Int32Type>();
        assert_eq!(scenario.values().to_vec(), vec![0, 19]);
        assert_eq!(tails(&accounts), vec![vec![0, 1], vec![19, 18]]);
    }

    #[test]
    fn a_hedge_across_underlyings_diversifies() {
        // Long 1 FA and long 0.5 FB (B moves against A; FB is worth 100): P&L 50 x r_A.
        let book = positions(&[("a", "FA", 1.0), ("a", "FB", 0.5)]);
        let run = engine("var", None).margin(book.view("positions"), false, crate::OnError::Raise).expect("margined");
        let accounts = run.accounts_batch().expect("a table");
        // Total: losses 5, 4.5 -> 4.5. A alone: 9. B alone (losses 50 r_A on up days): 4.5, 4 -> 4.
        assert_all_close(&f64_column(&accounts, "initial_margin"), &[4.5], 1e-9);
        assert_all_close(&f64_column(&accounts, "undiversified_margin"), &[13.0], 1e-9);
        assert_all_close(&f64_column(&accounts, "cross_underlying_benefit"), &[8.5], 1e-9);
        assert_all_close(&f64_column(&accounts, "netting_benefit"), &[13.0 - 4.5], 1e-9);
        assert_all_close(&f64_column(&accounts, "gross_margin"), &[13.0], 1e-9);
        let by = run.by_underlying_batch().expect("a table");
        assert_eq!(str_column(&by, "underlying"), vec![Some("A".to_owned()), Some("B".to_owned())]);
        assert_all_close(&f64_column(&by, "requirement"), &[9.0, 4.0], 1e-9);
        assert_eq!(
            str_column(&by, "measure_scenario_label"),
            vec![Some("2024-01-02".to_owned()), Some("2024-01-19".to_owned())]
        );
    }

    #[test]
    fn the_larger_window_binds() {
        // A stressed window of 10 days with one 30% fall: k = 1, VaR 30 for long 1 FA.
        let crash: Vec<(i64, &str, f64)> =
            (0..10).flat_map(|i| [(100 + i, "A", if i == 3 { -0.3 } else { 0.0 }), (100 + i, "B", 0.0)]).collect();
        let book = positions(&[("long", "FA", 1.0), ("short", "FA", -1.0)]);
        let run = engine("var", Some(moves(&crash)))
            .margin(book.view("positions"), false, crate::OnError::Raise)
            .expect("margined");
        let accounts = run.accounts_batch().expect("a table");
        assert_all_close(&f64_column(&accounts, "initial_margin"), &[30.0, 8.0], 1e-9);
        assert_eq!(
            str_column(&accounts, "binding_window"),
            vec![Some("stressed".to_owned()), Some("normal".to_owned())]
        );
        assert_eq!(str_column(&accounts, "measure_scenario_label")[0].as_deref(), Some("2024-04-13"));
        // A position alone pays its larger window margin.
        assert_all_close(&f64_column(&accounts, "gross_margin"), &[30.0, 8.0], 1e-9);
    }

    #[test]
    fn by_position_is_for_the_grid_only() {
        let err = engine("var", None)
            .margin(positions(&[("a", "FA", 1.0)]).view("positions"), true, crate::OnError::Raise)
            .err();
        assert_eq!(
            err.expect("rejected").to_string(),
            "model.by_position: by_position is available for the grid model only (historical and Monte Carlo \
             report their tail scenarios instead)"
        );
    }

    #[test]
    fn an_underlying_without_moves_cannot_be_held() {
        let only_a: Vec<(i64, &str, f64)> = (0..20).map(|i| (i, "A", 0.01)).collect();
        let engine = two_underlyings().engine(&historical_spec(moves(&only_a), None, "var", 0.9, 1.0)).expect("valid");
        assert!(engine.margin(positions(&[("a", "FA", 1.0)]).view("positions"), false, crate::OnError::Raise).is_ok());
        let err = engine
            .margin(positions(&[("a", "FB", 1.0)]).view("positions"), false, crate::OnError::Raise)
            .err()
            .expect("no moves");
        assert_eq!(err.to_string(), "moves.underlying: the moves table has no moves for underlying 'B'");
    }

    #[test]
    fn too_few_scenarios_for_the_confidence_is_a_config_error() {
        let spec = historical_spec(twenty_days(), None, "var", 0.99, 1.0);
        let err = two_underlyings().engine(&spec).err().expect("20 scenarios at 99%");
        assert_eq!(
            err.to_string(),
            "model.confidence: 20 scenarios are too few for confidence 0.99: at least 1 / (1 - c) are needed"
        );
    }

    #[test]
    fn monte_carlo_margins_are_the_tail_of_its_own_scenarios() {
        let spec = map(vec![
            ("type", Value::Str("montecarlo".into())),
            ("correlation", correlation(&["A", "B"], &[1.0, 0.6, 0.6, 1.0])),
            ("horizon_vols", float_list(&[0.05, 0.08])),
            ("n_scenarios", Value::Int(1000)),
            ("seed", Value::Int(42)),
            ("measure", Value::Str("es".into())),
            ("confidence", Value::Float(0.99)),
            ("mm_ratio", Value::Float(1.0)),
        ]);
        let Ok(MethodSpec::MonteCarlo(model)) = MethodSpec::from_value(&spec) else { panic!("a Monte Carlo spec") };
        let scenarios = model.scenarios.scenario_table().expect("a table");
        // Long 1 FA: a loss of -100 x return of A in each scenario; ES of the 10 worst.
        let names = str_column(&scenarios, "underlying");
        let returns = f64_column(&scenarios, "return");
        let mut losses: Vec<f64> =
            names.iter().zip(&returns).filter(|(n, _)| n.as_deref() == Some("A")).map(|(_, r)| -100.0 * r).collect();
        assert_eq!(losses.len(), 1000);
        losses.sort_by(|a, b| b.total_cmp(a));
        let es = losses[..10].iter().sum::<f64>() / 10.0;
        let engine = two_underlyings().engine(&spec).expect("valid");
        let run = engine
            .margin(positions(&[("a", "FA", 1.0)]).view("positions"), false, crate::OnError::Raise)
            .expect("margined");
        let accounts = run.accounts_batch().expect("a table");
        assert_all_close(&f64_column(&accounts, "initial_margin"), &[es], 1e-9);
        assert!(str_column(&accounts, "measure_scenario_label")[0].as_deref().is_some_and(|l| l.starts_with("MC #")));
    }
}
