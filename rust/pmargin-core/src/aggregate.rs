//! Worst-loss aggregation (the grid): quantity x risk-array sums per underlying, worst losses, and
//! the cross-underlying rule. Accounts are independent, so they run in parallel and the result
//! does not depend on the number of threads.

use rayon::prelude::*;
use smallvec::SmallVec;

use crate::attribution::{attribute_account, Attribution, AttributionInputs, AttributionScratch, PositionColumns};
use crate::correlation::CorrelationMatrix;
use crate::kernels::{self, WeightedRow};
use crate::positions::Book;
use crate::revalue::RiskArrays;
use crate::scenarios::{Cross, GridModel};

#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingOutcome {
    /// Row in the underlyings table.
    pub underlying: u32,
    pub requirement: f64,
    /// Scenario of the worst loss; None when no scenario loses.
    pub worst: Option<u32>,
}

/// Which scenario drives an account's margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Driver {
    /// cross="sum" or "correlation": the worst scenario of the underlying with the largest requirement.
    Underlying { underlying: u32, scenario: u32 },
    /// cross="joint": a scenario applied to every underlying at once.
    Joint { scenario: u32 },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountOutcome {
    pub initial: f64,
    pub gross: f64,
    /// Sum of the per-underlying requirements (each underlying alone).
    pub undiversified: f64,
    pub driver: Option<Driver>,
    /// First-seen order within the account (inline for up to two: no allocation per account
    /// in the usual books).
    pub underlyings: SmallVec<[UnderlyingOutcome; 2]>,
}

/// One account's P&L per underlying and scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioMatrix {
    pub underlyings: Vec<u32>,
    /// Row `k` (underlying `underlyings[k]`) is `pnl[k*S..(k+1)*S]`.
    pub pnl: Vec<f64>,
    /// Sum across underlyings, in their order.
    pub total: Vec<f64>,
}

/// Largest loss (`-pnl`) and the first scenario reaching it; (0, None) when nothing loses.
/// The largest loss is minus the smallest P&L, found over four independent lanes so the scan
/// vectorises; equal to a scan that keeps the first strictly larger loss.
pub fn worst_loss(pnl: &[f64]) -> (f64, Option<u32>) {
    let mut lanes = [f64::INFINITY; 4];
    let mut fours = pnl.chunks_exact(4);
    for four in &mut fours {
        for (lane, &p) in lanes.iter_mut().zip(four) {
            *lane = if p < *lane { p } else { *lane };
        }
    }
    let least = lanes.iter().chain(fours.remainder()).fold(f64::INFINITY, |m, &p| if p < m { p } else { m });
    let best = loss_of_least(least);
    if best > 0.0 {
        (best, pnl.iter().position(|&p| p == least).map(|s| s as u32))
    } else {
        (0.0, None)
    }
}

/// The worst loss of a P&L vector whose smallest value is `least`: `-least`, or 0 when nothing
/// loses.
pub fn loss_of_least(least: f64) -> f64 {
    if -least > 0.0 {
        -least
    } else {
        0.0
    }
}

/// The account's underlyings in first-seen order, and each netted position's slot among them.
pub fn underlying_slots(book: &Book, a: usize, underlying_of: &[u32]) -> (Vec<u32>, Vec<usize>) {
    let mut underlyings = Vec::new();
    let mut slots = Vec::new();
    fill_slots(book, a, underlying_of, &mut underlyings, &mut slots);
    (underlyings, slots)
}

/// [`underlying_slots`] into reusable buffers. Linear search is fastest for the usual handful of
/// underlyings; accounts with many positions use a map.
fn fill_slots(book: &Book, a: usize, underlying_of: &[u32], underlyings: &mut Vec<u32>, slots: &mut Vec<usize>) {
    underlyings.clear();
    slots.clear();
    let positions = book.positions(a);
    let mut slot_of: Option<hashbrown::HashMap<u32, usize>> = (positions.len() > 64).then(hashbrown::HashMap::new);
    for p in positions {
        let u = underlying_of[book.instrument[p] as usize];
        let known = match &slot_of {
            Some(map) => map.get(&u).copied(),
            None => underlyings.iter().position(|&x| x == u),
        };
        let k = known.unwrap_or_else(|| {
            underlyings.push(u);
            if let Some(map) = &mut slot_of {
                map.insert(u, underlyings.len() - 1);
            }
            underlyings.len() - 1
        });
        slots.push(k);
    }
}

/// Reusable per-thread buffers of one account's P&L.
#[derive(Default)]
pub struct Scratch<'a> {
    pub underlyings: Vec<u32>,
    pub slots: Vec<usize>,
    pub pnl: Vec<f64>,
    pub total: Vec<f64>,
    /// Positions grouped by slot (a stable counting sort), and where each slot's group starts.
    by_slot: Vec<usize>,
    slot_starts: Vec<usize>,
    slot_fill: Vec<usize>,
    /// One underlying's weighted risk rows, in position order.
    rows: Vec<WeightedRow<'a>>,
}

