//! Core errors and panics as the package's Python exceptions (`pmargin.errors`), through one
//! error type so `?` works in every binding: [`Error`] converts from a core error or a Python
//! error and into the matching Python exception.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pmargin_core::MarginError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// An error on its way to Python.
pub enum Error {
    Core(MarginError),
    Python(PyErr),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<MarginError> for Error {
    fn from(error: MarginError) -> Self {
        Error::Core(error)
    }
}

impl From<PyErr> for Error {
    fn from(error: PyErr) -> Self {
        Error::Python(error)
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        match error {
            Error::Python(err) => err,
            Error::Core(error) => Python::attach(|py| match raise_python(py, error) {
                Ok(err) | Err(err) => err,
            }),
        }
    }
}

/// Build the matching `pmargin.errors` exception, with structured detail.
fn raise_python(py: Python<'_>, error: MarginError) -> PyResult<PyErr> {
    let errors = py.import("pmargin.errors")?;
    let kwargs = PyDict::new(py);
    let (class, reason) = match error {
        MarginError::Input { table, column, row, reason } => {
            kwargs.set_item("table", table)?;
            kwargs.set_item("column", column)?;
            kwargs.set_item("row", row)?;
            ("MarginInputError", reason)
        }
        MarginError::Config { field, reason } => {
            kwargs.set_item("table", "model")?;
            kwargs.set_item("column", field)?;
            ("MarginConfigError", reason)
        }
        MarginError::Internal(message) => ("MarginComputationError", message),
    };
    let kwargs = (!kwargs.is_empty()).then_some(kwargs);
    Ok(PyErr::from_value(errors.getattr(class)?.call((reason,), kwargs.as_ref())?))
}

/// Run `work` without the GIL; a core error or a panic comes back as a Python exception.
pub fn run_detached<T, F>(py: Python<'_>, work: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T, MarginError> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(outcome) => Ok(outcome?),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// Run `work` with the GIL held (reading a producer's stream, say); a panic comes back as a
/// Python exception instead of crossing into Python as a `PanicException`.
pub fn run_guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| Err(panic_error(panic)))
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    MarginError::Internal(format!("the native engine failed: {what}")).into()
}

impl From<pyo3_arrow::error::PyArrowError> for Error {
    fn from(error: pyo3_arrow::error::PyArrowError) -> Self {
        Error::Python(error.into())
    }
}
