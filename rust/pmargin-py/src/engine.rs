//! `Engine` and `MarginRun`: every model behind `pmargin.MarginEngine`.

use std::sync::Arc;

use pmargin_core::correlation::CorrelationMatrix;
use pmargin_core::measure::Measure;
use pmargin_core::scenarios::montecarlo::{Distribution, MonteCarloSpec};
use pmargin_core::{Cross, GridModel, MarginError, ModelSpec, TailSpec, VolShockMode};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::{run_detached, to_py_err};
use crate::tables::{import, to_pyarrow, Imported};

fn model_error(field: &str, reason: String) -> MarginError {
    MarginError::column("model", field, reason)
}

fn vol_mode(text: &str) -> Result<VolShockMode, MarginError> {
    match text {
        "relative" => Ok(VolShockMode::Relative),
        "absolute" => Ok(VolShockMode::Absolute),
        other => Err(model_error("vol_shock", format!("must be 'relative' or 'absolute', got '{other}'"))),
    }
}

fn measure(text: &str) -> Result<Measure, MarginError> {
    match text {
        "var" => Ok(Measure::VaR),
        "es" => Ok(Measure::ES),
        other => Err(model_error("measure", format!("must be 'var' or 'es', got '{other}'"))),
    }
}

fn correlation(names: Option<Vec<String>>, matrix: Option<Vec<f64>>) -> Result<Option<CorrelationMatrix>, MarginError> {
    match (names, matrix) {
        (Some(names), Some(values)) => CorrelationMatrix::new(names, values).map(Some),
        (None, None) => Ok(None),
        _ => Err(model_error("correlation", "names and matrix go together".into())),
    }
}

/// The market inputs every engine needs.
struct MarketTables {
    instruments: Imported,
    underlyings: Imported,
    vols: Imported,
    as_of_ns: i64,
}

impl MarketTables {
    fn import(
        instruments: AnyRecordBatch,
        underlyings: AnyRecordBatch,
        vols: AnyRecordBatch,
        as_of_ns: i64,
    ) -> PyResult<Self> {
        Ok(MarketTables {
            instruments: import(instruments)?,
            underlyings: import(underlyings)?,
            vols: import(vols)?,
            as_of_ns,
        })
    }

    fn build(&self, spec: ModelSpec<'_>) -> Result<pmargin_core::Engine, MarginError> {
        pmargin_core::Engine::new(
            self.instruments.table("instruments"),
            self.underlyings.table("underlyings"),
            self.vols.table("vols"),
            self.as_of_ns,
            spec,
        )
    }
}

/// Instruments and market validated, every usable contract priced once per scenario.
#[pyclass(module = "pmargin._core", frozen)]
pub struct Engine {
    inner: Arc<pmargin_core::Engine>,
}

#[pymethods]
impl Engine {
    /// The price x vol grid.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (instruments, underlyings, vols, as_of_ns, price_shocks, vol_shocks, vol_shock, cross, mm_ratio, correlation_names=None, correlation_matrix=None, floor_largest=false))]
    fn grid(
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
        correlation_names: Option<Vec<String>>,
        correlation_matrix: Option<Vec<f64>>,
        floor_largest: bool,
    ) -> PyResult<Self> {
        let market = MarketTables::import(instruments, underlyings, vols, as_of_ns)?;
        let parse = || -> Result<GridModel, MarginError> {
            let cross = match (cross, correlation(correlation_names, correlation_matrix)?) {
                ("sum", _) => Cross::Sum,
                ("joint", _) => Cross::Joint,
                ("correlation", Some(matrix)) => Cross::Correlation { matrix, floor_largest },
                ("correlation", None) => {
                    return Err(model_error("correlation", "cross='correlation' needs a correlation matrix".into()))
                }
                (other, _) => {
                    return Err(model_error("cross", format!("must be 'sum', 'joint' or 'correlation', got '{other}'")))
                }
            };
            GridModel::new(price_shocks, vol_shocks, vol_mode(vol_shock)?, cross, mm_ratio)
        };
        let model = parse().map_err(|e| to_py_err(py, e))?;
        let engine = run_detached(py, || market.build(ModelSpec::Grid(model)))?;
        Ok(Engine { inner: Arc::new(engine) })
    }

    /// Historical simulation over one or two windows of joint moves.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (instruments, underlyings, vols, as_of_ns, moves, stressed, measure, confidence, vol_shock, mm_ratio, ewma_lambda=None))]
    fn historical(
        py: Python<'_>,
        instruments: AnyRecordBatch,
        underlyings: AnyRecordBatch,
        vols: AnyRecordBatch,
        as_of_ns: i64,
        moves: AnyRecordBatch,
        stressed: Option<AnyRecordBatch>,
        measure: &str,
        confidence: f64,
        vol_shock: &str,
        mm_ratio: f64,
        ewma_lambda: Option<f64>,
    ) -> PyResult<Self> {
        let market = MarketTables::import(instruments, underlyings, vols, as_of_ns)?;
        let moves = import(moves)?;
        let stressed = stressed.map(import).transpose()?;
        let (tail, vol_mode) =
            (|| Ok((TailSpec { measure: self::measure(measure)?, confidence, mm_ratio }, vol_mode(vol_shock)?)))()
                .map_err(|e| to_py_err(py, e))?;
        let engine = run_detached(py, || {
            market.build(ModelSpec::Historical {
                moves: moves.table("moves"),
                stressed: stressed.as_ref().map(|s| s.table("stressed")),
                vol_mode,
                ewma_lambda,
                tail,
            })
        })?;
        Ok(Engine { inner: Arc::new(engine) })
    }

