//! Helpers of the streaming and Ray runs (`python/pmargin/stream.py`, `ray.py`): rows regrouped
//! by their account's hash partition (spill files, Ray partitions), and the set of accounts whose
//! group has ended (the check of an input declared grouped by account). Only keys are computed
//! and rows moved here; every number still comes from `pmargin-core`.

use std::collections::HashSet;
use std::hash::BuildHasher;

use arrow_array::{Array, RecordBatch};
use arrow_select::interleave::interleave_record_batch;
use pmargin_core::input::table::{integer_values, is_string_like, string_values};
use pmargin_core::MarginError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::{PyArray, PyRecordBatch};
use rayon::prelude::*;

use crate::arrow_io::import;
use crate::errors::{run_detached, Result};

/// A 64-bit hash of every row's account id under `seed` (null ids hash as a fixed value: the
/// engine reports them). Integer ids hash their value (whatever their width or encoding), string
/// ids their bytes: the same id always gets the same hash within one build of the extension.
fn hashes(array: &dyn Array, seed: u64) -> Result<Vec<u64>, MarginError> {
    let state = foldhash::quality::FixedState::with_seed(seed);
    if let Some(values) = integer_values(array) {
        return Ok(values.iter().map(|v| state.hash_one(v)).collect());
    }
    if is_string_like(array.data_type()) {
        return Ok(string_values(array).iter().map(|v| state.hash_one(v.map(str::as_bytes))).collect());
    }
    Err(MarginError::column(
        "positions",
        "account_id",
        format!("must be a string or integer column, got {}", array.data_type()),
    ))
}

/// The partition (0 .. `n`) of each row's account under `seed`: every row of an account lands in
/// the same partition, whatever the row order or batch split.
fn partition_codes(ids: &dyn Array, n: u32, seed: u64) -> Result<Vec<u32>, MarginError> {
    // The high bits (multiply-shift) spread the partitions evenly for any n.
    Ok(hashes(ids, seed)?.iter().map(|&h| ((u128::from(h) * u128::from(n)) >> 64) as u32).collect())
}

/// Most partitions one regrouping makes (each is a batch returned to Python).
const MAX_PARTITIONS: u32 = 1 << 20;

/// The rows of `data` (a table or batch with an `account_id` column) in `n` record batches, one
/// per partition of [`partition_codes`] under `seed`, rows in input order within each: one
/// pass of hashing, a counting sort of (batch, row) addresses, and the partitions gathered in
/// parallel, each column copied once (no intermediate sorted copy, no concatenation of chunks).
#[pyfunction]
pub fn group_by_partition(py: Python<'_>, data: AnyRecordBatch, n: u64, seed: u64) -> Result<Vec<Py<PyAny>>> {
    if n == 0 {
        return Err(MarginError::Internal("group_by_partition needs at least one partition".into()).into());
    }
    // A bound before anything is allocated per partition (a user's `partitions` arrives here).
    let n = u32::try_from(n).ok().filter(|&n| n <= MAX_PARTITIONS).ok_or_else(|| {
        MarginError::input("options", Some("partitions"), None, format!("at most {MAX_PARTITIONS} partitions, got {n}"))
    })?;
    let table = import(data, "positions")?;
    let parts = run_detached(py, || {
        let account = (table.schema.index_of("account_id"))
            .map_err(|_| MarginError::column("positions", "account_id", "missing column"))?;
        let codes = (table.batches.iter())
            .map(|batch| partition_codes(batch.column(account).as_ref(), n, seed))
            .collect::<Result<Vec<_>, MarginError>>()?;
        let mut sizes = vec![0usize; n as usize];
        codes.iter().flatten().for_each(|&code| sizes[code as usize] += 1);
        let mut addresses: Vec<Vec<(usize, usize)>> = sizes.iter().map(|&size| Vec::with_capacity(size)).collect();
        for (b, codes) in codes.iter().enumerate() {
            for (row, &code) in codes.iter().enumerate() {
                addresses[code as usize].push((b, row));
            }
        }
        let batches: Vec<&RecordBatch> = table.batches.iter().collect();
        addresses
            .par_iter()
            .map(|rows| {
                if batches.is_empty() || rows.is_empty() {
                    return Ok(RecordBatch::new_empty(table.schema.clone()));
                }
                interleave_record_batch(&batches, rows).map_err(|e| {
                    MarginError::input("positions", None, None, format!("cannot regroup the rows by account: {e}"))
                })
            })
            .collect::<Result<Vec<_>, MarginError>>()
    })?;
    parts.into_iter().map(|batch| Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())).collect()
}

/// Accounts whose group has ended, as 128-bit fingerprints (two independent 64-bit hashes of the
/// id): 16 bytes per account plus the hash set's slack, never the ids themselves. Two distinct ids
/// share a fingerprint with probability about n^2 / 2^129 (under 1e-20 for a billion accounts).
#[pyclass(module = "pmargin._core")]
#[derive(Default)]
pub struct AccountSet {
    seen: HashSet<u128>,
}

#[pymethods]
impl AccountSet {
    #[new]
    fn new() -> Self {
        AccountSet::default()
    }

    /// Add the ids of `ids` in order; the index of the first one already in the set (added
    /// earlier or earlier in `ids`), None when all were new.
    fn add_new(&mut self, py: Python<'_>, ids: PyArray) -> Result<Option<usize>> {
        let array = ids.array().clone();
        let seen = &mut self.seen;
        run_detached(py, || {
            let (low, high) = (hashes(array.as_ref(), 0x5EED_0001)?, hashes(array.as_ref(), 0x5EED_0002)?);
            seen.reserve(low.len());
            Ok(low.iter().zip(&high).position(|(&l, &h)| !seen.insert((u128::from(h) << 64) | u128::from(l))))
        })
    }

    fn __len__(&self) -> usize {
        self.seen.len()
    }
}
