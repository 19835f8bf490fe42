//! VaR / ES aggregation for historical and Monte Carlo models: each account's loss vector is the
//! sparse (accounts x contracts) times dense (contracts x scenarios) product, computed one block
//! of scenarios at a time so the block stays in cache, and reduced on the fly to a bounded top-k.
//! Memory stays bounded: only a super-chunk of accounts holds tail state at once, and no
//! account's full loss vector is ever stored.
//!
//! VaR and ES are positively homogeneous, so an underlying group holding a single position needs
//! no streaming at all: its measure is |q| times the contract's unit long or short measure,
//! computed once per contract. Only groups of two or more positions, and the account total, are
//! streamed.

use rayon::prelude::*;

use crate::aggregate::underlying_slots;
use crate::measure::{Measure, Tail, TailOutcome};
use crate::positions::Book;
use crate::revalue::RiskArrays;

/// Accounts holding tail state at once (bounds memory to ~SUPER x streamed tails x 4k losses).
const SUPER: usize = 8192;
/// Accounts per parallel task within a block.
const TASK: usize = 32;

/// Each account's underlyings (first-seen) and, per underlying, its netted positions in order.
pub struct Plan {
    pub underlyings: Vec<u32>,
    groups: Vec<Vec<usize>>,
}

pub fn plans(book: &Book, underlying_of: &[u32]) -> Vec<Plan> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(256)
        .map(|a| {
            let (underlyings, slots) = underlying_slots(book, a, underlying_of);
            let mut groups = vec![Vec::new(); underlyings.len()];
            for (p, k) in book.positions(a).zip(slots) {
                groups[k].push(p);
            }
            Plan { underlyings, groups }
        })
        .collect()
}

/// A measure's value and the one scenario reported for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub value: f64,
    pub scenario: u32,
}

impl Summary {
    pub fn margin(&self) -> f64 {
        self.value.max(0.0)
    }
}

/// One account in one window: the whole account and each underlying alone.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOutcome {
    pub total: TailOutcome,
    /// Aligned with `Plan::underlyings`.
    pub per_underlying: Vec<Summary>,
}

/// Unit long and short tail outcomes of every held contract in one window.
pub struct UnitTails {
    long: Vec<Option<TailOutcome>>,
    short: Vec<Option<TailOutcome>>,
}

impl UnitTails {
    pub fn new(book: &Book, risk: &RiskArrays, n_contracts: usize, k: usize, measure: Measure) -> UnitTails {
        let mut held = vec![false; n_contracts];
        for &c in &book.instrument {
            held[c as usize] = true;
        }
        let (long, short) = (0..n_contracts)
            .into_par_iter()
            .map(|c| {
                if !held[c] {
                    return (None, None);
                }
                let (mut long, mut short) = (Tail::new(k), Tail::new(k));
                for b in 0..risk.n_blocks() {
                    let first = risk.block_range(b).start;
                    for (i, &x) in risk.block_row(b, c as u32).iter().enumerate() {
                        let s = (first + i) as u32;
                        long.push(0.0 - x, s);
                        short.push(x + 0.0, s);
                    }
                }
                let long = TailOutcome::from_tail(&long.finish(), measure);
                let short = TailOutcome::from_tail(&short.finish(), measure);
                (Some(long), Some(short))
            })
            .unzip();
        UnitTails { long, short }
    }

    /// The tail of `quantity` units of `contract`: a unit tail scaled by |q|.
    fn scaled(&self, contract: u32, quantity: f64) -> Option<(f64, &TailOutcome)> {
        let c = contract as usize;
        let unit = if quantity < 0.0 { &self.short[c] } else { &self.long[c] };
        unit.as_ref().map(|u| (quantity.abs() * u.value, u))
    }

    /// Margin of `quantity` units alone.
    pub fn margin(&self, contract: u32, quantity: f64) -> f64 {
        self.scaled(contract, quantity).map_or(0.0, |(v, _)| v.max(0.0))
    }
}

struct AccountTails {
    /// None when the account is one position: its tail is that position's scaled unit tail.
    total: Option<Tail>,
    /// Per underlying group: None for single-position groups (scaled unit tails).
    groups: Vec<Option<Tail>>,
}

