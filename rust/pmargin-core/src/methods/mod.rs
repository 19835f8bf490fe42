//! Methodologies. Each is one folder behind the [`Method`] trait: it parses its own spec from a
//! [`Value`] tree ([`MethodConfig`]), builds what it needs from a [`Valuation`] (scenarios, risk
//! arrays, parameters), margins a netted book into an [`Outcome`], and builds its own result
//! tables. The engine only ever sees `dyn Method` and `dyn Outcome`: an outcome carries the
//! method that made it, so a run and its tables can never disagree on the model.
//!
//! Adding a methodology: a folder here implementing [`MethodConfig`] and [`Method`], and one
//! line in the [`methods!`] list below (its spec type and its `type` name).

pub mod deribit;
pub mod grid;
pub mod span;
pub mod tims;
pub mod var;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};

use crate::domain::book::Book;
use crate::error::Result;
use crate::spec::{config_error, Fields, Value};
use crate::valuation::Valuation;

/// Methods whose results are not additive per position reject `by_position` with the reason,
/// one message shape for all of them.
pub fn reject_by_position(by_position: bool, why: &str) -> Result<()> {
    if by_position {
        return Err(config_error("by_position", why));
    }
    Ok(())
}

/// What a method's result tables need from the run: the netted book and each account's id.
pub struct RunView<'a> {
    pub book: &'a Book,
    /// `account_id` of each account: Utf8 for string ids, Int64 for integer ids.
    pub account_ids: &'a ArrayRef,
}

/// Every result table of a run.
pub struct ResultBatches {
    pub accounts: RecordBatch,
    pub by_underlying: RecordBatch,
    /// (by_position, explain) of a run made with `by_position`.
    pub attribution: Option<(RecordBatch, RecordBatch)>,
}

/// Each of an outcome's tables built on its own, in parallel.
pub fn tables_in_parallel<O: Outcome + ?Sized>(outcome: &O, run: &RunView<'_>) -> Result<ResultBatches> {
    let ((accounts, by_underlying), attribution) = rayon::join(
        || rayon::join(|| outcome.accounts(run), || outcome.by_underlying(run)),
        || outcome.attribution(run).transpose(),
    );
    Ok(ResultBatches { accounts: accounts?, by_underlying: by_underlying?, attribution: attribution? })
}

/// A methodology, built once per engine and reused for every book.
pub trait Method: Send + Sync {
    /// Margin every account of a netted book; with `by_position`, also attribute each account's
    /// margin to its positions (methods that cannot say so with a config error).
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>>;

    /// The largest |P&L per unit| of `contract` over every scenario the method uses.
    fn pnl_scale(&self, contract: u32) -> f64;

    /// One account's P&L per underlying and scenario, with the scenarios' labels.
    fn scenario_matrix(&self, valuation: &Valuation, book: &Book, account: usize) -> Result<RecordBatch>;
}

/// The margins of one book under one method, and the tables they make.
pub trait Outcome: Send + Sync {
    /// One row per account: `account_id`, `initial_margin`, `maintenance_margin`, ...
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch>;

    /// One row per account and underlying.
    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch>;

    /// `(by_position, explain)` when the run attributed its margins, else None.
    fn attribution(&self, run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>>;

    /// Every table of the run; a method whose tables share columns builds them together.
    fn tables(&self, run: &RunView<'_>) -> Result<ResultBatches> {
        tables_in_parallel(self, run)
    }

    /// `(initial, maintenance)` of every account without building a table, when the method can
    /// say so cheaply (the pre-trade what-if's fast path); None: read them from [`Self::accounts`].
    fn margins(&self) -> Option<Vec<(f64, f64)>> {
        None
    }
}

/// A method's typed spec: parsed once from a [`Value`] tree, then built against a valuation.
pub trait MethodConfig: Sized {
    /// Read the spec's own keys (`type` is already read); unknown keys are rejected afterwards.
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self>;

    /// Build the method: its scenarios and risk arrays; mark contracts it cannot margin.
    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>>;
}

/// Declares [`MethodSpec`], one variant per method, with its parser and builder.
macro_rules! methods {
    ($($variant:ident($spec:ty) = $name:literal),* $(,)?) => {
        /// The spec of any method, by its `type` name.
        pub enum MethodSpec {
            $($variant($spec)),*
        }

        impl MethodSpec {
            /// Every method's `type` name.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// Parse a spec `{"type": name, ...}`; every other key belongs to that method.
            pub fn from_value(value: &Value) -> Result<Self> {
                let mut fields = Fields::new(value)?;
                let spec = match fields.str("type")? {
                    $($name => MethodSpec::$variant(<$spec as MethodConfig>::from_fields(&mut fields)?),)*
                    other => {
                        return Err(config_error(
                            "type",
                            format!("unknown model type '{other}'; expected one of: {}", Self::NAMES.join(", ")),
                        ))
                    }
                };
                fields.finish()?;
                Ok(spec)
            }

            pub fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
                match self {
                    $(MethodSpec::$variant(spec) => spec.build(valuation),)*
                }
            }
        }
    };
}

