//! `Engine` and `MarginRun`: every method behind `pmargin.MarginEngine`, through one constructor
//! that takes the model's spec as data.

use std::sync::Arc;

use pmargin_core::{Limits, MethodSpec, OnError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;

use crate::arrow_io::{import, to_pyarrow};
use crate::errors::{run_detached, Result};
use crate::spec::to_value;

/// Parse a model spec dict into the core's typed spec.
fn method_spec(spec: &Bound<'_, PyDict>) -> Result<MethodSpec> {
    Ok(MethodSpec::from_value(&to_value(spec.as_any(), "model")?)?)
}

/// Instruments and market validated, every usable contract priced once per scenario.
#[pyclass(module = "pmargin._core", frozen)]
pub struct Engine {
    inner: Arc<pmargin_core::Engine>,
}

#[pymethods]
impl Engine {
    /// Build the method `spec["type"]` (`model.to_spec()`) on the instruments and market, within
    /// `limits` (`pmargin.Limits(...).to_spec()`; defaults when None).
    #[new]
    #[pyo3(signature = (instruments, underlyings, vols, as_of_ns, spec, limits=None))]
    fn new(
        py: Python<'_>,
        instruments: AnyRecordBatch,
        underlyings: AnyRecordBatch,
        vols: AnyRecordBatch,
        as_of_ns: i64,
        spec: &Bound<'_, PyDict>,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> Result<Self> {
        let spec = method_spec(spec)?;
        let limits = match limits {
            Some(limits) => Limits::from_value(&to_value(limits.as_any(), "limits")?)?,
            None => Limits::default(),
        };
        let instruments = import(instruments, "instruments")?;
        let underlyings = import(underlyings, "underlyings")?;
        let vols = import(vols, "vols")?;
        let engine = run_detached(py, || {
            pmargin_core::Engine::new(
                instruments.view("instruments"),
                underlyings.view("underlyings"),
                vols.view("vols"),
                as_of_ns,
                spec,
                limits,
            )
        })?;
        Ok(Engine { inner: Arc::new(engine) })
    }

    /// Margin every account of a positions table (the GIL is released while it runs).
    /// `on_error="isolate"` leaves out accounts holding an unknown or unusable instrument and
    /// lists them in `MarginRun.failed()`; "raise" (the default) fails the run instead.
    #[pyo3(signature = (positions, by_position=false, on_error="raise"))]
    fn margin(
        &self,
        py: Python<'_>,
        positions: AnyRecordBatch,
        by_position: bool,
        on_error: &str,
    ) -> Result<MarginRun> {
        let on_error = OnError::parse(on_error)?;
        let positions = import(positions, "positions")?;
        let engine = self.inner.clone();
        let run = run_detached(py, || engine.margin(positions.view("positions"), by_position, on_error))?;
        Ok(MarginRun { run })
    }

    /// Greeks per netted position and per account and underlying.
    fn greeks(&self, py: Python<'_>, positions: AnyRecordBatch) -> Result<(Py<PyAny>, Py<PyAny>)> {
        let positions = import(positions, "positions")?;
        let (by_position, by_underlying) = run_detached(py, || self.inner.greeks_batches(positions.view("positions")))?;
        Ok((to_pyarrow(py, by_position)?, to_pyarrow(py, by_underlying)?))
    }

    /// `instrument_id`, `price` (per unit, multiplier included) and Greeks of every instrument.
    fn values(&self, py: Python<'_>) -> Result<Py<PyAny>> {
        let batch = run_detached(py, || self.inner.values_batch())?;
        to_pyarrow(py, batch)
    }

    /// Pre-trade what-if of one account (plain sequences, no Arrow): `(before, after, alone)`,
    /// each margins pair `(initial, maintenance)`, `alone` one pair per trade.
    #[allow(clippy::type_complexity)]
    fn what_if(
        &self,
        py: Python<'_>,
        position_ids: Vec<String>,
        position_quantities: Vec<f64>,
        trade_ids: Vec<String>,
        trade_quantities: Vec<f64>,
    ) -> Result<((f64, f64), (f64, f64), Vec<(f64, f64)>)> {
        let engine = self.inner.clone();
        let w =
            run_detached(py, || engine.what_if(&position_ids, &position_quantities, &trade_ids, &trade_quantities))?;
        let pair = |m: pmargin_core::accounts::whatif::Margins| (m.initial, m.maintenance);
        Ok((pair(w.before), pair(w.after), w.alone.into_iter().map(pair).collect()))
    }

    #[getter]
    fn n_instruments(&self) -> usize {
        self.inner.n_instruments()
    }
}

/// The Monte Carlo scenario table of a `montecarlo` spec: `scenario`, `underlying`, `return`,
/// `vol_change`.
#[pyfunction]
pub fn monte_carlo_scenarios(py: Python<'_>, spec: &Bound<'_, PyDict>) -> Result<Py<PyAny>> {
    let MethodSpec::MonteCarlo(model) = method_spec(spec)? else {
        return Err(pmargin_core::spec::config_error("type", "must be 'montecarlo'").into());
    };
    let batch = run_detached(py, || model.scenarios.scenario_table())?;
    to_pyarrow(py, batch)
}

/// One margined positions table; result tables are built on request.
#[pyclass(module = "pmargin._core", frozen)]
pub struct MarginRun {
    run: pmargin_core::MarginRun,
}

#[pymethods]
impl MarginRun {
    fn accounts(&self, py: Python<'_>) -> Result<Py<PyAny>> {
        let batch = run_detached(py, || self.run.accounts_batch())?;
        to_pyarrow(py, batch)
    }

    /// `(accounts, by_underlying, by_position, explain)`, built in parallel; the last two are
    /// None unless the run was made with `by_position=True`.
    #[allow(clippy::type_complexity)]
    fn tables(&self, py: Python<'_>) -> Result<(Py<PyAny>, Py<PyAny>, Option<Py<PyAny>>, Option<Py<PyAny>>)> {
        let batches = run_detached(py, || self.run.all_batches())?;
        let (by_position, explain) = match batches.attribution {
            Some((by_position, explain)) => (Some(to_pyarrow(py, by_position)?), Some(to_pyarrow(py, explain)?)),
            None => (None, None),
        };
        Ok((to_pyarrow(py, batches.accounts)?, to_pyarrow(py, batches.by_underlying)?, by_position, explain))
    }

    /// The accounts left out (`on_error="isolate"`): `account_id`, `table`, `column`, `row`,
    /// `reason`; empty when none failed.
    fn failed(&self, py: Python<'_>) -> Result<Py<PyAny>> {
        let batch = run_detached(py, || self.run.failed_batch())?;
        to_pyarrow(py, batch)
    }

    fn by_underlying(&self, py: Python<'_>) -> Result<Py<PyAny>> {
        let batch = run_detached(py, || self.run.by_underlying_batch())?;
        to_pyarrow(py, batch)
    }

    /// `(by_position, explain)` tables of a run made with `by_position=True`.
    fn attribution(&self, py: Python<'_>) -> Result<(Py<PyAny>, Py<PyAny>)> {
        let (by_position, explain) = run_detached(py, || self.run.attribution_batches())?;
        Ok((to_pyarrow(py, by_position)?, to_pyarrow(py, explain)?))
    }

    fn scenarios(&self, py: Python<'_>, account: usize) -> Result<Py<PyAny>> {
        let batch = run_detached(py, || self.run.scenario_matrix_batch(account))?;
        to_pyarrow(py, batch)
    }

    #[getter]
    fn n_accounts(&self) -> usize {
        self.run.n_accounts()
    }
}
