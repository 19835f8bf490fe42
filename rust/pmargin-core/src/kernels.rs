//! Dense inner loops of the sparse x dense product: `acc += q * row` over several rows.
//!
//! Each element is summed in the order docs/methods.md fixes (row by row, left to right), so the
//! result is bit-identical to the plain loop whatever the instruction set: rows are fused four at
//! a time only to save loads and stores of `acc`, and no multiply-add is ever contracted. On
//! x86-64 the same code is also compiled for AVX2 and picked at run time when the CPU has it.

/// One weighted row: `q` times the slice.
pub type WeightedRow<'a> = (f64, &'a [f64]);

/// `acc[i] += q * row[i]` for every row in order. Rows must be at least as long as `acc`.
pub fn accumulate(acc: &mut [f64], rows: &[WeightedRow<'_>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { accumulate_avx2(acc, rows) };
        return;
    }
    accumulate_portable(acc, rows);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_avx2(acc: &mut [f64], rows: &[WeightedRow<'_>]) {
    accumulate_portable(acc, rows);
}

#[inline(always)]
fn accumulate_portable(acc: &mut [f64], rows: &[WeightedRow<'_>]) {
    let n = acc.len();
    let mut fours = rows.chunks_exact(4);
    for four in &mut fours {
        let [(q0, r0), (q1, r1), (q2, r2), (q3, r3)] = [four[0], four[1], four[2], four[3]];
        let (r0, r1, r2, r3) = (&r0[..n], &r1[..n], &r2[..n], &r3[..n]);
        for ((((a, x0), x1), x2), x3) in acc.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *a = *a + q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3;
        }
    }
    for &(q, row) in fours.remainder() {
        for (a, x) in acc.iter_mut().zip(&row[..n]) {
            *a += q * x;
        }
    }
}

/// The smallest `p[i] - q * x[i]` and the first `i` reaching it; `(inf, 0)` when empty. Eight
/// lanes each keep their smallest value and its first index (as an exact f64, so the selects
/// stay within one register type; two independent vectors halve the dependency chain), merged
/// at the end: the same result as a sequential scan.
pub fn least_difference(p: &[f64], q: f64, x: &[f64]) -> (f64, usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { least_difference_avx2(p, q, x) };
    }
    least_difference_portable(p, q, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn least_difference_avx2(p: &[f64], q: f64, x: &[f64]) -> (f64, usize) {
    least_difference_portable(p, q, x)
}

#[inline(always)]
fn least_difference_portable(p: &[f64], q: f64, x: &[f64]) -> (f64, usize) {
    const LANES: usize = 8;
    let n = p.len();
    let x = &x[..n];
    let mut lanes = [f64::INFINITY; LANES];
    let mut firsts = [0.0f64; LANES];
    let (mut p8, mut x8) = (p.chunks_exact(LANES), x.chunks_exact(LANES));
    let mut at: [f64; LANES] = std::array::from_fn(|j| j as f64);
    for (pc, xc) in (&mut p8).zip(&mut x8) {
        for j in 0..LANES {
            let v = pc[j] - q * xc[j];
            let smaller = v < lanes[j];
            lanes[j] = if smaller { v } else { lanes[j] };
            firsts[j] = if smaller { at[j] } else { firsts[j] };
            at[j] += LANES as f64;
        }
    }
    let mut least = (f64::INFINITY, 0usize);
    for (&v, &first) in lanes.iter().zip(&firsts) {
        let first = first as usize;
        if v < least.0 || (v == least.0 && first < least.1) {
            least = (v, first);
        }
    }
    let start = n - p8.remainder().len();
    for (i, (pv, xv)) in p8.remainder().iter().zip(x8.remainder()).enumerate() {
        let v = pv - q * xv;
        if v < least.0 {
            least = (v, start + i);
        }
    }
    least
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_difference_is_the_first_minimum() {
        for n in [0, 1, 3, 4, 5, 63, 64, 101] {
            let p: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
            let x: Vec<f64> = (0..n).map(|i| ((i * 13) % 7) as f64 * 0.5).collect();
            for q in [0.0, 1.0, -2.0] {
                let mut want = (f64::INFINITY, 0);
                for i in 0..n {
                    let v = p[i] - q * x[i];
                    if v < want.0 {
                        want = (v, i);
                    }
                }
                assert_eq!(least_difference(&p, q, &x), want, "n={n} q={q}");
            }
        }
    }

    #[test]
    fn fused_rows_equal_the_plain_loop_bit_for_bit() {
        let rows: Vec<Vec<f64>> = (0..7)
            .map(|r| (0..37).map(|i| ((i * 7919 + r * 104_729) % 1013) as f64 * 1.37e-3 - 0.6).collect())
            .collect();
        let qs = [3.0, -1.25, 0.1, 7.0, -0.3, 1e6, -2.5e-7];
        for used in 0..=rows.len() {
            let weighted: Vec<WeightedRow<'_>> = (0..used).map(|r| (qs[r], rows[r].as_slice())).collect();
            let mut got = vec![0.5; 37];
            accumulate(&mut got, &weighted);
            let mut plain = vec![0.5; 37];
            for (q, row) in &weighted {
                for (a, x) in plain.iter_mut().zip(row.iter()) {
                    *a += q * x;
                }
            }
            assert_eq!(
                got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                plain.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