/// Tail outcomes of every account under one scenario window.
pub fn window_outcomes(
    book: &Book,
    plans: &[Plan],
    risk: &RiskArrays,
    units: &UnitTails,
    k: usize,
    measure: Measure,
) -> Vec<WindowOutcome> {
    let mut out = Vec::with_capacity(book.n_accounts());
    for first in (0..book.n_accounts()).step_by(SUPER) {
        let accounts = first..(first + SUPER).min(book.n_accounts());
        let mut tails: Vec<AccountTails> = accounts.clone().map(|a| new_tails(&plans[a], k)).collect();
        for b in 0..risk.n_blocks() {
            tails.par_chunks_mut(TASK).enumerate().for_each(|(task, chunk)| {
                let mut scratch = Vec::new();
                let mut total = Vec::new();
                for (i, account_tails) in chunk.iter_mut().enumerate() {
                    let a = first + task * TASK + i;
                    stream_block(book, &plans[a], risk, b, account_tails, &mut scratch, &mut total);
                }
            });
        }
        out.par_extend(
            tails
                .into_par_iter()
                .zip(accounts.into_par_iter())
                .map(|(t, a)| finish(book, &plans[a], units, t, measure)),
        );
    }
    out
}

fn new_tails(plan: &Plan, k: usize) -> AccountTails {
    let streamed = |g: &Vec<usize>| (g.len() > 1).then(|| Tail::new(k));
    let single_position = plan.groups.len() == 1 && plan.groups[0].len() == 1;
    let groups = if plan.groups.len() == 1 { vec![None] } else { plan.groups.iter().map(streamed).collect() };
    AccountTails { total: (!single_position).then(|| Tail::new(k)), groups }
}

/// Add one block of the account's P&L to its tails. The total is summed exactly as
/// docs/methods.md says: per underlying in position order, then across underlyings in order.
fn stream_block(
    book: &Book,
    plan: &Plan,
    risk: &RiskArrays,
    b: usize,
    tails: &mut AccountTails,
    scratch: &mut Vec<f64>,
    total: &mut Vec<f64>,
) {
    if tails.total.is_none() {
        return;
    }
    let range = risk.block_range(b);
    let width = range.len();
    total.clear();
    total.resize(width, 0.0);
    for (group, tail) in plan.groups.iter().zip(tails.groups.iter_mut()) {
        if let [p] = group.as_slice() {
            let q = book.quantity[*p];
            for (t, x) in total.iter_mut().zip(risk.block_row(b, book.instrument[*p])) {
                *t += q * x;
            }
            continue;
        }
        scratch.clear();
        scratch.resize(width, 0.0);
        for &p in group {
            let q = book.quantity[p];
            for (acc, x) in scratch.iter_mut().zip(risk.block_row(b, book.instrument[p])) {
                *acc += q * x;
            }
        }
        for (t, x) in total.iter_mut().zip(scratch.iter()) {
            *t += x;
        }
        if let Some(tail) = tail {
            for (i, x) in scratch.iter().enumerate() {
                tail.push(0.0 - x, (range.start + i) as u32);
            }
        }
    }
    if let Some(tail) = &mut tails.total {
        for (i, x) in total.iter().enumerate() {
            tail.push(0.0 - x, (range.start + i) as u32);
        }
    }
}

fn summary(outcome: &TailOutcome, measure: Measure) -> Summary {
    Summary { value: outcome.value, scenario: outcome.scenario(measure) }
}

fn finish(book: &Book, plan: &Plan, units: &UnitTails, tails: AccountTails, measure: Measure) -> WindowOutcome {
    let scaled = |p: usize| units.scaled(book.instrument[p], book.quantity[p]);
    let total = match tails.total {
        Some(t) => TailOutcome::from_tail(&t.finish(), measure),
        None => match scaled(plan.groups[0][0]) {
            Some((value, unit)) => TailOutcome { value, tail: unit.tail.clone() },
            None => TailOutcome { value: 0.0, tail: Vec::new() },
        },
    };
    let per_underlying = if plan.groups.len() == 1 {
        vec![summary(&total, measure)]
    } else {
        plan.groups
            .iter()
            .zip(tails.groups)
            .map(|(group, tail)| match tail {
                Some(t) => summary(&TailOutcome::from_tail(&t.finish(), measure), measure),
                None => match scaled(group[0]) {
                    Some((value, unit)) => Summary { value, scenario: unit.scenario(measure) },
                    None => Summary { value: 0.0, scenario: 0 },
                },
            })
            .collect()
    };
    WindowOutcome { total, per_underlying }
}
