//! The worst loss of a P&L vector: the requirement of a scan over scenarios (grid-style methods),
//! and the noise floor under which a loss is rounding, not risk.

use crate::risk::arrays::FirstExtreme;

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
    above_noise(worst_loss(pnl), scale)
}

/// A worst loss, or (0, None) when it is noise relative to `scale`.
#[inline]
pub fn above_noise((loss, worst): (f64, Option<u32>), scale: f64) -> (f64, Option<u32>) {
    if is_noise(loss, scale) {
        (0.0, None)
    } else {
        (loss, worst)
    }
}

/// [`worst_loss`] of `q x row` for one position, read off the row's first extremes instead of
/// multiplying and scanning it. Rounding of `q * x` is monotone in `x`, so the least of `q x row`
/// is `q` times the row's least value (q > 0) or greatest (q <= 0); it is first reached where that
/// value is, unless an earlier value rounds to the same product, which cannot happen when `q`
/// times the extreme before it (`before`) is strictly larger. None in that rare case: scan.
#[inline]
pub fn single_worst_loss(q: f64, least: &FirstExtreme, greatest: &FirstExtreme) -> Option<(f64, Option<u32>)> {
    let extreme = if q > 0.0 { least } else { greatest };
    let worst_pnl = q * extreme.value;
    let loss = loss_of_least(worst_pnl);
    if loss <= 0.0 {
        Some((0.0, None))
    } else if q * extreme.before > worst_pnl {
        Some((loss, Some(extreme.at)))
    } else {
        None
    }
}

/// Largest loss (`-pnl`) and the first scenario reaching it; (0, None) when nothing loses.
/// The largest loss is minus the smallest P&L, found over four independent lanes so the scan
/// vectorises; equal to a scan that keeps the first strictly larger loss. On x86-64 the same
/// code is also compiled for AVX2 and picked at run time (as in `risk::kernels`): a minimum does
/// not depend on the instruction set, so neither does the result.
pub fn worst_loss(pnl: &[f64]) -> (f64, Option<u32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { worst_loss_avx2(pnl) };
    }
    worst_loss_portable(pnl)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn worst_loss_avx2(pnl: &[f64]) -> (f64, Option<u32>) {
    worst_loss_portable(pnl)
}

#[inline(always)]
fn worst_loss_portable(pnl: &[f64]) -> (f64, Option<u32>) {
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
        (best, first_equal(pnl, least).map(|s| s as u32))
    } else {
        (0.0, None)
    }
}

/// The first place of `value` in `values`, eight at a time: one compare mask and one branch per
/// eight (a branch per value, mispredicted where the scan stops, cost as much as the minimum).
#[inline(always)]
fn first_equal(values: &[f64], value: f64) -> Option<usize> {
    let mut eights = values.chunks_exact(8);
    for (i, eight) in (&mut eights).enumerate() {
        let mask = eight.iter().enumerate().fold(0u32, |m, (j, &x)| m | (u32::from(x == value) << j));
        if mask != 0 {
            return Some(8 * i + mask.trailing_zeros() as usize);
        }
    }
    let rest = eights.remainder();
    rest.iter().position(|&x| x == value).map(|j| values.len() - rest.len() + j)
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
    use crate::test_support::Lcg;

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
        let mut g = Lcg(3);
        for case in 0..2000 {
            let n = case % 70;
            // Few distinct values, so ties are common.
            let pnl: Vec<f64> = (0..n).map(|_| ((g.next_u64() >> 59) as f64 - 12.0) * 0.5).collect();
            assert_eq!(worst_loss(&pnl), plain(&pnl), "{pnl:?}");
            assert_eq!(worst_loss_portable(&pnl), plain(&pnl), "{pnl:?}");
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

    /// The first extremes of a row, as `RiskArrays::build` records them.
    fn first_extremes(row: &[f64]) -> (FirstExtreme, FirstExtreme) {
        let mut lo = FirstExtreme { value: f64::INFINITY, at: 0, before: f64::INFINITY };
        let mut hi = FirstExtreme { value: f64::NEG_INFINITY, at: 0, before: f64::NEG_INFINITY };
        for (s, &x) in row.iter().enumerate() {
            if x < lo.value {
                lo = FirstExtreme { value: x, at: s as u32, before: lo.value };
            }
            if x > hi.value {
                hi = FirstExtreme { value: x, at: s as u32, before: hi.value };
            }
        }
        (lo, hi)
    }

    #[test]
    fn a_single_position_reads_its_worst_loss_off_the_first_extremes() {
        let mut g = Lcg(11);
        let mut next = || g.next_u64() >> 11;
        let (mut read, mut scanned) = (0, 0);
        for case in 0..20_000 {
            let n = 1 + (next() % 40) as usize;
            let row: Vec<f64> = (0..n)
                .map(|_| match case % 3 {
                    // few distinct values: ties
                    0 => ((next() >> 49) as f64 - 8.0) * 0.25,
                    // neighbours one ulp apart, so products of different values collide
                    1 => f64::from_bits(1.5f64.to_bits() + next() % 4) * if next() % 2 == 0 { 1.0 } else { -1.0 },
                    _ => (next() as f64 / (1u64 << 53) as f64 - 0.5) * 1e3,
                })
                .collect();
            let q = match next() % 6 {
                0 => 0.0,
                1 => -0.0,
                2 => -((next() % 100) as f64),
                3 => 3.0 * (1 + next() % 3) as f64,
                4 => -1.7 * (next() % 1000) as f64 * 1e-3,
                _ => (next() % 1000) as f64 * 0.37,
            };
            // The general path: 0 + q x row summed, then scanned.
            let pnl: Vec<f64> = row.iter().map(|x| 0.0 + q * x).collect();
            let want = worst_loss(&pnl);
            let (lo, hi) = first_extremes(&row);
            match single_worst_loss(q, &lo, &hi) {
                Some(got) => {
                    read += 1;
                    assert_eq!((got.0.to_bits(), got.1), (want.0.to_bits(), want.1), "q={q} row={row:?}");
                }
                None => scanned += 1,
            }
        }
        assert!(read > 15_000 && scanned > 0, "read {read}, scanned {scanned}");
        // 3 x each of these is the same double: the first scenario reaches the least P&L though
        // it is not the row's least value, so the extremes cannot tell and the caller scans.
        let row = [-1.5000000000000004, -1.5000000000000007];
        assert_eq!(3.0 * row[0], 3.0 * row[1]);
        let (lo, hi) = first_extremes(&row);
        assert_eq!(single_worst_loss(3.0, &lo, &hi), None);
        assert_eq!(worst_loss(&[3.0 * row[0], 3.0 * row[1]]).1, Some(0));
        assert_eq!(single_worst_loss(1.0, &lo, &hi), Some((1.5000000000000007, Some(1))));
    }

    #[test]
    fn nothing_lost_is_zero() {
        assert_eq!(loss_of_least(2.0), 0.0);
        assert_eq!(loss_of_least(-0.0), 0.0);
        assert_eq!(loss_of_least(-4.5), 4.5);
    }
}
