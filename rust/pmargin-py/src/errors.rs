//! Map core errors and panics to the package's Python exceptions (`pmargin.errors`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pmargin_core::MarginError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Build the matching `pmargin.errors` exception, with structured detail for input errors.
pub fn to_py_err(py: Python<'_>, error: MarginError) -> PyErr {
    match raise_python(py, error) {
        Ok(err) | Err(err) => err,
    }
}

fn raise_python(py: Python<'_>, error: MarginError) -> PyResult<PyErr> {
    let errors = py.import("pmargin.errors")?;
    let value = match error {
        MarginError::Input { table, column, row, reason } => {
            let class = if table == "model" { "MarginConfigError" } else { "MarginInputError" };
            let kwargs = PyDict::new(py);
            kwargs.set_item("table", table)?;
            kwargs.set_item("column", column)?;
            kwargs.set_item("row", row)?;
            errors.getattr(class)?.call((reason,), Some(&kwargs))?
        }
        MarginError::Internal(message) => errors.getattr("MarginComputationError")?.call1((message,))?,
    };
    Ok(PyErr::from_value(value))
}

/// Run `work` without the GIL; a core error or a panic comes back as a Python exception.
pub fn run_detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, MarginError> + Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(to_py_err(py, error)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(to_py_err(py, MarginError::Internal(format!("the native engine failed: {what}"))))
        }
    }
}
