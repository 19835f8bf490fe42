//! Scenario sets: how each underlying's spot and each option's implied vol move in each scenario.
//!
//! Every model (grid, historical, Monte Carlo) reduces to a [`ScenarioSet`]; revaluation and
//! aggregation never need to know which model made it.

pub mod grid;
pub mod historical;
pub mod labels;
pub mod montecarlo;

use crate::error::MarginError;

pub use grid::{ShockGrid, VolShockMode, VOL_FLOOR};

/// Per underlying (row of the underlyings table) and scenario: the spot multiplier and the vol
/// change. Rows are underlying-major: entry `(u, s)` is at `u * n + s`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSet {
    pub n: usize,
    pub price_factor: Vec<f64>,
    pub vol_change: Vec<f64>,
    pub vol_mode: VolShockMode,
    /// Why an underlying has no scenarios (None when it has them); raised if the book holds it.
    pub missing: Vec<Option<MarginError>>,
    /// One label per scenario (a date, `MC #i`); empty for the grid, which labels per underlying.
    pub labels: Vec<String>,
}

impl ScenarioSet {
    #[inline]
    pub fn price_factor(&self, underlying: u32, scenario: usize) -> f64 {
        self.price_factor[underlying as usize * self.n + scenario]
    }

    #[inline]
    pub fn vol_change(&self, underlying: u32, scenario: usize) -> f64 {
        self.vol_change[underlying as usize * self.n + scenario]
    }

    /// The vol after a change, floored at [`VOL_FLOOR`].
    #[inline]
    pub fn shocked_vol(&self, vol: f64, change: f64) -> f64 {
        let shocked = match self.vol_mode {
            VolShockMode::Relative => vol * (1.0 + change),
            VolShockMode::Absolute => vol + change,
        };
        shocked.max(VOL_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(vol_mode: VolShockMode) -> ScenarioSet {
        // Two underlyings, three scenarios each, underlying-major.
        ScenarioSet {
            n: 3,
            price_factor: vec![0.9, 1.0, 1.1, 0.8, 1.0, 1.2],
            vol_change: vec![-0.5, 0.0, 0.5, -1.0, 0.1, 0.2],
            vol_mode,
            missing: vec![None, None],
            labels: Vec::new(),
        }
    }

    #[test]
    fn entries_are_underlying_major() {
        let s = set(VolShockMode::Relative);
        assert_eq!((s.price_factor(0, 2), s.price_factor(1, 0)), (1.1, 0.8));
        assert_eq!((s.vol_change(0, 0), s.vol_change(1, 2)), (-0.5, 0.2));
    }

    #[test]
    fn shocked_vols_are_relative_or_absolute_and_floored() {
        let relative = set(VolShockMode::Relative);
        assert!((relative.shocked_vol(0.4, 0.5) - 0.6).abs() < 1e-15);
        assert_eq!(relative.shocked_vol(0.4, -1.0), VOL_FLOOR);
        let absolute = set(VolShockMode::Absolute);
        assert!((absolute.shocked_vol(0.4, 0.1) - 0.5).abs() < 1e-15);
        assert_eq!(absolute.shocked_vol(0.4, -0.4), VOL_FLOOR);
        // A contract without a vol (linear) is shocked to the floor, whatever the move.
        assert_eq!(absolute.shocked_vol(0.0, 0.0), VOL_FLOOR);
    }
}
