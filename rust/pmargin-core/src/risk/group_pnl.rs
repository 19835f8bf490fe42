//! One account's P&L per group and scenario: the netted positions of each group (an underlying,
//! or any level of `domain::groups`) summed as quantity x risk-array rows, in the account's
//! order, with the dense kernels. Groups are numbered in first-seen order within the account.

use crate::domain::book::Book;
use crate::risk::arrays::RiskArrays;
use crate::risk::kernels::{self, WeightedRow};
use crate::risk::worst_loss::{above_noise, scale_term, single_worst_loss, worst_loss_above_noise};

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
    fill_slots(book, a, group_of, &mut underlyings, &mut slots, &mut SlotMemo::default());
    (underlyings, slots)
}

/// Each group's slot in the last account that held it, stamped with that account's pass
/// (`pass << 32 | slot`; 0: none). A new pass per account makes every older entry stale at
/// once, without clearing: whether a group is already in the account is one comparison of
/// the entry read, not a second read of the account's groups.
#[derive(Default)]
struct SlotMemo {
    of: Vec<u64>,
    pass: u32,
}

impl SlotMemo {
    /// The stamp of a new pass: no entry holds it yet.
    fn next_pass(&mut self) -> u64 {
        self.pass = self.pass.wrapping_add(1);
        if self.pass == 0 {
            // 2^32 accounts later a stamp would come round again: forget every entry.
            self.of.fill(0);
            self.pass = 1;
        }
        u64::from(self.pass) << 32
    }
}

/// [`group_slots`] into reusable buffers, with `memo` remembering each group's slot. No
/// branch on whether a position opens a group: on a book of many underlyings that is as good
/// as random, and the branch was mispredicted every other position.
fn fill_slots(
    book: &Book,
    a: usize,
    group_of: &[u32],
    underlyings: &mut Vec<u32>,
    slots: &mut Vec<usize>,
    memo: &mut SlotMemo,
) {
    let positions = book.positions(a);
    // Room for a group per position: each position's group is written at slot `groups`, and
    // kept there (counted) only when it is new.
    underlyings.clear();
    underlyings.resize(positions.len(), 0);
    slots.clear();
    let stamp = memo.next_pass();
    let mut groups = 0;
    for p in positions {
        let u = group_of[book.instrument[p] as usize];
        if u as usize >= memo.of.len() {
            memo.of.resize(u as usize + 1, 0);
        }
        let entry = memo.of[u as usize];
        let seen = entry >> 32 == stamp >> 32;
        // `groups` is below the account's position count here.
        underlyings[groups] = u;
        let slot = if seen { entry as u32 as usize } else { groups };
        memo.of[u as usize] = stamp | slot as u64;
        groups += usize::from(!seen);
        slots.push(slot);
    }
    underlyings.truncate(groups);
}

/// Reusable per-thread buffers of one account's P&L.
#[derive(Default)]
pub struct Scratch<'a> {
    pub underlyings: Vec<u32>,
    pub slots: Vec<usize>,
    pub pnl: Vec<f64>,
    pub total: Vec<f64>,
    /// P&L scale of each group (`risk::worst_loss::scale_term` summed over its positions in
    /// order) and of the account (the groups' scales summed in group order): what a loss is
    /// noise relative to.
    pub scale: Vec<f64>,
    pub total_scale: f64,
    /// Positions grouped by slot (a stable counting sort), and where each slot's group starts.
    by_slot: Vec<usize>,
    slot_starts: Vec<usize>,
    slot_fill: Vec<usize>,
    /// One underlying's weighted risk rows, in position order.
    rows: Vec<WeightedRow<'a>>,
    /// Each group's slot in the last account holding it (`fill_slots`).
    slot_memo: SlotMemo,
    /// The rows of one-position groups were not summed ([`Rows::Shared`]).
    shared_only: bool,
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
    /// P&L scale of each group, and of the account.
    pub scale: &'s [f64],
    pub total_scale: f64,
    /// The rows of one-position groups were not summed ([`Rows::Shared`]).
    shared_only: bool,
}

