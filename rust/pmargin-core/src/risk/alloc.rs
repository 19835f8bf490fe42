//! Fallible allocation of large buffers, and byte counts for messages. Large buffers are sized
//! from user settings (scenarios x instruments): a failed allocation must be an error, never an
//! abort of the process.

use crate::error::{MarginError, Result};

/// `"34.0 GiB"`, `"1.5 MiB"`, `"12 bytes"`.
pub fn bytes(b: u128) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if b >= 1u128 << shift {
            return format!("{:.1} {unit}", b as f64 / (1u128 << shift) as f64);
        }
    }
    format!("{b} bytes")
}

/// A zeroed vector of `len` values, or a config error on `memory_budget` when the allocation
/// fails (the estimate is an estimate: the allocation itself must not abort either).
pub fn zeroed<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| MarginError::Config {
        field: "memory_budget".to_owned(),
        reason: format!(
            "could not allocate {} for the {what}; use fewer scenarios or instruments",
            bytes(len as u128 * std::mem::size_of::<T>() as u128)
        ),
    })?;
    v.resize(len, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(bytes(12), "12 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(34 << 30), "34.0 GiB");
    }

    #[test]
    fn a_failed_allocation_is_an_error() {
        let err = zeroed::<f64>(usize::MAX / 8, "risk arrays").expect_err("cannot allocate");
        assert!(err.to_string().starts_with("model.memory_budget: could not allocate "), "{err}");
        assert_eq!(zeroed::<f64>(3, "x").expect("small"), vec![0.0; 3]);
    }
}
