//! Cross-underlying rules of the grid that need more than a sum: the maximum loss over the
//! correlation ellipsoid's joint moves (cross="correlation", docs/methods.md) and the account's
//! driving underlying.
//!
//! The joint moves come from [`Ellipsoid`]; here an account's P&L vectors are scanned over them.
//! The margin is the largest total loss over a fixed set of moves, so it is continuous, positively
//! homogeneous and monotone in each underlying's losses (a position that loses everywhere never
//! lowers it).

use std::sync::Arc;

use smallvec::SmallVec;

use super::ellipsoid::{Ellipsoid, JointMoves};
use super::outcome::{Driver, GridContext, UnderlyingOutcome};
use crate::risk::worst_loss::{is_noise, loss_of_least};

/// Per-thread buffers of the correlation rule, reused from account to account; after
/// [`joint_least`] they describe the account's binding moves.
#[derive(Default)]
pub struct CrossScratch {
    /// (rank in the ellipsoid's block order, slot in the account) of each held underlying, in rank order.
    held: Vec<(usize, usize)>,
    keys: Vec<usize>,
    /// Slot k's row at `k * (S + nv)`: its P&L per grid scenario, then per vol shock its largest
    /// P&L over the price shocks (what it makes when it sits out of a move).
    rows: Vec<f64>,
    /// Per slot and vol shock, the first price shock of that largest P&L.
    favourable: Vec<u32>,
    /// (slot, place in the move) of each block member, in the account's order.
    order: Vec<(usize, usize)>,
    /// Per block: the least total P&L and the first (move, vol shock) reaching it.
    block_least: Vec<f64>,
    block_at: Vec<Option<(usize, usize)>>,
    moves: Option<Arc<JointMoves>>,
    moves_key: Vec<usize>,
    /// The number of price shocks: the index of an underlying sitting out of a move.
    free: usize,
    /// Per grid point of one slot: the least P&L of the rest of its block ([`others_least`]).
    pub others: Vec<f64>,
}

/// What cross="correlation" finds for an account.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationOutcome {
    pub initial: f64,
    pub driver: Option<Driver>,
    /// Per underlying (account order), its scenario in the binding joint move; None when the
    /// margin is 0, or for every underlying but the largest when `floor_largest` raised it.
    pub binding: SmallVec<[Option<u32>; 2]>,
}

/// Width of one slot's row in [`CrossScratch::rows`].
fn width(ctx: &GridContext<'_>) -> usize {
    ctx.risk.n_scenarios + ctx.model.grid.vol_shocks.len()
}

