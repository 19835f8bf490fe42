//! Worst-loss aggregation (the grid): quantity x risk-array sums per underlying, worst losses, and
//! the cross-underlying rule. Accounts are independent, so they run in parallel and the result
//! does not depend on the number of threads.

use std::ops::Range;

use rayon::prelude::*;
use smallvec::SmallVec;

use super::attribution::{
    attribute_account, Attribution, AttributionInputs, AttributionScratch, Explain, PositionColumns,
};
use super::cross::{correlation_outcome, largest_driver, CrossScratch};
use super::model::Cross;
use super::outcome::{
    AccountOutcome, Driver, GridContext, RowPiece, UnderlyingOutcome, UnderlyingRows, PIECE_ACCOUNTS,
};
use crate::domain::book::Book;
use crate::error::{MarginError, Result};
use crate::input::parts::filled_in_parts;
use crate::risk::group_pnl::{account_pnl, group_worst_losses, Rows, Scratch};
use crate::risk::worst_loss::worst_loss_above_noise;

/// Per-thread buffers of the aggregation.
#[derive(Default)]
pub(super) struct AccountScratch<'a> {
    pub pnl: Scratch<'a>,
    pub cross: CrossScratch,
    /// One account's underlyings under cross="sum" (`sum_outcome`).
    underlyings: RowPiece,
}

/// An account's outcome under cross="sum" when no attribution needs its P&L vectors: each
/// underlying's worst loss alone (`group_worst_losses`), the same numbers with less work. Its
/// underlyings are appended to `piece` (first-seen order), not kept in the outcome.
fn sum_rows<'a>(
    book: &Book,
    a: usize,
    ctx: &GridContext<'a>,
    scratch: &mut Scratch<'a>,
    piece: &mut RowPiece,
) -> AccountOutcome {
    let first = piece.rows.len();
    group_worst_losses(book, a, ctx.underlying_of, ctx.risk, scratch, |underlying, requirement, worst| {
        piece.rows.push(UnderlyingOutcome { underlying, requirement, worst })
    });
    piece.account.resize(piece.rows.len(), a as u32);
    let underlyings = &piece.rows[first..];
    let undiversified = underlyings.iter().fold(0.0, |acc, u| acc + u.requirement);
    AccountOutcome {
        initial: undiversified,
        gross: gross_margin(book, a, ctx),
        undiversified,
        driver: largest_driver(underlyings),
        ..AccountOutcome::default()
    }
}

/// [`sum_rows`] with the account's underlyings in its outcome (for add-ons, which read them).
fn sum_outcome<'a>(book: &Book, a: usize, ctx: &GridContext<'a>, scratch: &mut AccountScratch<'a>) -> AccountOutcome {
    let piece = &mut scratch.underlyings;
    piece.rows.clear();
    piece.account.clear();
    let mut outcome = sum_rows(book, a, ctx, &mut scratch.pnl, piece);
    // Gathered first, then copied: one allocation of the right size when they do not fit inline.
    outcome.underlyings = piece.rows.iter().cloned().collect();
    outcome
}

/// Outcomes of every account under cross="sum" with their underlyings in [`UnderlyingRows`]
/// (no attribution, no add-ons): the same numbers as [`aggregate`], in parallel tasks of
/// [`PIECE_ACCOUNTS`] accounts each writing its outcomes straight into their part of the
/// vector (nothing written twice) and its own piece.
pub fn aggregate_sum(book: &Book, ctx: &GridContext<'_>) -> Result<(Vec<AccountOutcome>, UnderlyingRows)> {
    let n_accounts = book.n_accounts();
    let mut pieces: Vec<RowPiece> = (0..n_accounts.div_ceil(PIECE_ACCOUNTS)).map(|_| RowPiece::default()).collect();
    let work = pieces
        .iter_mut()
        .enumerate()
        .map(|(t, piece)| {
            let accounts = t * PIECE_ACCOUNTS..((t + 1) * PIECE_ACCOUNTS).min(n_accounts);
            (accounts.len(), (accounts, piece))
        })
        .collect();
    let outcomes = filled_in_parts(work, |(accounts, piece): (Range<usize>, &mut RowPiece), part| {
        // An account has at most one row per netted position: no piece ever grows.
        let most = book.offsets[accounts.end] - book.offsets[accounts.start];
        *piece = RowPiece { account: Vec::with_capacity(most), rows: Vec::with_capacity(most) };
        let mut scratch = Scratch::default();
        for a in accounts {
            part.push(sum_rows(book, a, ctx, &mut scratch, piece));
        }
    })?;
    Ok((outcomes, UnderlyingRows { pieces }))
}

