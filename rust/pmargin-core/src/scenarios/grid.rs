//! The grid's scenarios: every pair of a price shock and a vol shock, the same for every
//! underlying. How per-underlying losses combine is the grid method's business
//! (`methods::grid::model`).

use super::ScenarioSet;

use crate::error::{MarginError, Result};

/// Shocked implied vols never fall below this (annualised); mirrors `pmargin.models.VOL_FLOOR`.
pub const VOL_FLOOR: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolShockMode {
    /// vol x (1 + v)
    Relative,
    /// vol + v
    Absolute,
}

impl std::str::FromStr for VolShockMode {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "relative" => Ok(VolShockMode::Relative),
            "absolute" => Ok(VolShockMode::Absolute),
            other => Err(format!("must be 'relative' or 'absolute', got '{other}'")),
        }
    }
}

/// Price shocks x vol shocks, scenario `s` = (price shock `s / nv`, vol shock `s % nv`).
#[derive(Debug, Clone, PartialEq)]
pub struct ShockGrid {
    pub price_shocks: Vec<f64>,
    pub vol_shocks: Vec<f64>,
    pub vol_mode: VolShockMode,
}

fn model_error(field: &str, reason: String) -> MarginError {
    crate::spec::config_error(field, reason)
}

fn check_shocks(field: &str, shocks: &[f64], min_exclusive: Option<f64>) -> Result<()> {
    if shocks.is_empty() {
        return Err(model_error(field, "needs at least one shock".into()));
    }
    for (i, s) in shocks.iter().enumerate() {
        if !s.is_finite() {
            return Err(model_error(field, format!("item {i} must be finite, got {s}")));
        }
        if let Some(min) = min_exclusive {
            if *s <= min {
                return Err(model_error(field, format!("item {i} is {s}: a shock of -100% or below is impossible")));
            }
        }
    }
    Ok(())
}

impl ShockGrid {
    /// Check the shocks: at least one of each, finite, and none at -100% or below where that
    /// would make a price or a relative vol non-positive.
    pub fn new(price_shocks: Vec<f64>, vol_shocks: Vec<f64>, vol_mode: VolShockMode) -> Result<Self> {
        check_shocks("price_shocks", &price_shocks, Some(-1.0))?;
        let vol_min = (vol_mode == VolShockMode::Relative).then_some(-1.0);
        check_shocks("vol_shocks", &vol_shocks, vol_min)?;
        Ok(ShockGrid { price_shocks, vol_shocks, vol_mode })
    }

    pub fn n_scenarios(&self) -> usize {
        self.price_shocks.len() * self.vol_shocks.len()
    }

    /// `(price_shock, vol_shock)` of scenario `s`: price shocks as given, vol shocks within each.
    pub fn scenario(&self, s: usize) -> (f64, f64) {
        let nv = self.vol_shocks.len();
        (self.price_shocks[s / nv], self.vol_shocks[s % nv])
    }

    /// The same shocks for every one of `n_underlyings` underlyings.
    pub fn scenario_set(&self, n_underlyings: usize) -> ScenarioSet {
        let n = self.n_scenarios();
        let (factors, changes): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|s| {
                let (p, v) = self.scenario(s);
                (1.0 + p, v)
            })
            .unzip();
        ScenarioSet {
            n,
            price_factor: factors.repeat(n_underlyings),
            vol_change: changes.repeat(n_underlyings),
            vol_mode: self.vol_mode,
            missing: vec![None; n_underlyings],
            labels: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_order_is_price_major() {
        let m = ShockGrid::new(vec![-0.1, 0.1], vec![-0.3, 0.0, 0.3], VolShockMode::Relative).expect("valid");
        assert_eq!(m.n_scenarios(), 6);
        assert_eq!(m.scenario(0), (-0.1, -0.3));
        assert_eq!(m.scenario(4), (0.1, 0.0));
    }

    #[test]
    fn rejects_impossible_shocks() {
        let bad = ShockGrid::new(vec![-1.0], vec![0.0], VolShockMode::Relative);
        assert_eq!(
            bad.unwrap_err().to_string(),
            "model.price_shocks: item 0 is -1: a shock of -100% or below is impossible"
        );
        assert!(ShockGrid::new(vec![], vec![0.0], VolShockMode::Relative).is_err());
        assert!(ShockGrid::new(vec![0.1], vec![-2.0], VolShockMode::Absolute).is_ok());
    }

    #[test]
    fn vol_is_floored() {
        let m = ShockGrid::new(vec![0.0], vec![-0.5], VolShockMode::Absolute).expect("valid");
        let set = m.scenario_set(1);
        assert_eq!(set.shocked_vol(0.2, set.vol_change(0, 0)), VOL_FLOOR);
        assert!((set.shocked_vol(0.6, -0.5) - 0.1).abs() < 1e-15);
        assert_eq!(set.price_factor(0, 0), 1.0);
    }
}
