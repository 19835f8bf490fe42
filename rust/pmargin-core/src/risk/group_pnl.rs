//! One account's P&L per group and scenario: the netted positions of each group (an underlying,
//! or any level of `domain::groups`) summed as quantity x risk-array rows, in the account's
//! order, with the dense kernels. Groups are numbered in first-seen order within the account.

use crate::domain::book::Book;
use crate::risk::arrays::RiskArrays;
use crate::risk::kernels::{self, WeightedRow};

/// One account's P&L per underlying and scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioMatrix {
    pub underlyings: Vec<u32>,
    /// Row `k` (underlying `underlyings[k]`) is `pnl[k*S..(k+1)*S]`.
    pub pnl: Vec<f64>,
    /// Sum across underlyings, in their order.
    pub total: Vec<f64>,
}

/// The account's underlyings in first-seen order, and each netted position's slot among them.
pub fn group_slots(book: &Book, a: usize, group_of: &[u32]) -> (Vec<u32>, Vec<usize>) {
    let mut underlyings = Vec::new();
    let mut slots = Vec::new();
    fill_slots(book, a, group_of, &mut underlyings, &mut slots);
    (underlyings, slots)
}

/// [`group_slots`] into reusable buffers. Linear search is fastest for the usual handful of
/// underlyings; accounts with many positions use a map.
fn fill_slots(book: &Book, a: usize, group_of: &[u32], underlyings: &mut Vec<u32>, slots: &mut Vec<usize>) {
    underlyings.clear();
    slots.clear();
    let positions = book.positions(a);
    let mut slot_of: Option<hashbrown::HashMap<u32, usize>> = (positions.len() > 64).then(hashbrown::HashMap::new);
    for p in positions {
        let u = group_of[book.instrument[p] as usize];
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
    pub fn groups(&self) -> AccountGroups<'_> {
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
pub fn account_pnl<'a>(
    book: &Book,
    a: usize,
    group_of: &[u32],
    risk: &'a RiskArrays,
    with_total: bool,
    scratch: &mut Scratch<'a>,
) {
    let s_count = risk.n_scenarios;
    fill_slots(book, a, group_of, &mut scratch.underlyings, &mut scratch.slots);
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
pub fn scenario_matrix(book: &Book, a: usize, group_of: &[u32], risk: &RiskArrays) -> ScenarioMatrix {
    let mut scratch = Scratch::default();
    account_pnl(book, a, group_of, risk, true, &mut scratch);
    ScenarioMatrix { underlyings: scratch.underlyings, pnl: scratch.pnl, total: scratch.total }
}
