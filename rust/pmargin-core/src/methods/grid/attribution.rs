//! What drives each account's margin: per-position contributions, standalone and incremental
//! margins, and the delta / gamma / vega explain of the driving scenario per underlying.
//!
//! Everything comes from the risk arrays already built. An incremental margin recomputes the
//! account's margin without the position from its P&L vectors (see [`margins_without`]): a true
//! with-and-without difference, not a marginal (Euler) approximation.

use std::mem::MaybeUninit;

use arrow_buffer::ScalarBuffer;
use smallvec::SmallVec;

use super::cross::{correlation_outcome, others_least, CrossScratch};
use super::model::Cross;
use super::outcome::{AccountOutcome, Driver, GridContext, UnderlyingOutcome};
use crate::domain::book::Book;
use crate::input::parts::defaulted;
use crate::pricing::greeks::Greeks;
use crate::risk::group_pnl::AccountGroups;
use crate::risk::kernels::{self, WeightedRow};
use crate::risk::worst_loss::{is_noise, loss_of_least, scale_term};
use crate::scenarios::ScenarioSet;

/// Where one task writes its positions' attribution: slices of the three columns, starting at
/// the task's first position (of `MaybeUninit<f64>` before the task zeroes them: [`Self::zeroed`]).
pub struct PositionColumns<'a, T = f64> {
    /// The position's loss in the scenario driving its requirement (its underlying's worst for
    /// cross="sum" / "correlation", the account's worst for "joint"); 0 when nothing loses.
    pub contribution: &'a mut [T],
    pub standalone: &'a mut [T],
    /// Account margin minus the account's margin without this position.
    pub incremental: &'a mut [T],
}

impl<'a, T> PositionColumns<'a, T> {
    /// The first `n` positions, and the rest; None when there are fewer than `n`.
    pub fn split_at(self, n: usize) -> Option<(PositionColumns<'a, T>, PositionColumns<'a, T>)> {
        let (c0, c1) = self.contribution.split_at_mut_checked(n)?;
        let (s0, s1) = self.standalone.split_at_mut_checked(n)?;
        let (i0, i1) = self.incremental.split_at_mut_checked(n)?;
        Some((
            PositionColumns { contribution: c0, standalone: s0, incremental: i0 },
            PositionColumns { contribution: c1, standalone: s1, incremental: i1 },
        ))
    }
}

impl<'a> PositionColumns<'a, MaybeUninit<f64>> {
    /// The columns set to zero, by the task about to write them: its part is then touched in
    /// cache, where zeroing the whole columns first was a memset as large as them on one core.
    pub fn zeroed(self) -> PositionColumns<'a> {
        PositionColumns {
            contribution: defaulted(self.contribution),
            standalone: defaulted(self.standalone),
            incremental: defaulted(self.incremental),
        }
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
    /// Per vol shock, the largest P&L over price shocks of a group without one position.
    favourable: Vec<f64>,
    /// The correlation rule on the account without a whole group (the account's own state stays
    /// in the aggregation's scratch).
    cross: CrossScratch,
}

/// `loss`, or 0 when it is noise relative to `scale` (docs/methods.md, "Noise").
fn above_noise(loss: f64, scale: f64) -> f64 {
    if is_noise(loss, scale) {
        0.0
    } else {
        loss
    }
}

/// `start` plus each requirement of `underlyings`, added in order: the aggregation's sum of
/// requirements (from 0.0), or its continuation past a replaced or skipped one. Not inlined:
/// inlined into the attribution loops, the running sum was kept in memory, a stored and
/// reloaded float per term.
#[inline(never)]
fn add_requirements(start: f64, underlyings: &[UnderlyingOutcome]) -> f64 {
    underlyings.iter().fold(start, |acc, u| acc + u.requirement)
}

