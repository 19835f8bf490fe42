//! The memory a run needs, estimated before anything large is allocated, against the user's
//! budget (`Limits::memory_budget`). A setting that cannot fit is a config error saying how much
//! it needs and what to change, never an allocation failure that aborts the process.
//!
//! The estimate (docs/methods.md, "Memory budget"; the reference computes the same bytes) counts
//! what grows with the number of scenarios S of each window, for n_u underlyings-table rows and
//! n_c instruments-table rows:
//! - scenario set: 16 x n_u x S (price factors and vol changes) and 40 bytes per label
//!   (`labels` labels per scenario: n_u + 1 for the grid, 1 for a VaR window);
//! - Monte Carlo draws: 16 x d x S (d correlation names: draws and vol changes);
//! - risk arrays: 8 x n_c x S;
//! - VaR / ES tail state, once the book is known ([`tail_state`]): 16 x k x the streamed tails of
//!   the SUPER accounts with the most (2k losses of 8 bytes per tail; an account streams its
//!   total and each underlying group of two or more netted positions; k the largest tail count
//!   of the windows), plus 4 x k_w per account and window for the tail scenarios kept.

use crate::error::{MarginError, Result};
use crate::risk::alloc::bytes;
use crate::risk::tail_stream::SUPER;
use crate::spec::Limits;

/// What one scenario window of a run holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSize {
    pub n_scenarios: usize,
    /// Labels per scenario (n_u + 1 for the grid, 1 for a VaR window).
    pub labels: usize,
    /// Correlation names drawn per scenario (Monte Carlo only, else 0).
    pub draws: usize,
}

/// Bytes a run over `windows` needs before any book, by part: (scenario sets and labels, draws,
/// risk arrays).
pub fn estimate(windows: &[WindowSize], n_underlyings: usize, n_contracts: usize) -> [u128; 3] {
    let mut parts = [0u128; 3];
    let (n_u, n_c) = (n_underlyings as u128, n_contracts as u128);
    for w in windows {
        let s = w.n_scenarios as u128;
        parts[0] += 16 * n_u * s + 40 * w.labels as u128 * s;
        parts[1] += 16 * w.draws as u128 * s;
        parts[2] += 8 * n_c * s;
    }
    parts
}

/// Bytes of a VaR / ES book's tail state: `streamed` holds each account's number of streamed
/// tails (reordered here), `ks` each window's tail count.
pub fn tail_state(streamed: &mut [usize], ks: &[usize]) -> u128 {
    let n_accounts = streamed.len();
    let top = if n_accounts > SUPER {
        streamed.select_nth_unstable_by(SUPER - 1, |a, b| b.cmp(a));
        &streamed[..SUPER]
    } else {
        &streamed[..]
    };
    let at_once: u128 = top.iter().map(|&t| t as u128).sum();
    let k_max = ks.iter().copied().max().unwrap_or(0) as u128;
    let kept: u128 = ks.iter().map(|&k| 4 * k as u128 * n_accounts as u128).sum();
    16 * k_max * at_once + kept
}

/// Ok when a run over `windows` (and `tail` bytes of tail state, 0 before a book is known) fits
/// `limits.memory_budget`; else a config error on `field` (`n_scenarios` when that is the
/// setting to lower, else `memory_budget`).
pub fn check(
    limits: &Limits,
    windows: &[WindowSize],
    n_underlyings: usize,
    n_contracts: usize,
    tail: u128,
    field: &str,
) -> Result<()> {
    let [scenarios, draws, arrays] = estimate(windows, n_underlyings, n_contracts);
    let parts = [scenarios, draws, arrays, tail];
    let need: u128 = parts.iter().sum();
    let budget = u128::from(limits.memory_budget);
    if need <= budget {
        return Ok(());
    }
    let n: u128 = windows.iter().map(|w| w.n_scenarios as u128).sum();
    let hint = if field == "n_scenarios" {
        format!(
            "lower n_scenarios (about {} fit), margin against fewer instruments at once, or raise \
             pmargin.Limits(memory_budget=...)",
            n * budget / need
        )
    } else {
        "use fewer scenarios, margin against fewer instruments at once, or raise pmargin.Limits(memory_budget=...)"
            .to_owned()
    };
    Err(MarginError::Config {
        field: field.to_owned(),
        reason: format!(
            "this run needs about {} ({} scenarios x {} instruments: risk arrays {}, scenarios {}, draws {}, \
             tail state {}), over the memory budget of {}; {hint}",
            bytes(need),
            n,
            n_contracts,
            bytes(parts[2]),
            bytes(parts[0]),
            bytes(parts[1]),
            bytes(parts[3]),
            bytes(budget),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_part() {
        let w = WindowSize { n_scenarios: 1000, labels: 1, draws: 3 };
        let parts = estimate(&[w, WindowSize { draws: 0, ..w }], 2, 10);
        assert_eq!(parts, [2 * (16 * 2 * 1000 + 40 * 1000), 16 * 3 * 1000, 2 * 8 * 10 * 1000]);
        // Three accounts streaming 1, 3 and 2 tails, windows of k = 25 and 10.
        assert_eq!(tail_state(&mut [1, 3, 2], &[25, 10]), 16 * 25 * 6 + 4 * 35 * 3);
        // Only the SUPER accounts with the most tails hold state at once.
        let mut many: Vec<usize> = (0..SUPER + 10).map(|a| if a < 10 { 1 } else { 2 }).collect();
        assert_eq!(tail_state(&mut many, &[1]), 16 * 2 * SUPER as u128 + 4 * (SUPER as u128 + 10));
    }

    #[test]
    fn over_the_budget_is_a_config_error_saying_what_to_change() {
        let limits = Limits { memory_budget: 1 << 20, ..Limits::default() };
        let w = WindowSize { n_scenarios: 100_000_000, labels: 1, draws: 2 };
        assert!(check(&Limits::default(), &[WindowSize { n_scenarios: 10, ..w }], 2, 5, 0, "n_scenarios").is_ok());
        assert!(check(&limits, &[WindowSize { n_scenarios: 10, ..w }], 2, 5, 1 << 21, "n_scenarios").is_err());
        let err = check(&limits, &[w], 2, 5, 0, "n_scenarios").expect_err("over");
        let MarginError::Config { field, reason } = &err else { panic!("a config error") };
        assert_eq!(field, "n_scenarios");
        assert!(reason.starts_with("this run needs about "), "{reason}");
        assert!(reason.contains("over the memory budget of 1.0 MiB; lower n_scenarios (about "), "{reason}");
        let err = check(&limits, &[w], 2, 5, 0, "memory_budget").expect_err("over");
        assert!(err.to_string().starts_with("model.memory_budget: this run needs about"), "{err}");
    }
}