    /// Correlated Monte Carlo from a counter-based generator.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (instruments, underlyings, vols, as_of_ns, correlation_names, correlation_matrix, horizon_vols, n_scenarios, seed, dof, measure, confidence, vol_of_vol, spot_vol_correlation, mm_ratio))]
    fn monte_carlo(
        py: Python<'_>,
        instruments: AnyRecordBatch,
        underlyings: AnyRecordBatch,
        vols: AnyRecordBatch,
        as_of_ns: i64,
        correlation_names: Vec<String>,
        correlation_matrix: Vec<f64>,
        horizon_vols: Vec<Option<f64>>,
        n_scenarios: usize,
        seed: u64,
        dof: Option<f64>,
        measure: &str,
        confidence: f64,
        vol_of_vol: f64,
        spot_vol_correlation: f64,
        mm_ratio: f64,
    ) -> PyResult<Self> {
        let market = MarketTables::import(instruments, underlyings, vols, as_of_ns)?;
        let spec = mc_spec(
            correlation_names,
            correlation_matrix,
            horizon_vols,
            n_scenarios,
            seed,
            dof,
            vol_of_vol,
            spot_vol_correlation,
        )
        .map_err(|e| to_py_err(py, e))?;
        let tail = self::measure(measure)
            .map(|m| TailSpec { measure: m, confidence, mm_ratio })
            .map_err(|e| to_py_err(py, e))?;
        let engine = run_detached(py, || market.build(ModelSpec::MonteCarlo { spec, tail }))?;
        Ok(Engine { inner: Arc::new(engine) })
    }

    /// Margin every account of a positions table (the GIL is released while it runs).
    #[pyo3(signature = (positions, by_position=false))]
    fn margin(&self, py: Python<'_>, positions: AnyRecordBatch, by_position: bool) -> PyResult<MarginRun> {
        let positions = import(positions)?;
        let engine = self.inner.clone();
        let run = run_detached(py, || engine.margin(positions.table("positions"), by_position))?;
        Ok(MarginRun { engine: self.inner.clone(), run })
    }

    /// Greeks per netted position and per account and underlying.
    fn greeks(&self, py: Python<'_>, positions: AnyRecordBatch) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let positions = import(positions)?;
        let (by_position, by_underlying) =
            run_detached(py, || self.inner.greeks_batches(positions.table("positions")))?;
        Ok((to_pyarrow(py, by_position)?, to_pyarrow(py, by_underlying)?))
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
}

#[allow(clippy::too_many_arguments)]
fn mc_spec(
    names: Vec<String>,
    matrix: Vec<f64>,
    horizon_vols: Vec<Option<f64>>,
    n_scenarios: usize,
    seed: u64,
    dof: Option<f64>,
    vol_of_vol: f64,
    spot_vol_correlation: f64,
) -> Result<MonteCarloSpec, MarginError> {
    let spec = MonteCarloSpec {
        correlation: CorrelationMatrix::new(names, matrix)?,
        horizon_vols,
        n_scenarios,
        seed,
        distribution: dof.map_or(Distribution::Normal, |dof| Distribution::StudentT { dof }),
        vol_of_vol,
        spot_vol_correlation,
    };
    spec.validate()?;
    Ok(spec)
}

/// The Monte Carlo scenario table: `scenario`, `underlying`, `return`, `vol_change`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (correlation_names, correlation_matrix, horizon_vols, n_scenarios, seed, dof, vol_of_vol, spot_vol_correlation))]
pub fn monte_carlo_scenarios(
    py: Python<'_>,
    correlation_names: Vec<String>,
    correlation_matrix: Vec<f64>,
    horizon_vols: Vec<Option<f64>>,
    n_scenarios: usize,
    seed: u64,
    dof: Option<f64>,
    vol_of_vol: f64,
    spot_vol_correlation: f64,
) -> PyResult<Py<PyAny>> {
    let spec = mc_spec(
        correlation_names,
        correlation_matrix,
        horizon_vols,
        n_scenarios,
        seed,
        dof,
        vol_of_vol,
        spot_vol_correlation,
    )
    .map_err(|e| to_py_err(py, e))?;
    let batch = run_detached(py, || spec.scenario_table())?;
    to_pyarrow(py, batch)
}

/// One margined positions table; result tables are built on request.
#[pyclass(module = "pmargin._core", frozen)]
pub struct MarginRun {
    engine: Arc<pmargin_core::Engine>,
    run: pmargin_core::MarginRun,
}

#[pymethods]
impl MarginRun {
    fn accounts(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = run_detached(py, || self.engine.accounts_batch(&self.run))?;
        to_pyarrow(py, batch)
    }

    /// `(accounts, by_underlying, by_position, explain)`, built in parallel; the last two are
    /// None unless the run was made with `by_position=True`.
    #[allow(clippy::type_complexity)]
    fn tables(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>, Option<Py<PyAny>>, Option<Py<PyAny>>)> {
        let batches = run_detached(py, || self.engine.all_batches(&self.run))?;
        let (by_position, explain) = match batches.attribution {
            Some((by_position, explain)) => (Some(to_pyarrow(py, by_position)?), Some(to_pyarrow(py, explain)?)),
            None => (None, None),
        };
        Ok((to_pyarrow(py, batches.accounts)?, to_pyarrow(py, batches.by_underlying)?, by_position, explain))
    }

    fn by_underlying(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = run_detached(py, || self.engine.by_underlying_batch(&self.run))?;
        to_pyarrow(py, batch)
    }

    /// `(by_position, explain)` tables of a run made with `by_position=True`.
    fn attribution(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let (by_position, explain) = run_detached(py, || self.engine.attribution_batches(&self.run))?;
        Ok((to_pyarrow(py, by_position)?, to_pyarrow(py, explain)?))
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
