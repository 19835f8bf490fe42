//! `pmargin._core`: the native extension. Arrow exchange ([`arrow_io`]), spec conversion
//! ([`spec`]), GIL release and error mapping ([`errors`]) only; every computation lives in
//! `pmargin-core`.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;

mod arrow_io;
mod engine;
mod errors;
mod sensitivity;
mod spec;
mod stream;

/// Rust-side allocations (risk arrays, result buffers) come from mimalloc, which reuses freed
/// memory within the process instead of handing large blocks back to the OS at once: without it,
/// every run page-faults its fresh buffers in (about 1 us per 4 KiB page on a VM), which costs
/// more than writing the by_position table. Python's own allocations are untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Address of each column's value buffer per batch, as the native side sees it after import.
/// Tests compare these with the producer's own buffers to prove nothing was copied.
#[pyfunction]
fn column_addresses<'py>(py: Python<'py>, table: AnyRecordBatch) -> errors::Result<Bound<'py, PyDict>> {
    let imported = arrow_io::import(table, "table")?;
    let out = PyDict::new(py);
    for (i, field) in imported.schema.fields().iter().enumerate() {
        let addresses: Vec<usize> = imported
            .batches
            .iter()
            .map(|b| {
                let data = b.column(i).to_data();
                let buffers = data.buffers();
                // Strings: buffers[0] is offsets (or views); report the last (character data).
                buffers.last().map_or(0, |buf| buf.as_ptr() as usize)
            })
            .collect();
        out.set_item(field.name(), addresses)?;
    }
    Ok(out)
}

/// True when the extension was built without optimisations (benchmarks warn about it).
#[pyfunction]
fn is_debug_build() -> bool {
    cfg!(debug_assertions)
}

/// mimalloc's `mi_option_purge_delay` (mimalloc.h): how long freed memory stays committed before
/// it is returned to the OS. The default (10 ms) hands a run's buffers back between two runs, so
/// every run of a batch or chunked job page-faults (and the kernel zeroes) all of them again,
/// a sixth of a margin run's CPU time; kept for 10 s they are reused warm, and still returned
/// once the process goes idle.
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // SAFETY: sets one integer option of the allocator; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS) };
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::MarginRun>()?;
    m.add_function(wrap_pyfunction!(engine::monte_carlo_scenarios, m)?)?;
    m.add_function(wrap_pyfunction!(column_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(is_debug_build, m)?)?;
    m.add_function(wrap_pyfunction!(sensitivity::simm, m)?)?;
    m.add_function(wrap_pyfunction!(sensitivity::portfolio_variance, m)?)?;
    m.add_class::<stream::AccountSet>()?;
    m.add_function(wrap_pyfunction!(stream::group_by_partition, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