impl AccountGroups<'_> {
    /// The one position of group `k` when its row was not summed ([`Rows::Shared`]).
    fn unsummed(&self, k: usize) -> Option<usize> {
        match *self.group(k) {
            [p] if self.shared_only => Some(p),
            _ => None,
        }
    }

    /// Group `k`'s P&L in scenario `s`: its row's value, or for a group whose row was not
    /// summed, the value summing would have given (`0.0 + q x` the risk row's value).
    pub fn pnl_at(&self, k: usize, s: usize, book: &Book, risk: &RiskArrays) -> f64 {
        match self.unsummed(k) {
            Some(p) => {
                let (b, at) = risk.locate(s);
                0.0 + book.quantity[p] * risk.block_row(b, book.instrument[p])[at]
            }
            None => self.pnl[k * risk.n_scenarios + s],
        }
    }

    /// The book positions of group `k`, in order.
    pub fn group(&self, k: usize) -> &[usize] {
        &self.by_slot[self.starts[k]..self.starts[k + 1]]
    }

    /// Group `k`'s worst loss above its noise floor (`worst_loss_above_noise` of its P&L and
    /// scale); a group of one position reads it off its contract's first extremes instead of
    /// scanning (the same numbers: [`single_position_loss`]).
    pub fn worst_loss(&self, k: usize, book: &Book, risk: &RiskArrays) -> (f64, Option<u32>) {
        if let [p] = *self.group(k) {
            if let Some(found) = single_position_loss(book, p, risk) {
                return found;
            }
            if self.shared_only {
                // The rare single position whose extremes leave the first worst scenario open,
                // its row not summed: the row as summing would have made it, then the scan.
                let q = book.quantity[p];
                let row: Vec<f64> = risk.row(book.instrument[p]).map(|x| 0.0 + q * x).collect();
                return worst_loss_above_noise(&row, self.scale[k]);
            }
        }
        let s_count = risk.n_scenarios;
        worst_loss_above_noise(&self.pnl[k * s_count..(k + 1) * s_count], self.scale[k])
    }
}

/// `worst_loss_above_noise` of position `p` alone (its P&L `0.0 + q x row`, its scale
/// `scale_term`), from its contract's first extremes (`worst_loss::single_worst_loss`); None in
/// the rare case where they cannot tell the first worst scenario (then scan).
#[inline]
fn single_position_loss(book: &Book, p: usize, risk: &RiskArrays) -> Option<(f64, Option<u32>)> {
    let (c, q) = (book.instrument[p] as usize, book.quantity[p]);
    let found = single_worst_loss(q, &risk.first_min[c], &risk.first_max[c])?;
    Some(above_noise(found, scale_term(q, risk.extent[c])))
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
            scale: &self.scale,
            total_scale: self.total_scale,
            shared_only: self.shared_only,
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

/// Sum one group's positions as quantity x risk rows into `pnl` (one value per scenario,
/// overwritten: the sum starts from 0.0 as if it were zeroed), block by block, in the group's
/// order (docs/methods.md); returns the group's P&L scale, its positions' `scale_term`s added in
/// the same order.
fn sum_group<'a>(
    book: &Book,
    group: &[usize],
    risk: &'a RiskArrays,
    rows: &mut Vec<WeightedRow<'a>>,
    pnl: &mut [f64],
) -> f64 {
    let mut scale = 0.0;
    for b in 0..risk.n_blocks() {
        rows.clear();
        rows.extend(group.iter().map(|&p| {
            let (c, q) = (book.instrument[p], book.quantity[p]);
            if b == 0 {
                scale += scale_term(q, risk.extent[c as usize]);
            }
            (q, risk.block_row(b, c))
        }));
        kernels::assign(&mut pnl[risk.block_range(b)], rows);
    }
    scale
}

/// `buffer` at length `len`, its values left as they are (every caller overwrites them): only
/// values past its old length are zeroed, so a buffer reused account after account is never
/// cleared.
fn set_len(buffer: &mut Vec<f64>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    } else {
        buffer.truncate(len);
    }
}

