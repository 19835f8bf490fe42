//! Continuously monitored single-barrier options in closed form (Reiner-Rubinstein, as in Haug,
//! "The Complete Guide to Option Pricing Formulas", 2nd ed., standard barrier options) with cost
//! of carry `b = r` (no dividend), written as QuantLib's `AnalyticBarrierEngine` evaluates it
//! (flat rate `r`, flat dividend 0, flat vol), so the two agree to rounding.
//!
//! Inputs are the SPOT `s` (not the forward), strike `k`, barrier `h`, `rebate` (cash per unit,
//! `>= 0`), years `t`, rate `r`, vol `vol`. With `sd = vol sqrt(t)`, `mu = r / vol^2 - 1/2`,
//! `lambda = |r / vol^2 + 1/2|` (QuantLib's `sqrt(mu^2 + 2 r / vol^2)`, which is that value,
//! computed without the cancellation that can make the square root's argument negative), `df =
//! e^{-rt}`, `phi = +1` for calls and `-1` for puts, `eta = +1` for down and `-1` for up barriers,
//! Haug's blocks are
//!
//! - `A = phi (s N(phi x1) - k df N(phi (x1 - sd)))`, `x1 = ln(s/k) / sd + (1 + mu) sd`;
//! - `B` = `A` with `x2 = ln(s/h) / sd + (1 + mu) sd`;
//! - `C = phi (s (h/s)^(2mu+2) N(eta y1) - k df (h/s)^(2mu) N(eta (y1 - sd)))`,
//!   `y1 = ln(h^2 / (s k)) / sd + (1 + mu) sd`;
//! - `D` = `C` with `y2 = ln(h/s) / sd + (1 + mu) sd`;
//! - `E = rebate df (N(eta (x2 - sd)) - (h/s)^(2mu) N(eta (y2 - sd)))` (knock-in rebate, paid at
//!   expiry if the barrier was never hit);
//! - `F = rebate ((h/s)^(mu+lambda) N(eta z) + (h/s)^(mu-lambda) N(eta (z - 2 lambda sd)))`,
//!   `z = ln(h/s) / sd + lambda sd` (knock-out rebate, paid when the barrier is hit);
//!
//! combined per type as in `closed_form` (QuantLib's table, with its `k >= h` split).
//!
//! **Underflow and overflow.** At low vol (`|r| / vol^2` large) `(h/s)^e` can be huge or
//! overflow while the normal probability beside it underflows. Each such product is bounded
//! (completing the square turns `(h/s)^e n(u)` into a constant times a normal density of another
//! argument), so here it is evaluated as `exp(e ln(h/s) + ln N(u))` whenever `(h/s)^e` overflows,
//! or exceeds 1 while `N(u)` is not a normal float: the price stays finite down to the engine's vol
//! floor and tends to the deterministic-path value. QuantLib 1.44 instead sets a product to 0 when
//! its `N(u)` underflows, which drops terms of order 1 when the forward ends near the barrier: an
//! up-and-out call (S 100, K 100, H 117, rebate 3, T 2, r 8%) jumps by 0.12 between vol 0.0060
//! and 0.0062 in QuantLib and is smooth here (test `smooth_in_vol_where_probabilities_underflow`).
//! Where nothing underflows the two are the same arithmetic.
//!
//! **States outside the closed form** (the engine's shocked scenarios reach them):
//!
//! - [`breached`]: the spot is at or beyond the barrier (down: `s <= h`, up: `s >= h`; touching
//!   counts as a hit). A breached knock-out is worth its rebate, paid now (price `rebate`, no
//!   sensitivity); a breached knock-in is the vanilla option (Black-76 on `F = s e^{rt}`,
//!   discounted, exactly the engine's vanilla price) with its analytic Greeks;
//! - `t == 0`, not breached: a knock-out is the vanilla payoff (price `max(+/-(s - k), 0)`, delta
//!   its slope), a knock-in is its rebate (paid at expiry, which is now; no sensitivity).
//!
//! **Greeks** (conventions in [`super::greeks`]) are analytic, with no bump anywhere. Each block
//! is a sum of terms `c (h/s)^e N(u)` where `c` is `s` or free of `s`, `du/d(ln s)` is constant
//! and `c` does not depend on vol: `term` carries each one's spot and vol derivatives (`e` and
//! `u` depend on vol through `sd`, `mu` and `lambda`), and the blocks add them up. So delta and
//! gamma stay exact right next to the barrier, where a spot bump would cross it. Theta comes from
//! the Black-Scholes equation, which the value satisfies wherever the option is alive (rebates
//! included): `theta = r V - r s delta - vol^2 s^2 gamma / 2`, with no bump in time either.
//!
//! **Against QuantLib.** The formulas and their arithmetic are QuantLib's; with its normal CDF
//! substituted for ours the prices agree to about 1e-15 x spot. QuantLib's
//! `CumulativeNormalDistribution` switches to an asymptotic series below `N = 1e-8` and is off by
//! up to 7e-8 relative around `u = -5.7`; multiplied by the large `(h/s)^e` at low vol this moves
//! QuantLib's barrier prices by up to a few 1e-9 x spot. Ours (`erfc`) is accurate to rounding.

