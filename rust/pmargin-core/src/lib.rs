//! pmargin-core: portfolio margin from the net risk of a whole portfolio.
//!
//! Data flows one way: Arrow tables in ([`columns`]) -> validated instruments, market and
//! positions ([`instruments`], [`market`], [`positions`]) -> scenario sets ([`scenarios`]: grid,
//! historical, Monte Carlo) -> contracts priced once per scenario ([`contract`], [`pricing`],
//! [`revalue`]) -> per-account aggregation (worst loss: [`aggregate`]; VaR / ES: [`measure`],
//! [`tail_aggregate`]) -> Arrow tables out ([`output`]). [`engine::Engine`] ties them together.

pub mod aggregate;
pub mod attribution;
pub mod columns;
pub mod contract;
pub mod correlation;
pub mod engine;
pub mod error;
pub mod instruments;
pub mod kernels;
pub mod labels;
pub mod market;
pub mod measure;
pub mod output;
pub mod positions;
pub mod pricing;
pub mod revalue;
pub mod scenarios;
pub mod sensitivities;
pub mod short_ids;
pub mod tail_aggregate;

pub use columns::Table;
pub use engine::{Engine, MarginRun, ModelSpec, TailSpec};
pub use error::{MarginError, Result};
pub use scenarios::{Cross, GridModel, VolShockMode, VOL_FLOOR};
