//! Per account, the VaR / ES of every window: unit tails for single-position groups, the
//! streamed tail of every other group and of the account total (`risk::tail_stream`), and the
//! binding window.

use super::VarMethod;
use crate::domain::book::Book;
use crate::risk::tail_stream::{plans, window_outcomes, UnitTails, WindowOutcome};

/// A VaR / ES account: its tails in each window.
pub struct VarAccount {
    pub underlyings: Vec<u32>,
    pub windows: Vec<WindowOutcome>,
    pub gross: f64,
}

impl VarAccount {
    /// (initial margin, binding window): the largest margin over windows, the first on ties.
    pub fn binding(&self) -> (f64, usize) {
        let mut best = (self.windows[0].total.margin(), 0);
        for (w, outcome) in self.windows.iter().enumerate().skip(1) {
            if outcome.total.margin() > best.0 {
                best = (outcome.total.margin(), w);
            }
        }
        best
    }

    /// Margin of underlying slot `k` alone and its binding window.
    pub fn underlying_binding(&self, k: usize) -> (f64, usize) {
        let mut best = (self.windows[0].per_underlying[k].margin(), 0);
        for (w, outcome) in self.windows.iter().enumerate().skip(1) {
            if outcome.per_underlying[k].margin() > best.0 {
                best = (outcome.per_underlying[k].margin(), w);
            }
        }
        best
    }
}

/// Every account's tails in every window, in account order.
pub fn aggregate(method: &VarMethod, book: &Book, underlying_of: &[u32], n_contracts: usize) -> Vec<VarAccount> {
    let plans = plans(book, underlying_of);
    let units: Vec<UnitTails> =
        method.windows.iter().map(|w| UnitTails::new(book, &w.risk, n_contracts, w.k, method.measure)).collect();
    let per_window: Vec<Vec<WindowOutcome>> = method
        .windows
        .iter()
        .zip(&units)
        .map(|(w, u)| window_outcomes(book, &plans, &w.risk, u, w.k, method.measure))
        .collect();
    let mut per_window: Vec<std::vec::IntoIter<WindowOutcome>> = per_window.into_iter().map(Vec::into_iter).collect();
    plans
        .into_iter()
        .enumerate()
        .map(|(a, plan)| {
            let windows = per_window.iter_mut().filter_map(Iterator::next).collect();
            // A position alone pays the largest of its window margins.
            let gross = book.positions(a).fold(0.0, |acc, p| {
                let (c, q) = (book.instrument[p], book.quantity[p]);
                acc + units.iter().fold(0.0f64, |best, u| best.max(u.margin(c, q)))
            });
            VarAccount { underlyings: plan.underlyings, windows, gross }
        })
        .collect()
}
