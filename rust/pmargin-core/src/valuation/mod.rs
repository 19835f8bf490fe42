//! Valuation: every instrument joined with its market data (a [`contract::Contract`]), priced
//! once at the current market with its Greeks, and the reason any instrument cannot be margined.
//! Methods read this and add their own scenarios; nothing here depends on a method.

pub mod contract;

use contract::Contract;

use crate::domain::groups::Grouping;
use crate::domain::instruments::{read_instruments, Instruments};
use crate::domain::market::{read_underlyings, read_vols, Underlyings};
use crate::error::{MarginError, Result};
use crate::input::Table;
use crate::pricing::greeks::Greeks;
use crate::spec::Limits;

/// Validated instruments and market, each usable contract with its value and Greeks.
pub struct Valuation {
    /// The run's limits (implausible inputs, memory).
    pub limits: Limits,
    pub instruments: Instruments,
    pub underlyings: Underlyings,
    /// Each contract's underlying (the grouping every current method uses first).
    pub by_underlying: Grouping,
    /// Each usable contract (None when it cannot be margined: see `problems`).
    pub contracts: Vec<Option<Contract>>,
    /// Why an instrument cannot be margined (no market row, no vol, expired, no scenarios for
    /// its underlying, a non-finite scenario value); None when it can. Raised only if held.
    pub problems: Vec<Option<MarginError>>,
    /// Underlyings-table row of each instrument (0 for unusable ones, never read).
    pub underlying_of: Vec<u32>,
    /// Value per unit of each instrument at the current market (0 for unusable ones).
    pub base_values: Vec<f64>,
    /// Price and Greeks per unit of each instrument (zero for unusable ones).
    pub greeks: Vec<Greeks>,
    /// Spot of each instrument's underlying and its implied vol (0 for unusable ones).
    pub spot_of: Vec<f64>,
    pub vol_of: Vec<f64>,
    /// Groupings by string columns of the instruments table that the method asked for
    /// (`MethodSpec::group_columns`), read when the engine is built.
    pub groups: Vec<Grouping>,
}

