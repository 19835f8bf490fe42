//! Black-76 on the forward, discounted: Black-Scholes with no dividend when F = S e^{rT}.

use super::normal::norm_cdf;
use crate::domain::option_terms::OptionType;

/// Value of a European option on forward `f`, per unit, discounted by `discount`.
///
/// `t == 0` gives the intrinsic value on the forward. The caller guarantees `f > 0`, `k > 0`,
/// `vol > 0`, `t >= 0` and `sqrt_t = t.sqrt()` (passed in so scenario loops compute it once).
/// The operation order mirrors `pmargin.reference.pricing` exactly.
#[inline]
pub fn black76_sqrt(option_type: OptionType, f: f64, k: f64, t: f64, sqrt_t: f64, vol: f64, discount: f64) -> f64 {
    if t == 0.0 {
        return match option_type {
            OptionType::Call => (f - k).max(0.0),
            OptionType::Put => (k - f).max(0.0),
        };
    }
    let sd = vol * sqrt_t;
    let d1 = ((f / k).ln() + 0.5 * sd * sd) / sd;
    let d2 = d1 - sd;
    match option_type {
        OptionType::Call => discount * (f * norm_cdf(d1) - k * norm_cdf(d2)),
        OptionType::Put => discount * (k * norm_cdf(-d2) - f * norm_cdf(-d1)),
    }
}

/// [`black76_sqrt`] computing `sqrt(t)` itself.
#[inline]
pub fn black76(option_type: OptionType, f: f64, k: f64, t: f64, vol: f64, discount: f64) -> f64 {
    black76_sqrt(option_type, f, k, t, t.sqrt(), vol, discount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_call_parity() {
        let (f, k, t, vol, r) = (105.0, 100.0, 0.5, 0.3, 0.02);
        let df = f64::exp(-r * t);
        let c = black76(OptionType::Call, f, k, t, vol, df);
        let p = black76(OptionType::Put, f, k, t, vol, df);
        assert!((c - p - df * (f - k)).abs() < 1e-12);
    }

    #[test]
    fn textbook_value() {
        // Hull, Options Futures and Other Derivatives, Example 15.6 (S=42, K=40, r=10%, vol=20%, T=0.5):
        // call 4.76, put 0.81.
        let (s, k, r, t, vol) = (42.0, 40.0, 0.1, 0.5, 0.2);
        let f = s * f64::exp(r * t);
        let df = f64::exp(-r * t);
        assert!((black76(OptionType::Call, f, k, t, vol, df) - 4.759_422_392_871_536).abs() < 1e-12);
        assert!((black76(OptionType::Put, f, k, t, vol, df) - 0.808_599_372_900_092_6).abs() < 1e-12);
    }

    #[test]
    fn intrinsic_at_expiry() {
        assert_eq!(black76(OptionType::Call, 110.0, 100.0, 0.0, 0.5, 1.0), 10.0);
        assert_eq!(black76(OptionType::Put, 110.0, 100.0, 0.0, 0.5, 1.0), 0.0);
    }
}