/// The account's gross margin: its positions' stand-alone requirements added in book order.
fn gross_margin(book: &Book, a: usize, ctx: &GridContext<'_>) -> f64 {
    book.positions(a).fold(0.0, |acc, p| acc + ctx.risk.standalone(book.instrument[p], book.quantity[p]))
}

fn account_outcome<'a>(
    book: &Book,
    a: usize,
    ctx: &GridContext<'a>,
    scratch: &mut AccountScratch<'a>,
) -> AccountOutcome {
    let mut outcome = AccountOutcome::default();
    fill_account_outcome(book, a, ctx, scratch, &mut outcome);
    outcome
}

/// Account `a`'s outcome into `outcome`, whose underlyings buffer is reused: an account of more
/// than two underlyings then allocates nothing (the attributed aggregation fills one outcome
/// per task, account after account).
fn fill_account_outcome<'a>(
    book: &Book,
    a: usize,
    ctx: &GridContext<'a>,
    scratch: &mut AccountScratch<'a>,
    outcome: &mut AccountOutcome,
) {
    let AccountScratch { pnl: scratch, cross, .. } = scratch;
    // cross="sum" reads a one-position group only through its worst loss and, with
    // attribution, its P&L in the driving scenario: its row is not summed.
    let rows = match ctx.model.cross {
        Cross::Joint => Rows::EveryAndTotal,
        Cross::Sum => Rows::Shared,
        Cross::Correlation { .. } => Rows::Every,
    };
    account_pnl(book, a, ctx.underlying_of, ctx.risk, rows, scratch);
    let matrix = &*scratch;
    let groups = matrix.groups();
    let mut underlyings = std::mem::take(&mut outcome.underlyings);
    underlyings.clear();
    underlyings.extend(groups.underlyings.iter().enumerate().map(|(k, &u)| {
        let (requirement, worst) = groups.worst_loss(k, book, ctx.risk);
        UnderlyingOutcome { underlying: u, requirement, worst }
    }));
    let undiversified = underlyings.iter().fold(0.0, |acc, u| acc + u.requirement);

    let (initial, driver, binding) = match (&ctx.model.cross, ctx.ellipsoid) {
        (Cross::Correlation { floor_largest, .. }, Some(ellipsoid)) => {
            let (pnl, scale) = (&matrix.pnl, matrix.total_scale);
            let c = correlation_outcome(&underlyings, pnl, undiversified, *floor_largest, scale, ctx, ellipsoid, cross);
            (c.initial, c.driver, c.binding)
        }
        (Cross::Joint, _) => {
            let (initial, worst) = worst_loss_above_noise(&matrix.total, matrix.total_scale);
            (initial, worst.map(|scenario| Driver::Joint { scenario }), SmallVec::new())
        }
        // A correlation model always comes with its ellipsoid (`GridMethod::context`).
        (Cross::Sum | Cross::Correlation { .. }, _) => (undiversified, largest_driver(&underlyings), SmallVec::new()),
    };
    let gross = gross_margin(book, a, ctx);
    *outcome = AccountOutcome { initial, gross, undiversified, driver, underlyings, binding, addons: None };
}

/// Accounts per parallel task of the attributed aggregation.
const ATTRIBUTION_TASK: usize = 256;

