//! What drives each account's margin: per-position contributions, standalone and incremental
//! margins, and the delta / gamma / vega explain of the driving scenario per underlying.
//!
//! Everything comes from the risk arrays already built. An incremental margin recomputes the
//! account's margin without the position from its P&L vectors (see [`margins_without`]): a true
//! with-and-without difference, not a marginal (Euler) approximation.

use arrow_buffer::ScalarBuffer;
use smallvec::SmallVec;

use super::cross::correlation_margin;
use super::outcome::{AccountOutcome, Driver, GridContext};
use crate::domain::book::Book;
use crate::pricing::greeks::Greeks;
use crate::risk::group_pnl::AccountGroups;
use crate::risk::kernels::{self, WeightedRow};
use crate::risk::worst_loss::{loss_of_least, worst_loss};
use crate::scenarios::{Cross, ScenarioSet};

/// Where one task writes its positions' attribution: slices of the three columns, starting at
/// the task's first position.
pub struct PositionColumns<'a> {
    /// The position's loss in the scenario driving its requirement (its underlying's worst for
    /// cross="sum" / "correlation", the account's worst for "joint"); 0 when nothing loses.
    pub contribution: &'a mut [f64],
    pub standalone: &'a mut [f64],
    /// Account margin minus the account's margin without this position.
    pub incremental: &'a mut [f64],
}

impl<'a> PositionColumns<'a> {
    /// The first `n` positions, and the rest.
    pub fn split_at(self, n: usize) -> (PositionColumns<'a>, PositionColumns<'a>) {
        let (c0, c1) = self.contribution.split_at_mut(n);
        let (s0, s1) = self.standalone.split_at_mut(n);
        let (i0, i1) = self.incremental.split_at_mut(n);
        (
            PositionColumns { contribution: c0, standalone: s0, incremental: i0 },
            PositionColumns { contribution: c1, standalone: s1, incremental: i1 },
        )
    }
}

/// The driving scenario of one (account, underlying) and its P&L split by Greek.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Explain {
    pub underlying: u32,
    pub scenario: Option<u32>,
    pub pnl: f64,
    pub delta_pnl: f64,
    pub gamma_pnl: f64,
    pub vega_pnl: f64,
}

impl Explain {
    pub fn residual(&self) -> f64 {
        self.pnl - (self.delta_pnl + self.gamma_pnl + self.vega_pnl)
    }
}

/// Every account's attribution, flat: one column per measure in netted-position order (aligned
/// with the book; Arrow buffers, so the result table shares them), `explains` per account and
/// underlying, `explain_account` the account of each.
#[derive(Debug, Default)]
pub struct Attribution {
    pub contribution: ScalarBuffer<f64>,
    pub standalone: ScalarBuffer<f64>,
    pub incremental: ScalarBuffer<f64>,
    pub explains: Vec<Explain>,
    pub explain_account: Vec<u32>,
}

/// Inputs of grid attribution beyond the aggregation context.
pub struct AttributionInputs<'a> {
    pub set: &'a ScenarioSet,
    pub greeks: &'a [Greeks],
    /// Spot and implied vol of each contract (by instrument row).
    pub spot: &'a [f64],
    pub vol: &'a [f64],
}

/// Per-thread buffers of the attribution, reused from account to account.
#[derive(Default)]
pub struct AttributionScratch<'a> {
    rows: Vec<WeightedRow<'a>>,
    least: Vec<f64>,
    reduced: Vec<f64>,
    /// The account's margin without each position of the current group.
    without: Vec<f64>,
}