/// Which P&L rows [`account_pnl`] sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Every group's.
    Every,
    /// Every group's, and their total per scenario.
    EveryAndTotal,
    /// Only those of groups of two or more positions. A group of one position has the P&L
    /// `0.0 + q x` its contract's risk row: its row is left as it was, and its worst loss and
    /// its P&L in one scenario are read from the risk arrays on demand
    /// ([`AccountGroups::worst_loss`], [`AccountGroups::pnl_at`]). For rules that read nothing
    /// else of such a group (cross="sum" with attribution).
    Shared,
}

/// Fill `scratch` with account `a`'s P&L per underlying (first-seen order) and scenario: the
/// groups' rows that `rows` asks for, and their total when it asks for one.
pub fn account_pnl<'a>(
    book: &Book,
    a: usize,
    group_of: &[u32],
    risk: &'a RiskArrays,
    rows: Rows,
    scratch: &mut Scratch<'a>,
) {
    let s_count = risk.n_scenarios;
    fill_slots(book, a, group_of, &mut scratch.underlyings, &mut scratch.slots, &mut scratch.slot_memo);
    let n_u = scratch.underlyings.len();
    // Every group's row is overwritten by `sum_group` (or, under `Rows::Shared`, never read).
    set_len(&mut scratch.pnl, n_u * s_count);
    scratch.group_by_slot(book.offsets[a], n_u);
    scratch.scale.clear();
    scratch.scale.resize(n_u, 0.0);
    scratch.shared_only = rows == Rows::Shared;
    for k in 0..n_u {
        let group = &scratch.by_slot[scratch.slot_starts[k]..scratch.slot_starts[k + 1]];
        if let (Rows::Shared, &[p]) = (rows, group) {
            // The scale `sum_group` would return: one term added onto 0.0.
            let (c, q) = (book.instrument[p] as usize, book.quantity[p]);
            scratch.scale[k] = 0.0 + scale_term(q, risk.extent[c]);
            continue;
        }
        let pnl = &mut scratch.pnl[k * s_count..(k + 1) * s_count];
        scratch.scale[k] = sum_group(book, group, risk, &mut scratch.rows, pnl);
    }
    // The account's scale: its underlyings' scales added in the account's order.
    scratch.total_scale = scratch.scale.iter().fold(0.0, |acc, s| acc + s);
    scratch.total.clear();
    if rows == Rows::EveryAndTotal {
        scratch.total.resize(s_count, 0.0);
        for k in 0..n_u {
            for (t, x) in scratch.total.iter_mut().zip(&scratch.pnl[k * s_count..(k + 1) * s_count]) {
                *t += x;
            }
        }
    }
}

/// Each group's worst loss above its noise floor (`worst_loss_above_noise` of its P&L and scale),
/// as `emit(group, loss, worst scenario)` in first-seen order, for rules that need nothing else
/// (cross="sum" without attribution). The same numbers as [`account_pnl`] then the scan, with
/// less work: a group of one position reads its contract's first extremes
/// (`worst_loss::single_worst_loss`), and the others are summed one at a time into one vector.
pub fn group_worst_losses<'a>(
    book: &Book,
    a: usize,
    group_of: &[u32],
    risk: &'a RiskArrays,
    scratch: &mut Scratch<'a>,
    mut emit: impl FnMut(u32, f64, Option<u32>),
) {
    fill_slots(book, a, group_of, &mut scratch.underlyings, &mut scratch.slots, &mut scratch.slot_memo);
    let n_u = scratch.underlyings.len();
    scratch.group_by_slot(book.offsets[a], n_u);
    let Scratch { underlyings, by_slot, slot_starts, pnl, rows, .. } = scratch;
    for (k, &u) in underlyings.iter().enumerate() {
        let group = &by_slot[slot_starts[k]..slot_starts[k + 1]];
        if let [p] = *group {
            if let Some((loss, worst)) = single_position_loss(book, p, risk) {
                emit(u, loss, worst);
                continue;
            }
        }
        set_len(pnl, risk.n_scenarios);
        let scale = sum_group(book, group, risk, rows, pnl);
        let (loss, worst) = worst_loss_above_noise(pnl, scale);
        emit(u, loss, worst);
    }
}

