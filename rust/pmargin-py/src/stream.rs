//! Helpers of the streaming runs (`python/pmargin/stream.py`): the spill partition of each row's
//! account, and the set of accounts whose group has ended (the check of an input declared grouped
//! by account). Only keys are computed here; every number still comes from `pmargin-core`.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, UInt32Array};
use pmargin_core::input::table::{integer_values, is_string_like, string_values};
use pmargin_core::MarginError;
use pyo3::prelude::*;
use pyo3_arrow::PyArray;

use crate::errors::{run_detached, Result};

/// A 64-bit hash of every row's account id under `seed` (null ids hash as a fixed value: the
/// engine reports them). Integer ids hash their value (whatever their width or encoding), string
/// ids their bytes: the same id always gets the same hash within one build of the extension.
fn hashes(array: &dyn Array, seed: u64) -> Result<Vec<u64>, MarginError> {
    let hash = |write: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        write(&mut h);
        h.finish()
    };
    if let Some(values) = integer_values(array) {
        return Ok(values.iter().map(|v| hash(&|h| v.hash(h))).collect());
    }
    if is_string_like(array.data_type()) {
        return Ok(string_values(array).iter().map(|v| hash(&|h| v.map(str::as_bytes).hash(h))).collect());
    }
    Err(MarginError::column(
        "positions",
        "account_id",
        format!("must be a string or integer column, got {}", array.data_type()),
    ))
}

/// The spill partition (0 .. `n`) of each row's account under `seed`: every row of an account
/// lands in the same partition, whatever the row order or batch split.
#[pyfunction]
pub fn account_partitions(py: Python<'_>, ids: PyArray, n: u32, seed: u64) -> Result<Py<PyAny>> {
    if n == 0 {
        return Err(MarginError::Internal("account_partitions needs at least one partition".into()).into());
    }
    let array = ids.array().clone();
    let codes = run_detached(py, || {
        let hashes = hashes(array.as_ref(), seed)?;
        // The high bits (multiply-shift) spread the partitions evenly for any n.
        let codes: UInt32Array = hashes.iter().map(|&h| ((u128::from(h) * u128::from(n)) >> 64) as u32).collect();
        Ok(Arc::new(codes) as ArrayRef)
    })?;
    Ok(PyArray::from_array_ref(codes).to_pyarrow(py)?.unbind())
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
