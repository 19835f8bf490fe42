//! What drives each account's margin: per-position contributions, standalone and incremental
//! margins, and the delta / gamma / vega explain of the driving scenario per underlying.
//!
//! Everything comes from the risk arrays already built. An incremental margin recomputes the
//! account's margin without the position from its P&L vectors (see [`attribute_account`]): a
//! true with-and-without difference, not a marginal (Euler) approximation.

use crate::aggregate::{correlation_margin, worst_loss, AccountOutcome, Driver, GridContext};
use crate::kernels::{self, WeightedRow};
use crate::positions::Book;
use crate::pricing::greeks::Greeks;
use crate::scenarios::{Cross, ScenarioSet};

/// One netted position's share of its account's margin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PositionAttribution {
    /// The position's loss in the scenario driving its requirement (its underlying's worst for
    /// cross="sum" / "correlation", the account's worst for "joint"); 0 when nothing loses.
    pub contribution: f64,
    pub standalone: f64,
    /// Account margin minus the account's margin without this position.
    pub incremental: f64,
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

/// Every account's attribution, flat: `positions` in netted-position order (aligned with the
/// book), `explains` per account and underlying, `explain_account` the account of each.
#[derive(Debug, Default)]
pub struct Attribution {
    pub positions: Vec<PositionAttribution>,
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

/// One underlying group after removing a position: gone, its new P&L vector (needed to rebuild
/// a joint total), or just its new worst loss (all that the other cross modes need).
enum Replaced<'a> {
    Removed,
    Reduced(&'a [f64]),
    Worst(f64, Option<u32>),
}

/// Worst loss of `pnl - q x risk row of c`, without storing the vector: the same subtraction
/// and the same result as materialising it and calling `worst_loss`.
fn worst_without(pnl: &[f64], c: u32, q: f64, ctx: &GridContext<'_>) -> (f64, Option<u32>) {
    let mut least = (f64::INFINITY, 0usize);
    for b in 0..ctx.risk.n_blocks() {
        let range = ctx.risk.block_range(b);
        let (v, i) = kernels::least_difference(&pnl[range.clone()], q, ctx.risk.block_row(b, c));
        // Blocks come in scenario order: a later block wins only with a strictly smaller value.
        if v < least.0 {
            least = (v, range.start + i);
        }
    }
    let best = -least.0;
    if best > 0.0 {
        (best, Some(least.1 as u32))
    } else {
        (0.0, None)
    }
}

/// Grid margin of the account with group `k` replaced, by the rules of `aggregate`: the other
/// groups' requirements and worst scenarios are reused, so only group `k` is recomputed.
fn margin_without(
    k: usize,
    replaced: &Replaced<'_>,
    outcome: &AccountOutcome,
    pnl: &[f64],
    ctx: &GridContext<'_>,
) -> f64 {
    let n = ctx.risk.n_scenarios;
    let reduced = match replaced {
        Replaced::Reduced(pnl) => Some(worst_loss(pnl)),
        Replaced::Worst(r, w) => Some((*r, *w)),
        Replaced::Removed => None,
    };
    if matches!(ctx.model.cross, Cross::Sum) {
        return outcome.underlyings.iter().enumerate().fold(0.0, |acc, (j, u)| match (j == k, reduced) {
            (false, _) => acc + u.requirement,
            (true, Some((r, _))) => acc + r,
            (true, None) => acc,
        });
    }
    let groups: Vec<(u32, f64, Option<u32>)> = outcome
        .underlyings
        .iter()
        .enumerate()
        .filter_map(|(j, u)| match (j == k, reduced) {
            (false, _) => Some((u.underlying, u.requirement, u.worst)),
            (true, Some((r, w))) => Some((u.underlying, r, w)),
            (true, None) => None,
        })
        .collect();
    let undiversified = groups.iter().fold(0.0, |acc, g| acc + g.1);
    match &ctx.model.cross {
        Cross::Sum => undiversified,
        Cross::Joint => {
            let mut total = vec![0.0; n];
            for j in 0..outcome.underlyings.len() {
                let group: &[f64] = match (j == k, replaced) {
                    (false, _) => &pnl[j * n..(j + 1) * n],
                    (true, Replaced::Reduced(r)) => r,
                    (true, Replaced::Worst(..)) => unreachable!("joint cross always passes the reduced vector"),
                    (true, Replaced::Removed) => continue,
                };
                for (t, x) in total.iter_mut().zip(group) {
                    *t += x;
                }
            }
            worst_loss(&total).0
        }
        Cross::Correlation { matrix, floor_largest } => {
            correlation_margin(&groups, undiversified, matrix, *floor_largest, ctx)
        }
    }
}

/// Attribution of every position of account `a` (in netted-position order) into `out`, and its
/// explain rows appended to `explains`.
///
/// The account without position p differs from the account only in p's underlying group (the
/// other groups are reused as they are). For cross="sum" and "joint" that group's P&L becomes
/// the group's P&L minus `q x risk row`, equal to re-summing its other positions up to rounding
/// of the group's own sum (about 1e-16 of its gross P&L), and both margins are continuous in it.
/// For "correlation" the group is re-summed, since a sign taken from the worst scenario is not;
/// tests compare with margining the book without p.
///
/// `underlyings`, `slots` and `pnl` are the account's groups as the aggregation just computed them
/// (see `aggregate::account_pnl`), with `group_starts[k]..group_starts[k + 1]` sizing group k, so
/// nothing is summed twice.
#[allow(clippy::too_many_arguments)]
pub fn attribute_account(
    book: &Book,
    a: usize,
    outcome: &AccountOutcome,
    ctx: &GridContext<'_>,
    inputs: &AttributionInputs<'_>,
    groups: (&[u32], &[usize], &[usize]),
    pnl: &[f64],
    out: &mut [PositionAttribution],
    explains: &mut Vec<Explain>,
) {
    let (underlyings, slots, group_starts) = groups;
    let n = ctx.risk.n_scenarios;
    let size = |k: usize| group_starts[k + 1] - group_starts[k];
    let driver_of = |k: usize| match (&ctx.model.cross, outcome.driver) {
        (Cross::Joint, Some(Driver::Joint { scenario })) => Some(scenario),
        (Cross::Joint, _) => None,
        _ => outcome.underlyings[k].worst,
    };

    // Only the joint cross needs a group's whole reduced P&L vector.
    let joint = matches!(ctx.model.cross, Cross::Joint);
    // Under cross="correlation" a requirement's sign follows its worst scenario, which rounding
    // can flip between near-equal losses: there the group without the position is re-summed
    // from its other positions, in order, exactly as margining the book without it would.
    let resum = matches!(ctx.model.cross, Cross::Correlation { .. });
    let mut reduced = if joint || resum { vec![0.0; n] } else { Vec::new() };
    let mut others: Vec<WeightedRow<'_>> = Vec::new();
    for ((p, &k), slot) in book.positions(a).zip(slots).zip(out.iter_mut()) {
        let (c, q) = (book.instrument[p], book.quantity[p]);
        let contribution = driver_of(k).map_or(0.0, |s| 0.0 - q * ctx.risk.value(c, s as usize));
        let replaced = if size(k) > 1 && resum {
            reduced.fill(0.0);
            for b in 0..ctx.risk.n_blocks() {
                others.clear();
                others.extend(
                    book.positions(a)
                        .zip(slots)
                        .filter(|&(other, &slot_of)| slot_of == k && other != p)
                        .map(|(other, _)| (book.quantity[other], ctx.risk.block_row(b, book.instrument[other]))),
                );
                kernels::accumulate(&mut reduced[ctx.risk.block_range(b)], &others);
            }
            let (r, w) = worst_loss(&reduced);
            Replaced::Worst(r, w)
        } else if size(k) > 1 && !joint {
            let (r, w) = worst_without(&pnl[k * n..(k + 1) * n], c, q, ctx);
            Replaced::Worst(r, w)
        } else if size(k) > 1 {
            reduced.copy_from_slice(&pnl[k * n..(k + 1) * n]);
            for b in 0..ctx.risk.n_blocks() {
                let range = ctx.risk.block_range(b);
                for (acc, x) in reduced[range].iter_mut().zip(ctx.risk.block_row(b, c)) {
                    *acc -= q * x;
                }
            }
            Replaced::Reduced(&reduced)
        } else {
            Replaced::Removed
        };
        let incremental = outcome.initial - margin_without(k, &replaced, outcome, pnl, ctx);
        *slot = PositionAttribution { contribution, standalone: ctx.risk.standalone(c, q), incremental };
    }

    explains.extend(
        underlyings
            .iter()
            .enumerate()
            .map(|(k, &u)| explain(book, a, slots, k, u, driver_of(k), &pnl[k * n..(k + 1) * n], inputs)),
    );
}

#[allow(clippy::too_many_arguments)]
fn explain(
    book: &Book,
    a: usize,
    slots: &[usize],
    k: usize,
    u: u32,
    scenario: Option<u32>,
    pnl: &[f64],
    inputs: &AttributionInputs<'_>,
) -> Explain {
    let Some(s) = scenario else {
        return Explain { underlying: u, scenario: None, pnl: 0.0, delta_pnl: 0.0, gamma_pnl: 0.0, vega_pnl: 0.0 };
    };
    let (mut delta_pnl, mut gamma_pnl, mut vega_pnl) = (0.0, 0.0, 0.0);
    for (p, _) in book.positions(a).zip(slots).filter(|(_, &slot)| slot == k) {
        let c = book.instrument[p] as usize;
        let q = book.quantity[p];
        let g = &inputs.greeks[c];
        let ds = inputs.spot[c] * (inputs.set.price_factor(u, s as usize) - 1.0);
        delta_pnl += q * g.delta * ds;
        gamma_pnl += 0.5 * q * g.gamma * ds * ds;
        // Only options carry vega; a linear contract's vol is 0 and its "shocked vol" the floor.
        if g.vega != 0.0 {
            let dvol = inputs.set.shocked_vol(inputs.vol[c], inputs.set.vol_change(u, s as usize)) - inputs.vol[c];
            vega_pnl += q * g.vega * dvol;
        }
    }
    Explain { underlying: u, scenario: Some(s), pnl: pnl[s as usize], delta_pnl, gamma_pnl, vega_pnl }
}
