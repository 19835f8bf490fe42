//! Add-on charges a scenario method adds to its worst loss (docs/methods.md, "Add-ons"): a
//! calendar / roll charge per expiry bucket (no netting across expiries, so a futures calendar
//! or a spot / perpetual basis pays), a delta-shock charge on a large net delta, and a short
//! option minimum per contract. Each is a pure function of a few sums, so any grid-style method
//! can compose them and the reference mirrors them line by line.

/// Roll (calendar) rate of one expiry bucket: `max(min_move, exp(annual_move x T) - 1)` for a
/// dated bucket (`t = Some(T)` years), `min_move` for an undated one (perpetuals).
pub fn roll_rate(min_move: f64, annual_move: f64, t: Option<f64>) -> f64 {
    match t {
        None => min_move,
        Some(t) => {
            let grown = (annual_move * t).exp() - 1.0;
            if grown > min_move {
                grown
            } else {
                min_move
            }
        }
    }
}

/// Roll charge: `0.0 + |delta_1| x rate_1 + |delta_2| x rate_2 + ...` over expiry buckets in
/// the order given (deltas in underlying units; the caller converts to its currency).
pub fn roll_charge(buckets: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    buckets.into_iter().fold(0.0, |acc, (delta, rate)| acc + delta.abs() * rate)
}

/// Delta-shock rate on a net delta of `abs_delta` underlying units at `index`: 0 while
/// `abs_delta x index <= threshold` (USD), else `min(max_shock, m_inc x (abs_delta -
/// threshold / index))`: the rate grows by `m_inc` per unit of delta above the threshold.
pub fn delta_shock_rate(abs_delta: f64, index: f64, threshold: f64, m_inc: f64, max_shock: f64) -> f64 {
    if abs_delta * index <= threshold {
        return 0.0;
    }
    let rate = m_inc * (abs_delta - threshold / index);
    if rate < max_shock {
        rate
    } else {
        max_shock
    }
}

/// Short option minimum: `per_contract x` the net short option contracts (a positive count).
pub fn short_option_minimum(net_short_contracts: f64, per_contract: f64) -> f64 {
    if net_short_contracts > 0.0 {
        net_short_contracts * per_contract
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_rate_floors_at_the_minimum_move() {
        // AC-D1: a 10.9-day future at 7.5% a year moves 0.22%, floored at 1%.
        assert_eq!(roll_rate(0.01, 0.075, Some(10.9 / 365.0)), 0.01);
        assert_eq!(roll_rate(0.01, 0.075, None), 0.01);
        assert_eq!(roll_rate(0.01, 0.075, Some(1.0)), 0.075f64.exp() - 1.0);
    }

    #[test]
    fn roll_charge_never_nets_across_buckets() {
        let c = roll_charge([(0.314538364, 0.01), (-0.001187534, 0.01)]);
        assert!((c - 0.00315725898).abs() < 1e-15, "{c}");
        assert_eq!(roll_charge([(10.0, 0.01), (-10.0, 0.01)]), 0.2);
    }

    #[test]
    fn delta_shock_starts_at_the_threshold_and_is_capped() {
        assert_eq!(delta_shock_rate(100.0, 1000.0, 100_000.0, 0.001, 0.1), 0.0);
        assert!((delta_shock_rate(150.0, 1000.0, 100_000.0, 0.001, 0.1) - 0.05).abs() < 1e-15);
        assert_eq!(delta_shock_rate(1e6, 1000.0, 100_000.0, 0.001, 0.1), 0.1);
    }

    #[test]
    fn short_option_minimum_charges_net_shorts_only() {
        assert_eq!(short_option_minimum(10.0, 0.01), 0.1);
        assert_eq!(short_option_minimum(-10.0, 0.01), 0.0);
    }
}
