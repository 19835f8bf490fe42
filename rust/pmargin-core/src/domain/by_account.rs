//! Rows grouped by account for netting: where each account's rows start (CSR), and each row's
//! (instrument, quantity) moved into its account's place, rows of one account kept in row order
//! (a stable counting sort). Accounts are split into contiguous ranges, one parallel task each:
//! a task scans every row's account code and keeps the rows of its own range, so it writes only
//! its own part of the output (no shared writes, no unsafe), and the result is the same for any
//! number of tasks. Each scan reads 4 bytes per row; two scans per task beat one serial pass of
//! random writes on a shuffled book.

use rayon::prelude::*;

use crate::error::{MarginError, Result};

/// Fewer rows than this are grouped in one task.
const PARALLEL_ROWS: usize = 1 << 16;

/// Rows per block of [`rows_in_account_order`]'s listing of a task's rows.
const BLOCK_ROWS: usize = 1 << 11;

/// The account ranges of the tasks: `bounds[t]..bounds[t + 1]`.
fn ranges(n_rows: usize, n_accounts: usize) -> Vec<usize> {
    let tasks = if n_rows < PARALLEL_ROWS { 1 } else { rayon::current_num_threads().clamp(1, 64) };
    (0..=tasks).map(|t| n_accounts * t / tasks).collect()
}

/// Where each account's rows start: `starts[a]..starts[a + 1]` (`n_accounts + 1` entries).
pub fn account_starts(code: &[u32], n_accounts: usize) -> Vec<usize> {
    let bounds = ranges(code.len(), n_accounts);
    let mut starts = vec![0usize; n_accounts + 1];
    // Each task counts its accounts' rows into its own part of `starts[1..]`.
    let mut parts = Vec::with_capacity(bounds.len() - 1);
    let mut rest = &mut starts[1..];
    for w in bounds.windows(2) {
        let (part, tail) = rest.split_at_mut(w[1] - w[0]);
        parts.push((w[0], part));
        rest = tail;
    }
    parts.into_par_iter().for_each(|(lo, counts)| {
        // One spare count at the end takes the other tasks' rows: a select, where a branch on
        // whose row it is would be mispredicted on every other row of a shuffled book.
        let len = counts.len();
        let mut local = vec![0usize; len + 1];
        for &c in code {
            // Out of range (below `lo` too, by wrapping) when the account is another task's.
            local[(c as usize).wrapping_sub(lo).min(len)] += 1;
        }
        counts.copy_from_slice(&local[..len]);
    });
    for a in 0..n_accounts {
        starts[a + 1] += starts[a];
    }
    starts
}

/// Each row's `(instrument, quantity)` in its account's place, `starts` from [`account_starts`]
/// ([`in_account_order`]).
pub fn rows_in_account_order(
    code: &[u32],
    starts: &[usize],
    instrument: &[u32],
    quantity: &[f64],
) -> Result<Vec<(u32, f64)>> {
    if instrument.len() != code.len() || quantity.len() != code.len() {
        return Err(mismatch());
    }
    in_account_order(code, starts, |r| (instrument[r], quantity[r]))
}

fn mismatch() -> MarginError {
    MarginError::Internal("grouping rows by account: counts do not match the rows".into())
}

