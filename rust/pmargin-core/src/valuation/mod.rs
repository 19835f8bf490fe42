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

/// Validated instruments and market, each usable contract with its value and Greeks.
pub struct Valuation {
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
}

impl Valuation {
    /// Validate the tables (underlyings, vols, then instruments) and price every contract once.
    pub fn new(instruments: Table<'_>, underlyings: Table<'_>, vols: Table<'_>, as_of_ns: i64) -> Result<Valuation> {
        let underlyings = read_underlyings(underlyings)?;
        let vols = read_vols(vols)?;
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
        let base_values = contracts.iter().map(|c| c.as_ref().map_or(0.0, Contract::base_value)).collect();
        let greeks = contracts.iter().map(|c| c.as_ref().map(Contract::greeks).unwrap_or_default()).collect();
        let spot_of = contracts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.spot)).collect();
        let vol_of = contracts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.vol)).collect();
        Ok(Valuation {
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
        })
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
