//! Risk arrays: every contract revalued once under every scenario (SPAN's idea). Accounts are
//! then sparse sums of quantity x risk array, so the pricing work does not grow with the book.

use rayon::prelude::*;

use crate::contract::Contract;
use crate::model::GridModel;

/// P&L per unit of every contract under every scenario: row `c` is `values[c*S..(c+1)*S]`.
#[derive(Debug, Default)]
pub struct RiskArrays {
    pub n_scenarios: usize,
    pub values: Vec<f64>,
    /// Smallest and largest entry of each row (standalone margin of a position in O(1)).
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl RiskArrays {
    /// Rows for contracts that cannot be priced (`None`) stay zero; they are never used, since a
    /// position on them is an input error.
    pub fn build(contracts: &[Option<Contract>], model: &GridModel) -> RiskArrays {
        let s_count = model.n_scenarios();
        let mut values = vec![0.0; contracts.len() * s_count];
        if s_count > 0 {
            values
                .par_chunks_mut(s_count)
                .zip(contracts.par_iter())
                .with_min_len(64)
                .for_each(|(row, c)| {
                    if let Some(c) = c {
                        revalue_into(c, model, row);
                    }
                });
        }
        let (min, max) = values
            .par_chunks(s_count.max(1))
            .map(|row| {
                row.iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                        (lo.min(x), hi.max(x))
                    })
            })
            .unzip();
        RiskArrays {
            n_scenarios: s_count,
            values,
            min,
            max,
        }
    }

    #[inline]
    pub fn row(&self, contract: u32) -> &[f64] {
        let start = contract as usize * self.n_scenarios;
        &self.values[start..start + self.n_scenarios]
    }

    /// Margin of `quantity` of `contract` alone: its worst loss, or 0. Exact, because rounding of
    /// `q * x` is monotone in `x`, so the extreme of `q * row` is `q` times an extreme of `row`.
    #[inline]
    pub fn standalone(&self, contract: u32, quantity: f64) -> f64 {
        let c = contract as usize;
        let worst_pnl = if quantity > 0.0 {
            quantity * self.min[c]
        } else if quantity < 0.0 {
            quantity * self.max[c]
        } else {
            0.0
        };
        (-worst_pnl).max(0.0)
    }
}

/// Shocked value minus base value of one contract under each scenario.
fn revalue_into(contract: &Contract, model: &GridModel, out: &mut [f64]) {
    let base = contract.base_value();
    for (s, slot) in out.iter_mut().enumerate() {
        let (p, v) = model.scenario(s);
        let spot = contract.spot * (1.0 + p);
        let vol = model.shocked_vol(contract.vol, v);
        *slot = contract.value(spot, vol) - base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::Kind;
    use crate::model::{Cross, VolShockMode};

    fn spot_contract() -> Contract {
        Contract {
            underlying: 0,
            kind: Kind::Spot,
            option_type: None,
            strike: 0.0,
            t: 0.0,
            multiplier: 2.0,
            spot: 100.0,
            rate: 0.0,
            vol: 0.0,
        }
    }

    #[test]
    fn linear_risk_array() {
        let m = GridModel::new(
            vec![-0.1, 0.0, 0.1],
            vec![0.0],
            VolShockMode::Relative,
            Cross::Sum,
            1.0,
        )
        .expect("valid");
        let ra = RiskArrays::build(&[Some(spot_contract()), None], &m);
        let row = ra.row(0);
        assert!((row[0] + 20.0).abs() < 1e-12 && row[1] == 0.0 && (row[2] - 20.0).abs() < 1e-12);
        assert_eq!(ra.row(1), &[0.0, 0.0, 0.0]);
        assert!((ra.standalone(0, 3.0) - 60.0).abs() < 1e-9);
        assert!((ra.standalone(0, -1.0) - 20.0).abs() < 1e-9);
        assert_eq!(ra.standalone(0, 0.0), 0.0);
    }
}
