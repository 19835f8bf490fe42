//! Cash-or-nothing digital options on the forward, paying 1 at expiry if in the money.
//!
//! With `F = s e^{rt}`, `df = e^{-rt}`, `sd = vol sqrt(t)`, `d1 = (ln(F/k) + sd^2/2) / sd` and
//! `d2 = d1 - sd` (Black-76): call `df N(d2)`, put `df N(-d2)`, so call + put = `df`. This is
//! QuantLib's `AnalyticEuropeanEngine` with a `CashOrNothingPayoff(type, k, 1)`.
//!
//! Greeks (conventions in [`super::greeks`]), `n` the normal density, `+` for the call and `-`
//! for the put:
//!
//! - delta `+/- df n(d2) / (s sd)`;
//! - gamma `-/+ df n(d2) d1 / (s^2 sd^2)`;
//! - vega `-/+ df n(d2) d1 / vol` (since `d(d2)/d(vol) = -d1 / vol`);
//! - theta `r V -/+ df n(d2) (r / sd - d1 / (2t))` (the Black-Scholes equation
//!   `theta = r V - r s delta - vol^2 s^2 gamma / 2`, written out).
//!
//! At `t == 0` the option pays 1 if in the money: call `s > k`, put `s < k`; `s == k` counts as
//! out of the money for both (so at that single point call + put = 0, not 1). The price there is
//! a step in `s`: every Greek is 0 (the delta is a Dirac mass at `k`, which no finite number
//! represents).

use super::greeks::{in_the_money, norm_pdf, Greeks};
use super::normal::norm_cdf;
use crate::domain::option_terms::OptionType;

/// `(df, sd, d1, d2)` for `t > 0`, in the order Black-76 evaluates them.
#[inline]
fn terms(s: f64, k: f64, t: f64, r: f64, vol: f64) -> (f64, f64, f64, f64) {
    let f = s * (r * t).exp();
    let df = (-r * t).exp();
    let sd = vol * t.sqrt();
    let d1 = ((f / k).ln() + 0.5 * sd * sd) / sd;
    let d2 = d1 - sd;
    (df, sd, d1, d2)
}

/// Price of a digital paying 1 (see the module documentation). The caller guarantees `s > 0`,
/// `k > 0`, `vol > 0`, `t >= 0`.
pub fn price(option_type: OptionType, s: f64, k: f64, t: f64, r: f64, vol: f64) -> f64 {
    if t == 0.0 {
        return if in_the_money(option_type, s, k) { 1.0 } else { 0.0 };
    }
    let (df, _, _, d2) = terms(s, k, t, r, vol);
    match option_type {
        OptionType::Call => df * norm_cdf(d2),
        OptionType::Put => df * norm_cdf(-d2),
    }
}

