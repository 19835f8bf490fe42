//! VaR / ES aggregation for historical and Monte Carlo models: each account's loss vector is the
//! sparse (accounts x contracts) times dense (contracts x scenarios) product, computed one block
//! of scenarios at a time (a block of the account's P&L fits in L1/L2) and reduced on the fly to
//! a bounded top-k. Memory stays bounded: only a super-chunk of accounts holds tail state at
//! once, and no account's full loss vector is ever stored.
//!
//! What makes it fast, measured on the issue-4 case (benches/bench_throughput.py):
//! - accounts run grouped by their two main underlyings, so the risk rows they read are still in
//!   cache from the previous account (the contracts x scenarios array is far larger than cache);
//! - blocks are wide (risk::arrays::BLOCK), so each account's tail state is visited a few times only;
//! - the tail seeds its bar from the first block and filters losses eight at a time
//!   (risk::tail::Tail::push_losses), so few losses are ever stored or sorted;
//! - rows are fused four at a time in the dense kernel (kernels::accumulate).
//!
//! VaR and ES are positively homogeneous, so an underlying group holding a single position needs
//! no streaming at all: its measure is |q| times the contract's unit long or short measure,
//! computed once per contract. Only groups of two or more positions, and the account total, are
//! streamed.

use rayon::prelude::*;

use crate::domain::book::Book;
use crate::risk::arrays::RiskArrays;
use crate::risk::group_pnl::group_slots;
use crate::risk::kernels::{self, WeightedRow};
use crate::risk::tail::{Measure, Tail, TailOutcome};

/// Accounts holding tail state at once (bounds memory to ~SUPER x streamed tails x 2k losses).
pub const SUPER: usize = 4096;
/// Accounts per parallel task within a block.
const TASK: usize = 32;

/// Each account's underlyings (first-seen) and, per underlying, its netted positions in order.
pub struct Plan {
    pub underlyings: Vec<u32>,
    groups: Vec<Vec<usize>>,
}

impl Plan {
    /// Tails this account streams (for the memory estimate): its total, and each underlying
    /// group of two or more netted positions.
    pub fn streamed(&self) -> usize {
        1 + self.groups.iter().filter(|g| g.len() >= 2).count()
    }
}