/// The least total P&L over the joint moves of an account holding `underlyings` (account order,
/// P&L of slot k at `pnl[k * S..]`): per block the least of `0.0 + sum` over its members in the
/// account's order, the first (move, vol shock) in enumeration order on ties; blocks added from
/// 0.0 in block order.
pub fn joint_least(
    ctx: &GridContext<'_>,
    ellipsoid: &Ellipsoid,
    underlyings: &[u32],
    pnl: &[f64],
    scratch: &mut CrossScratch,
) -> f64 {
    let (s_count, nv, w) = (ctx.risk.n_scenarios, ctx.model.grid.vol_shocks.len(), width(ctx));
    scratch.held.clear();
    // A held underlying is always in the matrix (`mark_uncorrelated` rejects the others).
    scratch.held.extend(
        underlyings
            .iter()
            .enumerate()
            .map(|(k, &u)| (ellipsoid.rank(ctx.correlation_index[u as usize].unwrap_or(0)), k)),
    );
    scratch.held.sort_unstable();
    scratch.keys.clear();
    scratch.keys.extend(scratch.held.iter().map(|h| h.0));
    // Most accounts hold the same few sets: the last one is kept per thread, which spares the
    // shared cache's lock and reference count.
    let moves = match &scratch.moves {
        Some(m) if scratch.moves_key == scratch.keys => m.clone(),
        _ => {
            let m = ellipsoid.moves(&scratch.keys);
            scratch.moves_key.clone_from(&scratch.keys);
            m
        }
    };
    scratch.free = s_count / nv;

    scratch.rows.clear();
    scratch.favourable.clear();
    for k in 0..underlyings.len() {
        let row = &pnl[k * s_count..(k + 1) * s_count];
        scratch.rows.extend_from_slice(row);
        for v in 0..nv {
            let (mut best, mut at) = (row[v], 0);
            for p in 1..s_count / nv {
                if row[p * nv + v] > best {
                    (best, at) = (row[p * nv + v], p);
                }
            }
            scratch.rows.push(best);
            scratch.favourable.push(at as u32);
        }
    }

    scratch.block_least.clear();
    scratch.block_at.clear();
    let mut total_least = 0.0;
    for block in &moves.blocks {
        scratch.order.clear();
        scratch.order.extend(block.members.iter().enumerate().map(|(j, &i)| (scratch.held[i].1, j)));
        scratch.order.sort_unstable();
        let (mut least, mut at) = (f64::INFINITY, None);
        if let [(ka, ja), (kb, jb)] = scratch.order[..] {
            // The usual two underlyings, unrolled (the same sums in the same order).
            let (ra, rb) = (&scratch.rows[ka * w..(ka + 1) * w], &scratch.rows[kb * w..(kb + 1) * w]);
            for (t, tuple) in block.tuples.chunks_exact(2).enumerate() {
                let (a, b) = (&ra[tuple[ja] as usize * nv..][..nv], &rb[tuple[jb] as usize * nv..][..nv]);
                for v in 0..nv {
                    let total = 0.0 + a[v] + b[v];
                    if total < least {
                        (least, at) = (total, Some((t, v)));
                    }
                }
            }
        } else {
            for (t, tuple) in block.tuples.chunks_exact(block.len()).enumerate() {
                for v in 0..nv {
                    let mut total = 0.0;
                    for &(k, j) in &scratch.order {
                        total += scratch.rows[k * w + tuple[j] as usize * nv + v];
                    }
                    if total < least {
                        (least, at) = (total, Some((t, v)));
                    }
                }
            }
        }
        // A block always has a move (each underlying alone moves everywhere); keep 0 otherwise.
        let least = if at.is_some() { least } else { 0.0 };
        scratch.block_least.push(least);
        scratch.block_at.push(at);
        total_least += least;
    }
    scratch.moves = Some(moves);
    total_least
}

/// Slot `k`'s block, and its place among that block's members.
fn block_of(scratch: &CrossScratch, k: usize) -> (usize, usize) {
    let i = scratch.held.iter().position(|h| h.1 == k).unwrap_or(0);
    let blocks = scratch.moves.as_ref().map_or(&[][..], |m| &m.blocks[..]);
    blocks
        .iter()
        .enumerate()
        .find_map(|(b, bl)| bl.members.iter().position(|&m| m == i).map(|place| (b, place)))
        .unwrap_or((0, 0))
}

/// Slot `k`'s scenario in the binding move of the last [`joint_least`].
fn binding_scenario(scratch: &CrossScratch, k: usize, nv: usize) -> Option<u32> {
    let moves = scratch.moves.as_ref()?;
    let (b, place) = block_of(scratch, k);
    let block = &moves.blocks[b];
    let (t, v) = scratch.block_at[b]?;
    let p = block.tuples[t * block.len() + place] as usize;
    let p = if p == scratch.free { scratch.favourable[k * nv + v] as usize } else { p };
    Some((p * nv + v) as u32)
}

/// Initial margin under cross="correlation": `min(max(0, -least), undiversified)`, with
/// `floor_largest` at least the largest requirement, and 0 when that is noise against `scale`,
/// the account's P&L scale (docs/methods.md, "Noise"); the binding move's scenario per
/// underlying and the driver (the underlying losing most in the binding move, the first on ties;
/// the largest requirement's worst when the floor binds), none when the margin is noise.
#[allow(clippy::too_many_arguments)]
pub fn correlation_outcome(
    underlyings: &[UnderlyingOutcome],
    pnl: &[f64],
    undiversified: f64,
    floor_largest: bool,
    scale: f64,
    ctx: &GridContext<'_>,
    ellipsoid: &Ellipsoid,
    scratch: &mut CrossScratch,
) -> CorrelationOutcome {
    let outcome = correlation_margin(underlyings, pnl, undiversified, floor_largest, ctx, ellipsoid, scratch);
    if is_noise(outcome.initial, scale) {
        return CorrelationOutcome { initial: 0.0, driver: None, binding: SmallVec::new() };
    }
    outcome
}