/// Price and analytic Greeks of a digital paying 1 (see the module documentation).
pub fn greeks(option_type: OptionType, s: f64, k: f64, t: f64, r: f64, vol: f64) -> Greeks {
    if t == 0.0 {
        return Greeks::constant(price(option_type, s, k, t, r, vol));
    }
    let (df, sd, d1, d2) = terms(s, k, t, r, vol);
    let (sign, cdf) = match option_type {
        OptionType::Call => (1.0, norm_cdf(d2)),
        OptionType::Put => (-1.0, norm_cdf(-d2)),
    };
    let price = df * cdf;
    let density = df * norm_pdf(d2);
    Greeks {
        price,
        delta: sign * density / (s * sd),
        gamma: -sign * density * d1 / (s * s * (sd * sd)),
        vega: -sign * density * d1 / vol,
        theta: r * price - sign * density * (r / sd - d1 / (2.0 * t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{assert_greeks, close};

    /// QuantLib 1.44, AnalyticEuropeanEngine with CashOrNothingPayoff(type, 95, 1.0) on a
    /// BlackScholesMertonProcess (spot 100, flat rate 0.05, flat dividend 0, flat vol 0.25,
    /// Actual365Fixed, evaluation date 2026-06-30, expiry 365 days later so T = 1); NPV(),
    /// delta(), gamma(), vega(), theta() printed with repr().
    #[test]
    fn matches_quantlib() {
        assert_greeks(
            greeks(OptionType::Call, 100.0, 95.0, 1.0, 0.05, 0.25),
            [
                0.580_561_645_846_362_2,
                0.014_595_195_747_904_096,
                -0.000_309_519_252_265_340_7,
                -0.773_798_130_663_352_3,
                0.052_776_869_885_716_546,
            ],
            1e-12,
        );
        assert_greeks(
            greeks(OptionType::Put, 100.0, 95.0, 1.0, 0.05, 0.25),
            [
                0.370_667_778_654_351_74,
                -0.014_595_195_747_904_096,
                0.000_309_519_252_265_340_7,
                0.773_798_130_663_352_3,
                -0.005_215_398_660_680_756,
            ],
            1e-12,
        );
    }

    #[test]
    fn price_is_the_greeks_price_and_parity_holds() {
        for (s, k, t, r, vol) in
            [(100.0, 95.0, 1.0, 0.05, 0.25), (60_000.0, 70_000.0, 0.01, -0.005, 1.1), (50.0, 50.0, 2.0, 0.0, 0.05)]
        {
            let call = price(OptionType::Call, s, k, t, r, vol);
            let put = price(OptionType::Put, s, k, t, r, vol);
            assert_eq!(call, greeks(OptionType::Call, s, k, t, r, vol).price);
            assert_eq!(put, greeks(OptionType::Put, s, k, t, r, vol).price);
            assert!(close(call + put, f64::exp(-r * t), 1e-15));
        }
    }

    #[test]
    fn expiry_pays_one_strictly_in_the_money() {
        assert_eq!(greeks(OptionType::Call, 101.0, 100.0, 0.0, 0.05, 0.3), Greeks::constant(1.0));
        assert_eq!(greeks(OptionType::Call, 99.0, 100.0, 0.0, 0.05, 0.3), Greeks::constant(0.0));
        assert_eq!(greeks(OptionType::Put, 99.0, 100.0, 0.0, 0.05, 0.3), Greeks::constant(1.0));
        assert_eq!(greeks(OptionType::Put, 101.0, 100.0, 0.0, 0.05, 0.3), Greeks::constant(0.0));
        assert_eq!(price(OptionType::Call, 100.0, 100.0, 0.0, 0.05, 0.3), 0.0);
        assert_eq!(price(OptionType::Put, 100.0, 100.0, 0.0, 0.05, 0.3), 0.0);
    }

    #[test]
    fn greeks_are_derivatives_of_the_price() {
        let (s, k, t, r, vol) = (80.0, 90.0, 0.3, 0.03, 0.4);
        for option_type in [OptionType::Call, OptionType::Put] {
            let g = greeks(option_type, s, k, t, r, vol);
            let p = |s: f64, t: f64, vol: f64| price(option_type, s, k, t, r, vol);
            let h = 1e-3;
            let delta = (p(s + h, t, vol) - p(s - h, t, vol)) / (2.0 * h);
            let gamma = (p(s + h, t, vol) - 2.0 * p(s, t, vol) + p(s - h, t, vol)) / (h * h);
            let vega = (p(s, t, vol + 1e-5) - p(s, t, vol - 1e-5)) / 2e-5;
            let theta = -(p(s, t + 1e-5, vol) - p(s, t - 1e-5, vol)) / 2e-5;
            assert!(close(g.delta, delta, 1e-7), "{:e} {:e}", g.delta, delta);
            assert!(close(g.gamma, gamma, 1e-5), "{:e} {:e}", g.gamma, gamma);
            assert!(close(g.vega, vega, 1e-7), "{:e} {:e}", g.vega, vega);
            assert!(close(g.theta, theta, 1e-7), "{:e} {:e}", g.theta, theta);
        }
    }
}
