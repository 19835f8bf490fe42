//! VaR / ES aggregation for historical and Monte Carlo models: each account's loss vector is the
//! sparse (accounts x contracts) times dense (contracts x scenarios) product, computed one block
//! of scenarios at a time so the block stays in cache, and reduced on the fly to a bounded top-k
//! per account and per underlying. Memory stays bounded: only a super-chunk of accounts holds
//! tail state at once, and no account's full loss vector is ever stored.

use rayon::prelude::*;

use crate::aggregate::underlying_slots;
use crate::measure::{Measure, Tail, TailOutcome};
use crate::positions::Book;
use crate::revalue::RiskArrays;

/// Accounts holding tail state at once (bounds memory to ~SUPER x underlyings x 2k losses).
const SUPER: usize = 8192;
/// Accounts per parallel task within a block.
const TASK: usize = 32;

/// Each account's underlyings (first-seen) and the slot of each of its netted positions.
pub struct Plan {
    pub underlyings: Vec<u32>,
    slots: Vec<usize>,
}

pub fn plans(book: &Book, underlying_of: &[u32]) -> Vec<Plan> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(256)
        .map(|a| {
            let (underlyings, slots) = underlying_slots(book, a, underlying_of);
            Plan { underlyings, slots }
        })
        .collect()
}

/// The tails of one account in one window: the whole account and each underlying alone.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOutcome {
    pub total: TailOutcome,
    /// Aligned with `Plan::underlyings`.
    pub per_underlying: Vec<TailOutcome>,
}

struct AccountTails {
    total: Tail,
    /// Empty for single-underlying accounts, whose only underlying's tail is the total's.
    per_underlying: Vec<Tail>,
}

/// Tail outcomes of every account under one scenario window.
pub fn window_outcomes(
    book: &Book,
    plans: &[Plan],
    risk: &RiskArrays,
    k: usize,
    measure: Measure,
) -> Vec<WindowOutcome> {
    let mut out = Vec::with_capacity(book.n_accounts());
    for first in (0..book.n_accounts()).step_by(SUPER) {
        let accounts = first..(first + SUPER).min(book.n_accounts());
        let mut tails: Vec<AccountTails> = accounts
            .clone()
            .map(|a| AccountTails {
                total: Tail::new(k),
                per_underlying: if plans[a].underlyings.len() > 1 {
                    vec![Tail::new(k); plans[a].underlyings.len()]
                } else {
                    Vec::new()
                },
            })
            .collect();
        for b in 0..risk.n_blocks() {
            tails.par_chunks_mut(TASK).enumerate().for_each(|(task, chunk)| {
                let mut pnl = Vec::new();
                let mut total = Vec::new();
                for (i, account_tails) in chunk.iter_mut().enumerate() {
                    let a = first + task * TASK + i;
                    block_pnl(book, a, &plans[a], risk, b, &mut pnl, &mut total);
                    push_block(account_tails, risk.block_range(b).start, &pnl, &total);
                }
            });
        }
        out.par_extend(tails.into_par_iter().map(|t| {
            let total = TailOutcome::from_tail(&t.total.finish(), measure);
            let per_underlying = if t.per_underlying.is_empty() {
                vec![total.clone()]
            } else {
                t.per_underlying.into_iter().map(|u| TailOutcome::from_tail(&u.finish(), measure)).collect()
            };
            WindowOutcome { total, per_underlying }
        }));
    }
    out
}

/// The account's P&L per underlying (`pnl`, underlying-major) and in total for block `b`.
fn block_pnl(
    book: &Book,
    a: usize,
    plan: &Plan,
    risk: &RiskArrays,
    b: usize,
    pnl: &mut Vec<f64>,
    total: &mut Vec<f64>,
) {
    let width = risk.block_range(b).len();
    let n_u = plan.underlyings.len();
    pnl.clear();
    pnl.resize(n_u * width, 0.0);
    for (p, &k) in book.positions(a).zip(&plan.slots) {
        let q = book.quantity[p];
        let row = risk.block_row(b, book.instrument[p]);
        for (acc, x) in pnl[k * width..(k + 1) * width].iter_mut().zip(row) {
            *acc += q * x;
        }
    }
    total.clear();
    total.resize(width, 0.0);
    for k in 0..n_u {
        for (t, x) in total.iter_mut().zip(&pnl[k * width..(k + 1) * width]) {
            *t += x;
        }
    }
}

fn push_block(tails: &mut AccountTails, first_scenario: usize, pnl: &[f64], total: &[f64]) {
    let width = total.len();
    for (i, p) in total.iter().enumerate() {
        tails.total.push(0.0 - p, (first_scenario + i) as u32);
    }
    for (k, tail) in tails.per_underlying.iter_mut().enumerate() {
        for (i, p) in pnl[k * width..(k + 1) * width].iter().enumerate() {
            tail.push(0.0 - p, (first_scenario + i) as u32);
        }
    }
}

/// Margin of one unit long and one unit short of `contract` alone (VaR and ES are positively
/// homogeneous, so a position's margin is |q| times one of these).
pub fn unit_margins(risk: &RiskArrays, contract: u32, k: usize, measure: Measure) -> (f64, f64) {
    let long = crate::measure::measure_of(risk.row(contract).map(|x| 0.0 - x), k, measure);
    let short = crate::measure::measure_of(risk.row(contract).map(|x| x + 0.0), k, measure);
    (long.margin(), short.margin())
}