/// [`correlation_outcome`] before the account's noise floor.
fn correlation_margin(
    underlyings: &[UnderlyingOutcome],
    pnl: &[f64],
    undiversified: f64,
    floor_largest: bool,
    ctx: &GridContext<'_>,
    ellipsoid: &Ellipsoid,
    scratch: &mut CrossScratch,
) -> CorrelationOutcome {
    let (s_count, nv) = (ctx.risk.n_scenarios, ctx.model.grid.vol_shocks.len());
    if underlyings.is_empty() {
        return CorrelationOutcome { initial: 0.0, driver: None, binding: SmallVec::new() };
    }
    if let [u] = underlyings {
        // One underlying moves over the whole grid: its least is its worst loss's, first
        // scenario on ties, as the general scan would find.
        let driver = u.worst.map(|scenario| Driver::Underlying { underlying: u.underlying, scenario });
        return CorrelationOutcome {
            initial: u.requirement.min(undiversified),
            driver,
            binding: SmallVec::from_elem(u.worst, 1),
        };
    }
    let ids: SmallVec<[u32; 2]> = underlyings.iter().map(|u| u.underlying).collect();
    let least = joint_least(ctx, ellipsoid, &ids, pnl, scratch);
    let mut initial = loss_of_least(least).min(undiversified);
    let mut binding: SmallVec<[Option<u32>; 2]> = SmallVec::from_elem(None, underlyings.len());
    let mut driver = None;
    if initial > 0.0 {
        let mut most = 0.0;
        for (k, u) in underlyings.iter().enumerate() {
            binding[k] = binding_scenario(scratch, k, nv);
            if let Some(s) = binding[k] {
                let loss = -pnl[k * s_count + s as usize];
                if driver.is_none() || loss > most {
                    (most, driver) = (loss, Some(Driver::Underlying { underlying: u.underlying, scenario: s }));
                }
            }
        }
    }
    if floor_largest {
        let largest = underlyings.iter().fold(0.0f64, |m, u| m.max(u.requirement));
        if largest > initial {
            initial = largest;
            driver = largest_driver(underlyings);
            for (k, u) in underlyings.iter().enumerate() {
                binding[k] = match driver {
                    Some(Driver::Underlying { underlying, scenario }) if underlying == u.underlying => Some(scenario),
                    _ => None,
                };
            }
        }
    }
    CorrelationOutcome { initial, driver, binding }
}

/// After [`joint_least`]: into `scratch.others`, per grid point `p * nv + v` of slot `k` (p up
/// to the sitting-out index), the least `0.0 + sum` of the other members of k's block over the
/// block's moves that put k at p with vol shock v (+inf where none does); returns the other
/// blocks' leasts added from 0.0 in block order.
pub fn others_least(ctx: &GridContext<'_>, k: usize, scratch: &mut CrossScratch) -> f64 {
    let (nv, w) = (ctx.model.grid.vol_shocks.len(), width(ctx));
    let Some(moves) = scratch.moves.clone() else { return 0.0 };
    let (b, place) = block_of(scratch, k);
    let block = &moves.blocks[b];
    scratch.others.clear();
    scratch.others.resize(w, f64::INFINITY);
    scratch.order.clear();
    scratch.order.extend(block.members.iter().enumerate().map(|(j, &i)| (scratch.held[i].1, j)).filter(|o| o.0 != k));
    scratch.order.sort_unstable();
    if let [(other, j)] = scratch.order[..] {
        // The usual pair: one other member (the same sums).
        let row = &scratch.rows[other * w..(other + 1) * w];
        for tuple in block.tuples.chunks_exact(block.len()) {
            let at = tuple[place] as usize * nv;
            let theirs = &row[tuple[j] as usize * nv..][..nv];
            for (best, &x) in scratch.others[at..at + nv].iter_mut().zip(theirs) {
                let total = 0.0 + x;
                if total < *best {
                    *best = total;
                }
            }
        }
    } else {
        for tuple in block.tuples.chunks_exact(block.len()) {
            let at = tuple[place] as usize * nv;
            for v in 0..nv {
                let mut total = 0.0;
                for &(other, j) in &scratch.order {
                    total += scratch.rows[other * w + tuple[j] as usize * nv + v];
                }
                if total < scratch.others[at + v] {
                    scratch.others[at + v] = total;
                }
            }
        }
    }
    scratch.block_least.iter().enumerate().filter(|&(c, _)| c != b).fold(0.0, |acc, (_, l)| acc + l)
}