/// Outcomes of every account with every account's attribution, computed in the same pass from
/// the P&L vectors the aggregation builds (`margin(..., by_position=True)`). Outcomes, their
/// underlyings ([`UnderlyingRows`], as [`aggregate_sum`] leaves them) and position rows go
/// straight into flat arrays (each task owns its accounts' contiguous slices and one piece), so
/// nothing is allocated per account.
pub fn aggregate_attributed(
    book: &Book,
    ctx: &GridContext<'_>,
    inputs: &AttributionInputs<'_>,
) -> Result<(Vec<AccountOutcome>, UnderlyingRows, Attribution)> {
    let n_accounts = book.n_accounts();
    // Three columns (not one array of structs) so the result table can share them as they are;
    // each task zeroes its own part of them before writing it (`PositionColumns::zeroed`).
    let n_positions = book.instrument.len();
    let (mut contribution, mut standalone, mut incremental): (Vec<f64>, Vec<f64>, Vec<f64>) =
        (Vec::with_capacity(n_positions), Vec::with_capacity(n_positions), Vec::with_capacity(n_positions));
    let n_tasks = n_accounts.div_ceil(ATTRIBUTION_TASK);
    let mut tasks = Vec::with_capacity(n_tasks);
    let mut rest = PositionColumns {
        contribution: &mut contribution.spare_capacity_mut()[..n_positions],
        standalone: &mut standalone.spare_capacity_mut()[..n_positions],
        incremental: &mut incremental.spare_capacity_mut()[..n_positions],
    };
    let mut pieces: Vec<(Vec<Explain>, Vec<u32>, RowPiece)> = Vec::with_capacity(n_tasks);
    pieces.resize_with(n_tasks, Default::default);
    let uneven = || MarginError::Internal("attribution: the accounts' positions do not cover the book".into());
    for (t, done) in pieces.iter_mut().enumerate() {
        let accounts = t * ATTRIBUTION_TASK..((t + 1) * ATTRIBUTION_TASK).min(n_accounts);
        let (head, tail) =
            rest.split_at(book.offsets[accounts.end] - book.offsets[accounts.start]).ok_or_else(uneven)?;
        tasks.push((accounts.len(), (accounts, head, done)));
        rest = tail;
    }
    if !rest.contribution.is_empty() {
        return Err(uneven());
    }
    // Each task writes its accounts' outcomes straight into their part of the vector, and its
    // explains and underlyings into its own slot of `pieces`.
    let outcomes = filled_in_parts(tasks, |(accounts, out, done), part| {
        let mut out = out.zeroed();
        let (mut scratch, mut attribution_scratch) = (AccountScratch::default(), AttributionScratch::default());
        // An account has at most one underlying (one explain row) per netted position: the
        // piece and the explains never grow.
        let most = book.offsets[accounts.end] - book.offsets[accounts.start];
        let (mut explains, mut owners) = (Vec::with_capacity(most), Vec::with_capacity(most));
        let mut piece = RowPiece { account: Vec::with_capacity(most), rows: Vec::with_capacity(most) };
        let mut outcome = AccountOutcome::default();
        let base = book.offsets[accounts.start];
        for a in accounts {
            fill_account_outcome(book, a, ctx, &mut scratch, &mut outcome);
            let AccountScratch { pnl, cross, .. } = &mut scratch;
            let groups = pnl.groups();
            attribute_account(
                book,
                &outcome,
                ctx,
                inputs,
                &groups,
                cross,
                &mut out,
                base,
                &mut explains,
                &mut attribution_scratch,
            );
            owners.resize(explains.len(), a as u32);
            // The underlyings go to the piece; the outcome's buffer serves the next account.
            piece.rows.extend_from_slice(&outcome.underlyings);
            piece.account.resize(piece.rows.len(), a as u32);
            let AccountOutcome { initial, gross, undiversified, driver, .. } = outcome;
            let binding = std::mem::take(&mut outcome.binding);
            part.push(AccountOutcome { initial, gross, undiversified, driver, binding, ..AccountOutcome::default() });
        }
        *done = (explains, owners, piece);
    })?;
    // SAFETY: the tasks' parts tile `0..n_positions` of each column (split in order above, with
    // nothing left over), and every task zeroed its parts first (`zeroed`): `filled_in_parts`
    // returned, so every task ran to the end. Every value is initialised.
    unsafe {
        contribution.set_len(n_positions);
        standalone.set_len(n_positions);
        incremental.set_len(n_positions);
    }
    let n_explains = pieces.iter().map(|p| p.0.len()).sum();
    let mut attribution = Attribution {
        contribution: contribution.into(),
        standalone: standalone.into(),
        incremental: incremental.into(),
        explains: Vec::with_capacity(n_explains),
        explain_account: Vec::with_capacity(n_explains),
    };
    let mut rows = UnderlyingRows { pieces: Vec::with_capacity(pieces.len()) };
    for (explains, owners, piece) in pieces {
        attribution.explains.extend(explains);
        attribution.explain_account.extend(owners);
        rows.pieces.push(piece);
    }
    Ok((outcomes, rows, attribution))
}

