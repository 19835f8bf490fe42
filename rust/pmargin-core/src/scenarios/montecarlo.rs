//! Correlated Monte Carlo scenarios from a counter-based generator.
//!
//! Every draw is a pure function of (seed, scenario index, name index): a SplitMix64 stream per
//! (scenario, name), so scenarios do not depend on thread count or batching, and the reference
//! implementation draws exactly the same numbers by its own code (docs/methods.md).

use rayon::prelude::*;

use super::{ScenarioSet, VolShockMode};
use crate::domain::correlation::CorrelationMatrix;
use crate::domain::market::Underlyings;
use crate::error::{MarginError, Result};

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// One SplitMix64 output from state `x`.
#[inline]
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream of draws of one (seed, scenario, name).
pub struct Stream {
    state: u64,
}

impl Stream {
    pub fn new(seed: u64, scenario: u64, name: u64) -> Stream {
        Stream { state: splitmix(splitmix(splitmix(seed) ^ scenario) ^ name) }
    }

    fn next_u64(&mut self) -> u64 {
        let out = splitmix(self.state);
        self.state = self.state.wrapping_add(GAMMA);
        out
    }

    /// Uniform in (0, 1): never 0, so its log is finite.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / 9_007_199_254_740_992.0
    }

    /// Box-Muller, one normal from two uniforms.
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia-Tsang; `shape > 1`.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        let dd = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * dd).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + dd - dd * v + dd * v.ln() {
                return dd * v;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Normal,
    StudentT { dof: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonteCarloSpec {
    pub correlation: CorrelationMatrix,
    /// Horizon vol of each name's log return (None: no vol given; an error if the book holds it).
    pub horizon_vols: Vec<Option<f64>>,
    pub n_scenarios: usize,
    pub seed: u64,
    pub distribution: Distribution,
    pub vol_of_vol: f64,
    pub spot_vol_correlation: f64,
}

fn model_error(field: &str, reason: String) -> MarginError {
    crate::spec::config_error(field, reason)
}

impl MonteCarloSpec {
    pub fn validate(&self) -> Result<()> {
        if self.n_scenarios == 0 {
            return Err(model_error("n_scenarios", "must be at least 1".into()));
        }
        if let Distribution::StudentT { dof } = self.distribution {
            if !(dof.is_finite() && dof > 2.0) {
                return Err(model_error("dof", format!("must be > 2 (finite variance), got {dof}")));
            }
        }
        if !(self.vol_of_vol.is_finite() && self.vol_of_vol >= 0.0) {
            return Err(model_error("vol_of_vol", format!("must be >= 0, got {}", self.vol_of_vol)));
        }
        if !(-1.0..=1.0).contains(&self.spot_vol_correlation) {
            return Err(model_error(
                "spot_vol_correlation",
                format!("must be in [-1, 1], got {}", self.spot_vol_correlation),
            ));
        }
        if self.horizon_vols.len() != self.correlation.dim() {
            return Err(model_error("horizon_vols", "one vol per correlation name is needed".into()));
        }
        for (name, vol) in self.correlation.names.iter().zip(&self.horizon_vols) {
            if let Some(v) = vol {
                if !(v.is_finite() && *v > 0.0) {
                    return Err(MarginError::input(
                        "mc_vols",
                        Some("vol"),
                        None,
                        format!("vol of '{name}' must be > 0, got {v}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Correlated standardised draws `z` (n x d, scenario-major) and relative vol changes.
    pub fn draws(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let d = self.correlation.dim();
        let l = self.correlation.cholesky_lower()?;
        let mut z = vec![0.0; self.n_scenarios * d];
        let mut dv = vec![0.0; self.n_scenarios * d];
        if d == 0 {
            return Ok((z, dv));
        }
        z.par_chunks_mut(d).zip(dv.par_chunks_mut(d)).enumerate().for_each(|(i, (zi, dvi))| {
            self.draw_scenario(i as u64, &l, zi, dvi);
        });
        Ok((z, dv))
    }

    fn draw_scenario(&self, i: u64, l: &[f64], z: &mut [f64], dv: &mut [f64]) {
        let d = z.len();
        let mut e = vec![0.0; d];
        let mut eta = vec![0.0; d];
        for j in 0..d {
            let mut stream = Stream::new(self.seed, i, j as u64);
            e[j] = stream.normal();
            if self.vol_of_vol > 0.0 {
                eta[j] = stream.normal();
            }
        }
        let scale = match self.distribution {
            Distribution::Normal => 1.0,
            Distribution::StudentT { dof } => {
                let w = 2.0 * Stream::new(self.seed, i, d as u64).gamma(dof / 2.0);
                ((dof - 2.0) / w).sqrt()
            }
        };
        for j in 0..d {
            let mut s = 0.0;
            for m in 0..=j {
                s += l[j * d + m] * e[m];
            }
            z[j] = s * scale;
        }
        if self.vol_of_vol > 0.0 {
            let rho = self.spot_vol_correlation;
            let w = self.vol_of_vol;
            for j in 0..d {
                let x = rho * z[j] + (1.0 - rho * rho).sqrt() * eta[j];
                dv[j] = (w * x - 0.5 * w * w).exp() - 1.0;
            }
        }
    }

    /// The scenario set over the rows of the underlyings table.
    pub fn scenario_set(&self, underlyings: &Underlyings) -> Result<ScenarioSet> {
        self.validate()?;
        let (z, dv) = self.draws()?;
        let n = self.n_scenarios;
        let d = self.correlation.dim();
        let rows = underlyings.names.len();
        let mut price_factor = vec![f64::NAN; rows * n];
        let mut vol_change = vec![0.0; rows * n];
        let mut missing = vec![None; rows];
        for (u, name) in underlyings.names.iter().enumerate() {
            let Some(j) = self.correlation.index_of(name) else {
                missing[u] = Some(MarginError::input(
                    "correlation",
                    None,
                    None,
                    format!("underlying '{name}' is held but is not in the correlation matrix"),
                ));
                continue;
            };
            let Some(sigma) = self.horizon_vols[j] else {
                missing[u] = Some(MarginError::column(
                    "mc_vols",
                    "underlying",
                    format!("underlying '{name}' is held but has no row in the Monte Carlo vols table"),
                ));
                continue;
            };
            for i in 0..n {
                price_factor[u * n + i] = (sigma * z[i * d + j]).exp();
                vol_change[u * n + i] = dv[i * d + j];
            }
        }
        Ok(ScenarioSet {
            n,
            price_factor,
            vol_change,
            vol_mode: VolShockMode::Relative,
            missing,
            labels: (0..n).map(|i| format!("MC #{i}")).collect(),
        })
    }
}

impl MonteCarloSpec {
    /// `scenario`, `underlying`, `return` (exp(sigma z) - 1), `vol_change`, scenario-major, for
    /// every name that has a vol.
    pub fn scenario_table(&self) -> Result<arrow_array::RecordBatch> {
        use arrow_array::{ArrayRef, Float64Array, Int32Array, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;

        self.validate()?;
        let (z, dv) = self.draws()?;
        let d = self.correlation.dim();
        let (mut scenario, mut name, mut ret, mut change) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..self.n_scenarios {
            for (j, sigma) in self.horizon_vols.iter().enumerate() {
                if let Some(sigma) = sigma {
                    scenario.push(i as i32);
                    name.push(self.correlation.names[j].as_str());
                    ret.push((sigma * z[i * d + j]).exp() - 1.0);
                    change.push(dv[i * d + j]);
                }
            }
        }
        let schema = Schema::new(vec![
            Field::new("scenario", DataType::Int32, false),
            Field::new("underlying", DataType::Utf8, false),
            Field::new("return", DataType::Float64, false),
            Field::new("vol_change", DataType::Float64, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(scenario)),
            Arc::new(StringArray::from(name)),
            Arc::new(Float64Array::from(ret)),
            Arc::new(Float64Array::from(change)),
        ];
        arrow_array::RecordBatch::try_new(Arc::new(schema), columns)
            .map_err(|e| MarginError::Internal(format!("building the scenario table: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_published_sequence() {
        // SplitMix64 seeded with 0 (Vigna's reference): first output 0xE220A8397B1DCDAF.
        assert_eq!(splitmix(0), 0xE220_A839_7B1D_CDAF);
        let mut s = Stream { state: 0 };
        assert_eq!(s.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(s.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn normals_have_unit_moments() {
        let n = 200_000u64;
        let (mut m1, mut m2) = (0.0, 0.0);
        for i in 0..n {
            let x = Stream::new(7, i, 0).normal();
            m1 += x;
            m2 += x * x;
        }
        let (mean, var) = (m1 / n as f64, m2 / n as f64);
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.01, "{mean} {var}");
    }

    #[test]
    fn gamma_has_the_right_mean() {
        let n = 100_000u64;
        let mean: f64 = (0..n).map(|i| Stream::new(3, i, 9).gamma(2.5)).sum::<f64>() / n as f64;
        assert!((mean - 2.5).abs() < 0.03, "{mean}");
    }
}
