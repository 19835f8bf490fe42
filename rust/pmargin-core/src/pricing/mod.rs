//! Closed-form pricing of the supported contracts.

pub mod barrier;
pub mod black76;
pub mod digital;
pub mod greeks;
pub mod normal;

/// |actual - expected| within `rel` of |expected|.
#[cfg(test)]
pub(crate) fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected.abs()
}

/// Each Greek of `actual` within `rel` (relative) of `expected` = [price, delta, gamma, vega,
/// theta]; the pricing tests' check against QuantLib.
#[cfg(test)]
pub(crate) fn assert_greeks(actual: greeks::Greeks, expected: [f64; 5], rel: f64) {
    let got = [actual.price, actual.delta, actual.gamma, actual.vega, actual.theta];
    for (name, (a, e)) in ["price", "delta", "gamma", "vega", "theta"].iter().zip(got.iter().zip(expected.iter())) {
        assert!(close(*a, *e, rel), "{name}: {a:e} vs {e:e}");
    }
}