/// One account's positions grouped by underlying, as [`account_pnl`] summed them.
pub struct AccountGroups<'s> {
    /// The underlying of each group, in first-seen order.
    pub underlyings: &'s [u32],
    /// Book positions of group k in order: `by_slot[starts[k]..starts[k + 1]]`.
    by_slot: &'s [usize],
    starts: &'s [usize],
    /// Group k's P&L per scenario is `pnl[k * S..(k + 1) * S]`.
    pub pnl: &'s [f64],
    /// The sum over the groups per scenario (cross="joint" only; empty otherwise).
    pub total: &'s [f64],
}

impl AccountGroups<'_> {
    /// The book positions of group `k`, in order.
    pub fn group(&self, k: usize) -> &[usize] {
        &self.by_slot[self.starts[k]..self.starts[k + 1]]
    }
}

impl Scratch<'_> {
    /// The groups `account_pnl` just summed.
    fn groups(&self) -> AccountGroups<'_> {
        AccountGroups {
            underlyings: &self.underlyings,
            by_slot: &self.by_slot,
            starts: &self.slot_starts,
            pnl: &self.pnl,
            total: &self.total,
        }
    }

    /// Group the account's positions (numbered from `first`) by slot, keeping their order.
    fn group_by_slot(&mut self, first: usize, n_u: usize) {
        self.slot_starts.clear();
        self.slot_starts.resize(n_u + 1, 0);
        for &k in &self.slots {
            self.slot_starts[k + 1] += 1;
        }
        for k in 0..n_u {
            self.slot_starts[k + 1] += self.slot_starts[k];
        }
        self.by_slot.clear();
        self.by_slot.resize(self.slots.len(), 0);
        self.slot_fill.clear();
        self.slot_fill.extend_from_slice(&self.slot_starts[..n_u]);
        for (i, &k) in self.slots.iter().enumerate() {
            self.by_slot[self.slot_fill[k]] = first + i;
            self.slot_fill[k] += 1;
        }
    }
}

/// Fill `scratch` with account `a`'s P&L per underlying (first-seen order) and scenario, and
/// with the total across underlyings when `with_total`.
fn account_pnl<'a>(
    book: &Book,
    a: usize,
    underlying_of: &[u32],
    risk: &'a RiskArrays,
    with_total: bool,
    scratch: &mut Scratch<'a>,
) {
    let s_count = risk.n_scenarios;
    fill_slots(book, a, underlying_of, &mut scratch.underlyings, &mut scratch.slots);
    let n_u = scratch.underlyings.len();
    scratch.pnl.clear();
    scratch.pnl.resize(n_u * s_count, 0.0);
    scratch.group_by_slot(book.offsets[a], n_u);
    for b in 0..risk.n_blocks() {
        let range = risk.block_range(b);
        for k in 0..n_u {
            // Positions of underlying k in order, summed in that order (docs/methods.md).
            let group = &scratch.by_slot[scratch.slot_starts[k]..scratch.slot_starts[k + 1]];
            scratch.rows.clear();
            scratch.rows.extend(group.iter().map(|&p| (book.quantity[p], risk.block_row(b, book.instrument[p]))));
            kernels::accumulate(&mut scratch.pnl[k * s_count + range.start..k * s_count + range.end], &scratch.rows);
        }
    }
    scratch.total.clear();
    if with_total {
        scratch.total.resize(s_count, 0.0);
        for k in 0..n_u {
            for (t, x) in scratch.total.iter_mut().zip(&scratch.pnl[k * s_count..(k + 1) * s_count]) {
                *t += x;
            }
        }
    }
}

/// P&L of account `a` per underlying (first-seen order) and scenario.
pub fn scenario_matrix(book: &Book, a: usize, underlying_of: &[u32], risk: &RiskArrays) -> ScenarioMatrix {
    let mut scratch = Scratch::default();
    account_pnl(book, a, underlying_of, risk, true, &mut scratch);
    ScenarioMatrix { underlyings: scratch.underlyings, pnl: scratch.pnl, total: scratch.total }
}

