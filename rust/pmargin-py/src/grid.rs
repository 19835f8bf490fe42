//! `GridEngine` and `MarginRun`: the grid model behind `pmargin.MarginEngine`.

use std::sync::Arc;

use pmargin_core::{Cross, GridModel, MarginError, VolShockMode};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::{run_detached, to_py_err};
use crate::tables::{import, to_pyarrow};

fn parse_model(
    price_shocks: Vec<f64>,
    vol_shocks: Vec<f64>,
    vol_shock: &str,
    cross: &str,
    mm_ratio: f64,
) -> Result<GridModel, MarginError> {
    let vol_mode = match vol_shock {
        "relative" => VolShockMode::Relative,
        "absolute" => VolShockMode::Absolute,
        other => {
            return Err(MarginError::column(
                "model",
                "vol_shock",
                format!("must be 'relative' or 'absolute', got '{other}'"),
            ))
        }
    };
    let cross = match cross {
        "sum" => Cross::Sum,
        "joint" => Cross::Joint,
        other => {
            return Err(MarginError::column(
                "model",
                "cross",
                format!("must be 'sum' or 'joint', got '{other}'"),
            ))
        }
    };
    GridModel::new(price_shocks, vol_shocks, vol_mode, cross, mm_ratio)
}

/// Instruments and market validated, every usable contract priced once per scenario.
#[pyclass(module = "pmargin._core", frozen)]
pub struct GridEngine {
    inner: Arc<pmargin_core::GridEngine>,
}

#[pymethods]
impl GridEngine {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (instruments, underlyings, vols, as_of_ns, price_shocks, vol_shocks, vol_shock, cross, mm_ratio))]
    fn new(
        py: Python<'_>,
        instruments: AnyRecordBatch,
        underlyings: AnyRecordBatch,
        vols: AnyRecordBatch,
        as_of_ns: i64,
        price_shocks: Vec<f64>,
        vol_shocks: Vec<f64>,
        vol_shock: &str,
        cross: &str,
        mm_ratio: f64,
    ) -> PyResult<Self> {
        let model = parse_model(price_shocks, vol_shocks, vol_shock, cross, mm_ratio)
            .map_err(|e| to_py_err(py, e))?;
        let instruments = import(instruments)?;
        let underlyings = import(underlyings)?;
        let vols = import(vols)?;
        let engine = run_detached(py, || {
            pmargin_core::GridEngine::new(
                instruments.table("instruments"),
                underlyings.table("underlyings"),
                vols.table("vols"),
                as_of_ns,
                model,
            )
        })?;
        Ok(GridEngine {
            inner: Arc::new(engine),
        })
    }

    /// Margin every account of a positions table (the GIL is released while it runs).
    fn margin(&self, py: Python<'_>, positions: AnyRecordBatch) -> PyResult<MarginRun> {
        let positions = import(positions)?;
        let engine = self.inner.clone();
        let run = run_detached(py, || engine.margin(positions.table("positions")))?;
        Ok(MarginRun {
            engine: self.inner.clone(),
            run,
        })
    }

    /// `instrument_id`, `price` (per unit, multiplier included) of every instrument.
    fn values(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = run_detached(py, || self.inner.values_batch())?;
        to_pyarrow(py, batch)
    }

    #[getter]
    fn n_instruments(&self) -> usize {
        self.inner.instruments.len()
    }

    #[getter]
    fn n_scenarios(&self) -> usize {
        self.inner.model.n_scenarios()
    }
}

/// One margined positions table; result tables are built on request.
#[pyclass(module = "pmargin._core", frozen)]
pub struct MarginRun {
    engine: Arc<pmargin_core::GridEngine>,
    run: pmargin_core::MarginRun,
}

#[pymethods]
impl MarginRun {
    fn accounts(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = run_detached(py, || self.engine.accounts_batch(&self.run))?;
        to_pyarrow(py, batch)
    }

    fn by_underlying(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = run_detached(py, || self.engine.by_underlying_batch(&self.run))?;
        to_pyarrow(py, batch)
    }

    fn scenarios(&self, py: Python<'_>, account: usize) -> PyResult<Py<PyAny>> {
        let batch = run_detached(py, || self.engine.scenario_matrix_batch(&self.run, account))?;
        to_pyarrow(py, batch)
    }

    #[getter]
    fn n_accounts(&self) -> usize {
        self.run.book.n_accounts()
    }
}
