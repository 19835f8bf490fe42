//! Price and Greeks per unit (before the multiplier) of the linear instruments and of vanilla
//! options, with respect to SPOT.
//!
//! Conventions shared by every pricing module (`digital`, `barrier` and this one):
//!
//! - inputs are spot `s`, strike `k`, years to expiry `t` (ACT/365), continuously compounded
//!   rate `r` and vol `vol`; the forward is `F = s * exp(r * t)`, the discount `exp(-r * t)`
//!   (Black-76 on the forward = Black-Scholes with no dividend);
//! - `delta = dV/dS`, `gamma = d2V/dS2`, `vega = dV/dvol` per 1.00 of vol (divide by 100 for a
//!   vol point);
//! - `theta = dV/dt` per year of calendar time with `s`, `r` and `vol` held fixed, i.e.
//!   `-dV/dT` with `T` the time left (the forward rolls down with it). A long call's theta is
//!   negative for `r >= 0` (a deep in-the-money put's can be positive: it earns `r` on the
//!   strike); a future's is `-r F`. This is QuantLib's `theta()` sign and unit (per year, not per
//!   day);
//! - at `t == 0` an option is its payoff, a function of `s` alone: the price is the payoff,
//!   `delta` its slope (0 at the kink `s == k`, which counts as out of the money), and `gamma`,
//!   `vega` and `theta` are 0.

use std::ops::Mul;

use super::black76::black76;
use super::normal::norm_cdf;
use crate::domain::option_terms::OptionType;

/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Standard normal density `exp(-x^2 / 2) / sqrt(2 pi)`.
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() * FRAC_1_SQRT_2PI
}

/// Price and sensitivities of one unit, before the multiplier (see the module conventions).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    pub price: f64,
    pub delta: f64,
    pub gamma: f64,
    pub vega: f64,
    pub theta: f64,
}

impl Greeks {
    /// Every field times `factor` (a multiplier or a quantity).
    #[inline]
    pub fn scaled(self, factor: f64) -> Greeks {
        Greeks {
            price: self.price * factor,
            delta: self.delta * factor,
            gamma: self.gamma * factor,
            vega: self.vega * factor,
            theta: self.theta * factor,
        }
    }

    /// A constant: `price` and no sensitivity (a breached knock-out's rebate, an expired
    /// knock-in's rebate).
    #[inline]
    pub fn constant(price: f64) -> Greeks {
        Greeks { price, ..Greeks::default() }
    }
}

impl Mul<f64> for Greeks {
    type Output = Greeks;

    fn mul(self, factor: f64) -> Greeks {
        self.scaled(factor)
    }
}

/// Spot and perpetual: price `s`, delta 1, nothing else.
#[inline]
pub fn spot(s: f64) -> Greeks {
    Greeks { price: s, delta: 1.0, ..Greeks::default() }
}

/// Dated future: price `F = s * exp(r * t)`, delta `exp(r * t)`, theta `dF/dt = -r F` (the
/// forward rolls down to spot as calendar time passes).
#[inline]
pub fn future(s: f64, t: f64, r: f64) -> Greeks {
    let growth = (r * t).exp();
    let f = s * growth;
    Greeks { price: f, delta: growth, gamma: 0.0, vega: 0.0, theta: -r * f }
}

/// Whether an option is in the money at expiry: call `s > k`, put `s < k` (`s == k` is out).
#[inline]
pub fn in_the_money(option_type: OptionType, s: f64, k: f64) -> bool {
    match option_type {
        OptionType::Call => s > k,
        OptionType::Put => s < k,
    }
}

/// A vanilla option at expiry: its payoff, delta +/-1 in the money and 0 otherwise.
#[inline]
pub fn vanilla_at_expiry(option_type: OptionType, s: f64, k: f64) -> Greeks {
    let itm = in_the_money(option_type, s, k);
    let (price, delta) = match option_type {
        OptionType::Call => ((s - k).max(0.0), if itm { 1.0 } else { 0.0 }),
        OptionType::Put => ((k - s).max(0.0), if itm { -1.0 } else { 0.0 }),
    };
    Greeks { price, delta, ..Greeks::default() }
}

