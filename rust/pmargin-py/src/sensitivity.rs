//! `simm(crif, spec)` and `portfolio_variance(...)`: conversion only; the core computes.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;

use crate::arrow_io::{import, to_pyarrow};
use crate::errors::{run_detached, Result};
use crate::spec::to_value;

/// SIMM of every account of a CRIF table: a dict of pyarrow Tables (accounts, product_classes,
/// risk_classes, buckets, contributions). The GIL is released while it runs.
#[pyfunction]
pub fn simm<'py>(py: Python<'py>, crif: AnyRecordBatch, spec: &Bound<'py, PyDict>) -> Result<Bound<'py, PyDict>> {
    let spec = to_value(spec.as_any(), "model")?;
    let crif = import(crif, "crif")?;
    let t = run_detached(py, || pmargin_core::sensitivity::simm(&crif.view("crif"), &spec))?;
    let out = PyDict::new(py);
    out.set_item("accounts", to_pyarrow(py, t.accounts)?)?;
    out.set_item("product_classes", to_pyarrow(py, t.product_classes)?)?;
    out.set_item("risk_classes", to_pyarrow(py, t.risk_classes)?)?;
    out.set_item("buckets", to_pyarrow(py, t.buckets)?)?;
    out.set_item("contributions", to_pyarrow(py, t.contributions)?)?;
    Ok(out)
}

/// Portfolio volatility per account (`positions`: account_index, underlying_index, cash_delta,
/// dollar_gamma; `spec`: n_accounts, n_underlyings, covariance (row-major), delta_gamma):
/// (positions, accounts) pyarrow Tables.
#[pyfunction]
pub fn portfolio_variance(
    py: Python<'_>,
    positions: AnyRecordBatch,
    spec: &Bound<'_, PyDict>,
) -> Result<(Py<PyAny>, Py<PyAny>)> {
    let spec = to_value(spec.as_any(), "model")?;
    let positions = import(positions, "positions")?;
    let t = run_detached(py, || {
        pmargin_core::sensitivity::variance::portfolio_variance(&positions.view("positions"), &spec)
    })?;
    Ok((to_pyarrow(py, t.positions)?, to_pyarrow(py, t.accounts)?))
}
