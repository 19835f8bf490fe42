//! Portfolio volatility of each account from its positions' cash deltas (and dollar gammas)
//! under a covariance of underlying returns over the horizon (docs/simm.md, "Portfolio
//! volatility"). Delta-normal: `var = x'Cx`; delta-gamma adds `1/2 sum_uv G_u G_v C_uv^2`
//! (the variance of `1/2 r'Gr` for normal returns with diagonal dollar gamma G).
//! Per position: component `q dvol/dq` (they add up to the volatility), marginal `(Cx)_u / vol`
//! and share `component / vol`; per account the sum of stand-alone volatilities and the
//! diversification ratio (that sum over the volatility).

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use rayon::prelude::*;
use std::sync::Arc;

use crate::domain::exact_sum::exact_sum;
use crate::error::{MarginError, Result};
use crate::input::Table;
use crate::output::arrow::{batch, f64_field, f64s};
use crate::spec::{config_error, Fields, Value};

pub struct VarianceTables {
    pub positions: RecordBatch,
    pub accounts: RecordBatch,
}

struct Spec {
    n_accounts: usize,
    n: usize,
    cov: Vec<f64>,
    delta_gamma: bool,
}

fn read_spec(spec: &Value) -> Result<Spec> {
    let mut f = Fields::new(spec)?;
    let n = f.count("n_underlyings")? as usize;
    let n_accounts = f.count("n_accounts")? as usize;
    let cov = f.f64_list("covariance")?;
    let delta_gamma = f.bool_or("delta_gamma", false)?;
    f.finish()?;
    if cov.len() != n * n {
        return Err(config_error("covariance", format!("must have {} entries, got {}", n * n, cov.len())));
    }
    Ok(Spec { n_accounts, n, cov, delta_gamma })
}

fn index_column(table: &Table<'_>, column: &str, bound: usize) -> Result<Vec<usize>> {
    table
        .integers(column)?
        .iter()
        .enumerate()
        .map(|(row, v)| match v {
            Some(i) if *i >= 0 && (*i as u128) < bound as u128 => Ok(*i as usize),
            _ => Err(MarginError::cell(table.name, column, row, format!("must be an index in [0, {bound})"))),
        })
        .collect()
}

struct Account {
    vol: f64,
    variance: f64,
    undiversified: f64,
    /// (row, component, marginal, share, standalone)
    rows: Vec<(usize, f64, f64, f64, f64)>,
}

fn account(s: &Spec, rows: &[usize], und: &[usize], delta: &[f64], gamma: &[f64]) -> Account {
    let c = |u: usize, v: usize| s.cov[u * s.n + v];
    let mut names: Vec<usize> = rows.iter().map(|&r| und[r]).collect();
    names.sort_unstable();
    names.dedup();
    let slot = |u: usize| names.binary_search(&u).unwrap_or(0);
    let mut xs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut gs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for &r in rows {
        xs[slot(und[r])].push(delta[r]);
        gs[slot(und[r])].push(gamma[r]);
    }
    let x: Vec<f64> = xs.iter().map(|v| exact_sum(v)).collect();
    let g: Vec<f64> = gs.iter().map(|v| exact_sum(v)).collect();
    let m = names.len();
    let mut y = vec![0.0; m];
    let mut z = vec![0.0; m];
    let mut var = 0.0;
    for i in 0..m {
        for j in 0..m {
            let cij = c(names[i], names[j]);
            y[i] += cij * x[j];
            if s.delta_gamma {
                z[i] += 0.5 * cij * cij * g[j];
            }
        }
        var += x[i] * y[i] + g[i] * z[i];
    }
    let vol = var.max(0.0).sqrt();
    let mut out = Vec::with_capacity(rows.len());
    let mut alone = Vec::with_capacity(rows.len());
    for &r in rows {
        let i = slot(und[r]);
        let cuu = c(names[i], names[i]);
        let standalone = (delta[r] * delta[r] * cuu
            + 0.5 * gamma[r] * gamma[r] * cuu * cuu * f64::from(u8::from(s.delta_gamma)))
        .max(0.0)
        .sqrt();
        let (component, marginal) =
            if vol > 0.0 { ((delta[r] * y[i] + gamma[r] * z[i]) / vol, y[i] / vol) } else { (0.0, 0.0) };
        let share = if vol > 0.0 { component / vol } else { 0.0 };
        alone.push(standalone);
        out.push((r, component, marginal, share, standalone));
    }
    Account { vol, variance: var.max(0.0), undiversified: exact_sum(&alone), rows: out }
}

