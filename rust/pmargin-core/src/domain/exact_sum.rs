//! The correctly rounded sum of floats (Shewchuk's exact partials, with the final rounding of
//! CPython's `math.fsum`): the result does not depend on the order of the terms, so netting the
//! duplicate rows of one (account, instrument) gives the same quantity for any row order, and
//! the reference (`math.fsum`) gives the same bits.

use smallvec::SmallVec;

/// `sum(values)` rounded once, to nearest (ties to even). When an intermediate partial
/// overflows (terms near the float range), falls back to the plain sum of the terms sorted by
/// value (`total_cmp`), which is order-independent too; the reference does the same.
pub fn exact_sum(values: &[f64]) -> f64 {
    let mut partials: SmallVec<[f64; 8]> = SmallVec::new();
    for &value in values {
        let mut x = value;
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        if !x.is_finite() {
            return sorted_sum(values);
        }
        partials.truncate(i);
        partials.push(x);
    }
    round_partials(&partials)
}

/// The float nearest the exact sum of non-overlapping partials in increasing magnitude.
fn round_partials(partials: &[f64]) -> f64 {
    let Some(mut n) = partials.len().checked_sub(1) else { return 0.0 };
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Half-way cases: round toward the sign of the remaining partials.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

fn sorted_sum(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.iter().fold(0.0, |acc, x| acc + x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_exact_and_order_free() {
        assert_eq!(exact_sum(&[]), 0.0);
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(exact_sum(&[1e6, 0.1, -1e6, 0.2]), 0.30000000000000004);
        assert_eq!(exact_sum(&[-1e6, 0.2, 1e6, 0.1]), 0.30000000000000004);
        assert_eq!(exact_sum(&[1e100, 1.0, -1e100]), 1.0);
        let mut state = 11u64;
        let mut values: Vec<f64> = (0..50)
            .map(|i| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
                if i % 2 == 0 {
                    mantissa * 1e6
                } else {
                    -mantissa * 1e-3
                }
            })
            .collect();
        let forward = exact_sum(&values);
        values.reverse();
        assert_eq!(exact_sum(&values), forward);
        values.sort_by(f64::total_cmp);
        assert_eq!(exact_sum(&values), forward);
    }

    #[test]
    fn rounds_half_way_cases_to_even_like_fsum() {
        // 1 + 2^-53 + 2^-106: above the half-way point, so it rounds up (math.fsum agrees).
        let up = exact_sum(&[1.0, 2f64.powi(-53), 2f64.powi(-106)]);
        assert_eq!(up, 1.0 + f64::EPSILON);
        assert_eq!(exact_sum(&[1.0, 2f64.powi(-53)]), 1.0);
    }

    #[test]
    fn overflowing_terms_fall_back_to_the_sorted_sum() {
        // Sorted: -1e308 + 1e308 + 1e308, whatever the input order.
        assert_eq!(exact_sum(&[1e308, 1e308, -1e308]), 1e308);
        assert_eq!(exact_sum(&[1e308, -1e308, 1e308]), 1e308);
        assert_eq!(exact_sum(&[1e308, 1e308]), f64::INFINITY);
    }
}