/// Vanilla European option (Black-76 on `F = s e^{rt}`, discounted at `r`).
///
/// The price is [`black76`] with the arguments [`crate::valuation::contract::Contract::value`] gives it,
/// so it is bit-for-bit the engine's. With `sd = vol sqrt(t)`, `d1`, `d2` as in Black-76 and
/// `n` the normal density: call delta `N(d1)`, put `N(d1) - 1` (as `-N(-d1)`); gamma
/// `n(d1) / (s sd)`; vega `s n(d1) sqrt(t)`; theta `-s n(d1) vol / (2 sqrt(t)) - r k e^{-rt}
/// N(d2)` (call), `-s n(d1) vol / (2 sqrt(t)) + r k e^{-rt} N(-d2)` (put). The caller
/// guarantees `s > 0`, `k > 0`, `vol > 0`, `t >= 0`.
pub fn vanilla(option_type: OptionType, s: f64, k: f64, t: f64, r: f64, vol: f64) -> Greeks {
    if t == 0.0 {
        return vanilla_at_expiry(option_type, s, k);
    }
    let f = s * (r * t).exp();
    let df = (-r * t).exp();
    let price = black76(option_type, f, k, t, vol, df);
    let sqrt_t = t.sqrt();
    let sd = vol * sqrt_t;
    let d1 = ((f / k).ln() + 0.5 * sd * sd) / sd;
    let d2 = d1 - sd;
    let pdf = norm_pdf(d1);
    let gamma = pdf / (s * sd);
    let vega = s * pdf * sqrt_t;
    let decay = -(s * pdf * vol) / (2.0 * sqrt_t);
    let (delta, theta) = match option_type {
        OptionType::Call => (norm_cdf(d1), decay - r * k * df * norm_cdf(d2)),
        OptionType::Put => (-norm_cdf(-d1), decay + r * k * df * norm_cdf(-d2)),
    };
    Greeks { price, delta, gamma, vega, theta }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{assert_greeks, close};

    #[test]
    fn norm_pdf_values() {
        // 1/sqrt(2 pi) and scipy.stats.norm.pdf(1.5) = 0.12951759566589174
        assert_eq!(norm_pdf(0.0), FRAC_1_SQRT_2PI);
        assert!(close(norm_pdf(1.5), 0.129_517_595_665_891_74, 1e-15));
        assert!(close(norm_pdf(-1.5), 0.129_517_595_665_891_74, 1e-15));
    }

    #[test]
    fn linear_instruments() {
        assert_eq!(spot(123.0), Greeks { price: 123.0, delta: 1.0, ..Greeks::default() });
        let g = future(100.0, 0.5, 0.04);
        let growth = (0.04f64 * 0.5).exp();
        assert_eq!(g.price, 100.0 * growth);
        assert_eq!(g.delta, growth);
        assert_eq!(g.theta, -0.04 * 100.0 * growth);
        // theta is the calendar-time derivative of the price: -(F(T + h) - F(T - h)) / 2h.
        let h = 1e-5;
        let fd = -(future(100.0, 0.5 + h, 0.04).price - future(100.0, 0.5 - h, 0.04).price) / (2.0 * h);
        assert!(close(g.theta, fd, 1e-9));
    }

    /// QuantLib 1.44, AnalyticEuropeanEngine on a BlackScholesMertonProcess (flat rate 0.05,
    /// flat dividend 0, flat vol 0.25, Actual365Fixed, evaluation date 2026-06-30, expiry 365
    /// days later so T = 1): S = 100, K = 95, PlainVanillaPayoff; NPV(), delta(), gamma(),
    /// vega(), theta() printed with repr().
    #[test]
    fn vanilla_matches_quantlib() {
        let call = vanilla(OptionType::Call, 100.0, 95.0, 1.0, 0.05, 0.25);
        assert_greeks(
            call,
            [
                15.047_050_336_244_661,
                0.702_004_066_916_490_5,
                0.013_865_435_960_508_887,
                34.663_589_901_272_23,
                -7.090_616_555_429_25,
            ],
            1e-12,
        );
        let put = vanilla(OptionType::Put, 100.0, 95.0, 1.0, 0.05, 0.25);
        assert_greeks(
            put,
            [
                5.413_845_663_812_482,
                -0.297_995_933_083_509_25,
                0.013_865_435_960_508_887,
                34.663_589_901_272_23,
                -2.572_276_789_050_854_4,
            ],
            1e-12,
        );
    }

    #[test]
    fn vanilla_at_expiry_is_the_payoff() {
        let g = vanilla(OptionType::Call, 110.0, 100.0, 0.0, 0.05, 0.3);
        assert_eq!(g, Greeks { price: 10.0, delta: 1.0, ..Greeks::default() });
        let g = vanilla(OptionType::Put, 90.0, 100.0, 0.0, 0.05, 0.3);
        assert_eq!(g, Greeks { price: 10.0, delta: -1.0, ..Greeks::default() });
        // At the money counts as out of the money: no delta.
        assert_eq!(vanilla(OptionType::Call, 100.0, 100.0, 0.0, 0.05, 0.3), Greeks::default());
        assert_eq!(vanilla(OptionType::Put, 100.0, 100.0, 0.0, 0.05, 0.3), Greeks::default());
    }

    #[test]
    fn vanilla_price_is_the_engines() {
        let (s, k, t, r, vol) = (60_000.0, 65_000.0, 30.0 / 365.0, 0.04, 0.55);
        let f = s * f64::exp(r * t);
        let expected = black76(OptionType::Call, f, k, t, vol, f64::exp(-r * t));
        assert_eq!(vanilla(OptionType::Call, s, k, t, r, vol).price, expected);
    }

    #[test]
    fn scaled_and_constant() {
        let g = Greeks { price: 1.0, delta: 2.0, gamma: 3.0, vega: 4.0, theta: 5.0 } * 2.0;
        assert_eq!(g, Greeks { price: 2.0, delta: 4.0, gamma: 6.0, vega: 8.0, theta: 10.0 });
        assert_eq!(Greeks::constant(3.0), Greeks { price: 3.0, ..Greeks::default() });
    }
}
