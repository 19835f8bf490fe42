//! Arrow in and out. Inputs come from any Arrow PyCapsule producer (a table, a batch, a stream);
//! a stream stays a stream until a stage needs the whole table, and is read with the GIL held
//! (the producer may call into Python). Results leave as pyarrow Tables, which are Arrow
//! PyCapsule streams themselves (`__arrow_c_stream__`), so any consumer can read them.

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use arrow_select::concat::concat_batches;
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

    /// Read every batch: zero copy (the batches share the producer's buffers), except runs of
    /// small batches, which are copied together as they are read ([`SMALL_BATCH_ROWS`]).
    pub fn read_all(self, table: &str) -> Result<OwnedTable> {
        let schema = self.reader.schema();
        let failed =
            |e: ArrowError| MarginError::input(table, None, None, format!("reading the Arrow stream failed: {e}"));
        let mut batches = Vec::new();
        let mut small = SmallBatches::default();
        for batch in self.reader {
            let batch = batch.map_err(failed)?;
            if batch.num_rows() >= SMALL_BATCH_ROWS {
                small.flush(&schema, &mut batches);
                batches.push(batch);
            } else if small.add(batch) {
                small.flush(&schema, &mut batches);
            }
        }
        small.flush(&schema, &mut batches);
        Ok(OwnedTable { schema, batches })
    }
}

/// Batches of fewer rows than this are copied together into batches of about this many rows as
/// they are read. Each imported batch holds the producer's export bookkeeping until it is
/// released: 100,000 one-row batches (a message queue's) held to the end of a read cost seconds
/// and hundreds of MB in the producer's allocator; copied together, they are released at once.
/// The rows and their order are unchanged, and no result depends on batch boundaries.
const SMALL_BATCH_ROWS: usize = 1024;

/// Most batches copied together at once (zero-row batches add no rows).
const SMALL_BATCHES: usize = 1024;

/// A run of small batches waiting to be copied together.
#[derive(Default)]
struct SmallBatches {
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl SmallBatches {
    /// Add a batch; true when the run is large enough to be copied together.
    fn add(&mut self, batch: RecordBatch) -> bool {
        self.rows += batch.num_rows();
        self.batches.push(batch);
        self.rows >= SMALL_BATCH_ROWS || self.batches.len() >= SMALL_BATCHES
    }

    /// The run, copied into one batch, appended to `out`. A run that cannot be joined (a type
    /// `concat` does not support, or a batch that breaks a field's declared nullability) is
    /// appended as it was read: the readers then see the same rows.
    fn flush(&mut self, schema: &SchemaRef, out: &mut Vec<RecordBatch>) {
        self.rows = 0;
        if self.batches.len() > 1 {
            if let Ok(joined) = concat_batches(schema, &self.batches) {
                self.batches.clear();
                out.push(joined);
                return;
            }
        }
        out.append(&mut self.batches);
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