/// P&L of account `a` per underlying (first-seen order) and scenario.
pub fn scenario_matrix(book: &Book, a: usize, group_of: &[u32], risk: &RiskArrays) -> ScenarioMatrix {
    let mut scratch = Scratch::default();
    account_pnl(book, a, group_of, risk, Rows::EveryAndTotal, &mut scratch);
    ScenarioMatrix { underlyings: scratch.underlyings, pnl: scratch.pnl, total: scratch.total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_all_close, book, spot_risk};

    /// Contracts 0, 1 on underlying 0 (spots 100, 10) and 2 on underlying 1 (spot 50); three
    /// scenarios moving underlying 0 by -10%, 0, +10% and underlying 1 by +20%, -20%, 0.
    fn risk() -> RiskArrays {
        spot_risk(&[(0, 100.0), (0, 10.0), (1, 50.0)], &[vec![0.9, 1.0, 1.1], vec![1.2, 0.8, 1.0]])
    }

    const GROUP_OF: [u32; 3] = [0, 0, 1];

    #[test]
    fn groups_are_numbered_first_seen_within_the_account() {
        let b = book(&[&[(2, 1.0), (0, 1.0), (2, 2.0), (1, 1.0)], &[(1, 1.0)]]);
        assert_eq!(group_slots(&b, 0, &GROUP_OF), (vec![1, 0], vec![0, 1, 0, 1]));
        assert_eq!(group_slots(&b, 1, &GROUP_OF), (vec![0], vec![0]));
    }

    #[test]
    fn slots_of_earlier_accounts_do_not_leak_into_later_ones() {
        // Account 0 puts group 2 in slot 1; account 1 holds group 1 first, then 2 (slot 1 again
        // but for another reason), account 2 only group 2, account 3 groups 0 and 2.
        let b = book(&[&[(0, 1.0), (2, 1.0)], &[(1, 1.0), (2, 1.0)], &[(2, 1.0)], &[(2, 1.0), (0, 1.0), (3, 1.0)]]);
        let group_of = [0, 1, 2, 0];
        let mut scratch = Scratch::default();
        let mut got = Vec::new();
        for a in 0..4 {
            fill_slots(&b, a, &group_of, &mut scratch.underlyings, &mut scratch.slots, &mut scratch.slot_memo);
            got.push((scratch.underlyings.clone(), scratch.slots.clone()));
            assert_eq!(got[a], group_slots(&b, a, &group_of));
        }
        assert_eq!(
            got,
            vec![(vec![0, 2], vec![0, 1]), (vec![1, 2], vec![0, 1]), (vec![2], vec![0]), (vec![2, 0], vec![0, 1, 1]),]
        );
        // Across the pass counter's wrap: an entry of pass 1 from long ago (group 1 in slot 1)
        // is not taken for the new pass 1's, account 1, whose first group is 1.
        scratch.slot_memo.pass = u32::MAX - 1;
        scratch.slot_memo.of[1] = 1 << 32 | 1;
        for a in [3, 1, 3, 0, 2] {
            fill_slots(&b, a, &group_of, &mut scratch.underlyings, &mut scratch.slots, &mut scratch.slot_memo);
            assert_eq!((scratch.underlyings.clone(), scratch.slots.clone()), group_slots(&b, a, &group_of), "{a}");
        }
        assert_eq!(scratch.slot_memo.pass, 4);
    }

    #[test]
    fn many_positions_and_groups_keep_first_seen_slots() {
        // 70 positions cycling over groups 3, 1, 2.
        let positions: Vec<(u32, f64)> = (0..70).map(|i| (i % 3, 1.0)).collect();
        let b = book(&[&positions]);
        let (groups, slots) = group_slots(&b, 0, &[3, 1, 2]);
        assert_eq!(groups, vec![3, 1, 2]);
        assert_eq!(slots, (0..70).map(|i| i % 3).collect::<Vec<usize>>());
    }

    #[test]
    fn pnl_per_group_and_in_total() {
        let risk = risk();
        // Long 2 of contract 2 (B), long 1 of 0 and short 5 of 1 (A): A nets 100 - 50 = 50 x move.
        let b = book(&[&[(2, 2.0), (0, 1.0), (1, -5.0)]]);
        let m = scenario_matrix(&b, 0, &GROUP_OF, &risk);
        assert_eq!(m.underlyings, vec![1, 0]);
        // B: 2 x 50 x (+20%, -20%, 0); A: 50 x (-10%, 0, +10%).
        assert_all_close(&m.pnl, &[20.0, -20.0, 0.0, -5.0, 0.0, 5.0], 1e-12);
        assert_all_close(&m.total, &[15.0, -20.0, 5.0], 1e-12);

        let mut scratch = Scratch::default();
        account_pnl(&b, 0, &GROUP_OF, &risk, Rows::Every, &mut scratch);
        assert!(scratch.total.is_empty(), "no total unless asked");
        let groups = scratch.groups();
        assert_eq!(groups.underlyings, &[1, 0]);
        // Book positions of each group, in the account's order.
        assert_eq!((groups.group(0), groups.group(1)), (&[0usize][..], &[1usize, 2][..]));
        assert_eq!(groups.pnl, m.pnl.as_slice());
    }

    /// Each group's underlying and `AccountGroups::worst_loss` (the loss's bits).
    fn group_reads(groups: &AccountGroups<'_>, b: &Book, risk: &RiskArrays) -> Vec<(u32, u64, Option<u32>)> {
        (0..groups.underlyings.len())
            .map(|k| {
                let (loss, worst) = groups.worst_loss(k, b, risk);
                (groups.underlyings[k], loss.to_bits(), worst)
            })
            .collect()
    }

    #[test]
    fn group_worst_losses_and_group_reads_equal_the_scan_of_the_pnl() {
        // Random accounts over 5 contracts on 3 underlyings and 7 scenarios of few distinct moves
        // (ties), with zero, negative and repeated quantities.
        let factors: Vec<Vec<f64>> =
            (0..3).map(|u| (0..7).map(|s| 1.0 + (((s * 5 + u * 3) % 5) as f64 - 2.0) * 0.05).collect()).collect();
        let risk = spot_risk(&[(0, 100.0), (0, 10.0), (1, 50.0), (2, 7.0), (2, 3.0)], &factors);
        let group_of = [0, 0, 1, 2, 2];
        let u = crate::test_support::uniforms(5, 4000);
        let mut draws = u.iter();
        let mut draw = || *draws.next().expect("enough draws");
        let accounts: Vec<Vec<(u32, f64)>> = (0..300)
            .map(|_| {
                let n = 1 + (draw() * 5.0) as usize;
                (0..n).map(|_| ((draw() * 5.0) as u32, ((draw() * 7.0) as i32 - 3) as f64 * 0.5)).collect()
            })
            .collect();
        let refs: Vec<&[(u32, f64)]> = accounts.iter().map(|a| a.as_slice()).collect();
        let b = book(&refs);
        let mut scratch = Scratch::default();
        for (a, positions) in accounts.iter().enumerate() {
            account_pnl(&b, a, &group_of, &risk, Rows::Every, &mut scratch);
            let s = risk.n_scenarios;
            let want: Vec<(u32, u64, Option<u32>)> = (0..scratch.underlyings.len())
                .map(|k| {
                    let (loss, worst) = worst_loss_above_noise(&scratch.pnl[k * s..(k + 1) * s], scratch.scale[k]);
                    (scratch.underlyings[k], loss.to_bits(), worst)
                })
                .collect();
            let read = group_reads(&scratch.groups(), &b, &risk);
            assert_eq!(read, want, "account {a} (AccountGroups::worst_loss): {positions:?}");
            let (every_pnl, every_scale) = (scratch.pnl.clone(), scratch.scale.clone());
            // Rows::Shared: one-position groups unsummed, the same numbers read on demand.
            account_pnl(&b, a, &group_of, &risk, Rows::Shared, &mut scratch);
            let groups = scratch.groups();
            assert_eq!(group_reads(&groups, &b, &risk), want, "account {a} (Rows::Shared): {positions:?}");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(groups.scale), bits(&every_scale), "account {a}: scales");
            for k in 0..groups.underlyings.len() {
                let at: Vec<f64> = (0..s).map(|i| groups.pnl_at(k, i, &b, &risk)).collect();
                assert_eq!(bits(&at), bits(&every_pnl[k * s..(k + 1) * s]), "account {a}, group {k}");
            }
            let mut got = Vec::new();
            group_worst_losses(&b, a, &group_of, &risk, &mut scratch, |u, loss, worst| {
                got.push((u, loss.to_bits(), worst))
            });
            assert_eq!(got, want, "account {a}: {positions:?}");
        }
    }

    #[test]
    fn shared_rows_scan_a_single_position_its_extremes_leave_open() {
        // Contract 0 (spot 7) loses 0.35 then 0.7: with a quantity of two subnormal units both
        // round to a loss of one unit, so the first worst scenario is the first, not where the
        // row is least; contract 1 (spot 10) is an ordinary position on another underlying.
        let risk = spot_risk(&[(0, 7.0), (1, 10.0)], &[vec![0.95, 0.9, 0.95], vec![1.1, 0.8, 1.0]]);
        let group_of = [0, 1];
        let tiny = f64::from_bits(2);
        let b = book(&[&[(0, tiny)], &[(1, 2.0), (0, tiny)], &[(0, tiny), (0, 1.0), (1, -1.0)]]);
        assert!(single_position_loss(&b, 0, &risk).is_none(), "the extremes cannot tell");
        let s_count = risk.n_scenarios;
        let (mut every, mut shared) = (Scratch::default(), Scratch::default());
        for a in 0..b.n_accounts() {
            account_pnl(&b, a, &group_of, &risk, Rows::Every, &mut every);
            account_pnl(&b, a, &group_of, &risk, Rows::Shared, &mut shared);
            let (want, got) = (every.groups(), shared.groups());
            for k in 0..want.underlyings.len() {
                let (w, g) = (want.worst_loss(k, &b, &risk), got.worst_loss(k, &b, &risk));
                assert_eq!((w.0.to_bits(), w.1), (g.0.to_bits(), g.1), "account {a}, group {k}");
                for s in 0..s_count {
                    assert_eq!(want.pnl[k * s_count + s].to_bits(), got.pnl_at(k, s, &b, &risk).to_bits());
                }
            }
            assert_eq!(want.scale, got.scale);
        }
        // The first account's worst loss is the first scenario's, found by the scan.
        account_pnl(&b, 0, &group_of, &risk, Rows::Shared, &mut shared);
        assert_eq!(shared.groups().worst_loss(0, &b, &risk), (f64::from_bits(1), Some(0)));
    }

    #[test]
    fn scratch_is_reused_from_account_to_account() {
        let risk = risk();
        let b = book(&[&[(0, 1.0), (2, 1.0)], &[(1, 3.0)]]);
        let mut scratch = Scratch::default();
        account_pnl(&b, 0, &GROUP_OF, &risk, Rows::EveryAndTotal, &mut scratch);
        account_pnl(&b, 1, &GROUP_OF, &risk, Rows::EveryAndTotal, &mut scratch);
        assert_eq!(scratch.underlyings, vec![0]);
        // Position 2 of the book is the second account's only one: 3 x 10 x (-10%, 0, +10%).
        assert_eq!(scratch.groups().group(0), &[2]);
        assert_all_close(&scratch.pnl, &[-3.0, 0.0, 3.0], 1e-12);
        assert_all_close(&scratch.total, &[-3.0, 0.0, 3.0], 1e-12);
    }
}
