//! A memory hint for loops over rows in random order (string ids of a shuffled book, the cells
//! of a CRIF out of account order): requesting the cache lines of rows a few steps ahead
//! overlaps their misses instead of waiting for each in turn.

/// Ask for the cache line holding `value` (a hint: no effect on any result).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing and cannot fault; the address is a live reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
