//! pmargin-core: portfolio margin from the net risk of a whole portfolio.
//!
//! Data flows one way; each stage is a folder (docs/architecture.md has the same map):
//!
//! ```text
//! Arrow tables ──► input/        typed, validated column readers; the instrument-id index
//!              ──► domain/       instruments (+ option terms), market, correlations, the book, groups
//!              ──► valuation/    each contract joined with its market, priced once, Greeks
//!                  (pricing/     the closed forms valuation and risk arrays call)
//!              ──► scenarios/    scenario sets: grid, historical, Monte Carlo; labels
//!              ──► risk/         risk arrays, dense kernels, group P&L, worst loss, VaR/ES,
//!                                streaming tails
//!              ──► methods/      one folder per methodology behind the `Method` trait
//!                                (grid/, var/), each with its spec, aggregation and tables
//!              ──► output/       Arrow builders shared by the methods' tables; Greeks tables
//! engine.rs ties a valuation to a method; spec.rs turns a value tree into a method's typed spec;
//! error.rs and float_text.rs word the errors (floats as Python writes them).
//! accounts/ sits on the engine: the pre-trade what-if on small books.
//! ```
//!
//! Kernels sit at the bottom, methods above them, the engine on top: a module only imports from
//! its own stage or the stages before it (checked by `tests/architecture.rs`).

pub mod accounts;
pub mod domain;
pub mod engine;
pub mod error;
pub mod float_text;
pub mod input;
pub mod methods;
pub mod output;
pub mod pricing;
pub mod risk;
pub mod scenarios;
pub mod sensitivity;
pub mod spec;
#[cfg(test)]
pub(crate) mod test_support;
pub mod valuation;

pub use domain::book::OnError;
pub use engine::{Engine, MarginRun};
pub use error::{MarginError, Result};
pub use input::Table;
pub use methods::grid::model::{Cross, GridModel};
pub use methods::MethodSpec;
pub use scenarios::{VolShockMode, VOL_FLOOR};
pub use spec::{Limits, OwnedTable, Value};