/// Volatility of every account of `positions` (`account_index`, `underlying_index`,
/// `cash_delta`, `dollar_gamma`) under the spec's covariance.
pub fn portfolio_variance(positions: &Table<'_>, spec: &Value) -> Result<VarianceTables> {
    let s = read_spec(spec)?;
    let n_rows = positions.num_rows();
    let acc = index_column(positions, "account_index", s.n_accounts.max(1))?;
    let und = index_column(positions, "underlying_index", s.n.max(1))?;
    let delta = positions.required_finite("cash_delta")?;
    let gamma = if positions.has_column("dollar_gamma") {
        positions.required_finite("dollar_gamma")?
    } else {
        vec![0.0; n_rows]
    };
    let gamma = if s.delta_gamma { gamma } else { vec![0.0; n_rows] };
    if s.n == 0 && n_rows > 0 {
        return Err(config_error("covariance", "is empty"));
    }
    let mut by_account: Vec<Vec<usize>> = vec![Vec::new(); s.n_accounts];
    for (r, a) in acc.iter().enumerate() {
        by_account[*a].push(r);
    }
    let results: Vec<Account> = by_account.par_iter().map(|rows| account(&s, rows, &und, &delta, &gamma)).collect();
    let mut cols = vec![vec![0.0; n_rows]; 4];
    for a in &results {
        for &(r, c, m, sh, st) in &a.rows {
            cols[0][r] = c;
            cols[1][r] = m;
            cols[2][r] = sh;
            cols[3][r] = st;
        }
    }
    let [component, marginal, share, standalone]: [Vec<f64>; 4] =
        cols.try_into().map_err(|_| MarginError::Internal("variance columns".into()))?;
    let positions = batch(
        vec![
            f64_field("component", false),
            f64_field("marginal", false),
            f64_field("share", false),
            f64_field("standalone", false),
        ],
        vec![
            f64s(component.into_iter()),
            f64s(marginal.into_iter()),
            f64s(share.into_iter()),
            f64s(standalone.into_iter()),
        ],
    )?;
    let ratio: ArrayRef = Arc::new(Float64Array::from_iter(results.iter().map(|a| {
        if a.vol > 0.0 {
            Some(a.undiversified / a.vol)
        } else {
            None
        }
    })));
    let accounts = batch(
        vec![
            f64_field("volatility", false),
            f64_field("variance", false),
            f64_field("undiversified", false),
            f64_field("diversification_ratio", true),
        ],
        vec![
            f64s(results.iter().map(|a| a.vol)),
            f64s(results.iter().map(|a| a.variance)),
            f64s(results.iter().map(|a| a.undiversified)),
            ratio,
        ],
    )?;
    Ok(VarianceTables { positions, accounts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_correlation_variance_is_the_sum_and_components_add_up() {
        let s = Spec { n_accounts: 1, n: 2, cov: vec![0.04, 0.0, 0.0, 0.09], delta_gamma: false };
        let (und, delta, gamma) = ([0usize, 1, 0], [100.0, 50.0, -20.0], [0.0; 3]);
        let a = account(&s, &[0, 1, 2], &und, &delta, &gamma);
        assert!((a.variance - (80.0f64 * 80.0 * 0.04 + 50.0 * 50.0 * 0.09)).abs() < 1e-9);
        let total: f64 = a.rows.iter().map(|r| r.1).sum();
        assert!((total - a.vol).abs() < 1e-12);
        assert!((a.undiversified - (20.0 + 15.0 + 4.0)).abs() < 1e-12);
    }
}
