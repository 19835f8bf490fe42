//! Import Arrow tables from any PyCapsule producer and export results as pyarrow Tables.

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyTable;

/// An input table imported without copying its buffers.
pub struct Imported {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Imported {
    pub fn table(&self, name: &'static str) -> pmargin_core::Table<'_> {
        pmargin_core::Table::new(name, &self.schema, &self.batches)
    }
}

/// Read every batch of a table or stream (with the GIL held: the stream may call into Python).
pub fn import(data: AnyRecordBatch) -> PyResult<Imported> {
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, ArrowError>>()
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("reading the Arrow stream: {e}")))?;
    Ok(Imported { schema, batches })
}

pub fn to_pyarrow(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    let schema = batch.schema();
    Ok(PyTable::try_new(vec![batch], schema)?.into_pyarrow(py)?.unbind())
}