/// The largest requirement (first on ties) with a worst scenario, as the account's driver.
pub(super) fn largest_driver(underlyings: &[UnderlyingOutcome]) -> Option<Driver> {
    let mut largest: Option<&UnderlyingOutcome> = None;
    for u in underlyings {
        if u.requirement > largest.map_or(0.0, |l| l.requirement) {
            largest = Some(u);
        }
    }
    largest.and_then(|u| u.worst.map(|s| Driver::Underlying { underlying: u.underlying, scenario: s }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::correlation::CorrelationMatrix;
    use crate::methods::grid::model::{Cross, GridModel};
    use crate::risk::arrays::RiskArrays;
    use crate::risk::worst_loss::worst_loss;
    use crate::scenarios::VolShockMode;

    /// Price shocks -10%, -5%, 0, +5%, +10% (x = -1 .. 1 by 0.5), one vol shock; underlyings-table
    /// rows 0, 1 at matrix indices 1, 0.
    fn with_context<T>(rho: f64, f: impl FnOnce(&GridContext<'_>) -> T) -> T {
        let names = vec!["X".to_owned(), "Y".to_owned()];
        let matrix = CorrelationMatrix::new(names, vec![1.0, rho, rho, 1.0]).expect("valid");
        let shocks = vec![-0.1, -0.05, 0.0, 0.05, 0.1];
        let cross = Cross::Correlation { matrix: matrix.clone(), floor_largest: false };
        let model = GridModel::new(shocks.clone(), vec![0.0], VolShockMode::Relative, cross, 1.0).expect("valid");
        let mut risk = RiskArrays::default();
        risk.n_scenarios = 5;
        let ellipsoid = Ellipsoid::new(matrix, &shocks);
        let ctx = GridContext {
            model: &model,
            risk: &risk,
            underlying_of: &[],
            correlation_index: &[Some(1), Some(0)],
            ellipsoid: Some(&ellipsoid),
        };
        f(&ctx)
    }

    fn outcomes(pnl: &[&[f64]]) -> (Vec<UnderlyingOutcome>, Vec<f64>, f64) {
        let underlyings: Vec<UnderlyingOutcome> = pnl
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let (requirement, worst) = worst_loss(p);
                UnderlyingOutcome { underlying: k as u32, requirement, worst }
            })
            .collect();
        let undiversified = underlyings.iter().fold(0.0, |a, u| a + u.requirement);
        (underlyings, pnl.concat(), undiversified)
    }

    fn margin(ctx: &GridContext<'_>, pnl: &[&[f64]], floor: bool) -> CorrelationOutcome {
        let (underlyings, flat, undiversified) = outcomes(pnl);
        let ellipsoid = ctx.ellipsoid.expect("correlation");
        // Scale 0: no noise floor, the rule alone.
        correlation_outcome(
            &underlyings,
            &flat,
            undiversified,
            floor,
            0.0,
            ctx,
            ellipsoid,
            &mut CrossScratch::default(),
        )
    }

    const SHORT_STRADDLE: [f64; 5] = [-10.0, -3.0, 1.0, -3.0, -12.0];
    const LONG: [f64; 5] = [-10.0, -5.0, 0.0, 5.0, 10.0];

    #[test]
    fn one_underlying_pays_its_grid_requirement() {
        with_context(0.3, |ctx| {
            let c = margin(ctx, &[&SHORT_STRADDLE], false);
            assert_eq!(c.initial, 12.0);
            assert_eq!(c.driver, Some(Driver::Underlying { underlying: 0, scenario: 4 }));
            assert_eq!(c.binding.to_vec(), vec![Some(4)]);
        });
    }

    #[test]
    fn perfect_correlation_is_the_joint_worst() {
        with_context(1.0, |ctx| {
            let half: Vec<f64> = LONG.iter().map(|x| 0.5 * x).collect();
            // Joint totals -15, -5.5, 1, -0.5, -7: the worst is -15 at -10%.
            let c = margin(ctx, &[&SHORT_STRADDLE, &half], false);
            let joint: Vec<f64> = (0..5).map(|s| 0.0 + SHORT_STRADDLE[s] + half[s]).collect();
            assert_eq!(c.initial, worst_loss(&joint).0);
            assert_eq!(c.initial, 15.0);
            assert_eq!(c.binding.to_vec(), vec![Some(0), Some(0)]);
        });
    }

    #[test]
    fn losses_both_ways_are_never_offsets() {
        with_context(0.8, |ctx| {
            // Y alone: 12 at +10%. X losing everywhere (0 at no move) never lowers that: x_Y = 1
            // needs x_X = 0.8, not a shock here, so Y's +10% is a move with X sitting out at its
            // most favourable shock (0); the full moves inside the ellipse ((0.5, 0.5): 1 + 3)
            // lose less.
            let everywhere = [-4.0, -1.0, 0.0, -1.0, -4.0];
            let c = margin(ctx, &[&everywhere, &SHORT_STRADDLE], false);
            assert_eq!(c.initial, 12.0);
            assert_eq!(c.driver, Some(Driver::Underlying { underlying: 1, scenario: 4 }));
            assert_eq!(c.binding.to_vec(), vec![Some(2), Some(4)]);
        });
    }

    #[test]
    fn an_underlying_sits_out_where_no_shock_completes_the_move() {
        with_context(0.8, |ctx| {
            // Two short straddles on this coarse grid: Y at +10% with X sitting out at no move,
            // where X's straddle gains 1: 12 - 1 = 11 (the first such move in matrix order: Y is
            // index 0). On the default grid x_Y = 1 completes with x_X = 0.8.
            let c = margin(ctx, &[&SHORT_STRADDLE, &SHORT_STRADDLE], false);
            assert_eq!(c.initial, 11.0);
            assert_eq!(c.driver, Some(Driver::Underlying { underlying: 1, scenario: 4 }));
            assert_eq!(c.binding.to_vec(), vec![Some(2), Some(4)]);
        });
    }

    #[test]
    fn a_hedge_keeps_its_benefit_and_the_floor_binds_when_asked() {
        with_context(0.8, |ctx| {
            let short: Vec<f64> = LONG.iter().map(|x| -x).collect();
            // Long X, short Y (10 each at the grid's edge): x = (-0.5, 0) is inside the ellipse
            // (u = (-0.5, 0.667), |u|^2 = 0.69) and loses 5; (-0.5, 0.5) is not (|u|^2 = 2.5).
            // The continuous optimum is 10 x sqrt(2 - 1.6) = 6.32.
            let c = margin(ctx, &[&LONG, &short], false);
            assert_eq!(c.initial, 5.0);
            assert_eq!(c.driver, Some(Driver::Underlying { underlying: 0, scenario: 1 }));
            assert_eq!(c.binding.to_vec(), vec![Some(1), Some(2)]);
            let floored = margin(ctx, &[&LONG, &short], true);
            assert_eq!(floored.initial, 10.0);
            assert_eq!(floored.binding.to_vec(), vec![Some(0), None]);
        });
    }

    #[test]
    fn the_driver_is_the_first_largest_requirement() {
        let u = |underlying: u32, requirement: f64, worst: Option<u32>| UnderlyingOutcome {
            underlying,
            requirement,
            worst,
        };
        assert_eq!(
            largest_driver(&[u(3, 5.0, Some(1)), u(1, 8.0, Some(2)), u(2, 8.0, Some(0))]),
            Some(Driver::Underlying { underlying: 1, scenario: 2 })
        );
        assert_eq!(largest_driver(&[u(0, 0.0, None), u(1, 0.0, None)]), None);
        assert_eq!(largest_driver(&[]), None);
    }
}