pub fn plans(book: &Book, underlying_of: &[u32]) -> Vec<Plan> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(256)
        .map(|a| {
            let (underlyings, slots) = group_slots(book, a, underlying_of);
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
                let mut negated = Vec::new();
                for b in 0..risk.n_blocks() {
                    let first = risk.block_range(b).start;
                    let row = risk.block_row(b, c as u32);
                    long.push_losses(row, first);
                    // A short unit loses x: the loss 0 - (-x) equals x + 0.0 exactly.
                    negated.clear();
                    negated.extend(row.iter().map(|x| -x));
                    short.push_losses(&negated, first);
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

/// Tail outcomes of every account under one scenario window, in account order.
pub fn window_outcomes(
    book: &Book,
    plans: &[Plan],
    risk: &RiskArrays,
    units: &UnitTails,
    k: usize,
    measure: Measure,
) -> Vec<WindowOutcome> {
    let order = locality_order(plans);
    let mut out: Vec<Option<WindowOutcome>> = vec![None; book.n_accounts()];
    // Tails are recycled from one super-chunk to the next: fresh buffers would fault in (and
    // zero) hundreds of MiB of new pages per super-chunk.
    let mut spare: Vec<Tail> = Vec::new();
    for chunk in order.chunks(SUPER) {
        let mut tails: Vec<AccountTails> = chunk.iter().map(|&a| new_tails(&plans[a], k, &mut spare)).collect();
        for b in 0..risk.n_blocks() {
            tails.par_chunks_mut(TASK).zip(chunk.par_chunks(TASK)).for_each(|(task_tails, task_accounts)| {
                let mut buffers = Buffers::default();
                for (account_tails, &a) in task_tails.iter_mut().zip(task_accounts) {
                    stream_block(book, &plans[a], risk, b, account_tails, &mut buffers);
                }
            });
        }
        let finished: Vec<(WindowOutcome, AccountTails)> = tails
            .into_par_iter()
            .zip(chunk.par_iter())
            .map(|(mut t, &a)| (finish(book, &plans[a], units, &mut t, measure), t))
            .collect();
        for ((outcome, t), &a) in finished.into_iter().zip(chunk) {
            out[a] = Some(outcome);
            spare.extend(t.total.into_iter().chain(t.groups.into_iter().flatten()));
        }
    }
    out.into_iter().map(|o| o.expect("every account is in the order once")).collect()
}

/// Accounts ordered by the underlying they hold most positions on, then by their second one
/// (ties: the first seen), then by account: accounts that read the same underlyings' risk rows
/// run together, so those rows are still in cache for the next account. Each account's outcome
/// does not depend on the order, so results are unchanged.
fn locality_order(plans: &[Plan]) -> Vec<usize> {
    let main_underlyings = |plan: &Plan| {
        let (mut first, mut second) = ((0, u32::MAX), (0, u32::MAX));
        for (u, group) in plan.underlyings.iter().zip(&plan.groups) {
            if group.len() > first.0 {
                second = first;
                first = (group.len(), *u);
            } else if group.len() > second.0 {
                second = (group.len(), *u);
            }
        }
        (first.1, second.1)
    };
    let mut order: Vec<((u32, u32), usize)> =
        plans.par_iter().enumerate().map(|(a, plan)| (main_underlyings(plan), a)).collect();
    order.par_sort_unstable();
    order.into_iter().map(|(_, a)| a).collect()
}

fn new_tails(plan: &Plan, k: usize, spare: &mut Vec<Tail>) -> AccountTails {
    let mut tail = || spare.pop().unwrap_or_else(|| Tail::new(k));
    let single_position = plan.groups.len() == 1 && plan.groups[0].len() == 1;
    let total = (!single_position).then(&mut tail);
    let groups = if plan.groups.len() == 1 {
        vec![None]
    } else {
        plan.groups.iter().map(|g| (g.len() > 1).then(&mut tail)).collect()
    };
    AccountTails { total, groups }
}

/// Per-task scratch space, reused across accounts.
#[derive(Default)]
struct Buffers<'a> {
    group: Vec<f64>,
    total: Vec<f64>,
    rows: Vec<WeightedRow<'a>>,
}

/// Add one block of the account's P&L to its tails. The total is summed exactly as
/// docs/methods.md says: per underlying in position order, then across underlyings in order.
fn stream_block<'a>(
    book: &Book,
    plan: &Plan,
    risk: &'a RiskArrays,
    b: usize,
    tails: &mut AccountTails,
    buffers: &mut Buffers<'a>,
) {
    if tails.total.is_none() {
        return;
    }
    let range = risk.block_range(b);
    let width = range.len();
    let Buffers { group: scratch, total, rows } = buffers;
    total.clear();
    total.resize(width, 0.0);
    for (group, tail) in plan.groups.iter().zip(tails.groups.iter_mut()) {
        rows.clear();
        rows.extend(group.iter().map(|&p| (book.quantity[p], risk.block_row(b, book.instrument[p]))));
        // A lone position, or a lone underlying (whose sum is the total: 0 + x == x), goes
        // straight into the total.
        if rows.len() == 1 || plan.groups.len() == 1 {
            kernels::accumulate(total, rows);
            continue;
        }
        scratch.clear();
        scratch.resize(width, 0.0);
        kernels::accumulate(scratch, rows);
        kernels::accumulate(total, &[(1.0, scratch.as_slice())]);
        if let Some(tail) = tail {
            tail.push_losses(scratch, range.start);
        }
    }
    if let Some(tail) = &mut tails.total {
        tail.push_losses(total, range.start);
    }
}

fn summary(outcome: &TailOutcome, measure: Measure) -> Summary {
    Summary { value: outcome.value, scenario: outcome.scenario(measure) }
}

fn finish(book: &Book, plan: &Plan, units: &UnitTails, tails: &mut AccountTails, measure: Measure) -> WindowOutcome {
    let scaled = |p: usize| units.scaled(book.instrument[p], book.quantity[p]);
    let total = match &mut tails.total {
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
            .zip(tails.groups.iter_mut())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::arrays::BLOCK;
    use crate::risk::group_pnl::scenario_matrix;
    use crate::risk::tail::Loss;
    use crate::test_support::{book, spot_risk, uniforms};

    /// The tail of a whole P&L vector by a full sort: losses descending, then scenarios ascending.
    fn sorted_tail(pnl: &[f64], k: usize, measure: Measure) -> TailOutcome {
        let mut losses: Vec<Loss> =
            pnl.iter().enumerate().map(|(s, &x)| Loss { loss: 0.0 - x, scenario: s as u32 }).collect();
        losses.sort_by(|a, b| b.loss.total_cmp(&a.loss).then(a.scenario.cmp(&b.scenario)));
        TailOutcome::from_tail(&losses[..k], measure)
    }

    /// Contracts 0, 1 on underlying 0, 2 on underlying 1, 3 on underlying 2, under `n` random
    /// scenarios of up to +/-10%.
    fn random_risk(n: usize) -> (RiskArrays, Vec<u32>) {
        let factors: Vec<Vec<f64>> =
            (0..3).map(|u| uniforms(u + 1, n).into_iter().map(|x| 0.9 + 0.2 * x).collect()).collect();
        (spot_risk(&[(0, 100.0), (0, 40.0), (1, 50.0), (2, 7.0)], &factors), vec![0, 0, 1, 2])
    }

    /// Accounts of every shape the streaming special-cases.
    fn shapes() -> Book {
        book(&[
            &[(0, 2.0)],                                // one position
            &[(0, 1.0), (1, -2.0)],                     // one underlying, two positions
            &[(0, 1.0), (2, 1.0)],                      // two underlyings, one position each
            &[(0, 1.0), (2, -1.0), (1, 1.0), (3, 0.5)], // a group of two and two lone positions
            &[(3, -3.0)],                               // one short position
            &[(2, 1.5), (0, -1.0), (3, 2.0), (1, -0.5), (2, -0.5)],
        ])
    }

    #[test]
    fn streamed_tails_equal_a_full_sort_of_each_accounts_pnl() {
        // Two blocks of scenarios, the second partial.
        let n = BLOCK + 904;
        let (risk, group_of) = random_risk(n);
        let book = shapes();
        let plans = plans(&book, &group_of);
        for (k, measure) in [(50, Measure::ES), (50, Measure::VaR), (1, Measure::VaR), (5000, Measure::ES)] {
            let units = UnitTails::new(&book, &risk, 4, k, measure);
            let outcomes = window_outcomes(&book, &plans, &risk, &units, k, measure);
            assert_eq!(outcomes.len(), book.n_accounts());
            for (a, outcome) in outcomes.iter().enumerate() {
                let m = scenario_matrix(&book, a, &group_of, &risk);
                assert_eq!(plans[a].underlyings, m.underlyings);
                let want = sorted_tail(&m.total, k, measure);
                // Single positions are their unit tail scaled by |q|: equal up to rounding.
                assert!((outcome.total.value - want.value).abs() <= 1e-12 * want.value.abs().max(1.0), "{a}");
                assert_eq!(outcome.total.tail, want.tail, "account {a}");
                assert_eq!(outcome.per_underlying.len(), m.underlyings.len());
                for (g, summary) in outcome.per_underlying.iter().enumerate() {
                    let want = sorted_tail(&m.pnl[g * n..(g + 1) * n], k, measure);
                    assert!((summary.value - want.value).abs() <= 1e-12 * want.value.abs().max(1.0), "{a} {g}");
                    assert_eq!(summary.scenario, want.scenario(measure), "account {a} group {g}");
                }
            }
        }
    }

    #[test]
    fn var_and_es_of_a_known_loss_vector() {
        // One contract worth 100 moved by -5%, +1%, -3%, +2%, -1%: P&L -5, 1, -3, 2, -1.
        let risk = spot_risk(&[(0, 100.0)], &[vec![0.95, 1.01, 0.97, 1.02, 0.99]]);
        let book = book(&[&[(0, 1.0)], &[(0, 1.0), (0, 1.0)], &[(0, -2.0)]]);
        let plans = plans(&book, &[0]);
        let units = UnitTails::new(&book, &risk, 1, 2, Measure::VaR);
        let var = window_outcomes(&book, &plans, &risk, &units, 2, Measure::VaR);
        // Long 1: losses 5, 3 -> VaR 3 (scenario 2); long 2 (streamed): 6; short 2: losses 4, 2 -> 2.
        assert!((var[0].total.value - 3.0).abs() < 1e-9 && var[0].total.tail == [0, 2]);
        assert!((var[1].total.value - 6.0).abs() < 1e-9 && var[1].total.tail == [0, 2]);
        assert!((var[2].total.value - 2.0).abs() < 1e-9 && var[2].total.tail == [3, 1]);
        assert_eq!(var[0].per_underlying[0].scenario, 2);
        let units = UnitTails::new(&book, &risk, 1, 2, Measure::ES);
        let es = window_outcomes(&book, &plans, &risk, &units, 2, Measure::ES);
        assert!((es[0].total.value - 4.0).abs() < 1e-9);
        assert!((es[2].total.value - 3.0).abs() < 1e-9);
        // ES reports its worst scenario.
        assert_eq!((es[0].per_underlying[0].scenario, es[2].per_underlying[0].scenario), (0, 3));
        // Unit margins (ES 4 long, 1.5 short) scale with |q|.
        assert!((units.margin(0, 3.0) - 12.0).abs() < 1e-9 && (units.margin(0, -0.5) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn a_margin_is_never_negative() {
        // Every scenario gains: ES of the gains is negative, the margin 0.
        let risk = spot_risk(&[(0, 100.0), (1, 10.0)], &[vec![1.01, 1.02, 1.03], vec![1.0, 1.0, 1.0]]);
        let book = book(&[&[(0, 1.0)]]);
        let units = UnitTails::new(&book, &risk, 2, 1, Measure::ES);
        let outcome = &window_outcomes(&book, &plans(&book, &[0, 1]), &risk, &units, 1, Measure::ES)[0];
        assert!((outcome.total.value + 1.0).abs() < 1e-9);
        assert_eq!(outcome.total.margin(), 0.0);
        assert_eq!(outcome.per_underlying[0].margin(), 0.0);
        assert_eq!(units.margin(0, 1.0), 0.0);
        assert_eq!(units.margin(1, 1.0), 0.0, "not held");
    }

    #[test]
    fn plans_group_positions_by_underlying_and_order_accounts_by_their_main_ones() {
        let book = book(&[&[(2, 1.0), (0, 1.0), (1, 1.0)], &[(3, 1.0)], &[(2, 1.0), (2, 1.0), (0, 1.0)]]);
        let plans = plans(&book, &[0, 0, 1, 2]);
        assert_eq!(plans[0].underlyings, vec![1, 0]);
        assert_eq!(plans[0].groups, vec![vec![0], vec![1, 2]]);
        assert_eq!(plans[2].groups, vec![vec![4, 5], vec![6]]);
        // Main underlyings: account 0 (0, 1), account 1 (2, none), account 2 (1, 0).
        assert_eq!(locality_order(&plans), vec![0, 2, 1]);
    }
}