use std::ops::{Add, Mul, Sub};

use super::black76::black76;
use super::greeks::{self, norm_pdf, Greeks};
use super::normal::norm_cdf;
use crate::domain::option_terms::BarrierType;
use crate::domain::option_terms::OptionType;

/// `ln(sqrt(2 pi))`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

/// One barrier option's terms and market, per unit (before the multiplier).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarrierParams {
    pub option_type: OptionType,
    pub barrier_type: BarrierType,
    /// Spot (not the forward), `> 0`.
    pub spot: f64,
    pub strike: f64,
    pub barrier: f64,
    /// Cash per unit, `>= 0`: paid at the hit (knock-out) or at expiry if never hit (knock-in).
    pub rebate: f64,
    /// Years to expiry, `>= 0`.
    pub t: f64,
    pub rate: f64,
    /// `> 0`.
    pub vol: f64,
}

/// Whether `spot` is at or beyond the barrier: down `spot <= barrier`, up `spot >= barrier`.
#[inline]
pub fn breached(barrier_type: BarrierType, spot: f64, barrier: f64) -> bool {
    if barrier_type.is_down() {
        spot <= barrier
    } else {
        spot >= barrier
    }
}

/// Price per unit in any state: closed form while alive, the rebate or the vanilla once
/// breached, the payoff or the rebate at expiry (see the module documentation).
pub fn price(p: &BarrierParams) -> f64 {
    if breached(p.barrier_type, p.spot, p.barrier) {
        return if p.barrier_type.is_knock_in() {
            let forward = p.spot * (p.rate * p.t).exp();
            let discount = (-p.rate * p.t).exp();
            black76(p.option_type, forward, p.strike, p.t, p.vol, discount)
        } else {
            p.rebate
        };
    }
    if p.t == 0.0 {
        return if p.barrier_type.is_knock_in() {
            p.rebate
        } else {
            greeks::vanilla_at_expiry(p.option_type, p.spot, p.strike).price
        };
    }
    closed_form::<false>(p, &Ctx::new(p)).v
}

/// Price and Greeks per unit in any state (see the module documentation for the method).
pub fn greeks(p: &BarrierParams) -> Greeks {
    if breached(p.barrier_type, p.spot, p.barrier) {
        return if p.barrier_type.is_knock_in() {
            greeks::vanilla(p.option_type, p.spot, p.strike, p.t, p.rate, p.vol)
        } else {
            Greeks::constant(p.rebate)
        };
    }
    if p.t == 0.0 {
        return if p.barrier_type.is_knock_in() {
            Greeks::constant(p.rebate)
        } else {
            greeks::vanilla_at_expiry(p.option_type, p.spot, p.strike)
        };
    }
    let x = closed_form::<true>(p, &Ctx::new(p));
    Greeks {
        price: x.v,
        delta: x.d,
        gamma: x.g,
        vega: x.w,
        theta: p.rate * x.v - p.rate * p.spot * x.d - 0.5 * p.vol * p.vol * p.spot * p.spot * x.g,
    }
}

/// A value with its spot derivatives (`d`, `g`) and its vol derivative (`w`).
#[derive(Debug, Clone, Copy, Default)]
struct Sens {
    v: f64,
    d: f64,
    g: f64,
    w: f64,
}

impl Add for Sens {
    type Output = Sens;
    fn add(self, o: Sens) -> Sens {
        Sens { v: self.v + o.v, d: self.d + o.d, g: self.g + o.g, w: self.w + o.w }
    }
}

impl Sub for Sens {
    type Output = Sens;
    fn sub(self, o: Sens) -> Sens {
        Sens { v: self.v - o.v, d: self.d - o.d, g: self.g - o.g, w: self.w - o.w }
    }
}

impl Mul<f64> for Sens {
    type Output = Sens;
    fn mul(self, k: f64) -> Sens {
        Sens { v: self.v * k, d: self.d * k, g: self.g * k, w: self.w * k }
    }
}

/// An argument `u` of `N`, with `du/d(ln s)` (`ds`, constant) and `du/dvol` (`dvol`).
#[derive(Debug, Clone, Copy)]
struct Arg {
    u: f64,
    ds: f64,
    dvol: f64,
}

impl Mul<f64> for Arg {
    type Output = Arg;
    fn mul(self, k: f64) -> Arg {
        Arg { u: self.u * k, ds: self.ds * k, dvol: self.dvol * k }
    }
}

/// An exponent `e` of `h/s`, with `de/dvol`.
#[derive(Debug, Clone, Copy)]
struct Exp {
    e: f64,
    dvol: f64,
}

const NO_POWER: Exp = Exp { e: 0.0, dvol: 0.0 };