/// Outcomes of every account, in account order.
pub fn aggregate(book: &Book, ctx: &GridContext<'_>) -> Vec<AccountOutcome> {
    let outcome = if matches!(ctx.model.cross, Cross::Sum) { sum_outcome } else { account_outcome };
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(64)
        .map_init(AccountScratch::default, |scratch, a| outcome(book, a, ctx, scratch))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::correlation::CorrelationMatrix;
    use crate::domain::instruments::Kind;
    use crate::methods::grid::ellipsoid::Ellipsoid;
    use crate::methods::grid::model::GridModel;
    use crate::risk::arrays::RiskArrays;
    use crate::scenarios::VolShockMode;
    use crate::test_support::book;
    use crate::valuation::contract::Contract;

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
            payoff: crate::domain::instruments::Payoff::Vanilla,
        };
        let contracts = [Some(spot(0, 100.0)), Some(spot(1, 80.0))];
        let risk = RiskArrays::build(&contracts, &[100.0, 80.0], &model.scenario_set(2)).expect("finite");
        let book = Book {
            first_row: vec![0],
            offsets: vec![0, 2],
            instrument: vec![0, 1].into(),
            quantity: vec![1.0, -1.0].into(),
            failed: Vec::new(),
        };
        let ellipsoid = match &model.cross {
            Cross::Correlation { matrix, .. } => Some(Ellipsoid::new(matrix.clone(), &model.grid.price_shocks)),
            _ => None,
        };
        let ctx = GridContext {
            model: &model,
            risk: &risk,
            underlying_of: &[0, 1],
            correlation_index: &[Some(0), Some(1)],
            ellipsoid: ellipsoid.as_ref(),
        };
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
        // rho 0.8 on a two-shock grid (x = -1, 1): no joint move fits in the ellipse, so each
        // underlying moves alone while the other sits out at its most favourable shock: A at -10%
        // (-10) with B short at -10% (+8) loses 2.
        let names = vec!["A".to_owned(), "B".to_owned()];
        let rho = CorrelationMatrix::new(names, vec![1.0, 0.8, 0.8, 1.0]).expect("valid");
        let corr = pair(Cross::Correlation { matrix: rho.clone(), floor_largest: false });
        assert!((corr.initial - 2.0).abs() < 1e-9, "{}", corr.initial);
        assert_eq!(corr.driver, Some(Driver::Underlying { underlying: 0, scenario: 0 }));
        assert_eq!(corr.binding.to_vec(), vec![Some(0), Some(0)]);
        let floored = pair(Cross::Correlation { matrix: rho, floor_largest: true });
        assert!((floored.initial - 10.0).abs() < 1e-9);
    }

    /// `aggregate_sum` moves each account's underlyings into flat pieces; put them back.
    fn with_rows(outcomes: Vec<AccountOutcome>, rows: &UnderlyingRows) -> Vec<AccountOutcome> {
        let mut outcomes = outcomes;
        for piece in &rows.pieces {
            for (&a, u) in piece.account.iter().zip(&piece.rows) {
                outcomes[a as usize].underlyings.push(u.clone());
            }
        }
        outcomes
    }

    #[test]
    fn attributed_aggregation_leaves_the_per_account_outcomes_in_flat_rows() {
        // Accounts of 0 to 9 positions over 6 contracts on 4 underlyings (most accounts hold
        // more than two underlyings), more than one task, on 1 and 3 threads.
        let factors: Vec<Vec<f64>> =
            (0..4).map(|u| (0..6).map(|s| 1.0 + (((s * 5 + u * 3) % 7) as f64 - 3.0) * 0.04).collect()).collect();
        let risk =
            crate::test_support::spot_risk(&[(0, 100.0), (1, 50.0), (1, 5.0), (2, 7.0), (3, 3.0), (3, 40.0)], &factors);
        let set = crate::test_support::scenario_set(&factors);
        let group_of = [0, 1, 1, 2, 3, 3];
        let greeks = vec![crate::pricing::greeks::Greeks::default(); 6];
        let (spot, vol) = (vec![100.0, 50.0, 5.0, 7.0, 3.0, 40.0], vec![0.0; 6]);
        let inputs = AttributionInputs { set: &set, greeks: &greeks, spot: &spot, vol: &vol };
        let accounts =
            crate::test_support::netted_accounts(8, 2 * ATTRIBUTION_TASK + 9, 10.0, 6.0, |u| (u * 8.0).floor() - 4.0);
        let refs: Vec<&[(u32, f64)]> = accounts.iter().map(|a| a.as_slice()).collect();
        let b = book(&refs);
        for cross in [Cross::Sum, Cross::Joint] {
            let model = GridModel::new(vec![-0.1, 0.1], vec![0.0], VolShockMode::Relative, cross, 1.0).expect("ok");
            let ctx = GridContext {
                model: &model,
                risk: &risk,
                underlying_of: &group_of,
                correlation_index: &[None; 4],
                ellipsoid: None,
            };
            let want = aggregate(&b, &ctx);
            assert!(want.iter().filter(|o| o.underlyings.len() > 2).count() > 100);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
                let (outcomes, rows, attribution) = pool.install(|| aggregate_attributed(&b, &ctx, &inputs)).unwrap();
                assert!(outcomes.iter().all(|o| o.underlyings.is_empty()));
                assert_eq!(rows.pieces.len(), b.n_accounts().div_ceil(ATTRIBUTION_TASK));
                assert_eq!(attribution.contribution.len(), b.instrument.len());
                let bits = |o: &[AccountOutcome]| format!("{o:?}");
                assert_eq!(bits(&with_rows(outcomes, &rows)), bits(&want), "{threads} threads");
            }
        }
    }

    #[test]
    fn flat_sum_aggregation_equals_the_per_account_one() {
        // 7 contracts on 4 underlyings, 9 scenarios of few distinct moves (ties); accounts of 0
        // to 12 positions (one row, repeated underlyings, no positions), enough for several
        // pieces, on 1 and 3 threads.
        let factors: Vec<Vec<f64>> =
            (0..4).map(|u| (0..9).map(|s| 1.0 + (((s * 7 + u * 3) % 5) as f64 - 2.0) * 0.05).collect()).collect();
        let risk = crate::test_support::spot_risk(
            &[(0, 100.0), (0, 10.0), (1, 50.0), (2, 7.0), (2, 3.0), (3, 1.0), (3, 40.0)],
            &factors,
        );
        let group_of = [0, 0, 1, 2, 2, 3, 3];
        let model = GridModel::new(vec![-0.1, 0.1], vec![0.0], VolShockMode::Relative, Cross::Sum, 1.0).expect("ok");
        let ctx = GridContext {
            model: &model,
            risk: &risk,
            underlying_of: &group_of,
            correlation_index: &[None; 4],
            ellipsoid: None,
        };
        let n_accounts = 2 * PIECE_ACCOUNTS + 17;
        let accounts =
            crate::test_support::netted_accounts(3, n_accounts, 13.0, 7.0, |u| ((u * 9.0) as i32 - 4) as f64 * 0.5);
        let refs: Vec<&[(u32, f64)]> = accounts.iter().map(|a| a.as_slice()).collect();
        let empty: [&[(u32, f64)]; 0] = [];
        for b in [book(&refs), book(&refs[..1]), book(&[&[(3, 2.0)]]), book(&empty)] {
            let want = aggregate(&b, &ctx);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
                let (outcomes, rows) = pool.install(|| aggregate_sum(&b, &ctx)).unwrap();
                assert!(outcomes.iter().all(|o| o.underlyings.is_empty()));
                assert_eq!(rows.pieces.len(), b.n_accounts().div_ceil(PIECE_ACCOUNTS));
                let got = with_rows(outcomes, &rows);
                // Bit for bit (PartialEq on f64 would let -0.0 equal 0.0).
                let bits = |o: &[AccountOutcome]| format!("{o:?}");
                assert_eq!(bits(&got), bits(&want), "{threads} threads");
            }
        }
    }
}