/// Initial margin under cross="correlation" from each underlying's (row, requirement, worst
/// scenario), in the account's order (docs/methods.md): the requirement is signed short when its
/// worst price shock is up; sqrt of the quadratic form, capped by the undiversified sum and, with
/// `floor_largest`, floored at the largest requirement.
pub fn correlation_margin(
    groups: &[(u32, f64, Option<u32>)],
    undiversified: f64,
    matrix: &CorrelationMatrix,
    floor_largest: bool,
    ctx: &GridContext<'_>,
) -> f64 {
    let signed: Vec<(usize, f64)> = groups
        .iter()
        .map(|&(u, r, worst)| {
            let short = worst.is_some_and(|s| ctx.model.scenario(s as usize).0 > 0.0);
            (ctx.correlation_index[u as usize].unwrap_or(0), if short { -r } else { r })
        })
        .collect();
    let mut t = 0.0;
    for &(i, ri) in &signed {
        for &(j, rj) in &signed {
            t += matrix.get(i, j) * ri * rj;
        }
    }
    let mut margin = t.max(0.0).sqrt().min(undiversified);
    if floor_largest {
        margin = groups.iter().fold(margin, |acc, g| acc.max(g.1));
    }
    margin
}

/// The largest requirement (first on ties) with a worst scenario, as the account's driver.
fn largest_driver(underlyings: &[UnderlyingOutcome]) -> Option<Driver> {
    let mut largest: Option<&UnderlyingOutcome> = None;
    for u in underlyings {
        if u.requirement > largest.map_or(0.0, |l| l.requirement) {
            largest = Some(u);
        }
    }
    largest.and_then(|u| u.worst.map(|s| Driver::Underlying { underlying: u.underlying, scenario: s }))
}

fn account_outcome<'a>(book: &Book, a: usize, ctx: &GridContext<'a>, scratch: &mut Scratch<'a>) -> AccountOutcome {
    let s_count = ctx.risk.n_scenarios;
    account_pnl(book, a, ctx.underlying_of, ctx.risk, matches!(ctx.model.cross, Cross::Joint), scratch);
    let matrix = &*scratch;
    let underlyings: SmallVec<[UnderlyingOutcome; 2]> = matrix
        .underlyings
        .iter()
        .enumerate()
        .map(|(k, &u)| {
            let (requirement, worst) = worst_loss(&matrix.pnl[k * s_count..(k + 1) * s_count]);
            UnderlyingOutcome { underlying: u, requirement, worst }
        })
        .collect();
    let undiversified = underlyings.iter().fold(0.0, |acc, u| acc + u.requirement);

    let (initial, driver) = match &ctx.model.cross {
        Cross::Sum => (undiversified, largest_driver(&underlyings)),
        Cross::Joint => {
            let (initial, worst) = worst_loss(&matrix.total);
            (initial, worst.map(|scenario| Driver::Joint { scenario }))
        }
        Cross::Correlation { matrix, floor_largest } => {
            let groups: Vec<(u32, f64, Option<u32>)> =
                underlyings.iter().map(|u| (u.underlying, u.requirement, u.worst)).collect();
            let initial = correlation_margin(&groups, undiversified, matrix, *floor_largest, ctx);
            (initial, largest_driver(&underlyings))
        }
    };
    let gross = book.positions(a).fold(0.0, |acc, p| acc + ctx.risk.standalone(book.instrument[p], book.quantity[p]));
    AccountOutcome { initial, gross, undiversified, driver, underlyings }
}

/// What grid aggregation needs besides the book.
pub struct GridContext<'a> {
    pub model: &'a GridModel,
    pub risk: &'a RiskArrays,
    pub underlying_of: &'a [u32],
    /// Index in the correlation matrix of each underlyings-table row (cross="correlation").
    pub correlation_index: &'a [Option<usize>],
}

/// Accounts per parallel task of the attributed aggregation.
const ATTRIBUTION_TASK: usize = 256;