/// What every block needs.
struct Ctx {
    s: f64,
    k: f64,
    h: f64,
    rebate: f64,
    vol: f64,
    sqrt_t: f64,
    df: f64,
    sd: f64,
    mu: f64,
    /// QuantLib's `muSigma`: `(1 + mu) sd`.
    ms: f64,
    lambda: f64,
    /// `h / s` and its log.
    hs: f64,
    ln_hs: f64,
    /// Vol derivatives: `dmu/dvol = -2r / vol^3`, `d(ms)/dvol = -mu sqrt(t)`, `dlambda/dvol`.
    mu_vol: f64,
    ms_vol: f64,
    lambda_vol: f64,
}

impl Ctx {
    fn new(p: &BarrierParams) -> Ctx {
        let vol = p.vol;
        let sqrt_t = p.t.sqrt();
        let sd = vol * sqrt_t;
        let carry = p.rate / (vol * vol);
        let mu = carry - 0.5;
        let mu_vol = -2.0 * carry / vol;
        let hs = p.barrier / p.spot;
        Ctx {
            s: p.spot,
            k: p.strike,
            h: p.barrier,
            rebate: p.rebate,
            vol,
            sqrt_t,
            df: (-p.rate * p.t).exp(),
            sd,
            mu,
            ms: (1.0 + mu) * sd,
            lambda: (carry + 0.5).abs(),
            hs,
            ln_hs: hs.ln(),
            mu_vol,
            ms_vol: -mu * sqrt_t,
            lambda_vol: if carry + 0.5 >= 0.0 { mu_vol } else { -mu_vol },
        }
    }

    /// `l / sd + ms` (an argument of Haug's blocks), with its derivatives.
    #[inline]
    fn arg(&self, l: f64, ds: f64) -> Arg {
        Arg { u: l / self.sd + self.ms, ds, dvol: -l / (self.sd * self.vol) + self.ms_vol }
    }

    /// `a - sd`, with its derivatives.
    #[inline]
    fn minus_sd(&self, a: Arg) -> Arg {
        Arg { u: a.u - self.sd, ds: a.ds, dvol: a.dvol - self.sqrt_t }
    }
}

/// `ln N(u)`, accurate where `N(u)` underflows (asymptotic series below -35, where the first
/// omitted term is under 1e-17 relative).
fn ln_norm_cdf(u: f64) -> f64 {
    if u > -35.0 {
        return norm_cdf(u).ln();
    }
    let w = 1.0 / (u * u);
    let series =
        1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + w * (105.0 + w * (-945.0 + w * (10_395.0 + w * -135_135.0))))));
    -0.5 * u * u - (-u).ln() - LN_SQRT_2PI + series.ln()
}

/// `hs^e N(u)` (bounded in every use, see the module documentation), in logs when the power
/// overflows or the probability is not a normal float.
#[inline]
fn pow_cdf(hs: f64, e: f64, u: f64) -> f64 {
    pow_times(hs, e, norm_cdf(u), |e_ln_hs| e_ln_hs + ln_norm_cdf(u))
}

/// `hs^e n(u)`, in logs when the power overflows or the density is not a normal float.
#[inline]
fn pow_pdf(hs: f64, e: f64, u: f64) -> f64 {
    pow_times(hs, e, norm_pdf(u), |e_ln_hs| e_ln_hs - 0.5 * u * u - LN_SQRT_2PI)
}

/// `hs^e x` for a probability or density `x`; when the power overflows, or `x` is not a normal
/// float, `exp(log_of(e ln hs))`, where `log_of` adds `ln x` computed in logs.
#[inline(always)]
fn pow_times(hs: f64, e: f64, x: f64, log_of: impl FnOnce(f64) -> f64) -> f64 {
    if e == 0.0 {
        return x;
    }
    let p = hs.powf(e);
    if p.is_finite() && (p <= 1.0 || x >= f64::MIN_POSITIVE) {
        p * x
    } else {
        log_of(e * hs.ln()).exp()
    }
}

/// One term `coef (h/s)^e N(u)`, where `coef` is proportional to `s^s_pow` and does not depend
/// on vol; with its derivatives when `DERIVS`. The power of `s` is `p = s_pow - e`, so with
/// `PN = (h/s)^e N(u)` and `Pn = (h/s)^e n(u)`: `d = coef (p PN + u_s Pn) / s`, `g = coef (p (p-1)
/// PN + ((2p - 1) u_s - u_s^2 u) Pn) / s^2`, `w = coef (ln(h/s) e_vol PN + u_vol Pn)`.
#[inline]
fn term<const DERIVS: bool>(c: &Ctx, coef: f64, s_pow: f64, pow: Exp, a: Arg) -> Sens {
    let pn = pow_cdf(c.hs, pow.e, a.u);
    let v = coef * pn;
    if !DERIVS {
        return Sens { v, ..Sens::default() };
    }
    let pd = pow_pdf(c.hs, pow.e, a.u);
    let p = s_pow - pow.e;
    let g = a.ds;
    Sens {
        v,
        d: coef * (p * pn + g * pd) / c.s,
        g: coef * (p * (p - 1.0) * pn + ((2.0 * p - 1.0) * g - g * g * a.u) * pd) / (c.s * c.s),
        w: coef * (c.ln_hs * pow.dvol * pn + a.dvol * pd),
    }
}

