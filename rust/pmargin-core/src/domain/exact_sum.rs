//! The correctly rounded sum of floats (Shewchuk's exact partials, with the final rounding of
//! CPython's `math.fsum`): the result does not depend on the order of the terms, so netting the
//! duplicate rows of one (account, instrument) gives the same quantity for any row order, and
//! the reference (`math.fsum`) gives the same bits.

use smallvec::SmallVec;

/// `sum(values)` rounded once, to nearest (ties to even). When an intermediate partial
/// overflows (terms near the float range), falls back to the plain sum of the terms sorted by
/// value (`total_cmp`), which is order-independent too; the reference does the same.
pub fn exact_sum(values: &[f64]) -> f64 {
    // Two terms (the usual duplicate row): IEEE addition already rounds their sum correctly, so
    // a finite nonzero float sum is the answer; zeros (their sign) and overflow go the general way.
    if let [a, b] = values {
        let sum = a + b;
        if sum.is_finite() && sum != 0.0 {
            return sum;
        }
    }
    // Most sums are certified by the cheap compensated sum; the partials decide the rest.
    certified_sum(values).unwrap_or_else(|| partials_sum(values))
}

/// Largest term magnitude, and most terms, for which neither [`certified_sum`] nor the partials
/// can overflow (`2^20 * 2^1000` is far below the float range).
const CERTIFIED_MAX_TERM: f64 = f64::from_bits((1023 + 1000) << 52);
const CERTIFIED_MAX_TERMS: usize = 1 << 20;
/// Below this the error bound could lose precision to underflow: left to the partials.
const CERTIFIED_MIN: f64 = f64::from_bits((1023 - 960) << 52);

/// The correctly rounded sum when a compensated sum proves it, else None (then the partials
/// decide: ties, near-ties, zeros, tiny or huge values).
///
/// Sum2 (Ogita, Rump, Oishi 2005): `s` is the running float sum and `e_i` the exact error of
/// each addition (TwoSum), so the exact sum is `T = s + sum e_i`. `c = fl(sum e_i)` is off by
/// at most `(m-1) u A / (1 - m u)` with `A = sum |e_i|` (`m` errors, `u = 2^-53`), below
/// `bound = n 2^-52 a` with `a = fl(A)`. With `r = fl(s + c)` and `t` its exact error,
/// `|T - r| <= |t| + bound`; when that is below half the gap from `r` to either neighbour, `r`
/// is the only float nearest `T` (no tie), which is what the partials return too.
fn certified_sum(values: &[f64]) -> Option<f64> {
    let (&first, rest) = values.split_first()?;
    if values.len() > CERTIFIED_MAX_TERMS {
        return None;
    }
    // Two running sums (the terms alternately), joined by one more TwoSum: each addition waits
    // for the one before it in its own lane only. The bound below holds for the errors of any
    // order of additions.
    let mut lanes = [(first, 0.0f64, 0.0f64), (0.0f64, 0.0f64, 0.0f64)];
    let mut big = first.abs();
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        for ((s, c, a), &x) in lanes.iter_mut().zip(pair) {
            let (t, e) = two_sum(*s, x);
            *s = t;
            *c += e;
            *a += e.abs();
        }
        big = big.max(pair[0].abs()).max(pair[1].abs());
    }
    if let [x] = *pairs.remainder() {
        let (s, c, a) = &mut lanes[0];
        let (t, e) = two_sum(*s, x);
        (*s, *c, *a) = (t, *c + e, *a + e.abs());
        big = big.max(x.abs());
    }
    let [(s0, c0, a0), (s1, c1, a1)] = lanes;
    let (s, e) = two_sum(s0, s1);
    let (c, a) = ((c0 + c1) + e, (a0 + a1) + e.abs());
    if big.is_nan() || big > CERTIFIED_MAX_TERM || (a != 0.0 && a < CERTIFIED_MIN) {
        return None;
    }
    let r = s + c;
    let z = r - s;
    let t = (s - (r - z)) + (c - z);
    let bound = a * (values.len() as f64 * f64::EPSILON);
    // Rounding is monotone and the half gap is a float, so the float comparison is exact enough.
    (t.abs() + bound < half_gap(r)?).then_some(r)
}