methods! {
    Grid(grid::model::GridModel) = "grid",
    Historical(var::HistoricalSpec) = "historical",
    MonteCarlo(var::MonteCarloModel) = "montecarlo",
    Span(span::spec::SpanModel) = "span",
    Tims(tims::TimsModel) = "tims",
    Deribit(deribit::params::DeribitModel) = "deribit",
}

impl MethodSpec {
    /// String columns of the instruments table the method groups by (read when the engine is
    /// built, into `Valuation::groups`).
    pub fn group_columns(&self) -> Vec<String> {
        match self {
            MethodSpec::Grid(model) => model.ranges.column.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MarginError;
    use crate::test_support::{correlation, float_list, grid_spec, historical_spec, map, moves, two_underlyings};

    fn error(value: &Value) -> String {
        MethodSpec::from_value(value).err().expect("an invalid spec").to_string()
    }

    fn monte_carlo() -> Value {
        map(vec![
            ("type", Value::Str("montecarlo".into())),
            ("correlation", correlation(&["A"], &[1.0])),
            ("horizon_vols", float_list(&[0.05])),
            ("n_scenarios", Value::Int(100)),
            ("seed", Value::Int(1)),
            ("measure", Value::Str("var".into())),
            ("confidence", Value::Float(0.99)),
            ("mm_ratio", Value::Float(1.0)),
        ])
    }

    #[test]
    fn parses_every_known_type() {
        assert_eq!(MethodSpec::NAMES, ["grid", "historical", "montecarlo", "span", "tims", "deribit"]);
        let grid = grid_spec(&[-0.1, 0.1], &[0.0], "sum", 0.8, None);
        assert!(matches!(MethodSpec::from_value(&grid), Ok(MethodSpec::Grid(m)) if m.mm_ratio == 0.8));
        let historical = historical_spec(moves(&[(0, "A", 0.01)]), None, "var", 0.5, 1.0);
        assert!(matches!(MethodSpec::from_value(&historical), Ok(MethodSpec::Historical(_))));
        assert!(
            matches!(MethodSpec::from_value(&monte_carlo()), Ok(MethodSpec::MonteCarlo(m)) if m.scenarios.n_scenarios == 100)
        );
    }

    #[test]
    fn an_unknown_type_names_the_known_types() {
        let spec = map(vec![("type", Value::Str("prisma".into()))]);
        assert_eq!(
            error(&spec),
            "model.type: unknown model type 'prisma'; expected one of: grid, historical, montecarlo, span, tims, deribit"
        );
        assert_eq!(error(&map(vec![])), "model.type: is required");
        assert_eq!(error(&map(vec![("type", Value::Int(1))])), "model.type: must be a string, got an integer");
        assert_eq!(error(&Value::List(vec![])), "model.spec: must be a table of keys, got a list");
    }

    #[test]
    fn an_unknown_key_is_rejected() {
        let Value::Map(mut entries) = grid_spec(&[-0.1], &[0.0], "sum", 1.0, None) else { panic!("a map") };
        entries.push(("mm_ration".into(), Value::Float(0.5)));
        let err = MethodSpec::from_value(&Value::Map(entries)).err().expect("a misspelt key");
        assert!(matches!(&err, MarginError::Config { field, .. } if field == "mm_ration"), "{err}");
        assert!(err.to_string().starts_with("model.mm_ration: unknown key (the keys read were: type, "), "{err}");
        let Value::Map(mut entries) = monte_carlo() else { panic!("a map") };
        entries.push(("stressed".into(), Value::Bool(true)));
        assert!(error(&Value::Map(entries)).starts_with("model.stressed: unknown key"));
    }

    #[test]
    fn a_methods_own_errors_come_through() {
        assert_eq!(
            error(&grid_spec(&[-0.1], &[0.0], "sum", 0.0, None)),
            "model.mm_ratio: must be a number in (0, 1], got 0"
        );
        let historical = historical_spec(moves(&[(0, "A", 0.01)]), None, "cvar", 0.5, 1.0);
        assert_eq!(error(&historical), "model.measure: must be 'var' or 'es', got 'cvar'");
    }

    #[test]
    fn build_dispatches_to_the_method() {
        let market = two_underlyings();
        let mut valuation = market.valuation().expect("valid");
        let spec = MethodSpec::from_value(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        let method = spec.build(&mut valuation).expect("built");
        let book = crate::test_support::book(&[&[(0, 1.0)]]);
        let matrix = method.scenario_matrix(&valuation, &book, 0).expect("a grid matrix");
        assert_eq!(matrix.num_rows(), 2);
        // A historical spec builds a VaR method: its matrix has dated labels.
        let spec = MethodSpec::from_value(&historical_spec(
            moves(&[(0, "A", 0.01), (0, "B", 0.0), (1, "A", -0.02), (1, "B", 0.0)]),
            None,
            "var",
            0.5,
            1.0,
        ))
        .expect("valid");
        let method = spec.build(&mut valuation).expect("built");
        let matrix = method.scenario_matrix(&valuation, &book, 0).expect("a VaR matrix");
        assert_eq!(matrix.schema().field(1).name(), "label");
    }
}
