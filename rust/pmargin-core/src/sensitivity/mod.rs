//! Sensitivity-based risk (docs/simm.md): ISDA SIMM from a CRIF, with per-row Euler
//! contributions ([`simm`]), and delta-normal / delta-gamma portfolio volatility with component,
//! marginal and what-if figures ([`variance`]). Parameters are data read from the spec
//! ([`params`]); nothing here knows a version.

pub mod crif;
pub mod params;
pub mod simm;
pub mod tables;
pub mod variance;

use rayon::prelude::*;

use crate::error::Result;
use crate::input::Table;
use crate::sensitivity::params::SimmParams;
use crate::spec::Value;

pub use tables::SimmTables;

/// SIMM of every account of a CRIF table: accounts sorted by id, each account in parallel.
pub fn simm(crif_table: &Table<'_>, spec: &Value) -> Result<SimmTables> {
    let p = SimmParams::from_value(spec)?;
    let crif = crif::read_crif(crif_table, &p)?;
    let results: Vec<simm::AccountSimm> = (0..crif.accounts.len())
        .into_par_iter()
        .map(|a| {
            let rows = &crif.order[crif.offsets[a]..crif.offsets[a + 1]];
            let factors = crif::factors(&crif, rows);
            simm::account_simm(&p, &factors, &crif.amounts)
        })
        .collect();
    tables::build(&crif, results)
}