/// `(a + b, its exact error)` (Knuth's TwoSum; exact unless the sum overflows).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let t = a + b;
    let z = t - a;
    (t, (a - (t - z)) + (b - z))
}

/// Half the distance from `r` to its nearer neighbour (a power of two: below it the gap halves);
/// None for zero, non-finite and tiny `r`.
fn half_gap(r: f64) -> Option<f64> {
    if !r.is_finite() || r.abs() < CERTIFIED_MIN {
        return None;
    }
    let bits = r.abs().to_bits();
    let exponent = bits >> 52;
    // ulp(r) = 2^(exponent - 1075); half of it is 2^(exponent - 1076), of the gap below a power
    // of two a quarter.
    let shift = if bits & ((1 << 52) - 1) == 0 { 54 } else { 53 };
    Some(f64::from_bits((exponent - shift) << 52))
}

/// Shewchuk's partials with CPython's final rounding.
fn partials_sum(values: &[f64]) -> f64 {
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
    use crate::test_support::Lcg;

    #[test]
    fn is_exact_and_order_free() {
        assert_eq!(exact_sum(&[]), 0.0);
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(exact_sum(&[1e6, 0.1, -1e6, 0.2]), 0.30000000000000004);
        assert_eq!(exact_sum(&[-1e6, 0.2, 1e6, 0.1]), 0.30000000000000004);
        assert_eq!(exact_sum(&[1e100, 1.0, -1e100]), 1.0);
        let mut g = Lcg(11);
        let mut values: Vec<f64> = (0..50)
            .map(|i| {
                let mantissa = g.next_unit();
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
    fn two_terms_are_the_partials_sum() {
        let tiny = f64::EPSILON / 2.0;
        let pairs = [
            (1.0, tiny),
            (1.0 + f64::EPSILON, tiny),
            (0.1, 0.2),
            (1e308, 1e308),
            (-0.0, -0.0),
            (0.0, -0.0),
            (3.5, -3.5),
            (f64::MIN_POSITIVE, -f64::MIN_POSITIVE / 4.0),
            (5e-324, 5e-324),
            (-1e16, 1.0),
        ];
        let mut g = Lcg(11);
        let random = (0..2000).map(|_| {
            let mut next = || {
                let state = g.next_u64();
                f64::from_bits(state >> 2) * if state & 1 == 0 { 1.0 } else { -1.0 }
            };
            (next(), next())
        });
        for (a, b) in pairs.into_iter().chain(random).filter(|(a, b)| a.is_finite() && b.is_finite()) {
            assert_eq!(exact_sum(&[a, b]).to_bits(), partials_sum(&[a, b]).to_bits(), "{a:e} + {b:e}");
        }
    }

    #[test]
    fn rounds_half_way_cases_to_even_like_fsum() {
        // 1 + 2^-53 + 2^-106: above the half-way point, so it rounds up (math.fsum agrees).
        let up = exact_sum(&[1.0, 2f64.powi(-53), 2f64.powi(-106)]);
        assert_eq!(up, 1.0 + f64::EPSILON);
        assert_eq!(exact_sum(&[1.0, 2f64.powi(-53)]), 1.0);
    }

    /// [`Lcg`] states with their high bits folded into the low ones.
    struct Bits(Lcg);
    impl Bits {
        fn next(&mut self) -> u64 {
            let s = self.0.next_u64();
            s ^ (s >> 29)
        }
        fn below(&mut self, n: u64) -> u64 {
            (self.next() >> 11) % n
        }
    }

    /// Terms built to be hard: exact cancellation, half-way ties, wide exponent ranges,
    /// subnormals, signed zeros, and terms near the float range.
    fn adversarial(g: &mut Bits) -> Vec<f64> {
        let n = 1 + g.below(40) as usize;
        let shape = g.below(8);
        let mut v: Vec<f64> = Vec::with_capacity(n + 4);
        for _ in 0..n {
            let x = match shape {
                // any bit pattern that is finite: every exponent, subnormals included
                0 => f64::from_bits(g.next() & !(0x7ffu64 << 52) | (g.below(2047) << 52)),
                // a few binades: heavy rounding, near-ties
                1 => (1.0 + g.below(1 << 20) as f64 / (1u64 << 20) as f64) * 2f64.powi(g.below(60) as i32 - 30),
                // powers of two: exact ties
                2 => 2f64.powi(g.below(110) as i32 - 55) * if g.below(2) == 0 { 1.0 } else { -1.0 },
                // subnormals and the smallest normals
                3 => f64::from_bits(g.next() & ((1u64 << 53) - 1)) * if g.below(2) == 0 { 1.0 } else { -1.0 },
                // near the float range: overflow fallback
                4 => f64::MAX / (1.0 + g.below(4) as f64) * if g.below(2) == 0 { 1.0 } else { -1.0 },
                // signed zeros and small integers
                5 => [0.0, -0.0, 1.0, -1.0, 3.0][g.below(5) as usize],
                // bench-like amounts
                _ => (g.below(1 << 40) as f64 - (1u64 << 39) as f64) * 1e-3,
            };
            v.push(x);
        }
        if g.below(2) == 0 {
            // cancel a random half exactly, leaving small remainders
            let k = v.len() / 2;
            let negated: Vec<f64> = v[..k].iter().map(|x| -x).collect();
            v.extend(negated);
            v.push(2f64.powi(-(g.below(1070) as i32)));
        }
        v
    }

    #[test]
    fn certified_sums_are_the_partials_sums() {
        let mut g = Bits(Lcg(2024));
        let mut certified = 0;
        for case in 0..200_000 {
            let mut v = adversarial(&mut g);
            let want = partials_sum(&v);
            if let Some(got) = certified_sum(&v) {
                certified += 1;
                assert_eq!(got.to_bits(), want.to_bits(), "case {case}: {v:?}");
            }
            assert_eq!(exact_sum(&v).to_bits(), want.to_bits(), "case {case}: {v:?}");
            // Reversed (the partials' overflow fallback may depend on the order).
            v.reverse();
            assert_eq!(exact_sum(&v).to_bits(), partials_sum(&v).to_bits(), "case {case} reversed: {v:?}");
        }
        // The fast path does most of the work, or it buys nothing.
        assert!(certified > 100_000, "{certified} certified");
    }

    #[test]
    fn ties_zeros_and_huge_terms_are_left_to_the_partials() {
        assert_eq!(certified_sum(&[1.0, 2f64.powi(-53)]), None); // a tie
        assert_eq!(certified_sum(&[0.0, -0.0]), None);
        assert_eq!(certified_sum(&[1.0, -1.0]), None);
        assert_eq!(certified_sum(&[1e308, 1e308]), None);
        assert_eq!(certified_sum(&[f64::NAN, 1.0]), None);
        assert_eq!(certified_sum(&[1.0, f64::INFINITY]), None);
        assert_eq!(certified_sum(&[5e-324, 5e-324]), None);
        assert_eq!(certified_sum(&[]), None);
        assert_eq!(certified_sum(&[0.1, 0.2, 0.3]), Some(0.6));
        assert_eq!(exact_sum(&[-0.0]).to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn half_gap_is_half_the_nearer_spacing() {
        assert_eq!(half_gap(1.5), Some(f64::EPSILON / 2.0));
        assert_eq!(half_gap(1.0), Some(f64::EPSILON / 4.0));
        assert_eq!(half_gap(-3.0), Some(f64::EPSILON));
        assert_eq!(half_gap(0.0), None);
        assert_eq!(half_gap(f64::INFINITY), None);
    }

    #[test]
    fn overflowing_terms_fall_back_to_the_sorted_sum() {
        // Sorted: -1e308 + 1e308 + 1e308, whatever the input order.
        assert_eq!(exact_sum(&[1e308, 1e308, -1e308]), 1e308);
        assert_eq!(exact_sum(&[1e308, -1e308, 1e308]), 1e308);
        assert_eq!(exact_sum(&[1e308, 1e308]), f64::INFINITY);
    }
}