fn block_a<const D: bool>(c: &Ctx, phi: f64) -> Sens {
    let x1 = c.arg((c.s / c.k).ln(), 1.0 / c.sd);
    (term::<D>(c, c.s, 1.0, NO_POWER, x1 * phi) - term::<D>(c, c.k * c.df, 0.0, NO_POWER, c.minus_sd(x1) * phi)) * phi
}

fn block_b<const D: bool>(c: &Ctx, phi: f64) -> Sens {
    let x2 = c.arg((c.s / c.h).ln(), 1.0 / c.sd);
    (term::<D>(c, c.s, 1.0, NO_POWER, x2 * phi) - term::<D>(c, c.k * c.df, 0.0, NO_POWER, c.minus_sd(x2) * phi)) * phi
}

/// `(h/s)^(2mu)` and `(h/s)^(2mu+2)`.
fn powers(c: &Ctx) -> (Exp, Exp) {
    let e0 = 2.0 * c.mu;
    let dvol = 2.0 * c.mu_vol;
    (Exp { e: e0, dvol }, Exp { e: e0 + 2.0, dvol })
}

fn block_c<const D: bool>(c: &Ctx, eta: f64, phi: f64) -> Sens {
    let y1 = c.arg((c.h * c.hs / c.k).ln(), -1.0 / c.sd);
    let (p0, p2) = powers(c);
    (term::<D>(c, c.s, 1.0, p2, y1 * eta) - term::<D>(c, c.k * c.df, 0.0, p0, c.minus_sd(y1) * eta)) * phi
}

fn block_d<const D: bool>(c: &Ctx, eta: f64, phi: f64) -> Sens {
    let y2 = c.arg(c.ln_hs, -1.0 / c.sd);
    let (p0, p2) = powers(c);
    (term::<D>(c, c.s, 1.0, p2, y2 * eta) - term::<D>(c, c.k * c.df, 0.0, p0, c.minus_sd(y2) * eta)) * phi
}

fn block_e<const D: bool>(c: &Ctx, eta: f64) -> Sens {
    if c.rebate <= 0.0 {
        return Sens::default();
    }
    let x2 = c.arg((c.s / c.h).ln(), 1.0 / c.sd);
    let y2 = c.arg(c.ln_hs, -1.0 / c.sd);
    let (p0, _) = powers(c);
    (term::<D>(c, 1.0, 0.0, NO_POWER, c.minus_sd(x2) * eta) - term::<D>(c, 1.0, 0.0, p0, c.minus_sd(y2) * eta))
        * (c.rebate * c.df)
}

fn block_f<const D: bool>(c: &Ctx, eta: f64) -> Sens {
    if c.rebate <= 0.0 {
        return Sens::default();
    }
    // z = ln(h/s) / sd + lambda sd, and z - 2 lambda sd.
    let lambda_sd_vol = c.lambda_vol * c.sd + c.lambda * c.sqrt_t;
    let z =
        Arg { u: c.ln_hs / c.sd + c.lambda * c.sd, ds: -1.0 / c.sd, dvol: -c.ln_hs / (c.sd * c.vol) + lambda_sd_vol };
    let z2 = Arg { u: z.u - 2.0 * c.lambda * c.sd, ds: z.ds, dvol: z.dvol - 2.0 * lambda_sd_vol };
    let plus = Exp { e: c.mu + c.lambda, dvol: c.mu_vol + c.lambda_vol };
    let minus = Exp { e: c.mu - c.lambda, dvol: c.mu_vol - c.lambda_vol };
    (term::<D>(c, 1.0, 0.0, plus, z * eta) + term::<D>(c, 1.0, 0.0, minus, z2 * eta)) * c.rebate
}