/// Grid margin of the account with group `k`'s requirement and worst scenario replaced (or the
/// group removed, `None`), by the rules of `aggregate` for cross="sum" and "correlation": the
/// other groups' requirements and worst scenarios are reused as they are.
fn margin_without(
    k: usize,
    replaced: Option<(f64, Option<u32>)>,
    outcome: &AccountOutcome,
    ctx: &GridContext<'_>,
) -> f64 {
    let groups: SmallVec<[(u32, f64, Option<u32>); 2]> = outcome
        .underlyings
        .iter()
        .enumerate()
        .filter_map(|(j, u)| match (j == k, replaced) {
            (false, _) => Some((u.underlying, u.requirement, u.worst)),
            (true, Some((r, w))) => Some((u.underlying, r, w)),
            (true, None) => None,
        })
        .collect();
    let undiversified = groups.iter().fold(0.0, |acc, g| acc + g.1);
    match &ctx.model.cross {
        Cross::Correlation { matrix, floor_largest } => {
            correlation_margin(&groups, undiversified, matrix, *floor_largest, ctx)
        }
        Cross::Sum | Cross::Joint => undiversified,
    }
}

/// The least of `pnl - q x risk row` for every position of `group`, into `scratch.least`: one
/// pass over `pnl` for the whole group.
fn least_without_each<'a>(
    book: &Book,
    group: &[usize],
    pnl: &[f64],
    ctx: &GridContext<'a>,
    scratch: &mut AttributionScratch<'a>,
) {
    scratch.least.clear();
    scratch.least.resize(group.len(), f64::INFINITY);
    for b in 0..ctx.risk.n_blocks() {
        scratch.rows.clear();
        scratch.rows.extend(group.iter().map(|&p| (book.quantity[p], ctx.risk.block_row(b, book.instrument[p]))));
        kernels::least_differences(&pnl[ctx.risk.block_range(b)], &scratch.rows, &mut scratch.least);
    }
}

/// The account's margin without each position of group `k`, into `scratch.without`.
///
/// Without position p the account's P&L changes by `- q x risk row` of p, in p's group only.
/// - cross="joint": the margin is the worst loss of the account's total minus `q x row`. That
///   equals re-summing the other positions up to rounding of the total (about 1e-16 of the gross
///   P&L) and the margin is continuous in it; one pass over the total serves the whole group.
/// - cross="sum": only group k's worst loss changes, to that of its P&L minus `q x row` (same
///   argument), then the requirements are added in the account's order.
/// - cross="correlation": a requirement's sign follows its worst scenario, which is not
///   continuous in rounding, so group k is re-summed from its other positions in order, exactly as
///   margining the book without p would.
///
/// Tests compare every mode with margining the book without p.
fn margins_without<'a>(
    book: &Book,
    k: usize,
    group: &[usize],
    outcome: &AccountOutcome,
    groups: &AccountGroups<'_>,
    ctx: &GridContext<'a>,
    scratch: &mut AttributionScratch<'a>,
) {
    let n = ctx.risk.n_scenarios;
    scratch.without.clear();
    match ctx.model.cross {
        Cross::Joint => {
            least_without_each(book, group, groups.total, ctx, scratch);
            scratch.without.extend(scratch.least.iter().map(|&least| loss_of_least(least)));
        }
        _ if group.len() == 1 => scratch.without.push(margin_without(k, None, outcome, ctx)),
        Cross::Sum => {
            least_without_each(book, group, &groups.pnl[k * n..(k + 1) * n], ctx, scratch);
            // The requirements with group k's replaced, added in the account's order.
            let requirements = &outcome.underlyings;
            let before = requirements[..k].iter().fold(0.0, |acc, u| acc + u.requirement);
            let after = &requirements[k + 1..];
            for &least in &scratch.least {
                scratch.without.push(after.iter().fold(before + loss_of_least(least), |acc, u| acc + u.requirement));
            }
        }
        Cross::Correlation { .. } => {
            for &p in group {
                scratch.reduced.clear();
                scratch.reduced.resize(n, 0.0);
                for b in 0..ctx.risk.n_blocks() {
                    scratch.rows.clear();
                    scratch.rows.extend(
                        group
                            .iter()
                            .filter(|&&other| other != p)
                            .map(|&other| (book.quantity[other], ctx.risk.block_row(b, book.instrument[other]))),
                    );
                    kernels::accumulate(&mut scratch.reduced[ctx.risk.block_range(b)], &scratch.rows);
                }
                scratch.without.push(margin_without(k, Some(worst_loss(&scratch.reduced)), outcome, ctx));
            }
        }
    }
}