/// Grid margin of the account without group `k` (its only position removed), by the rules of
/// `aggregate` for cross="sum" and "correlation": the other groups are kept as they are;
/// `scale` is the account's P&L scale without that position (the correlation margin's noise
/// floor).
fn margin_without_group<'a>(
    k: usize,
    outcome: &AccountOutcome,
    groups: &AccountGroups<'_>,
    ctx: &GridContext<'a>,
    scale: f64,
    scratch: &mut AttributionScratch<'a>,
) -> f64 {
    let requirements = &outcome.underlyings;
    let undiversified = add_requirements(add_requirements(0.0, &requirements[..k]), &requirements[k + 1..]);
    match (&ctx.model.cross, ctx.ellipsoid) {
        (Cross::Correlation { floor_largest, .. }, Some(ellipsoid)) => {
            let n = ctx.risk.n_scenarios;
            let rest: SmallVec<[UnderlyingOutcome; 2]> =
                outcome.underlyings.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, u)| u.clone()).collect();
            scratch.reduced.clear();
            for j in (0..outcome.underlyings.len()).filter(|&j| j != k) {
                scratch.reduced.extend_from_slice(&groups.pnl[j * n..(j + 1) * n]);
            }
            let c = correlation_outcome(
                &rest,
                &scratch.reduced,
                undiversified,
                *floor_largest,
                scale,
                ctx,
                ellipsoid,
                &mut scratch.cross,
            );
            c.initial
        }
        _ => undiversified,
    }
}

