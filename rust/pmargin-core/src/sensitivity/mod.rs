//! Sensitivity-based risk (docs/simm.md): ISDA SIMM from a CRIF, with per-row Euler
//! contributions ([`simm`]), and delta-normal / delta-gamma portfolio volatility with component,
//! marginal and what-if figures ([`variance`]). Parameters are data read from the spec
//! ([`params`]); nothing here knows a version.

pub mod crif;
pub mod intern;
pub mod params;
pub mod simm;
pub mod tables;
pub mod variance;

use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::input::Table;
use crate::sensitivity::params::SimmParams;
use crate::spec::Value;

pub use tables::SimmTables;

/// Accounts per rayon task: enough to amortise the task and the scratch buffers, small enough
/// to balance two to a few dozen cores.
const ACCOUNTS_PER_TASK: usize = 256;

/// SIMM of every account of a CRIF table: accounts sorted by id, runs of accounts in parallel.
pub fn simm(crif_table: &Table<'_>, spec: &Value) -> Result<SimmTables> {
    let p = SimmParams::from_value(spec)?;
    let crif = crif::read_crif(crif_table, &p)?;
    // Each run of accounts writes its rows' contributions into its own slice (rows in account
    // order).
    let n_accounts = crif.accounts.len();
    let mut by_position = vec![0.0; crif.offsets[n_accounts]];
    let mut tasks: Vec<(usize, &mut [f64])> = Vec::with_capacity(n_accounts.div_ceil(ACCOUNTS_PER_TASK));
    let mut rest = by_position.as_mut_slice();
    for first in (0..n_accounts).step_by(ACCOUNTS_PER_TASK) {
        let last = (first + ACCOUNTS_PER_TASK).min(n_accounts);
        let (head, tail) = rest.split_at_mut(crif.offsets[last] - crif.offsets[first]);
        tasks.push((first, head));
        rest = tail;
    }
    // Each task decodes its accounts' rows; a bad row stops its task, and the lowest bad row of
    // all tasks is the error (the first bad row of the table, as a serial read would find).
    let results: Vec<std::result::Result<simm::AccountSimm<'_>, (u32, MarginError)>> = tasks
        .into_par_iter()
        .map(|(first, out)| {
            let last = (first + ACCOUNTS_PER_TASK).min(n_accounts);
            let mut scratch = crif::Scratch::default();
            let mut decoded = Vec::new();
            let mut rows_buf = Vec::new();
            let mut acc = simm::AccountSimm::default();
            let mut work = simm::Work::default();
            let mut bad: Option<(u32, MarginError)> = None;
            for a in first..last {
                let rows = crif.rows(a, &mut rows_buf);
                if let Err(e) = crif.decode_rows(&p, rows, &mut decoded) {
                    if bad.as_ref().is_none_or(|b| e.0 < b.0) {
                        bad = Some(e);
                    }
                    continue;
                }
                if bad.is_some() {
                    continue;
                }
                let at = crif.offsets[a] - crif.offsets[first];
                let slot = &mut out[at..at + rows.len()];
                crif::factors(&crif, rows, &decoded, &mut scratch);
                simm::account_simm(
                    &p,
                    &scratch.factors,
                    &scratch.keyed,
                    &scratch.positions,
                    &crif.amounts,
                    slot,
                    a as u32,
                    &mut acc,
                    &mut work,
                );
                if a == first {
                    acc.reserve_like_first(last - first);
                }
            }
            bad.map_or(Ok(acc), Err)
        })
        .collect();
    let mut first_bad: Option<(u32, MarginError)> = None;
    let mut chunks = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(acc) => chunks.push(acc),
            Err(e) => {
                if first_bad.as_ref().is_none_or(|b| e.0 < b.0) {
                    first_bad = Some(e);
                }
            }
        }
    }
    if let Some((_, e)) = first_bad {
        return Err(e);
    }
    let results = chunks;
    // Rows usually come grouped by account in id order: then positions are input rows already.
    let contributions = match &crif.order {
        None => by_position,
        Some(order) => {
            let mut contributions = vec![0.0; order.len()];
            for (i, r) in order.iter().enumerate() {
                contributions[*r as usize] = by_position[i];
            }
            contributions
        }
    };
    tables::build(&crif, results, contributions)
}