/// The alive option's value (and spot derivatives when `D`): QuantLib's combination of blocks.
fn closed_form<const D: bool>(p: &BarrierParams, c: &Ctx) -> Sens {
    let a = block_a::<D>;
    let b = block_b::<D>;
    let cc = block_c::<D>;
    let d = block_d::<D>;
    let e = block_e::<D>;
    let f = block_f::<D>;
    let above = p.strike >= p.barrier;
    match (p.option_type, p.barrier_type) {
        (OptionType::Call, BarrierType::DownIn) => {
            if above {
                cc(c, 1.0, 1.0) + e(c, 1.0)
            } else {
                a(c, 1.0) - b(c, 1.0) + d(c, 1.0, 1.0) + e(c, 1.0)
            }
        }
        (OptionType::Call, BarrierType::UpIn) => {
            if above {
                a(c, 1.0) + e(c, -1.0)
            } else {
                b(c, 1.0) - cc(c, -1.0, 1.0) + d(c, -1.0, 1.0) + e(c, -1.0)
            }
        }
        (OptionType::Call, BarrierType::DownOut) => {
            if above {
                a(c, 1.0) - cc(c, 1.0, 1.0) + f(c, 1.0)
            } else {
                b(c, 1.0) - d(c, 1.0, 1.0) + f(c, 1.0)
            }
        }
        (OptionType::Call, BarrierType::UpOut) => {
            if above {
                f(c, -1.0)
            } else {
                a(c, 1.0) - b(c, 1.0) + cc(c, -1.0, 1.0) - d(c, -1.0, 1.0) + f(c, -1.0)
            }
        }
        (OptionType::Put, BarrierType::DownIn) => {
            if above {
                b(c, -1.0) - cc(c, 1.0, -1.0) + d(c, 1.0, -1.0) + e(c, 1.0)
            } else {
                a(c, -1.0) + e(c, 1.0)
            }
        }
        (OptionType::Put, BarrierType::UpIn) => {
            if above {
                a(c, -1.0) - b(c, -1.0) + d(c, -1.0, -1.0) + e(c, -1.0)
            } else {
                cc(c, -1.0, -1.0) + e(c, -1.0)
            }
        }
        (OptionType::Put, BarrierType::DownOut) => {
            if above {
                a(c, -1.0) - b(c, -1.0) + cc(c, 1.0, -1.0) - d(c, 1.0, -1.0) + f(c, 1.0)
            } else {
                f(c, 1.0)
            }
        }
        (OptionType::Put, BarrierType::UpOut) => {
            if above {
                b(c, -1.0) - d(c, -1.0, -1.0) + f(c, -1.0)
            } else {
                a(c, -1.0) - cc(c, -1.0, -1.0) + f(c, -1.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, rel: f64, abs: f64) -> bool {
        (actual - expected).abs() <= rel * expected.abs() + abs
    }

    fn params(
        option_type: OptionType,
        barrier_type: BarrierType,
        strike: f64,
        barrier: f64,
        rebate: f64,
    ) -> BarrierParams {
        BarrierParams { option_type, barrier_type, spot: 100.0, strike, barrier, rebate, t: 1.0, rate: 0.05, vol: 0.25 }
    }

    #[test]
    fn barrier_type_names() {
        for bt in BarrierType::ALL {
            assert_eq!(BarrierType::parse(bt.as_str()), Some(bt));
        }
        assert_eq!(BarrierType::parse("down-and-sideways"), None);
        assert!(BarrierType::DownOut.is_down() && !BarrierType::UpIn.is_down());
        assert!(BarrierType::UpIn.is_knock_in() && !BarrierType::UpOut.is_knock_in());
    }

    #[test]
    fn touching_is_a_hit() {
        assert!(breached(BarrierType::DownOut, 90.0, 90.0));
        assert!(breached(BarrierType::DownIn, 89.0, 90.0));
        assert!(!breached(BarrierType::DownIn, 90.000_001, 90.0));
        assert!(breached(BarrierType::UpOut, 110.0, 110.0));
        assert!(breached(BarrierType::UpIn, 111.0, 110.0));
        assert!(!breached(BarrierType::UpIn, 109.999_999, 110.0));
    }
    /// QuantLib 1.44 `AnalyticBarrierEngine` on a BlackScholesMertonProcess (spot 100, flat rate
    /// 0.05, flat dividend 0, flat vol 0.25, Actual365Fixed, evaluation date 2026-06-30, expiry
    /// 365 days later so T = 1), `BarrierOption(type, barrier, rebate, PlainVanillaPayoff(...),
    /// EuropeanExercise(...)).NPV()` printed with repr(). Strikes on both sides of each barrier
    /// cover both branches of every formula.
    #[test]
    fn matches_quantlib() {
        use BarrierType::{DownIn, DownOut, UpIn, UpOut};
        use OptionType::{Call, Put};
        let table = [
            (Call, DownIn, 85.0, 90.0, 0.0, 7.613729643206717),
            (Call, DownIn, 85.0, 90.0, 3.0, 8.606907083574644),
            (Call, DownIn, 100.0, 90.0, 0.0, 3.224778312944128),
            (Call, DownIn, 100.0, 90.0, 3.0, 4.217955753312055),
            (Call, DownOut, 85.0, 90.0, 0.0, 13.99198389455404),
            (Call, DownOut, 85.0, 90.0, 3.0, 15.92091684883253),
            (Call, DownOut, 100.0, 90.0, 0.0, 9.111220617424596),
            (Call, DownOut, 100.0, 90.0, 3.0, 11.040153571703087),
            (Call, UpIn, 100.0, 110.0, 0.0, 12.272923827735926),
            (Call, UpIn, 100.0, 110.0, 3.0, 13.063698438853699),
            (Call, UpIn, 115.0, 110.0, 0.0, 6.3792490469335235),
            (Call, UpIn, 115.0, 110.0, 3.0, 7.170023658051297),
            (Call, UpOut, 100.0, 110.0, 0.0, 0.06307510263279781),
            (Call, UpOut, 100.0, 110.0, 3.0, 2.2042310734014996),
            (Call, UpOut, 115.0, 110.0, 0.0, 0.0),
            (Call, UpOut, 115.0, 110.0, 3.0, 2.141155970768702),
            (Put, DownIn, 85.0, 90.0, 0.0, 2.4602146203214375),
            (Put, DownIn, 85.0, 90.0, 3.0, 3.453392060689364),
            (Put, DownIn, 100.0, 90.0, 0.0, 7.373817455729927),
            (Put, DownIn, 100.0, 90.0, 3.0, 8.366994896097854),
            (Put, DownOut, 85.0, 90.0, 0.0, 0.0),
            (Put, DownOut, 85.0, 90.0, 3.0, 1.92893295427849),
            (Put, DownOut, 100.0, 90.0, 0.0, 0.08512392471019581),
            (Put, DownOut, 100.0, 90.0, 3.0, 2.014056878988686),
            (Put, UpIn, 100.0, 110.0, 0.0, 2.5276603123624746),
            (Put, UpIn, 100.0, 110.0, 3.0, 3.3184349234802473),
            (Put, UpIn, 115.0, 110.0, 0.0, 6.948553843481918),
            (Put, UpIn, 115.0, 110.0, 3.0, 7.739328454599691),
            (Put, UpOut, 100.0, 110.0, 0.0, 4.931281068077649),
            (Put, UpOut, 100.0, 110.0, 3.0, 7.072437038846351),
            (Put, UpOut, 115.0, 110.0, 0.0, 8.822079021033709),
            (Put, UpOut, 115.0, 110.0, 3.0, 10.96323499180241),
        ];
        for (option_type, barrier_type, strike, barrier, rebate, expected) in table {
            let p = params(option_type, barrier_type, strike, barrier, rebate);
            let actual = price(&p);
            // Absolute floor 1e-15 x spot: knock-outs are differences of terms of size spot.
            assert!(close(actual, expected, 1e-12, 1e-13), "{p:?}: {actual:e} vs {expected:e}");
            assert_eq!(greeks(&p).price, actual);
        }
    }

    /// Greeks against central differences of QuantLib prices (same set-up as `matches_quantlib`),
    /// Richardson-extrapolated over steps h and 2h: spot h = 0.1, vol h = 2.5e-4, and for theta
    /// the time-scaling identity V(T (1 + e); r, vol) = V(T; r (1 + e), vol sqrt(1 + e)) with
    /// e = 1e-3, theta = -dV/dT. Values printed with repr() (price, delta, gamma, vega, theta).
    #[test]
    fn greeks_match_quantlib_differences() {
        use BarrierType::{DownIn, DownOut, UpIn, UpOut};
        use OptionType::{Call, Put};
        let table = [
            (
                Call,
                DownOut,
                100.0,
                90.0,
                3.0,
                [
                    11.040153571703087,
                    0.784951489911001,
                    -6.458083416186848e-06,
                    11.936352935383235,
                    -3.3707316185965417,
                ],
            ),
            (
                Put,
                UpIn,
                100.0,
                110.0,
                3.0,
                [3.3184349234802473, 0.08114083234280867, 0.005857634174218546, 23.094218005382732, -2.07029309493915],
            ),
            (
                Call,
                UpOut,
                100.0,
                110.0,
                0.0,
                [
                    0.06307510263279781,
                    -0.00585885544410895,
                    -0.00019104230097137054,
                    -0.7239077170370459,
                    0.09214875389318422,
                ],
            ),
            (
                Put,
                DownIn,
                85.0,
                90.0,
                3.0,
                [3.453392060689364, -0.07838519521480365, 0.007180661702843591, 20.08982810721956, -1.6793612032088845],
            ),
        ];
        for (option_type, barrier_type, strike, barrier, rebate, expected) in table {
            let g = greeks(&params(option_type, barrier_type, strike, barrier, rebate));
            let got = [g.price, g.delta, g.gamma, g.vega, g.theta];
            for (name, (a, e)) in
                ["price", "delta", "gamma", "vega", "theta"].iter().zip(got.iter().zip(expected.iter()))
            {
                assert!(close(*a, *e, 1e-7, 1e-10), "{barrier_type:?} {name}: {a:e} vs {e:e}");
            }
        }
    }

    #[test]
    fn in_plus_out_is_the_vanilla() {
        for option_type in [OptionType::Call, OptionType::Put] {
            for (barrier, strikes) in [(80.0, [70.0, 120.0]), (125.0, [90.0, 140.0])] {
                for strike in strikes {
                    let (kin, kout) = if barrier < 100.0 {
                        (BarrierType::DownIn, BarrierType::DownOut)
                    } else {
                        (BarrierType::UpIn, BarrierType::UpOut)
                    };
                    let gi = greeks(&params(option_type, kin, strike, barrier, 0.0));
                    let go = greeks(&params(option_type, kout, strike, barrier, 0.0));
                    let v = greeks::vanilla(option_type, 100.0, strike, 1.0, 0.05, 0.25);
                    assert!(close(gi.price + go.price, v.price, 1e-13, 1e-13));
                    assert!(close(gi.delta + go.delta, v.delta, 1e-12, 1e-13));
                    assert!(close(gi.gamma + go.gamma, v.gamma, 1e-11, 1e-14));
                    assert!(close(gi.vega + go.vega, v.vega, 1e-12, 1e-12));
                    assert!(close(gi.theta + go.theta, v.theta, 1e-11, 1e-12));
                }
            }
        }
    }

    /// Delta and gamma are analytic, so they hold right next to the barrier, where a bump in
    /// spot would cross it: check them against one-sided differences on the alive side.
    #[test]
    fn spot_derivatives_next_to_the_barrier() {
        for (barrier_type, barrier, side) in [(BarrierType::DownOut, 99.99, 1.0), (BarrierType::UpIn, 100.01, -1.0)] {
            let mut p = params(OptionType::Call, barrier_type, 100.0, barrier, 2.0);
            let g = greeks(&p);
            let h = side * 1e-4;
            let v: Vec<f64> = (0..4)
                .map(|i| {
                    p.spot = 100.0 + f64::from(i) * h;
                    price(&p)
                })
                .collect();
            let delta = (-3.0 * v[0] + 4.0 * v[1] - v[2]) / (2.0 * h);
            let gamma = (2.0 * v[0] - 5.0 * v[1] + 4.0 * v[2] - v[3]) / (h * h);
            assert!(close(g.delta, delta, 1e-5, 1e-9), "{:e} vs {delta:e}", g.delta);
            assert!(close(g.gamma, gamma, 1e-3, 1e-6), "{:e} vs {gamma:e}", g.gamma);
        }
    }

    #[test]
    fn theta_is_minus_the_derivative_in_time_left() {
        for barrier_type in BarrierType::ALL {
            let barrier = if barrier_type.is_down() { 85.0 } else { 115.0 };
            for option_type in [OptionType::Call, OptionType::Put] {
                let mut p = params(option_type, barrier_type, 100.0, barrier, 1.5);
                p.t = 0.1;
                let theta = greeks(&p).theta;
                let at = |t: f64| price(&BarrierParams { t, ..p });
                let h = 1e-4;
                let fd = -(8.0 * (at(0.1 + h) - at(0.1 - h)) - (at(0.1 + 2.0 * h) - at(0.1 - 2.0 * h))) / (12.0 * h);
                assert!(close(theta, fd, 1e-8, 1e-9), "{p:?}: {theta:e} vs {fd:e}");
            }
        }
    }

    /// Vega is analytic: check it against a Richardson-extrapolated central difference of the
    /// price in vol (steps 1e-4 and 2e-4 x vol), for every type, low and high vol, with a rebate.
    #[test]
    fn vega_is_the_derivative_in_vol() {
        for barrier_type in BarrierType::ALL {
            let barrier = if barrier_type.is_down() { 80.0 } else { 117.0 };
            for option_type in [OptionType::Call, OptionType::Put] {
                for (vol, rate, strike) in [(0.07, 0.02, 52.0), (0.25, -0.01, 100.0), (1.1, 0.07, 130.0)] {
                    let p =
                        BarrierParams { vol, rate, strike, ..params(option_type, barrier_type, strike, barrier, 2.5) };
                    let at = |v: f64| price(&BarrierParams { vol: v, ..p });
                    let h = 1e-4 * vol;
                    let d1 = (at(vol + h) - at(vol - h)) / (2.0 * h);
                    let d2 = (at(vol + 2.0 * h) - at(vol - 2.0 * h)) / (4.0 * h);
                    let fd = (4.0 * d1 - d2) / 3.0;
                    let vega = greeks(&p).vega;
                    assert!(close(vega, fd, 1e-8, 1e-8), "{p:?}: {vega:e} vs {fd:e}");
                }
            }
        }
    }

    #[test]
    fn breached_and_expired_states() {
        let vanilla = greeks::vanilla(OptionType::Put, 85.0, 100.0, 1.0, 0.05, 0.25);
        let mut p = params(OptionType::Put, BarrierType::DownIn, 100.0, 90.0, 3.0);
        p.spot = 85.0;
        assert_eq!(greeks(&p), vanilla);
        assert_eq!(price(&p), vanilla.price);
        p.barrier_type = BarrierType::DownOut;
        assert_eq!(greeks(&p), Greeks::constant(3.0));
        assert_eq!(price(&p), 3.0);
        // At expiry, alive: the knock-out is the payoff, the knock-in its rebate.
        let mut p = params(OptionType::Call, BarrierType::UpOut, 100.0, 110.0, 3.0);
        p.spot = 105.0;
        p.t = 0.0;
        assert_eq!(greeks(&p), Greeks { price: 5.0, delta: 1.0, ..Greeks::default() });
        assert_eq!(price(&p), 5.0);
        p.barrier_type = BarrierType::UpIn;
        assert_eq!(greeks(&p), Greeks::constant(3.0));
        assert_eq!(price(&p), 3.0);
    }

    /// At the engine's vol floor (1e-4) the spot path is deterministic, s e^{rt}: an up-and-out
    /// call whose forward stays below the barrier is the discounted vanilla payoff; one whose
    /// path reaches the barrier at tau = ln(h/s) / r is its rebate discounted from tau. Here
    /// `(h/s)^(2 mu)` overflows f64 (QuantLib returns 0 or NaN for such products).
    #[test]
    fn vol_floor_gives_the_deterministic_limit() {
        let base = BarrierParams {
            option_type: OptionType::Call,
            barrier_type: BarrierType::UpOut,
            spot: 100.0,
            strike: 95.0,
            barrier: 110.0,
            rebate: 2.0,
            t: 1.0,
            rate: 0.05,
            vol: 1e-4,
        };
        assert!(f64::powf(1.1, 2.0 * (0.05 / 1e-8 - 0.5)).is_infinite());
        // Forward 105.13 < 110: never hit.
        let v = price(&base);
        let expected = f64::exp(-0.05) * (100.0 * f64::exp(0.05) - 95.0);
        assert!(close(v, expected, 1e-9, 0.0), "{v:e} vs {expected:e}");
        // Rate 12%: forward 112.7 > 110, hit at tau = ln(1.1) / 0.12.
        let hit = BarrierParams { rate: 0.12, ..base };
        let v = price(&hit);
        let expected = 2.0 * f64::exp(-f64::ln(1.1));
        assert!(close(v, expected, 1e-9, 0.0), "{v:e} vs {expected:e}");
        for p in [base, hit] {
            let g = greeks(&p);
            assert!([g.price, g.delta, g.gamma, g.vega, g.theta].iter().all(|x| x.is_finite()));
        }
        // Every type stays finite at the floor, rebate or not, rate of either sign.
        for barrier_type in BarrierType::ALL {
            for option_type in [OptionType::Call, OptionType::Put] {
                for rate in [-0.01, 0.0, 0.08] {
                    for rebate in [0.0, 2.0] {
                        let barrier = if barrier_type.is_down() { 90.0 } else { 110.0 };
                        let p = BarrierParams { option_type, barrier_type, barrier, rate, rebate, ..base };
                        let g = greeks(&p);
                        let all = [g.price, g.delta, g.gamma, g.vega, g.theta];
                        assert!(all.iter().all(|x| x.is_finite()), "{p:?}: {g:?}");
                        assert!(g.price >= 0.0);
                    }
                }
            }
        }
    }

    /// Up-and-out call, S 100, K 100, H 117, rebate 3, T 2, r 8% (the forward ends at 117.35, at
    /// the barrier), vol 0.0050 .. 0.0072: below 0.0062, N(u) underflows next to (h/s)^(2 mu) >
    /// 1e280. QuantLib 1.44 sets such products to 0 and jumps by 0.12 there (6.697873687059749 at
    /// vol 0.0060, 6.615251062833314 at 0.0062); in logs the price is smooth and from 0.0062 up
    /// it is QuantLib's (AnalyticBarrierEngine, set-up of `matches_quantlib` with T = 730 days).
    #[test]
    fn smooth_in_vol_where_probabilities_underflow() {
        let p = BarrierParams {
            option_type: OptionType::Call,
            barrier_type: BarrierType::UpOut,
            spot: 100.0,
            strike: 100.0,
            barrier: 117.0,
            rebate: 3.0,
            t: 2.0,
            rate: 0.08,
            vol: 0.0,
        };
        let prices: Vec<f64> =
            (0..12).map(|i| price(&BarrierParams { vol: 0.005 + 0.0002 * f64::from(i), ..p })).collect();
        for w in prices.windows(3) {
            assert!((w[0] - 2.0 * w[1] + w[2]).abs() < 0.01, "{prices:?}");
        }
        for (vol, quantlib) in [(0.0062, 6.615_251_062_833_314), (0.0072, 6.759_246_374_286_139)] {
            let v = price(&BarrierParams { vol, ..p });
            assert!(close(v, quantlib, 1e-12, 0.0), "{vol}: {v:e} vs {quantlib:e}");
        }
    }

    #[test]
    fn ln_norm_cdf_matches_the_direct_log_where_both_work() {
        for u in [-34.9, -30.0, -20.0, -5.0, 0.0, 3.0] {
            assert!(close(ln_norm_cdf(u), norm_cdf(u).ln(), 1e-15, 0.0));
        }
        // The series branch against the direct log where N(u) is still a normal float.
        for u in [-35.5, -36.0, -37.5] {
            let direct = norm_cdf(u).ln();
            assert!(close(ln_norm_cdf(u), direct, 1e-14, 0.0), "{u}: {} vs {direct}", ln_norm_cdf(u));
        }
        // Past the underflow of N: scipy.special.log_ndtr(-40.0) = -804.6084420137539.
        assert!(close(ln_norm_cdf(-40.0), -804.608_442_013_753_9, 1e-15, 0.0));
    }
}