/// `value(row)` of each row in its account's place, `starts` from [`account_starts`]. The output
/// is written once into uninitialised memory (zeroing it first cost as much as a pass over it);
/// an internal error if the counts in `starts` do not match `code`.
pub fn in_account_order<T: Copy + Send>(
    code: &[u32],
    starts: &[usize],
    value: impl Fn(usize) -> T + Sync,
) -> Result<Vec<T>> {
    let n_accounts = starts.len() - 1;
    let n = code.len();
    if starts[0] != 0 || starts[n_accounts] != n {
        return Err(mismatch());
    }
    let bounds = ranges(code.len(), n_accounts);
    let mut packed: Vec<T> = Vec::with_capacity(code.len());
    let mut parts = Vec::with_capacity(bounds.len() - 1);
    let mut rest = &mut packed.spare_capacity_mut()[..code.len()];
    for w in bounds.windows(2) {
        let (part, tail) = rest.split_at_mut(starts[w[1]] - starts[w[0]]);
        parts.push((w[0], w[1], part));
        rest = tail;
    }
    let exact = parts
        .into_par_iter()
        .map(|(lo, hi, out)| {
            let base = starts[lo];
            let mut fill: Vec<usize> = starts[lo..hi].iter().map(|s| s - base).collect();
            // Each block's rows of this task are listed first, without a branch (whether a row
            // is this task's is as good as random on a shuffled book: a branch on it was
            // mispredicted every other row), then moved.
            let mut mine = vec![0u32; BLOCK_ROWS];
            for (b, block) in code.chunks(BLOCK_ROWS).enumerate() {
                let mut listed = 0;
                for (j, &c) in block.iter().enumerate() {
                    mine[listed] = j as u32;
                    listed += usize::from((c as usize).wrapping_sub(lo) < hi - lo);
                }
                for &j in &mine[..listed] {
                    let r = b * BLOCK_ROWS + j as usize;
                    if let Some(at) = fill.get_mut((block[j as usize] as usize).wrapping_sub(lo)) {
                        if let Some(slot) = out.get_mut(*at) {
                            slot.write(value(r));
                        }
                        *at += 1;
                    }
                }
            }
            // Each account's rows went to consecutive places from its start: they filled its
            // range exactly when its cursor ends where the next account starts.
            fill.iter().zip(&starts[lo + 1..=hi]).all(|(&at, &end)| at == end - base)
        })
        .reduce(|| true, |a, b| a && b);
    if !exact {
        return Err(mismatch());
    }
    // SAFETY: the parts tile `0..code.len()` (the accounts' ranges, from `starts[0] == 0` to
    // `starts[n_accounts] == code.len()`, checked above), each account's range within its part
    // was written at every place (its cursor moved one place per write from the range's start to
    // its end, checked above), so every value is initialised.
    unsafe { packed.set_len(code.len()) };
    Ok(packed)
}

