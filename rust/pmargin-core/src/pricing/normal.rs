//! The standard normal distribution.

use std::f64::consts::SQRT_2;

// The C library's erfc (glibc's on Linux): the very function Python's `math.erfc` calls, so the
// pure-Python reference prices bit for bit alike, and about 1.5x faster here than the libm
// crate's port (measured on this machine kind).
extern "C" {
    fn erfc(x: f64) -> f64;
}

/// Complementary error function of the platform's C math library.
#[inline]
pub fn c_erfc(x: f64) -> f64 {
    // SAFETY: erfc is a pure function of one double, defined for every input (NaN included).
    unsafe { erfc(x) }
}

/// Standard normal CDF as `0.5 * erfc(-x / sqrt(2))`: accurate in both tails, unlike `1 - N(-x)`.
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * c_erfc(-x / SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(norm_cdf(0.0), 0.5);
        // Phi(1.96) = 0.9750021048517795 (scipy.special.ndtr)
        assert!((norm_cdf(1.96) - 0.975_002_104_851_779_5).abs() < 1e-15);
        // Deep left tail keeps relative accuracy: Phi(-30) = 4.906713927148187e-198 (mpmath, 40 digits)
        let tail = norm_cdf(-30.0);
        assert!((tail / 4.906_713_927_148_187e-198 - 1.0).abs() < 1e-12);
        assert_eq!(norm_cdf(40.0), 1.0);
    }
}
