//! Per-account aggregation: quantity x risk-array sums per underlying, worst losses, and the
//! cross-underlying rule. Accounts are independent, so they run in parallel and the result does
//! not depend on the number of threads.

use hashbrown::HashMap;
use rayon::prelude::*;

use crate::model::Cross;
use crate::positions::Book;
use crate::revalue::RiskArrays;

#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingOutcome {
    /// Row in the underlyings table.
    pub underlying: u32,
    pub requirement: f64,
    /// Scenario of the worst loss; None when no scenario loses.
    pub worst: Option<u32>,
}

/// Which scenario drives an account's margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Driver {
    /// cross="sum": the worst scenario of the underlying with the largest requirement.
    Underlying { underlying: u32, scenario: u32 },
    /// cross="joint": a scenario applied to every underlying at once.
    Joint { scenario: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountOutcome {
    pub initial: f64,
    pub gross: f64,
    pub driver: Option<Driver>,
    /// First-seen order within the account.
    pub underlyings: Vec<UnderlyingOutcome>,
}

/// One account's P&L per underlying and scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioMatrix {
    pub underlyings: Vec<u32>,
    /// Row `k` (underlying `underlyings[k]`) is `pnl[k*S..(k+1)*S]`.
    pub pnl: Vec<f64>,
    /// Sum across underlyings, in their order.
    pub total: Vec<f64>,
}

/// Largest loss (`-pnl`) and the first scenario reaching it; (0, None) when nothing loses.
pub fn worst_loss(pnl: &[f64]) -> (f64, Option<u32>) {
    let mut best = 0.0;
    let mut arg = None;
    for (s, p) in pnl.iter().enumerate() {
        let loss = -p;
        if loss > best {
            best = loss;
            arg = Some(s as u32);
        }
    }
    (best, arg)
}

/// P&L of account `a` per underlying (first-seen order) and scenario.
pub fn scenario_matrix(
    book: &Book,
    a: usize,
    underlying_of: &[u32],
    risk: &RiskArrays,
) -> ScenarioMatrix {
    let s_count = risk.n_scenarios;
    let positions = book.positions(a);
    // Linear search is fastest for the usual handful of underlyings; big accounts use a map.
    let use_map = positions.len() > 64;
    let mut underlyings: Vec<u32> = Vec::new();
    let mut slot_of: HashMap<u32, usize> = HashMap::new();
    let mut slots = Vec::with_capacity(positions.len());
    for p in positions.clone() {
        let u = underlying_of[book.instrument[p] as usize];
        let known = if use_map {
            slot_of.get(&u).copied()
        } else {
            underlyings.iter().position(|&x| x == u)
        };
        let k = known.unwrap_or_else(|| {
            underlyings.push(u);
            if use_map {
                slot_of.insert(u, underlyings.len() - 1);
            }
            underlyings.len() - 1
        });
        slots.push(k);
    }

    let mut pnl = vec![0.0; underlyings.len() * s_count];
    for (p, &k) in positions.zip(&slots) {
        let q = book.quantity[p];
        let row = risk.row(book.instrument[p]);
        for (acc, x) in pnl[k * s_count..(k + 1) * s_count].iter_mut().zip(row) {
            *acc += q * x;
        }
    }
    let mut total = vec![0.0; s_count];
    for k in 0..underlyings.len() {
        for (t, x) in total.iter_mut().zip(&pnl[k * s_count..(k + 1) * s_count]) {
            *t += x;
        }
    }
    ScenarioMatrix {
        underlyings,
        pnl,
        total,
    }
}

fn account_outcome(
    book: &Book,
    a: usize,
    underlying_of: &[u32],
    risk: &RiskArrays,
    cross: Cross,
) -> AccountOutcome {
    let s_count = risk.n_scenarios;
    let matrix = scenario_matrix(book, a, underlying_of, risk);
    let underlyings: Vec<UnderlyingOutcome> = matrix
        .underlyings
        .iter()
        .enumerate()
        .map(|(k, &u)| {
            let (requirement, worst) = worst_loss(&matrix.pnl[k * s_count..(k + 1) * s_count]);
            UnderlyingOutcome {
                underlying: u,
                requirement,
                worst,
            }
        })
        .collect();

    let (initial, driver) = match cross {
        Cross::Sum => {
            let initial = underlyings.iter().fold(0.0, |acc, u| acc + u.requirement);
            let mut largest: Option<&UnderlyingOutcome> = None;
            for u in &underlyings {
                if u.requirement > largest.map_or(0.0, |l| l.requirement) {
                    largest = Some(u);
                }
            }
            let driver = largest.and_then(|u| {
                u.worst.map(|s| Driver::Underlying {
                    underlying: u.underlying,
                    scenario: s,
                })
            });
            (initial, driver)
        }
        Cross::Joint => {
            let (initial, worst) = worst_loss(&matrix.total);
            (initial, worst.map(|scenario| Driver::Joint { scenario }))
        }
    };
    let gross = book.positions(a).fold(0.0, |acc, p| {
        acc + risk.standalone(book.instrument[p], book.quantity[p])
    });
    AccountOutcome {
        initial,
        gross,
        driver,
        underlyings,
    }
}

/// Outcomes of every account, in account order.
pub fn aggregate(
    book: &Book,
    underlying_of: &[u32],
    risk: &RiskArrays,
    cross: Cross,
) -> Vec<AccountOutcome> {
    (0..book.n_accounts())
        .into_par_iter()
        .with_min_len(64)
        .map(|a| account_outcome(book, a, underlying_of, risk, cross))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_worst_wins_ties() {
        assert_eq!(worst_loss(&[1.0, -3.0, -3.0, 2.0]), (3.0, Some(1)));
        assert_eq!(worst_loss(&[0.0, 1.0]), (0.0, None));
    }

    #[test]
    fn sum_and_joint_on_a_pair() {
        // One account: long contract 0 (underlying 0), short contract 1 (underlying 1).
        let book = Book {
            first_row: vec![0],
            offsets: vec![0, 2],
            instrument: vec![0, 1],
            quantity: vec![1.0, -1.0],
        };
        let risk = RiskArrays {
            n_scenarios: 2,
            values: vec![-10.0, 10.0, -8.0, 8.0],
            min: vec![-10.0, -8.0],
            max: vec![10.0, 8.0],
        };
        let sum = aggregate(&book, &[0, 1], &risk, Cross::Sum);
        assert_eq!(sum[0].initial, 18.0);
        assert_eq!(sum[0].gross, 18.0);
        assert_eq!(
            sum[0].driver,
            Some(Driver::Underlying {
                underlying: 0,
                scenario: 0
            })
        );
        let joint = aggregate(&book, &[0, 1], &risk, Cross::Joint);
        assert_eq!(joint[0].initial, 2.0);
        assert_eq!(joint[0].driver, Some(Driver::Joint { scenario: 0 }));
    }
}