/// cross="correlation": the account's margin without each position of group `k` (of two or
/// more positions), into `scratch.without`. Without position p, group k's P&L is its P&L minus
/// `q x risk row`, and only k's block changes: its least becomes the least over grid points of
/// (the rest of the block's least there, [`others_least`]) + (k's P&L there, or its most
/// favourable P&L at that vol shock when it sits out). Equal to margining the book without p up
/// to rounding of those sums (a few ulps of the account's P&L scale); the margin is continuous
/// in them.
#[allow(clippy::too_many_arguments)]
fn correlation_without_each<'a>(
    book: &Book,
    k: usize,
    group: &[usize],
    outcome: &AccountOutcome,
    groups: &AccountGroups<'_>,
    ctx: &GridContext<'a>,
    cross: &mut CrossScratch,
    scratch: &mut AttributionScratch<'a>,
) {
    let Cross::Correlation { floor_largest, .. } = ctx.model.cross else { return };
    let (n, nv) = (ctx.risk.n_scenarios, ctx.model.grid.vol_shocks.len());
    let rest = others_least(ctx, k, cross);
    let pnl = &groups.pnl[k * n..(k + 1) * n];
    let requirements = &outcome.underlyings;
    let before = add_requirements(0.0, &requirements[..k]);
    let largest_other =
        requirements.iter().enumerate().filter(|&(j, _)| j != k).fold(0.0f64, |m, (_, u)| m.max(u.requirement));
    for &p in group {
        let (c, q) = (book.instrument[p], book.quantity[p]);
        let (mut least_alone, mut least) = (f64::INFINITY, f64::INFINITY);
        scratch.favourable.clear();
        scratch.favourable.resize(nv, f64::NEG_INFINITY);
        // The vol shock of scenario s is s % nv, counted along rather than divided.
        let mut v = 0;
        for b in 0..ctx.risk.n_blocks() {
            let range = ctx.risk.block_range(b);
            for (s, &x) in range.zip(ctx.risk.block_row(b, c)) {
                let r = pnl[s] - q * x;
                least_alone = least_alone.min(r);
                least = least.min(cross.others[s] + r);
                scratch.favourable[v] = scratch.favourable[v].max(r);
                v = if v + 1 == nv { 0 } else { v + 1 };
            }
        }
        for (v, &best) in scratch.favourable.iter().enumerate() {
            least = least.min(cross.others[n + v] + best);
        }
        // The noise floors of `aggregate` without p: the scales less p's own term.
        let term = scale_term(q, ctx.risk.extent[c as usize]);
        let requirement = above_noise(loss_of_least(least_alone), groups.scale[k] - term);
        let undiversified = add_requirements(before + requirement, &requirements[k + 1..]);
        let mut margin = loss_of_least(rest + least).min(undiversified);
        if floor_largest {
            margin = margin.max(largest_other).max(requirement);
        }
        scratch.without.push(above_noise(margin, groups.total_scale - term));
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
/// - cross="correlation": see [`correlation_without_each`]; an account on one underlying pays its
///   grid requirement, as under "sum".
/// - a group of one position: the account without that underlying.
///
/// Tests compare every mode with margining the book without p.
#[allow(clippy::too_many_arguments)]
fn margins_without<'a>(
    book: &Book,
    k: usize,
    group: &[usize],
    outcome: &AccountOutcome,
    groups: &AccountGroups<'_>,
    ctx: &GridContext<'a>,
    cross: &mut CrossScratch,
    scratch: &mut AttributionScratch<'a>,
) {
    let n = ctx.risk.n_scenarios;
    scratch.without.clear();
    // The noise floor without p: the scale less p's own term (docs/methods.md, "Noise").
    let term = |p: usize| {
        let c = book.instrument[p] as usize;
        scale_term(book.quantity[p], ctx.risk.extent[c])
    };
    match ctx.model.cross {
        Cross::Joint => {
            least_without_each(book, group, groups.total, ctx, scratch);
            let scale = groups.total_scale;
            scratch.without.extend(
                group.iter().zip(&scratch.least).map(|(&p, &least)| above_noise(loss_of_least(least), scale - term(p))),
            );
        }
        _ if group.len() == 1 => {
            let margin = margin_without_group(k, outcome, groups, ctx, groups.total_scale - term(group[0]), scratch);
            scratch.without.push(margin);
        }
        // One underlying under cross="correlation" pays its grid requirement, as under "sum".
        Cross::Correlation { .. } if outcome.underlyings.len() > 1 => {
            correlation_without_each(book, k, group, outcome, groups, ctx, cross, scratch)
        }
        Cross::Sum | Cross::Correlation { .. } => {
            least_without_each(book, group, &groups.pnl[k * n..(k + 1) * n], ctx, scratch);
            // The requirements with group k's replaced, added in the account's order.
            let requirements = &outcome.underlyings;
            let before = add_requirements(0.0, &requirements[..k]);
            let after = &requirements[k + 1..];
            for (&p, &least) in group.iter().zip(&scratch.least) {
                let requirement = above_noise(loss_of_least(least), groups.scale[k] - term(p));
                scratch.without.push(add_requirements(before + requirement, after));
            }
        }
    }
}

/// Attribution of every position of one account (its `outcome` and `groups`) into `out`, whose
/// first row is book position `base`, and its explain rows (one per underlying, in the account's
/// order) appended to `explains`.
///
/// `groups` is the account's P&L per underlying as the aggregation just computed it (see
/// `aggregate::account_pnl`), so nothing is summed twice; `cross` holds the correlation rule's
/// state for the account, as the aggregation left it.
#[allow(clippy::too_many_arguments)]
pub fn attribute_account<'a>(
    book: &Book,
    outcome: &AccountOutcome,
    ctx: &GridContext<'a>,
    inputs: &AttributionInputs<'_>,
    groups: &AccountGroups<'_>,
    cross: &mut CrossScratch,
    out: &mut PositionColumns<'_>,
    base: usize,
    explains: &mut Vec<Explain>,
    scratch: &mut AttributionScratch<'a>,
) {
    for (k, &u) in groups.underlyings.iter().enumerate() {
        let group = groups.group(k);
        let driver = match (&ctx.model.cross, outcome.driver) {
            (Cross::Joint, Some(Driver::Joint { scenario })) => Some(scenario),
            (Cross::Joint, _) => None,
            (Cross::Correlation { .. }, _) => outcome.binding.get(k).copied().flatten(),
            (Cross::Sum, _) => outcome.underlyings[k].worst,
        };
        margins_without(book, k, group, outcome, groups, ctx, cross, scratch);
        // The driving scenario's block and place in it, found once for the group.
        let driving = driver.map(|s| ctx.risk.locate(s as usize));
        for (&p, &without) in group.iter().zip(&scratch.without) {
            let (c, q, i) = (book.instrument[p], book.quantity[p], p - base);
            out.contribution[i] = driving.map_or(0.0, |(b, at)| 0.0 - q * ctx.risk.block_row(b, c)[at]);
            out.standalone[i] = ctx.risk.standalone(c, q);
            out.incremental[i] = outcome.initial - without;
        }
        let driven = driver.map(|s| (s, groups.pnl_at(k, s as usize, book, ctx.risk)));
        explains.push(explain(book, group, u, driven, inputs));
    }
}