/// Values listed in account order (`values[i]` belongs to row `order[i]`, where `order` is a
/// permutation of the rows, as [`in_account_order`] lists them) put back in row order. Rows are
/// split into contiguous ranges, one parallel task each: a task scans all of `order` and writes
/// the values of its own rows, so no two tasks write one place. An internal error when a task
/// meets another number of its rows than it has (`order` of the wrong length or out of range).
pub fn back_in_row_order<T: Copy + Default + Send + Sync>(order: &[u32], values: &[T]) -> Result<Vec<T>> {
    let n = values.len();
    if order.len() != n {
        return Err(mismatch());
    }
    let bounds = ranges(n, n);
    let mut out = vec![T::default(); n];
    let mut parts = Vec::with_capacity(bounds.len() - 1);
    let mut rest = out.as_mut_slice();
    for w in bounds.windows(2) {
        let (part, tail) = rest.split_at_mut(w[1] - w[0]);
        parts.push((w[0], part));
        rest = tail;
    }
    let exact = parts
        .into_par_iter()
        .map(|(lo, part)| {
            let mut mine = vec![0u32; BLOCK_ROWS];
            let mut written = 0;
            for (b, block) in order.chunks(BLOCK_ROWS).enumerate() {
                // This task's entries of the block listed without a branch (as good as random on
                // a shuffled table), then written.
                let mut listed = 0;
                for (j, &r) in block.iter().enumerate() {
                    mine[listed] = j as u32;
                    listed += usize::from((r as usize).wrapping_sub(lo) < part.len());
                }
                for &j in &mine[..listed] {
                    if let Some(slot) = part.get_mut((block[j as usize] as usize).wrapping_sub(lo)) {
                        *slot = values[b * BLOCK_ROWS + j as usize];
                    }
                }
                written += listed;
            }
            written == part.len()
        })
        .reduce(|| true, |a, b| a && b);
    if !exact {
        return Err(mismatch());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain serial stable counting sort.
    fn simple(code: &[u32], n_accounts: usize, instrument: &[u32], quantity: &[f64]) -> (Vec<usize>, Vec<(u32, f64)>) {
        let mut starts = vec![0usize; n_accounts + 1];
        for &c in code {
            starts[c as usize + 1] += 1;
        }
        for a in 0..n_accounts {
            starts[a + 1] += starts[a];
        }
        let mut fill = starts.clone();
        let mut packed = vec![(0u32, 0.0); code.len()];
        for ((&c, &i), &q) in code.iter().zip(instrument).zip(quantity) {
            packed[fill[c as usize]] = (i, q);
            fill[c as usize] += 1;
        }
        (starts, packed)
    }

    fn check(code: &[u32], n_accounts: usize) {
        let instrument: Vec<u32> = (0..code.len() as u32).map(|r| r.wrapping_mul(2_654_435_761) % 97).collect();
        let quantity: Vec<f64> = (0..code.len()).map(|r| if r % 5 == 0 { 0.0 } else { r as f64 - 3.5 }).collect();
        let (want_starts, want_packed) = simple(code, n_accounts, &instrument, &quantity);
        for threads in [1, 2, 3, 7] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let (starts, packed) = pool.install(|| {
                let starts = account_starts(code, n_accounts);
                let packed = rows_in_account_order(code, &starts, &instrument, &quantity).expect("counts match");
                (starts, packed)
            });
            assert_eq!(starts, want_starts, "{threads} threads");
            let bits = |p: &[(u32, f64)]| p.iter().map(|&(i, q)| (i, q.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&packed), bits(&want_packed), "{threads} threads");
        }
    }

    #[test]
    fn equals_the_serial_counting_sort_on_random_books() {
        let u = crate::test_support::uniforms(9, 400_000);
        // Large enough to run in parallel: shuffled accounts, some with no rows, many ties.
        for (n_rows, n_accounts) in [(150_000, 20_000), (PARALLEL_ROWS, 3), (70_000, 1)] {
            let code: Vec<u32> = u[..n_rows].iter().map(|x| (x * n_accounts as f64) as u32).collect();
            check(&code, n_accounts);
        }
        // Sorted (the contiguous layout), one row, and empty books.
        let sorted: Vec<u32> = (0..100_000u32).map(|r| r / 10).collect();
        check(&sorted, 10_000);
        check(&[0], 1);
        check(&[], 0);
        check(&[], 5);
    }

    #[test]
    fn rows_listed_in_account_order_go_back_in_row_order() {
        let u = crate::test_support::uniforms(4, 200_000);
        for (n_rows, n_accounts) in [(200_000, 30_000), (PARALLEL_ROWS + 1, 7), (10, 3), (0, 0)] {
            let code: Vec<u32> = u[..n_rows].iter().map(|x| (x * n_accounts as f64) as u32).collect();
            let value: Vec<f64> = (0..n_rows).map(|r| r as f64 * 0.5 - 7.0).collect();
            for threads in [1, 2, 5] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
                pool.install(|| {
                    let starts = account_starts(&code, n_accounts);
                    let order = in_account_order(&code, &starts, |r| r as u32).expect("counts match");
                    // Each account's rows ascend, accounts one after another.
                    for a in 0..n_accounts {
                        let rows = &order[starts[a]..starts[a + 1]];
                        assert!(rows.iter().all(|&r| code[r as usize] == a as u32));
                        assert!(rows.windows(2).all(|w| w[0] < w[1]));
                    }
                    let listed: Vec<f64> = order.iter().map(|&r| value[r as usize]).collect();
                    let back = back_in_row_order(&order, &listed).expect("a permutation");
                    assert_eq!(back, value, "{n_rows} rows, {threads} threads");
                });
            }
        }
        // An order of another length, or naming a row past the end (so another is missing).
        assert!(matches!(back_in_row_order(&[0u32, 1], &[1.0]), Err(MarginError::Internal(_))));
        assert!(matches!(back_in_row_order(&[0u32, 2], &[1.0, 2.0]), Err(MarginError::Internal(_))));
    }

    #[test]
    fn counts_that_do_not_match_the_rows_are_an_error_not_a_table() {
        let code = [1u32, 0, 1];
        let (instrument, quantity) = ([7u32, 8, 9], [1.0, 2.0, 3.0]);
        let starts = account_starts(&code, 2);
        assert_eq!(starts, vec![0, 1, 3]);
        let packed = rows_in_account_order(&code, &starts, &instrument, &quantity).expect("counts match");
        assert_eq!(packed, vec![(8, 2.0), (7, 1.0), (9, 3.0)]);
        // Account 0 said to hold two rows and account 1 one: account 1's second row has no place.
        for starts in [vec![0, 2, 3], vec![0, 1, 2], vec![1, 1, 3]] {
            let err = rows_in_account_order(&code, &starts, &instrument, &quantity).expect_err("mismatch");
            assert!(matches!(err, MarginError::Internal(_)), "{starts:?}");
        }
        // Columns of another length than the account codes.
        let starts = account_starts(&code, 2);
        for (instrument, quantity) in [(&instrument[..2], &quantity[..]), (&instrument[..], &quantity[..2])] {
            let err = rows_in_account_order(&code, &starts, instrument, quantity).expect_err("mismatch");
            assert!(matches!(err, MarginError::Internal(_)));
        }
    }
}