/// Attribution of every position of one account (its `outcome` and `groups`) into `out`, whose
/// first row is book position `base`, and its explain rows (one per underlying, in the account's
/// order) appended to `explains`.
///
/// `groups` is the account's P&L per underlying as the aggregation just computed it (see
/// `aggregate::account_pnl`), so nothing is summed twice.
#[allow(clippy::too_many_arguments)]
pub fn attribute_account<'a>(
    book: &Book,
    outcome: &AccountOutcome,
    ctx: &GridContext<'a>,
    inputs: &AttributionInputs<'_>,
    groups: &AccountGroups<'_>,
    out: &mut PositionColumns<'_>,
    base: usize,
    explains: &mut Vec<Explain>,
    scratch: &mut AttributionScratch<'a>,
) {
    let n = ctx.risk.n_scenarios;
    for (k, &u) in groups.underlyings.iter().enumerate() {
        let group = groups.group(k);
        let driver = match (&ctx.model.cross, outcome.driver) {
            (Cross::Joint, Some(Driver::Joint { scenario })) => Some(scenario),
            (Cross::Joint, _) => None,
            _ => outcome.underlyings[k].worst,
        };
        margins_without(book, k, group, outcome, groups, ctx, scratch);
        // The driving scenario's block and place in it, found once for the group.
        let driving = driver.map(|s| ctx.risk.locate(s as usize));
        for (&p, &without) in group.iter().zip(&scratch.without) {
            let (c, q, i) = (book.instrument[p], book.quantity[p], p - base);
            out.contribution[i] = driving.map_or(0.0, |(b, at)| 0.0 - q * ctx.risk.block_row(b, c)[at]);
            out.standalone[i] = ctx.risk.standalone(c, q);
            out.incremental[i] = outcome.initial - without;
        }
        explains.push(explain(book, group, u, driver, &groups.pnl[k * n..(k + 1) * n], inputs));
    }
}

/// The driving scenario `scenario` of underlying `u`'s group and its P&L split by Greek, each
/// summed over the group's positions in order.
fn explain(
    book: &Book,
    group: &[usize],
    u: u32,
    scenario: Option<u32>,
    pnl: &[f64],
    inputs: &AttributionInputs<'_>,
) -> Explain {
    let Some(s) = scenario else {
        return Explain { underlying: u, scenario: None, pnl: 0.0, delta_pnl: 0.0, gamma_pnl: 0.0, vega_pnl: 0.0 };
    };
    let (price_factor, vol_change) = (inputs.set.price_factor(u, s as usize), inputs.set.vol_change(u, s as usize));
    let (mut delta_pnl, mut gamma_pnl, mut vega_pnl) = (0.0, 0.0, 0.0);
    for &p in group {
        let c = book.instrument[p] as usize;
        let q = book.quantity[p];
        let g = &inputs.greeks[c];
        let ds = inputs.spot[c] * (price_factor - 1.0);
        delta_pnl += q * g.delta * ds;
        gamma_pnl += 0.5 * q * g.gamma * ds * ds;
        // A linear contract has vega 0 (and vol 0, "shocked" to the floor): it adds an exact
        // zero, so no branch is needed.
        let dvol = inputs.set.shocked_vol(inputs.vol[c], vol_change) - inputs.vol[c];
        vega_pnl += q * g.vega * dvol;
    }
    Explain { underlying: u, scenario: Some(s), pnl: pnl[s as usize], delta_pnl, gamma_pnl, vega_pnl }
}