/// Outcomes of every account with every account's attribution, computed in the same pass from
/// the P&L vectors the aggregation builds (`margin(..., by_position=True)`). Outcomes and
/// position rows go straight into flat arrays (each task owns its accounts' contiguous slices),
/// so nothing is allocated per account.
pub fn aggregate_attributed(
    book: &Book,
    ctx: &GridContext<'_>,
    inputs: &AttributionInputs<'_>,
) -> (Vec<AccountOutcome>, Attribution) {
    let n_accounts = book.n_accounts();
    let mut outcomes = vec![AccountOutcome::default(); n_accounts];
    // Three columns (not one array of structs) so the result table can share them as they are.
    let n_positions = book.instrument.len();
    let (mut contribution, mut standalone, mut incremental) =
        (vec![0.0; n_positions], vec![0.0; n_positions], vec![0.0; n_positions]);
    let mut tasks = Vec::with_capacity(n_accounts.div_ceil(ATTRIBUTION_TASK));
    let mut rest =
        PositionColumns { contribution: &mut contribution, standalone: &mut standalone, incremental: &mut incremental };
    for (t, task_outcomes) in outcomes.chunks_mut(ATTRIBUTION_TASK).enumerate() {
        let accounts = t * ATTRIBUTION_TASK..t * ATTRIBUTION_TASK + task_outcomes.len();
        let (head, tail) = rest.split_at(book.offsets[accounts.end] - book.offsets[accounts.start]);
        tasks.push((accounts, task_outcomes, head));
        rest = tail;
    }
    let pieces: Vec<(Vec<_>, Vec<u32>)> = tasks
        .into_par_iter()
        .map(|(accounts, task_outcomes, mut out)| {
            let (mut scratch, mut attribution_scratch) = (Scratch::default(), AttributionScratch::default());
            let (mut explains, mut owners) = (Vec::new(), Vec::new());
            let base = book.offsets[accounts.start];
            for (a, slot) in accounts.zip(task_outcomes) {
                let outcome = account_outcome(book, a, ctx, &mut scratch);
                let groups = scratch.groups();
                attribute_account(
                    book,
                    &outcome,
                    ctx,
                    inputs,
                    &groups,
                    &mut out,
                    base,
                    &mut explains,
                    &mut attribution_scratch,
                );
                owners.resize(explains.len(), a as u32);
                *slot = outcome;
            }
            (explains, owners)
        })
        .collect();
    let n_explains = pieces.iter().map(|p| p.0.len()).sum();
    let mut attribution = Attribution {
        contribution: contribution.into(),
        standalone: standalone.into(),
        incremental: incremental.into(),
        explains: Vec::with_capacity(n_explains),
        explain_account: Vec::with_capacity(n_explains),
    };
    for (explains, owners) in pieces {
        attribution.explains.extend(explains);
        attribution.explain_account.extend(owners);
    }
    (outcomes, attribution)
}

/// Outcomes of every account, in account order.
pub fn aggregate(book: &Book, ctx: &GridContext<'_>) -> Vec<AccountOutcome> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(64)
        .map_init(Scratch::default, |scratch, a| account_outcome(book, a, ctx, scratch))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Contract;
    use crate::correlation::CorrelationMatrix;
    use crate::instruments::Kind;
    use crate::scenarios::VolShockMode;

    #[test]
    fn first_worst_wins_ties() {
        assert_eq!(worst_loss(&[1.0, -3.0, -3.0, 2.0]), (3.0, Some(1)));
        assert_eq!(worst_loss(&[0.0, 1.0]), (0.0, None));
    }

    fn pair(cross: Cross) -> AccountOutcome {
        // Long 1 of underlying 0 (spot 100), short 1 of underlying 1 (spot 80), shocks -10%, +10%.
        let model = GridModel::new(vec![-0.1, 0.1], vec![0.0], VolShockMode::Relative, cross, 1.0).expect("valid");
        let spot = |u: u32, s: f64| Contract {
            underlying: u,
            kind: Kind::Spot,
            option_type: None,
            strike: 0.0,
            t: 0.0,
            multiplier: 1.0,
            spot: s,
            rate: 0.0,
            vol: 0.0,
            growth: 1.0,
            discount: 1.0,
            sqrt_t: 0.0,
            payoff: crate::instruments::Payoff::Vanilla,
        };
        let contracts = [Some(spot(0, 100.0)), Some(spot(1, 80.0))];
        let risk = RiskArrays::build(&contracts, &[100.0, 80.0], &model.scenario_set(2)).expect("finite");
        let book = Book {
            first_row: vec![0],
            offsets: vec![0, 2],
            instrument: vec![0, 1].into(),
            quantity: vec![1.0, -1.0].into(),
        };
        let ctx =
            GridContext { model: &model, risk: &risk, underlying_of: &[0, 1], correlation_index: &[Some(0), Some(1)] };
        aggregate(&book, &ctx).remove(0)
    }

    #[test]
    fn sum_joint_and_correlation_on_a_pair() {
        let sum = pair(Cross::Sum);
        assert!((sum.initial - 18.0).abs() < 1e-12 && (sum.gross - 18.0).abs() < 1e-12);
        assert_eq!(sum.driver, Some(Driver::Underlying { underlying: 0, scenario: 0 }));
        let joint = pair(Cross::Joint);
        assert!((joint.initial - 2.0).abs() < 1e-12);
        assert_eq!(joint.driver, Some(Driver::Joint { scenario: 0 }));
        assert!((joint.undiversified - 18.0).abs() < 1e-12);
        // Long 10 (sign +), short 8 (sign -), rho 0.8: sqrt(100 + 64 - 2 * 0.8 * 80) = sqrt(36) = 6.
        let names = vec!["A".to_owned(), "B".to_owned()];
        let rho = CorrelationMatrix::new(names, vec![1.0, 0.8, 0.8, 1.0]).expect("valid");
        let corr = pair(Cross::Correlation { matrix: rho.clone(), floor_largest: false });
        assert!((corr.initial - 6.0).abs() < 1e-9, "{}", corr.initial);
        let floored = pair(Cross::Correlation { matrix: rho, floor_largest: true });
        assert!((floored.initial - 10.0).abs() < 1e-9);
    }
}