impl Valuation {
    /// Validate the tables (underlyings, vols, then instruments) and price every contract once.
    pub fn new(
        instruments: Table<'_>,
        underlyings: Table<'_>,
        vols: Table<'_>,
        as_of_ns: i64,
        limits: Limits,
    ) -> Result<Valuation> {
        let underlyings = read_underlyings(underlyings)?;
        let vols = read_vols(vols, limits.max_implied_vol)?;
        let instruments = read_instruments(instruments)?;
        let resolved: Vec<Result<Contract>> = (0..instruments.len())
            .map(|row| {
                Contract::resolve(row, &instruments.ids()[row], &instruments.rows[row], &underlyings, &vols, as_of_ns)
            })
            .collect();
        let by_underlying = Grouping::by_underlying(&instruments, &underlyings);
        let underlying_of = by_underlying.dense();
        let (contracts, problems): (Vec<Option<Contract>>, Vec<Option<MarginError>>) = resolved
            .into_iter()
            .map(|r| match r {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            })
            .unzip();
        let mut base_values: Vec<f64> =
            contracts.iter().map(|c| c.as_ref().map_or(0.0, Contract::base_value)).collect();
        let mut greeks: Vec<Greeks> =
            contracts.iter().map(|c| c.as_ref().map(Contract::greeks).unwrap_or_default()).collect();
        let mut contracts = contracts;
        let mut problems = problems;
        // A value or Greek that is not finite at the current market: the contract is unusable.
        for c in 0..contracts.len() {
            let g = &greeks[c];
            let finite = [base_values[c], g.price, g.delta, g.gamma, g.vega, g.theta].iter().all(|x| x.is_finite());
            if contracts[c].is_some() && !finite {
                problems[c] = Some(MarginError::cell(
                    "instruments",
                    "instrument_id",
                    c,
                    format!(
                        "'{}': its value or Greeks are not finite at the current market (an input outside what the \
                         closed forms can represent)",
                        instruments.ids()[c]
                    ),
                ));
                contracts[c] = None;
                (base_values[c], greeks[c]) = (0.0, Greeks::default());
            }
        }
        let spot_of = contracts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.spot)).collect();
        let vol_of = contracts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.vol)).collect();
        Ok(Valuation {
            limits,
            instruments,
            underlyings,
            by_underlying,
            contracts,
            problems,
            underlying_of,
            base_values,
            greeks,
            spot_of,
            vol_of,
            groups: Vec::new(),
        })
    }

    /// The grouping by instruments column `column`, when it was read.
    pub fn group(&self, column: &str) -> Option<&Grouping> {
        self.groups.iter().find(|g| g.level == crate::domain::groups::Level::Column(column.to_owned()))
    }

    /// Record why contract `c` cannot be margined (the first reason found wins); its risk
    /// arrays may already exist and are simply never read.
    pub fn mark_problem(&mut self, c: usize, problem: MarginError) {
        if self.problems[c].is_none() {
            self.problems[c] = Some(problem);
        }
    }

    /// Contract `c` cannot be revalued at all (no scenarios for its underlying): drop it before
    /// risk arrays are built.
    pub fn drop_contract(&mut self, c: usize, problem: MarginError) {
        self.mark_problem(c, problem);
        self.contracts[c] = None;
    }

    /// Drop every contract whose underlying has no scenarios in `set`.
    pub fn drop_missing(&mut self, set: &crate::scenarios::ScenarioSet) {
        for c in 0..self.contracts.len() {
            let missing = self.contracts[c].as_ref().and_then(|k| set.missing[k.underlying as usize].clone());
            if let Some(problem) = missing {
                self.drop_contract(c, problem);
            }
        }
    }

    /// Contracts with a non-finite value under some scenario (`(contract, why)`, as risk
    /// arrays report them) cannot be margined.
    pub fn mark_non_finite(&mut self, non_finite: &[(usize, MarginError)]) {
        for (c, e) in non_finite {
            self.mark_problem(*c, e.clone());
        }
    }

    /// Ok when instrument `row` can be margined, else why not.
    pub fn check_usable(&self, row: u32) -> Result<()> {
        match &self.problems[row as usize] {
            Some(problem) => Err(problem.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::greeks;
    use crate::scenarios::{ScenarioSet, VolShockMode};
    use crate::test_support::{assert_close, two_underlyings, Inst, Market};

    /// Rows: 0 `FA` (usable), 1 `C` (no vol), 2 `Z` (no market row), 3 `OLD` (expired), 4 `FB`.
    fn mixed() -> Market {
        Market::new(
            &[
                Inst::future("FA", "A", 365).times(2.0),
                Inst::option("C", "A", "call", 100.0, 30),
                Inst::spot("Z", "ZZZ"),
                Inst::future("OLD", "A", -1),
                Inst::future("FB", "B", 365),
            ],
            &[("A", 100.0, 0.05), ("B", 50.0, 0.0)],
            &[],
        )
    }

    fn problem(v: &Valuation, row: u32) -> String {
        v.check_usable(row).expect_err("unusable").to_string()
    }

    #[test]
    fn prices_the_usable_contracts_and_records_why_others_cannot_be_margined() {
        let v = mixed().valuation().expect("the tables are valid");
        let usable: Vec<bool> = v.contracts.iter().map(Option::is_some).collect();
        assert_eq!(usable, vec![true, false, false, false, true]);
        assert!(v.check_usable(0).is_ok() && v.check_usable(4).is_ok());
        assert_eq!(problem(&v, 1), "instruments.instrument_id, row 1: option 'C' has no implied vol in the vols table");
        assert_eq!(
            problem(&v, 2),
            "instruments.underlying, row 2: no market row for underlying 'ZZZ' in the underlyings table"
        );
        assert_eq!(problem(&v, 3), "instruments.expiry, row 3: 'OLD' expired 1.000000 days before as_of");
        // Unusable contracts get zeros, and group 0 in the dense grouping.
        assert_eq!(v.underlying_of, vec![0, 0, 0, 0, 1]);
        assert_eq!(v.by_underlying.of_contract, vec![Some(0), Some(0), None, Some(0), Some(1)]);
        assert_close(v.base_values[0], 2.0 * 100.0 * 0.05f64.exp(), 1e-12);
        assert_eq!(v.base_values[1..], [0.0, 0.0, 0.0, 50.0]);
        assert_eq!(v.greeks[0], greeks::future(100.0, 1.0, 0.05).scaled(2.0));
        assert_eq!(v.greeks[2], Greeks::default());
        assert_eq!((v.spot_of.clone(), v.vol_of.clone()), (vec![100.0, 0.0, 0.0, 0.0, 50.0], vec![0.0; 5]));
    }

    #[test]
    fn tables_are_checked_underlyings_then_vols_then_instruments() {
        let mut market = two_underlyings();
        market.instruments = crate::test_support::instruments(&[Inst { kind: "swap", ..Inst::spot("S", "A") }]);
        let err = market.valuation().err().expect("bad kind");
        assert_eq!(
            err.to_string(),
            "instruments.kind, row 0: unknown kind 'swap'; expected spot, future, perpetual or option"
        );
        market.vols = crate::test_support::vols(&[("CA", 0.0)]);
        let err = market.valuation().err().expect("bad vol");
        assert_eq!(err.to_string(), "vols.implied_vol, row 0: must be > 0, got 0.0");
        market.underlyings = crate::test_support::underlyings(&[("A", -1.0, 0.0)]);
        let err = market.valuation().err().expect("bad spot");
        assert_eq!(err.to_string(), "underlyings.spot, row 0: must be > 0, got -1.0");
    }

    #[test]
    fn the_first_problem_found_wins() {
        let mut v = mixed().valuation().expect("valid");
        v.mark_problem(1, MarginError::Internal("later".into()));
        assert!(problem(&v, 1).contains("no implied vol"));
        v.mark_problem(0, MarginError::Internal("first".into()));
        v.mark_problem(0, MarginError::Internal("second".into()));
        assert_eq!(problem(&v, 0), "internal error: first");
        // Marked contracts keep their contract (risk arrays may exist); dropped ones lose it.
        assert!(v.contracts[0].is_some());
        v.drop_contract(4, MarginError::Internal("dropped".into()));
        assert!(v.contracts[4].is_none());
        assert_eq!(problem(&v, 4), "internal error: dropped");
        v.mark_non_finite(&[(4, MarginError::Internal("too late".into()))]);
        assert_eq!(problem(&v, 4), "internal error: dropped");
    }

    #[test]
    fn contracts_without_scenarios_for_their_underlying_are_dropped() {
        let mut v = mixed().valuation().expect("valid");
        let set = ScenarioSet {
            n: 1,
            price_factor: vec![1.0, f64::NAN],
            vol_change: vec![0.0, 0.0],
            vol_mode: VolShockMode::Relative,
            missing: vec![None, Some(MarginError::column("moves", "underlying", "no moves for 'B'"))],
            labels: vec!["d".into()],
        };
        v.drop_missing(&set);
        assert!(v.contracts[0].is_some() && v.contracts[4].is_none());
        assert_eq!(problem(&v, 4), "moves.underlying: no moves for 'B'");
        assert!(v.check_usable(0).is_ok());
        v.mark_non_finite(&[(0, MarginError::cell("instruments", "instrument_id", 0, "not finite"))]);
        assert_eq!(problem(&v, 0), "instruments.instrument_id, row 0: not finite");
    }
}
