//! The grid model: a shock grid and the rule that combines per-underlying losses, with the
//! maintenance ratio.

use crate::domain::correlation::CorrelationMatrix;
use crate::error::Result;
use crate::float_text::repr;
use crate::scenarios::grid::{ShockGrid, VolShockMode};
use crate::scenarios::ScenarioSet;
use crate::spec::config_error;

#[derive(Debug, Clone, PartialEq)]
pub enum Cross {
    /// Sum of the per-underlying worst losses.
    Sum,
    /// Each scenario hits every underlying at once; worst total.
    Joint,
    /// The worst total over the joint moves inside the correlation ellipsoid (docs/methods.md).
    Correlation { matrix: CorrelationMatrix, floor_largest: bool },
}

/// Scan ranges per product (docs/methods.md, "Scan ranges per product"): an underlying named in
/// `price` (or `vol`), else its group in the instruments column `column`, has the grid's shocks
/// rescaled so that the largest |shock| is that range; others keep the grid as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranges {
    pub price: Vec<(String, f64)>,
    pub vol: Vec<(String, f64)>,
    pub column: Option<String>,
}

impl Ranges {
    pub fn is_empty(&self) -> bool {
        self.price.is_empty() && self.vol.is_empty()
    }
}

/// The delta-shock add-on's parameters (`risk::addons::delta_shock_rate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeltaShock {
    pub threshold: f64,
    pub m_inc: f64,
    pub max_shock: f64,
}

/// Add-ons (docs/methods.md, "Add-ons on the grid"); all off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Addons {
    /// Fraction of spot charged per unit of matched spread between expiry buckets.
    pub calendar_rate: f64,
    /// Fraction of spot per unit (x multiplier) of net short options: a floor on the margin.
    pub short_option_minimum: f64,
    pub delta_shock: Option<DeltaShock>,
}

impl Addons {
    pub fn is_on(&self) -> bool {
        self.calendar_rate > 0.0 || self.short_option_minimum > 0.0 || self.delta_shock.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GridModel {
    pub grid: ShockGrid,
    pub cross: Cross,
    pub mm_ratio: f64,
    pub ranges: Ranges,
    pub addons: Addons,
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
        Ok(GridModel {
            grid,
            cross,
            mm_ratio: crate::spec::check_mm_ratio(mm_ratio)?,
            ranges: Ranges::default(),
            addons: Addons::default(),
        })
    }

    /// Per-product scan ranges: each range > 0, and no rescaled shock at -100% or below.
    pub fn with_ranges(mut self, ranges: Ranges) -> Result<Self> {
        let check = |field: &str, items: &[(String, f64)], shocks: &[f64], floor: Option<f64>| -> Result<()> {
            let largest = shocks.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            for (name, range) in items {
                let key = format!("{field}.{name}");
                if !(range.is_finite() && *range > 0.0) {
                    return Err(config_error(&key, format!("must be a number > 0, got {}", repr(*range))));
                }
                if largest == 0.0 {
                    return Err(config_error(&key, "the grid's shocks are all 0: there is nothing to rescale"));
                }
                if let Some(floor) = floor {
                    if shocks.iter().any(|x| x * (range / largest) <= floor) {
                        return Err(config_error(&key, format!("{range} rescales a shock to -100% or below")));
                    }
                }
            }
            Ok(())
        };
        check("price_ranges", &ranges.price, &self.grid.price_shocks, Some(-1.0))?;
        let vol_floor = (self.grid.vol_mode == VolShockMode::Relative).then_some(-1.0);
        check("vol_ranges", &ranges.vol, &self.grid.vol_shocks, vol_floor)?;
        self.ranges = ranges;
        Ok(self)
    }

    /// `(price scale, vol scale)` of an underlying (by name, or its group) under the ranges.
    pub fn scales(&self, name: &str, group: Option<&str>) -> (f64, f64) {
        let scale = |items: &[(String, f64)], shocks: &[f64]| {
            let found = items
                .iter()
                .find(|(n, _)| n == name)
                .or_else(|| group.and_then(|g| items.iter().find(|(n, _)| n == g)));
            match found {
                Some((_, range)) => range / shocks.iter().fold(0.0f64, |m, x| m.max(x.abs())),
                None => 1.0,
            }
        };
        (scale(&self.ranges.price, &self.grid.price_shocks), scale(&self.ranges.vol, &self.grid.vol_shocks))
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

    /// The shocks of each underlying rescaled by its `(price, vol)` scale: factor `1 + p x a`,
    /// vol change `v x b` (a = b = 1 gives the grid as given, bit for bit).
    pub fn scaled_scenario_set(&self, scales: &[(f64, f64)]) -> ScenarioSet {
        let mut set = self.grid.scenario_set(scales.len());
        let n = set.n;
        for (u, &(a, b)) in scales.iter().enumerate() {
            for s in 0..n {
                let (p, v) = self.grid.scenario(s);
                set.price_factor[u * n + s] = 1.0 + p * a;
                set.vol_change[u * n + s] = v * b;
            }
        }
        set
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

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn ranges_rescale_one_underlyings_shocks() {
        let m = GridModel::new(vec![-0.15, 0.0, 0.15], vec![-0.3, 0.3], VolShockMode::Relative, Cross::Joint, 1.0)
            .expect("valid")
            .with_ranges(Ranges {
                price: vec![("SOL".into(), 0.4)],
                vol: vec![("alts".into(), 0.6)],
                column: Some("product_group".into()),
            })
            .expect("valid ranges");
        assert_eq!(m.scales("BTC", Some("majors")), (1.0, 1.0));
        let (a, b) = m.scales("SOL", Some("alts"));
        assert!((a * 0.15 - 0.4).abs() < 1e-15 && (b * 0.3 - 0.6).abs() < 1e-15);
        let set = m.scaled_scenario_set(&[(1.0, 1.0), (a, b)]);
        assert_eq!(set.price_factor(0, 0), 0.85);
        assert!((set.price_factor(1, 0) - 0.6).abs() < 1e-15);
        assert!((set.vol_change(1, 1) - 0.6).abs() < 1e-15);
    }

    #[test]
    fn a_range_that_would_shock_below_minus_100_percent_is_refused() {
        let base = GridModel::new(vec![-0.15, 0.15], vec![0.0], VolShockMode::Relative, Cross::Sum, 1.0).expect("ok");
        let err = base
            .clone()
            .with_ranges(Ranges { price: vec![("X".into(), 1.0)], ..Ranges::default() })
            .expect_err("-100%");
        assert!(err.to_string().starts_with("model.price_ranges.X: 1 rescales"), "{err}");
        let err =
            base.with_ranges(Ranges { price: vec![("X".into(), -0.1)], ..Ranges::default() }).expect_err("negative");
        assert!(err.to_string().contains("must be a number > 0"), "{err}");
    }
}
