//! The grid model: a shock grid and the rule that combines per-underlying losses, with the
//! maintenance ratio.

use crate::domain::correlation::CorrelationMatrix;
use crate::error::Result;
use crate::scenarios::grid::{ShockGrid, VolShockMode};
use crate::scenarios::ScenarioSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Cross {
    /// Sum of the per-underlying worst losses.
    Sum,
    /// Each scenario hits every underlying at once; worst total.
    Joint,
    /// The worst total over the joint moves inside the correlation ellipsoid (docs/methods.md).
    Correlation { matrix: CorrelationMatrix, floor_largest: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct GridModel {
    pub grid: ShockGrid,
    pub cross: Cross,
    pub mm_ratio: f64,
}

impl GridModel {
    pub fn new(
        price_shocks: Vec<f64>,
        vol_shocks: Vec<f64>,
        vol_mode: VolShockMode,
        cross: Cross,
        mm_ratio: f64,
    ) -> Result<Self> {
        let grid = ShockGrid::new(price_shocks, vol_shocks, vol_mode)?;
        Ok(GridModel { grid, cross, mm_ratio: crate::spec::check_mm_ratio(mm_ratio)? })
    }

    pub fn n_scenarios(&self) -> usize {
        self.grid.n_scenarios()
    }

    /// `(price_shock, vol_shock)` of scenario `s`.
    pub fn scenario(&self, s: usize) -> (f64, f64) {
        self.grid.scenario(s)
    }

    pub fn vol_mode(&self) -> VolShockMode {
        self.grid.vol_mode
    }

    /// The same shocks for every one of `n_underlyings` underlyings.
    pub fn scenario_set(&self, n_underlyings: usize) -> ScenarioSet {
        self.grid.scenario_set(n_underlyings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_shocks_and_ratio() {
        assert!(GridModel::new(vec![0.1], vec![0.0], VolShockMode::Absolute, Cross::Sum, 0.0).is_err());
        let err = GridModel::new(vec![-1.0], vec![0.0], VolShockMode::Relative, Cross::Sum, 0.5).expect_err("-100%");
        assert!(err.to_string().starts_with("model.price_shocks: item 0"), "{err}");
        let m = GridModel::new(vec![-0.1, 0.1], vec![0.0, 0.2], VolShockMode::Relative, Cross::Joint, 0.5).expect("ok");
        assert_eq!((m.n_scenarios(), m.scenario(3), m.vol_mode()), (4, (0.1, 0.2), VolShockMode::Relative));
    }
}
