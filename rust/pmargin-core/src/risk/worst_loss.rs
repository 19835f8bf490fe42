//! The worst loss of a P&L vector: the requirement of a scan over scenarios (grid-style methods).

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
    }

    #[test]
    fn nothing_lost_is_zero() {
        assert_eq!(loss_of_least(2.0), 0.0);
        assert_eq!(loss_of_least(-0.0), 0.0);
        assert_eq!(loss_of_least(-4.5), 4.5);
    }
}
