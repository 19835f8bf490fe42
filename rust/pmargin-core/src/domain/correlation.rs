//! Correlation matrices between underlyings: defensive validation and the semi-definite Cholesky
//! factor used to correlate Monte Carlo draws. `pmargin.Correlation` validates (and may repair)
//! the matrix before it reaches the core; the checks here keep the core safe on its own.

use crate::error::{MarginError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatrix {
    pub names: Vec<String>,
    /// Row-major `d x d`.
    pub values: Vec<f64>,
}

fn corr_error(column: Option<&str>, row: Option<usize>, reason: String) -> MarginError {
    MarginError::input("correlation", column, row, reason)
}

impl CorrelationMatrix {
    pub fn new(names: Vec<String>, values: Vec<f64>) -> Result<Self> {
        let d = names.len();
        if values.len() != d * d {
            return Err(corr_error(
                None,
                None,
                format!("matrix has {} entries; {d} names need {}", values.len(), d * d),
            ));
        }
        for i in 0..d {
            if names[..i].contains(&names[i]) {
                return Err(corr_error(Some(&names[i]), Some(i), format!("duplicate name '{}'", names[i])));
            }
            for j in 0..d {
                let v = values[i * d + j];
                let bad = if !v.is_finite() {
                    Some(format!("{v} is not a finite number"))
                } else if !(-1.0..=1.0).contains(&v) {
                    Some(format!("{v} is outside [-1, 1]"))
                } else if i == j && (v - 1.0).abs() > 1e-12 {
                    Some(format!("diagonal entry is {v}, not 1"))
                } else if (v - values[j * d + i]).abs() > 1e-12 {
                    Some(format!("not symmetric: {v} here, {} at ({j}, {i})", values[j * d + i]))
                } else {
                    None
                };
                if let Some(reason) = bad {
                    return Err(corr_error(Some(&names[j]), Some(i), reason));
                }
            }
        }
        let matrix = CorrelationMatrix { names, values };
        matrix.cholesky_lower()?;
        Ok(matrix)
    }

    pub fn dim(&self) -> usize {
        self.names.len()
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.dim() + j]
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Lower factor L with L L' = A, tolerant of semi-definite matrices (docs/methods.md): a
    /// pivot that is (numerically) zero gives a zero column. A clearly negative pivot means the
    /// matrix is not positive semi-definite.
    pub fn cholesky_lower(&self) -> Result<Vec<f64>> {
        let d = self.dim();
        let mut l = vec![0.0; d * d];
        for j in 0..d {
            for m in 0..j {
                let mut dot = 0.0;
                for q in 0..m {
                    dot += l[j * d + q] * l[m * d + q];
                }
                let s = self.get(j, m) - dot;
                l[j * d + m] = if l[m * d + m] > 0.0 { s / l[m * d + m] } else { 0.0 };
            }
            let mut dot = 0.0;
            for q in 0..j {
                dot += l[j * d + q] * l[j * d + q];
            }
            let d2 = self.get(j, j) - dot;
            if d2 < -1e-9 {
                return Err(corr_error(
                    Some(&self.names[j]),
                    Some(j),
                    format!(
                        "not positive semi-definite (pivot {d2:.3e}); pmargin.Correlation(..., repair=True) repairs it"
                    ),
                ));
            }
            l[j * d + j] = if d2 > 1e-12 { d2.sqrt() } else { 0.0 };
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("U{i}")).collect()
    }

    #[test]
    fn factor_reproduces_the_matrix() {
        let m = CorrelationMatrix::new(names(3), vec![1.0, 0.5, 0.2, 0.5, 1.0, -0.3, 0.2, -0.3, 1.0]).expect("valid");
        let l = m.cholesky_lower().expect("psd");
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|q| l[i * 3 + q] * l[j * 3 + q]).sum();
                assert!((v - m.get(i, j)).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn perfect_correlation_factors_with_a_zero_column() {
        let m = CorrelationMatrix::new(names(2), vec![1.0, 1.0, 1.0, 1.0]).expect("psd");
        assert_eq!(m.cholesky_lower().expect("psd"), vec![1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn rejects_bad_matrices() {
        let asym = CorrelationMatrix::new(names(2), vec![1.0, 0.5, 0.4, 1.0]).unwrap_err().to_string();
        assert!(asym.contains("not symmetric"), "{asym}");
        let diag = CorrelationMatrix::new(names(2), vec![0.9, 0.0, 0.0, 1.0]).unwrap_err().to_string();
        assert!(diag.contains("diagonal"), "{diag}");
        let not_psd = vec![1.0, 0.9, -0.9, 0.9, 1.0, 0.9, -0.9, 0.9, 1.0];
        let err = CorrelationMatrix::new(names(3), not_psd).unwrap_err().to_string();
        assert!(err.contains("positive semi-definite"), "{err}");
    }
}
