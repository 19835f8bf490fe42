//! pmargin-core: portfolio margin from the net risk of a whole portfolio.
//!
//! Data flows one way: Arrow tables in ([`columns`]) -> validated instruments, market and
//! positions ([`instruments`], [`market`], [`positions`]) -> contracts priced once per scenario
//! ([`contract`], [`pricing`], [`revalue`]) -> per-account aggregation ([`aggregate`]) -> Arrow
//! tables out ([`output`]). [`engine::GridEngine`] ties the stages together.

pub mod aggregate;
pub mod columns;
pub mod contract;
pub mod engine;
pub mod error;
pub mod instruments;
pub mod labels;
pub mod market;
pub mod model;
pub mod output;
pub mod positions;
pub mod pricing;
pub mod revalue;

pub use columns::Table;
pub use engine::{GridEngine, MarginRun};
pub use error::{MarginError, Result};
pub use model::{Cross, GridModel, VolShockMode, VOL_FLOOR};
