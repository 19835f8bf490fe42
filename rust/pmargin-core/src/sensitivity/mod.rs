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
    // Each account writes its rows' contributions into its own slice (rows in account order).
    let mut by_position = vec![0.0; crif.order.len()];
    let mut slices: Vec<&mut [f64]> = Vec::with_capacity(crif.accounts.len());
    let mut rest = by_position.as_mut_slice();
    for a in 0..crif.accounts.len() {
        let (head, tail) = rest.split_at_mut(crif.offsets[a + 1] - crif.offsets[a]);
        slices.push(head);
        rest = tail;
    }
    let results: Vec<simm::AccountSimm<'_>> = slices
        .into_par_iter()
        .enumerate()
        .map(|(a, out)| {
            let rows = &crif.order[crif.offsets[a]..crif.offsets[a + 1]];
            let (factors, keyed) = crif::factors(&crif, rows);
            simm::account_simm(&p, &factors, &keyed, &crif.amounts, rows, out)
        })
        .collect();
    let mut contributions = vec![0.0; crif.order.len()];
    for (i, r) in crif.order.iter().enumerate() {
        contributions[*r as usize] = by_position[i];
    }
    tables::build(&crif, results, contributions)
}
