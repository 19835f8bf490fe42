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

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::input::parts::defaulted;
use crate::input::Table;
use crate::sensitivity::params::SimmParams;
use crate::spec::Value;

pub use tables::SimmTables;

/// Accounts per rayon task: enough to amortise the task and the scratch buffers, small enough
/// to balance two to a few dozen cores.
const ACCOUNTS_PER_TASK: usize = 256;

/// What one task of accounts left: their figures, else its lowest bad row's error, else its
/// first account whose figures overflowed.
#[derive(Default)]
struct TaskOutcome<'a> {
    figures: simm::AccountSimm<'a>,
    bad: Option<(u32, MarginError)>,
    overflow: Option<usize>,
}

/// SIMM of every account of a CRIF table: accounts sorted by id, runs of accounts in parallel.
pub fn simm(crif_table: &Table<'_>, spec: &Value) -> Result<SimmTables> {
    let p = SimmParams::from_value(spec)?;
    let crif = crif::read_crif(crif_table, &p)?;
    // Out of account order, every row is decoded first, in row order (`Crif::decode_all`).
    let all = match crif.order {
        Some(_) => Some(crif.decode_all(&p)?),
        None => None,
    };
    // Each run of accounts writes its rows' contributions into its own slice (rows in account
    // order).
    let n_accounts = crif.accounts.len();
    // Each task zeroes its own slice first, in cache (zeroing the vector first was a serial
    // memset as large as it).
    let total = crif.offsets[n_accounts];
    let mut by_position: Vec<f64> = Vec::with_capacity(total);
    let mut tasks: Vec<(usize, &mut [MaybeUninit<f64>])> = Vec::with_capacity(n_accounts.div_ceil(ACCOUNTS_PER_TASK));
    let mut rest = &mut by_position.spare_capacity_mut()[..total];
    for first in (0..n_accounts).step_by(ACCOUNTS_PER_TASK) {
        let last = (first + ACCOUNTS_PER_TASK).min(n_accounts);
        let (head, tail) = rest.split_at_mut(crif.offsets[last] - crif.offsets[first]);
        tasks.push((first, head));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(MarginError::Internal("SIMM: the accounts' rows do not cover the table".into()));
    }
    // Each task decodes its accounts' rows; a bad row stops its task's arithmetic, and the lowest
    // bad row of all tasks is the error (the first bad row of the table, as a serial read would
    // find). Without one, the first account whose figures overflowed is.
    let results: Vec<TaskOutcome<'_>> = tasks
        .into_par_iter()
        .map(|(first, out)| {
            let out = defaulted(out);
            let last = (first + ACCOUNTS_PER_TASK).min(n_accounts);
            let mut scratch = crif::Scratch::default();
            let mut decoded = Vec::new();
            let mut rows_buf = Vec::new();
            let mut done = TaskOutcome::default();
            let mut work = simm::Work::default();
            for a in first..last {
                let rows = crif.rows(a, &mut rows_buf);
                let read = match &all {
                    Some(all) => {
                        crif.gather_rows(all, rows, &mut decoded, &mut scratch);
                        Ok(())
                    }
                    None => crif.decode_rows(&p, rows, &mut decoded, &mut scratch),
                };
                if let Err(e) = read {
                    if done.bad.as_ref().is_none_or(|b| e.0 < b.0) {
                        done.bad = Some(e);
                    }
                    continue;
                }
                if done.bad.is_some() || done.overflow.is_some() {
                    continue;
                }
                let at = crif.offsets[a] - crif.offsets[first];
                let slot = &mut out[at..at + rows.len()];
                crif::factors(&crif, rows, &decoded, &mut scratch);
                let finite = simm::account_simm(
                    &p,
                    &scratch.factors,
                    &scratch.keyed,
                    slot,
                    a as u32,
                    &mut done.figures,
                    &mut work,
                );
                if !finite {
                    done.overflow = Some(a);
                }
                if a == first {
                    done.figures.reserve_like_first(last - first);
                }
            }
            done
        })
        .collect();
    // SAFETY: the tasks' slices cover `0..total` (split in order at the tasks' row offsets,
    // nothing left over: checked above), and every task set its whole slice before anything
    // else (`defaulted`); a panicking task never gets here.
    unsafe { by_position.set_len(total) };
    let first_bad = results.iter().filter_map(|r| r.bad.as_ref()).min_by_key(|b| b.0);
    if let Some((_, e)) = first_bad {
        return Err(e.clone());
    }
    if let Some(a) = results.iter().filter_map(|r| r.overflow).min() {
        return Err(MarginError::input(
            crif::TABLE,
            Some(&p.amount_column),
            None,
            format!(
                "account '{}': SIMM is not a finite number (the amounts, or the parameters' risk \
                 weights and thresholds, are so large that the arithmetic overflows)",
                crif.accounts[a]
            ),
        ));
    }
    let chunks: Vec<simm::AccountSimm<'_>> = results.into_iter().map(|r| r.figures).collect();
    let results = chunks;
    // Rows usually come grouped by account in id order: then positions are input rows already.
    let contributions = match &crif.order {
        None => by_position,
        Some(order) => crate::domain::by_account::back_in_row_order(order, &by_position)?,
    };
    tables::build(&crif, results, contributions)
}
