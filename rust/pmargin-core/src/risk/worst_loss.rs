//! The worst loss of a P&L vector: the requirement of a scan over scenarios (grid-style methods),
//! and the noise floor under which a loss is rounding, not risk.

/// Relative noise floor (2^-40): a loss at or below `NOISE x scale`, where `scale` is the P&L
/// scale of the positions summed (see [`scale_term`]), is what rounding of opposite terms can
/// leave behind (n terms add at most n x 2^-53 x scale of error), so it is no loss.
pub const NOISE: f64 = 1.0 / 1_099_511_627_776.0;

/// One position's share of a P&L scale: `|q| x extent`, the extent of its risk row being
/// `max(|min row|, |max row|)` (`RiskArrays::extent`).
#[inline]
pub fn scale_term(quantity: f64, extent: f64) -> f64 {
    quantity.abs() * extent
}

/// True when `loss` is rounding noise relative to `scale` (docs/methods.md, "Noise").
#[inline]
pub fn is_noise(loss: f64, scale: f64) -> bool {
    loss <= NOISE * scale
}

/// [`worst_loss`] with a loss that is noise relative to `scale` counted as none: (0, None).
pub fn worst_loss_above_noise(pnl: &[f64], scale: f64) -> (f64, Option<u32>) {
    let (loss, worst) = worst_loss(pnl);
    if is_noise(loss, scale) {
        (0.0, None)
    } else {
        (loss, worst)
    }
}

/// Largest loss (`-pnl`) and the first scenario reaching it; (0, None) when nothing loses.
/// The largest loss is minus the smallest P&L, found over four independent lanes so the scan
/// vectorises; equal to a scan that keeps the first strictly larger loss.
pub fn worst_loss(pnl: &[f64]) -> (f64, Option<u32>) {
    let mut lanes = [f64::INFINITY; 4];
    let mut fours = pnl.chunks_exact(4);
    for four in &mut fours {
        for (lane, &p) in lanes.iter_mut().zip(four) {
            *lane = if p < *lane { p } else { *lane };
        }
    }
    let least = lanes.iter().chain(fours.remainder()).fold(f64::INFINITY, |m, &p| if p < m { p } else { m });
    let best = loss_of_least(least);
    if best > 0.0 {
        (best, pnl.iter().position(|&p| p == least).map(|s| s as u32))
    } else {
        (0.0, None)
    }
}

/// The worst loss of a P&L vector whose smallest value is `least`: `-least`, or 0 when nothing
/// loses.
pub fn loss_of_least(least: f64) -> f64 {
    if -least > 0.0 {
        -least
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_worst_wins_ties() {
        assert_eq!(worst_loss(&[1.0, -3.0, -3.0, 2.0]), (3.0, Some(1)));
        assert_eq!(worst_loss(&[0.0, 1.0]), (0.0, None));
        assert_eq!(worst_loss(&[]), (0.0, None));
        // Ties across lanes, in the tail, and between a lane and the tail.
        assert_eq!(worst_loss(&[5.0, 1.0, -2.0, -2.0, 0.0, -2.0, 3.0, 3.0, -2.0]), (2.0, Some(2)));
        assert_eq!(worst_loss(&[5.0, 1.0, 2.0, 3.0, 4.0, -1.0, -1.0]), (1.0, Some(5)));
        assert_eq!(worst_loss(&[-0.0, 0.0, -0.0]), (0.0, None));
    }

    /// The plain scan `worst_loss` stands for: the first strictly larger loss wins.
    fn plain(pnl: &[f64]) -> (f64, Option<u32>) {
        let mut best = (0.0, None);
        for (s, &p) in pnl.iter().enumerate() {
            if -p > best.0 {
                best = (-p, Some(s as u32));
            }
        }
        best
    }

    #[test]
    fn equals_the_plain_scan() {
        let mut state = 3u64;
        for case in 0..2000 {
            let n = case % 70;
            let pnl: Vec<f64> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    // Few distinct values, so ties are common.
                    ((state >> 59) as f64 - 12.0) * 0.5
                })
                .collect();
            assert_eq!(worst_loss(&pnl), plain(&pnl), "{pnl:?}");
        }
    }

    #[test]
    fn a_loss_within_the_noise_floor_is_none() {
        assert_eq!(NOISE, 2f64.powi(-40));
        assert_eq!(scale_term(-2.0, 3.0), 6.0);
        let scale = 1e4;
        assert_eq!(worst_loss_above_noise(&[1.0, -8.0e-9, 2.0], scale), (0.0, None));
        assert_eq!(worst_loss_above_noise(&[1.0, -1.0e-8, 2.0], scale), (1.0e-8, Some(1)));
        assert!(is_noise(0.0, 0.0) && !is_noise(1e-300, 0.0));
    }

    #[test]
    fn nothing_lost_is_zero() {
        assert_eq!(loss_of_least(2.0), 0.0);
        assert_eq!(loss_of_least(-0.0), 0.0);
        assert_eq!(loss_of_least(-4.5), 4.5);
    }
}
