//! Methodologies. Each is one folder behind the [`Method`] trait: it parses its own spec from a
//! [`Value`] tree ([`MethodConfig`]), builds what it needs from a [`Valuation`] (scenarios, risk
//! arrays, parameters), margins a netted book into an [`Outcome`], and builds its own result
//! tables. The engine only ever sees `dyn Method` and `dyn Outcome`: an outcome carries the
//! method that made it, so a run and its tables can never disagree on the model.
//!
//! Adding a methodology: a folder here implementing [`MethodConfig`] and [`Method`], and one
//! line in the [`methods!`] list below (its spec type and its `type` name).

pub mod grid;
pub mod var;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};

use crate::domain::book::Book;
use crate::error::Result;
use crate::spec::{config_error, Fields, Value};
use crate::valuation::Valuation;

/// What a method's result tables need from the run: the netted book and each account's id.
pub struct RunView<'a> {
    pub book: &'a Book,
    /// `account_id` of each account, in the input's own Arrow type.
    pub account_ids: &'a ArrayRef,
}

/// A methodology, built once per engine and reused for every book.
pub trait Method: Send + Sync {
    /// Margin every account of a netted book; with `by_position`, also attribute each account's
    /// margin to its positions (methods that cannot say so with a config error).
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>>;

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
    Grid(crate::scenarios::GridModel) = "grid",
    Historical(var::HistoricalSpec) = "historical",
    MonteCarlo(var::MonteCarloModel) = "montecarlo",
}