/// The driving scenario of underlying `u`'s group with the group's P&L in it (`driven`), and
/// that P&L split by Greek, each summed over the group's positions in order.
fn explain(
    book: &Book,
    group: &[usize],
    u: u32,
    driven: Option<(u32, f64)>,
    inputs: &AttributionInputs<'_>,
) -> Explain {
    let Some((s, pnl)) = driven else {
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
    Explain { underlying: u, scenario: Some(s), pnl, delta_pnl, gamma_pnl, vega_pnl }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::option_terms::OptionType;
    use crate::engine::Engine;
    use crate::pricing::greeks::vanilla;
    use crate::spec::{OwnedTable, Value};
    use crate::test_support::{
        assert_all_close, assert_close, correlation, f64_column, grid_spec, opt_f64_column, positions, str_column,
        two_underlyings,
    };

    type Row = (&'static str, &'static str, f64);

    /// Options and futures on both underlyings; "b" holds one position, "c" three.
    const BOOK: [Row; 9] = [
        ("a", "CA", 3.0),
        ("a", "FA", -1.0),
        ("a", "SA", 0.5),
        ("a", "PB", -2.0),
        ("a", "FB", 1.0),
        ("b", "FA", 1.0),
        ("c", "PB", 1.0),
        ("c", "FB", 1.0),
        ("c", "CA", -1.0),
    ];

    fn engine(cross: &str, rho: Option<Value>) -> Engine {
        let spec = grid_spec(&[-0.2, -0.1, 0.0, 0.1, 0.2], &[-0.3, 0.0, 0.3], cross, 1.0, rho);
        two_underlyings().engine(&spec).expect("valid")
    }

    fn modes() -> Vec<(&'static str, Engine)> {
        let rho = || Some(correlation(&["A", "B"], &[1.0, 0.3, 0.3, 1.0]));
        let mut floored = grid_spec(&[-0.2, -0.1, 0.0, 0.1, 0.2], &[-0.3, 0.0, 0.3], "correlation", 1.0, rho());
        if let Value::Map(entries) = &mut floored {
            entries.push(("floor_largest".into(), Value::Bool(true)));
        }
        vec![
            ("sum", engine("sum", None)),
            ("joint", engine("joint", None)),
            ("correlation", engine("correlation", rho())),
            ("correlation, floored", two_underlyings().engine(&floored).expect("valid")),
        ]
    }

    /// Initial margin of each account of `rows` (0 for an account that is not in the book).
    fn initial_margins(engine: &Engine, rows: &[Row]) -> Vec<(String, f64)> {
        let t: OwnedTable = positions(rows);
        let accounts = engine
            .margin(t.view("positions"), false, crate::OnError::Raise)
            .expect("margined")
            .accounts_batch()
            .expect("a table");
        let ids = str_column(&accounts, "account_id").into_iter().map(|id| id.expect("an id"));
        ids.zip(f64_column(&accounts, "initial_margin")).collect()
    }

    /// Row of `(account, instrument)` in a by_position table (netted positions, canonical order).
    fn row_of(by_position: &arrow_array::RecordBatch, row: &Row) -> usize {
        let accounts = str_column(by_position, "account_id");
        let instruments = str_column(by_position, "instrument_id");
        (0..accounts.len())
            .find(|&i| accounts[i].as_deref() == Some(row.0) && instruments[i].as_deref() == Some(row.1))
            .expect("a netted position")
    }

    fn margin_of(margins: &[(String, f64)], account: &str) -> f64 {
        margins.iter().find(|(id, _)| id == account).map_or(0.0, |m| m.1)
    }

    #[test]
    fn an_incremental_margin_is_the_margin_minus_the_margin_without_the_position() {
        for (mode, engine) in modes() {
            let run = engine.margin(positions(&BOOK).view("positions"), true, crate::OnError::Raise).expect("margined");
            let (by_position, _) = run.attribution_batches().expect("attributed");
            let margins = initial_margins(&engine, &BOOK);
            let incremental = f64_column(&by_position, "incremental_margin");
            assert_eq!(incremental.len(), BOOK.len(), "{mode}: one row per netted position");
            for (i, row) in BOOK.iter().enumerate() {
                let without: Vec<Row> = BOOK.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, r)| *r).collect();
                let expected = margin_of(&margins, row.0) - margin_of(&initial_margins(&engine, &without), row.0);
                assert_close(incremental[row_of(&by_position, row)], expected, 1e-9);
            }
        }
    }

    #[test]
    fn a_standalone_margin_is_the_position_margined_alone() {
        for (mode, engine) in modes() {
            let run = engine.margin(positions(&BOOK).view("positions"), true, crate::OnError::Raise).expect("margined");
            let (by_position, _) = run.attribution_batches().expect("attributed");
            let standalone = f64_column(&by_position, "standalone_margin");
            for row in &BOOK {
                let alone = margin_of(&initial_margins(&engine, &[*row]), row.0);
                let got = standalone[row_of(&by_position, row)];
                assert!((got - alone).abs() <= 1e-9, "{mode} {row:?}: {got} vs {alone}");
            }
        }
    }

    #[test]
    fn contributions_add_up_to_the_margin_or_the_undiversified_margin() {
        for (mode, engine) in modes() {
            let run = engine.margin(positions(&BOOK).view("positions"), true, crate::OnError::Raise).expect("margined");
            let accounts = run.accounts_batch().expect("a table");
            let (by_position, _) = run.attribution_batches().expect("attributed");
            let contribution = f64_column(&by_position, "contribution");
            let owners = str_column(&by_position, "account_id");
            let initial = f64_column(&accounts, "initial_margin");
            let benefit = f64_column(&accounts, "cross_underlying_benefit");
            for (a, id) in str_column(&accounts, "account_id").iter().enumerate() {
                let total = owners.iter().zip(&contribution).filter(|(o, _)| *o == id).fold(0.0, |s, (_, c)| s + c);
                // Joint and correlation: the positions' losses in the one driving (joint) move make
                // the margin. Sum: each underlying's worst, which add up to the undiversified margin.
                let expected = if mode == "sum" { initial[a] + benefit[a] } else { initial[a] };
                assert!((total - expected).abs() <= 1e-9, "{mode} {id:?}: {total} vs {expected}");
            }
        }
    }

    #[test]
    fn explain_built_with_the_by_underlying_table_equals_explain_built_alone() {
        for (mode, engine) in modes() {
            let run = engine.margin(positions(&BOOK).view("positions"), true, crate::OnError::Raise).expect("margined");
            // all_batches shares by_underlying's columns with explain; attribution_batches does not.
            let all = run.all_batches().expect("tables");
            let (by_position, explain) = run.attribution_batches().expect("attributed");
            let (shared_by_position, shared_explain) = all.attribution.expect("attributed");
            assert_eq!(shared_explain, explain, "{mode}");
            assert_eq!(shared_by_position, by_position, "{mode}");
            assert_eq!(all.by_underlying, run.by_underlying_batch().expect("a table"), "{mode}");
            for name in ["account_id", "underlying"] {
                assert_eq!(str_column(&explain, name), str_column(&all.by_underlying, name), "{mode}");
            }
            // a: A and B; b: A; c: A and B.
            assert_eq!(explain.num_rows(), 5, "{mode}");
        }
    }

    #[test]
    fn a_linear_position_is_explained_by_its_delta() {
        let engine = engine("sum", None);
        let book = positions(&[("a", "FA", 2.0), ("a", "FB", -1.0)]);
        let run = engine.margin(book.view("positions"), true, crate::OnError::Raise).expect("margined");
        let (_, explain) = run.attribution_batches().expect("attributed");
        // A: long 2 x 100 falls 20%: -40. B: short 1 x (2 x 50) rises 20%: -20.
        assert_eq!(
            str_column(&explain, "scenario"),
            vec![Some("A -20.0% vol -30%".to_owned()), Some("B +20.0% vol -30%".to_owned())]
        );
        assert_all_close(&f64_column(&explain, "pnl"), &[-40.0, -20.0], 1e-9);
        assert_all_close(&f64_column(&explain, "delta_pnl"), &[-40.0, -20.0], 1e-9);
        assert_eq!(f64_column(&explain, "gamma_pnl"), vec![0.0, 0.0]);
        assert_eq!(f64_column(&explain, "vega_pnl"), vec![0.0, 0.0]);
        assert_all_close(&f64_column(&explain, "residual"), &[0.0, 0.0], 1e-9);
    }

    #[test]
    fn an_option_is_explained_by_delta_gamma_and_vega() {
        // One scenario: A down 10%, vol up 30% (0.2 -> 0.26); long 1 call loses.
        let spec = grid_spec(&[-0.1], &[0.3], "sum", 1.0, None);
        let engine = two_underlyings().engine(&spec).expect("valid");
        let run = engine
            .margin(positions(&[("a", "CA", 1.0)]).view("positions"), true, crate::OnError::Raise)
            .expect("margined");
        let (_, explain) = run.attribution_batches().expect("attributed");
        let g = vanilla(OptionType::Call, 100.0, 100.0, 1.0, 0.0, 0.2);
        let shocked = vanilla(OptionType::Call, 90.0, 100.0, 1.0, 0.0, 0.26).price;
        assert!(shocked < g.price);
        assert_all_close(&f64_column(&explain, "pnl"), &[shocked - g.price], 1e-9);
        assert_all_close(&f64_column(&explain, "delta_pnl"), &[g.delta * -10.0], 1e-9);
        assert_all_close(&f64_column(&explain, "gamma_pnl"), &[0.5 * g.gamma * 100.0], 1e-9);
        assert_all_close(&f64_column(&explain, "vega_pnl"), &[g.vega * 0.2 * 0.3], 1e-9);
        let [pnl, d, gm, v, r] =
            ["pnl", "delta_pnl", "gamma_pnl", "vega_pnl", "residual"].map(|c| f64_column(&explain, c)[0]);
        assert_close(r, pnl - (d + gm + v), 1e-12);
        assert_eq!(opt_f64_column(&explain, "price_shock"), vec![Some(-0.1)]);
        assert_eq!(opt_f64_column(&explain, "vol_shock"), vec![Some(0.3)]);
    }

    #[test]
    fn an_account_that_cannot_lose_is_attributed_nothing() {
        let engine = engine("joint", None);
        let book = positions(&[("a", "FA", 1.0), ("a", "FA", -1.0)]);
        let run = engine.margin(book.view("positions"), true, crate::OnError::Raise).expect("margined");
        let (by_position, explain) = run.attribution_batches().expect("attributed");
        // The pair nets to zero: no position is held, so nothing is attributed or explained.
        assert_eq!((by_position.num_rows(), explain.num_rows()), (0, 0));
        let accounts = run.accounts_batch().expect("a table");
        assert_eq!(
            (f64_column(&accounts, "initial_margin"), str_column(&accounts, "worst_scenario")),
            (vec![0.0], vec![None])
        );
        // A long and a short future on one underlying: both held, and they never lose together.
        let book = positions(&[("a", "FA", 1.0), ("a", "SA", -1.0)]);
        let spec = grid_spec(&[-0.2, 0.2], &[0.0], "joint", 1.0, None);
        let engine = two_underlyings().engine(&spec).expect("valid");
        let run = engine.margin(book.view("positions"), true, crate::OnError::Raise).expect("margined");
        let (by_position, explain) = run.attribution_batches().expect("attributed");
        assert_eq!(f64_column(&by_position, "contribution"), vec![0.0, 0.0]);
        // Without either leg the other loses 20: each leg saves 20.
        assert_all_close(&f64_column(&by_position, "incremental_margin"), &[-20.0, -20.0], 1e-9);
        assert_eq!(str_column(&explain, "scenario"), vec![None]);
        assert_eq!(opt_f64_column(&explain, "price_shock"), vec![None]);
        assert_eq!(f64_column(&explain, "pnl"), vec![0.0]);
    }

    #[test]
    fn columns_split_and_residuals() {
        let (mut c, mut s, mut i) = ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]);
        let all = PositionColumns { contribution: &mut c, standalone: &mut s, incremental: &mut i };
        let (head, tail) = all.split_at(1).expect("three positions");
        assert_eq!((head.contribution.len(), tail.contribution.len()), (1, 2));
        assert_eq!((tail.standalone[0], tail.incremental[1], head.incremental[0]), (5.0, 9.0, 7.0));
        assert!(tail.split_at(3).is_none());
        let mut uninit = [[MaybeUninit::new(1.0); 2], [MaybeUninit::uninit(); 2], [MaybeUninit::uninit(); 2]];
        let [c, s, i] = &mut uninit;
        let zeroed = PositionColumns { contribution: c, standalone: s, incremental: i }.zeroed();
        assert_eq!(
            (&*zeroed.contribution, &*zeroed.standalone, &*zeroed.incremental),
            (&[0.0; 2][..], &[0.0; 2][..], &[0.0; 2][..])
        );
        let e =
            Explain { underlying: 0, scenario: Some(1), pnl: -10.0, delta_pnl: -8.0, gamma_pnl: -1.5, vega_pnl: 0.25 };
        assert_eq!(e.residual(), -0.75);
    }
}
