//! Arrow in and out. Inputs come from any Arrow PyCapsule producer (a table, a batch, a stream);
//! a stream stays a stream until a stage needs the whole table, and is read with the GIL held
//! (the producer may call into Python). Results leave as pyarrow Tables, which are Arrow
//! PyCapsule streams themselves (`__arrow_c_stream__`), so any consumer can read them.

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::ArrowError;
use pmargin_core::{MarginError, OwnedTable};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyTable;

use crate::errors::{run_guarded, Result};

/// An input as a stream of record batches, not yet read.
pub struct Stream {
    reader: Box<dyn RecordBatchReader + Send>,
}

impl Stream {
    pub fn new(data: AnyRecordBatch) -> Result<Self> {
        Ok(Stream { reader: data.into_reader()? })
    }

    /// Read every batch (zero copy: the batches share the producer's buffers).
    pub fn read_all(self, table: &str) -> Result<OwnedTable> {
        let schema = self.reader.schema();
        let batches = self
            .reader
            .collect::<Result<Vec<_>, ArrowError>>()
            .map_err(|e| MarginError::input(table, None, None, format!("reading the Arrow stream failed: {e}")))?;
        Ok(OwnedTable { schema, batches })
    }
}

/// A whole input table, read from any producer (inside the panic guard: nothing read from a
/// producer may panic into Python). String columns are checked for valid UTF-8 by the core's
/// readers when a stage reads them, so bytes are never turned into text here.
pub fn import(data: AnyRecordBatch, table: &str) -> Result<OwnedTable> {
    run_guarded(|| Stream::new(data)?.read_all(table))
}

pub fn to_pyarrow(py: Python<'_>, batch: RecordBatch) -> Result<Py<PyAny>> {
    let schema = batch.schema();
    Ok(PyTable::try_new(vec![batch], schema)?.into_pyarrow(py)?.unbind())
}
