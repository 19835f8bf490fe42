//! Per account, the VaR / ES of every window: unit tails for single-position groups, the
//! streamed tail of every other group and of the account total (`risk::tail_stream`), and the
//! binding window.

use super::VarMethod;
use crate::domain::book::Book;
use crate::risk::arrays::RiskArrays;
use crate::risk::tail_stream::{window_outcomes, Plan, UnitTails, WindowOutcome};
use crate::risk::worst_loss::{is_noise, scale_term};

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
pub fn aggregate(
    method: &VarMethod,
    book: &Book,
    plans: Vec<Plan>,
    underlying_of: &[u32],
    n_contracts: usize,
) -> Vec<VarAccount> {
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
            let mut windows: Vec<WindowOutcome> = per_window.iter_mut().filter_map(Iterator::next).collect();
            for (outcome, window) in windows.iter_mut().zip(&method.windows) {
                drop_noise(outcome, book, a, &plan.underlyings, underlying_of, &window.risk);
            }
            // A position alone pays the largest of its window margins.
            let gross = book.positions(a).fold(0.0, |acc, p| {
                let (c, q) = (book.instrument[p], book.quantity[p]);
                acc + units.iter().fold(0.0f64, |best, u| best.max(u.margin(c, q)))
            });
            VarAccount { underlyings: plan.underlyings, windows, gross }
        })
        .collect()
}

/// A measure at or below the noise floor of its positions' P&L scale (the account's, or the
/// underlying's alone; each window's own risk arrays) is no margin: its value becomes 0, so the
/// tables report no scenario (docs/methods.md, "Noise").
fn drop_noise(
    outcome: &mut WindowOutcome,
    book: &Book,
    a: usize,
    underlyings: &[u32],
    underlying_of: &[u32],
    risk: &RiskArrays,
) {
    let mut scale = vec![0.0; underlyings.len()];
    for p in book.positions(a) {
        let c = book.instrument[p] as usize;
        if let Some(k) = underlyings.iter().position(|&u| u == underlying_of[c]) {
            scale[k] += scale_term(book.quantity[p], risk.extent[c]);
        }
    }
    // The account's scale: its underlyings' scales added in the account's order.
    let total = scale.iter().fold(0.0, |acc, s| acc + s);
    if outcome.total.value > 0.0 && is_noise(outcome.total.value, total) {
        outcome.total.value = 0.0;
    }
    for (summary, &scale) in outcome.per_underlying.iter_mut().zip(&scale) {
        if summary.value > 0.0 && is_noise(summary.value, scale) {
            summary.value = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::var::Window;
    use crate::risk::tail::{Measure, TailOutcome};
    use crate::risk::tail_stream::Summary;
    use crate::test_support::{book, spot_risk};

    /// Contracts 0 and 2 on underlying 0, 1 on underlying 1, all worth 100; four scenarios in
    /// each window, k = 1 (VaR is the worst loss).
    fn method() -> VarMethod {
        let contracts = [(0, 100.0), (1, 100.0), (0, 100.0)];
        let window = |name, factors: &[Vec<f64>]| Window {
            name,
            risk: spot_risk(&contracts, factors),
            k: 1,
            labels: (0..4).map(|s| format!("{name} {s}")).collect(),
        };
        VarMethod {
            measure: Measure::VaR,
            mm_ratio: 1.0,
            windows: vec![
                window("normal", &[vec![0.9, 1.0, 1.1, 1.05], vec![1.0, 1.08, 0.9, 1.0]]),
                window("stressed", &[vec![0.7, 1.0, 1.0, 1.0], vec![1.0, 1.0, 1.0, 1.2]]),
            ],
            tail_scenarios: None,
            sizes: Vec::new(),
            budget_field: "memory_budget",
        }
    }

    fn close(a: (f64, usize), b: (f64, usize)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && a.1 == b.1
    }

    #[test]
    fn every_account_in_every_window_and_the_binding_one() {
        let book = book(&[&[(0, 1.0), (1, -1.0)], &[(2, 2.0)], &[(0, 1.0), (2, -1.0)]]);
        let accounts = aggregate(&method(), &book, crate::risk::tail_stream::plans(&book, &[0, 1, 0]), &[0, 1, 0], 3);
        assert_eq!(accounts.len(), 3);
        // Account 0: normal P&L [-10, -8, 20, 5] (VaR 10), stressed [-30, 0, 0, -20] (VaR 30).
        let a = &accounts[0];
        assert_eq!((a.underlyings.clone(), a.windows.len()), (vec![0, 1], 2));
        assert!((a.windows[0].total.value - 10.0).abs() < 1e-9 && a.windows[0].total.tail == [0]);
        assert!(close(a.binding(), (30.0, 1)));
        assert!(close(a.underlying_binding(0), (30.0, 1)));
        // Short 1 of underlying 1: losses 8 (normal, scenario 1) and 20 (stressed, scenario 3).
        assert_eq!(a.windows[0].per_underlying[1].scenario, 1);
        assert!(close(a.underlying_binding(1), (20.0, 1)));
        // A position alone pays its larger window margin: 30 + 20.
        assert!((a.gross - 50.0).abs() < 1e-9);
        let b = &accounts[1];
        assert!(close(b.binding(), (60.0, 1)) && (b.gross - 60.0).abs() < 1e-9);
        // Offsetting positions on one underlying never lose: margin 0, the first window binds.
        let c = &accounts[2];
        assert!(close(c.binding(), (0.0, 0)));
        // Long contract 0 alone: 30 (stressed); short contract 2 alone: 10 (normal).
        assert!((c.gross - 40.0).abs() < 1e-9);
    }

    #[test]
    fn ties_bind_the_first_window() {
        let outcome = |value: f64| WindowOutcome {
            total: TailOutcome { value, tail: vec![0] },
            per_underlying: vec![Summary { value, scenario: 0 }, Summary { value: -value, scenario: 1 }],
        };
        let account = VarAccount { underlyings: vec![0, 1], windows: vec![outcome(5.0), outcome(5.0)], gross: 0.0 };
        assert_eq!(account.binding(), (5.0, 0));
        assert_eq!(account.underlying_binding(0), (5.0, 0));
        // Negative measures are margins of 0.
        assert_eq!(account.underlying_binding(1), (0.0, 0));
        let account = VarAccount { underlyings: vec![0, 1], windows: vec![outcome(5.0), outcome(6.0)], gross: 0.0 };
        assert_eq!(account.binding(), (6.0, 1));
    }
}
