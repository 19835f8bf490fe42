//! Dense inner loops over weighted risk rows: `acc += q * row` (the sparse x dense product) and
//! the least of `p - q * row` per row (margins without each position).
//!
//! Each sum is taken in the order docs/methods.md fixes (row by row, left to right), so the
//! result is bit-identical to the plain loop whatever the instruction set: rows are fused (sums:
//! four at a time, the last one to seven together; least differences: four at a time) only to
//! save loads and stores, and no multiply-add is ever contracted. On x86-64 the
//! same code is also compiled for AVX2 and picked at run time when the CPU has it.

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
    sum_rows(acc, rows, false);
}

/// The rows added in passes over `acc`: four rows a pass, and the last one to seven rows in
/// one pass (a pass per leftover row cost half a four-row pass each: its load and store of
/// `acc`). `from_zero`: the first pass starts from 0.0 instead of `acc`.
#[inline(always)]
fn sum_rows(acc: &mut [f64], rows: &[WeightedRow<'_>], from_zero: bool) {
    let mut rest = rows;
    let mut zero = from_zero;
    while let Some((four, tail)) = rest.split_first_chunk::<4>().filter(|(_, tail)| tail.len() > 3) {
        pass(acc, four, zero);
        (rest, zero) = (tail, false);
    }
    match *rest {
        [] => {}
        [a] => pass(acc, &[a], zero),
        [a, b] => pass(acc, &[a, b], zero),
        [a, b, c] => pass(acc, &[a, b, c], zero),
        [a, b, c, d] => pass(acc, &[a, b, c, d], zero),
        [a, b, c, d, e] => pass(acc, &[a, b, c, d, e], zero),
        [a, b, c, d, e, f] => pass(acc, &[a, b, c, d, e, f], zero),
        [a, b, c, d, e, f, g, ..] => pass(acc, &[a, b, c, d, e, f, g], zero),
    }
}

/// One pass: `acc[i] = start + q_0 x_0[i] + ... + q_{N-1} x_{N-1}[i]`, added left to right (the
/// plain loop's additions, in its order), `start` being 0.0 (`from_zero`) or `acc[i]`.
#[inline(always)]
fn pass<const N: usize>(acc: &mut [f64], rows: &[WeightedRow<'_>; N], from_zero: bool) {
    if from_zero {
        fused::<N, true>(acc, rows);
    } else {
        fused::<N, false>(acc, rows);
    }
}

#[inline(always)]
fn fused<const N: usize, const FROM_ZERO: bool>(acc: &mut [f64], rows: &[WeightedRow<'_>; N]) {
    let n = acc.len();
    let q: [f64; N] = std::array::from_fn(|r| rows[r].0);
    let x: [&[f64]; N] = std::array::from_fn(|r| &rows[r].1[..n]);
    for (i, a) in acc.iter_mut().enumerate() {
        let mut sum = if FROM_ZERO { 0.0 } else { *a };
        for r in 0..N {
            sum += q[r] * x[r][i];
        }
        *a = sum;
    }
}

/// `acc[i] = 0 + Σ q * row[i]` over the rows in order: [`accumulate`] into a zeroed `acc`, bit
/// for bit (the same additions, the first one onto 0.0), without zeroing `acc` first.
pub fn assign(acc: &mut [f64], rows: &[WeightedRow<'_>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { assign_avx2(acc, rows) };
        return;
    }
    assign_portable(acc, rows);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn assign_avx2(acc: &mut [f64], rows: &[WeightedRow<'_>]) {
    assign_portable(acc, rows);
}

/// [`accumulate_portable`] with the first pass starting from 0.0: the first row (or rows fused
/// with it) is added onto 0.0 in the same expression, and the others follow as there.
#[inline(always)]
fn assign_portable(acc: &mut [f64], rows: &[WeightedRow<'_>]) {
    if rows.is_empty() {
        acc.fill(0.0);
    } else {
        sum_rows(acc, rows, true);
    }
}

/// `least[r] = min(least[r], min_i p[i] - q_r * x_r[i])` for every row r: each row's smallest
/// difference from `p`, for the incremental margins of a group's positions in one pass. A
/// minimum does not depend on the order it is taken in, so four rows share each load of `p` and
/// each keeps four lanes (no index is tracked: only the value is needed).
pub fn least_differences(p: &[f64], rows: &[WeightedRow<'_>], least: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { least_differences_avx2(p, rows, least) };
        return;
    }
    least_differences_portable(p, rows, least);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn least_differences_avx2(p: &[f64], rows: &[WeightedRow<'_>], least: &mut [f64]) {
    least_differences_portable(p, rows, least);
}

#[inline(always)]
fn least_differences_portable(p: &[f64], rows: &[WeightedRow<'_>], least: &mut [f64]) {
    let least = &mut least[..rows.len()];
    let mut fours = rows.chunks_exact(4);
    let mut outs = least.chunks_exact_mut(4);
    for (four, out) in (&mut fours).zip(&mut outs) {
        let found = least_of_four(p, [four[0], four[1], four[2], four[3]]);
        for (o, f) in out.iter_mut().zip(found) {
            *o = smaller(f, *o);
        }
    }
    for (&(q, x), o) in fours.remainder().iter().zip(outs.into_remainder()) {
        let x = &x[..p.len()];
        let mut lanes = [f64::INFINITY; LANES];
        for (pc, xc) in p.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
            lane_step(&mut lanes, pc, q, xc);
        }
        *o = smaller(finish(lanes, p, q, x), *o);
    }
}

const LANES: usize = 4;

/// `if a < b { a } else { b }`: a single `minpd` (the inputs hold no NaN).
#[inline(always)]
fn smaller(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// Each lane keeps its smallest `p - q * x`.
#[inline(always)]
fn lane_step(lanes: &mut [f64; LANES], pc: &[f64], q: f64, xc: &[f64]) {
    for j in 0..LANES {
        lanes[j] = smaller(pc[j] - q * xc[j], lanes[j]);
    }
}

/// The smallest of the lanes and of the elements past the last whole chunk.
#[inline(always)]
fn finish(lanes: [f64; LANES], p: &[f64], q: f64, x: &[f64]) -> f64 {
    let whole = p.len() - p.len() % LANES;
    let tail = p[whole..].iter().zip(&x[whole..]).fold(f64::INFINITY, |m, (pv, xv)| smaller(pv - q * xv, m));
    lanes.iter().fold(tail, |m, &v| smaller(v, m))
}

/// The smallest `p[i] - q * x[i]` of each of four rows: one load of `p` serves all four.
#[inline(always)]
fn least_of_four(p: &[f64], rows: [WeightedRow<'_>; 4]) -> [f64; 4] {
    let n = p.len();
    let [(q0, x0), (q1, x1), (q2, x2), (q3, x3)] = rows;
    let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
    let mut lanes = [[f64::INFINITY; LANES]; 4];
    let chunks = p
        .chunks_exact(LANES)
        .zip(x0.chunks_exact(LANES))
        .zip(x1.chunks_exact(LANES))
        .zip(x2.chunks_exact(LANES))
        .zip(x3.chunks_exact(LANES));
    for ((((pc, c0), c1), c2), c3) in chunks {
        lane_step(&mut lanes[0], pc, q0, c0);
        lane_step(&mut lanes[1], pc, q1, c1);
        lane_step(&mut lanes[2], pc, q2, c2);
        lane_step(&mut lanes[3], pc, q3, c3);
    }
    let [l0, l1, l2, l3] = lanes;
    [finish(l0, p, q0, x0), finish(l1, p, q1, x1), finish(l2, p, q2, x2), finish(l3, p, q3, x3)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_differences_equal_a_sequential_scan() {
        for n in [0, 1, 3, 4, 5, 63, 64, 101] {
            let p: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
            let xs: Vec<Vec<f64>> =
                (0..6).map(|r| (0..n).map(|i| ((i * 13 + r * 5) % 7) as f64 * 0.5 - 1.0).collect()).collect();
            let qs = [0.0, 1.0, -2.0, 3.5, -0.25, 7.0];
            // from nothing, and from a prior minimum that is below some rows' own
            for (used, prior) in (0..=xs.len()).flat_map(|u| [(u, f64::INFINITY), (u, -1.5)]) {
                let rows: Vec<WeightedRow<'_>> = (0..used).map(|r| (qs[r], xs[r].as_slice())).collect();
                let mut got = vec![prior; used];
                least_differences(&p, &rows, &mut got);
                for (r, &(q, x)) in rows.iter().enumerate() {
                    let want = (0..n).map(|i| p[i] - q * x[i]).fold(prior, f64::min);
                    assert_eq!(got[r], want, "n={n} row={r} prior={prior}");
                }
            }
        }
    }

    #[test]
    fn fused_rows_equal_the_plain_loop_bit_for_bit() {
        // Up to 13 rows: one pass of one to seven, or passes of four and a last of four to seven.
        let rows: Vec<Vec<f64>> = (0..13)
            .map(|r| (0..37).map(|i| ((i * 7919 + r * 104_729) % 1013) as f64 * 1.37e-3 - 0.6).collect())
            .collect();
        let qs = [3.0, -1.25, 0.1, 7.0, -0.3, 1e6, -2.5e-7, 0.75, -4.0, 1e-3, 2.0, -9.5, 0.2];
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

    #[test]
    fn assign_equals_accumulate_into_zeros_bit_for_bit() {
        // Products of -0.0 and rows that cancel exactly: the first addition onto 0.0 matters
        // (0.0 + -0.0 is 0.0, not -0.0).
        let rows: Vec<Vec<f64>> = (0..9)
            .map(|r| {
                (0..23).map(|i| if (i + r) % 5 == 0 { -0.0 } else { ((i * 31 + r * 17) % 13) as f64 - 6.0 }).collect()
            })
            .collect();
        let qs = [1.0, -1.0, 0.0, -0.0, 2.5, 1e-300, -3.0, 1e300, 0.125];
        for used in 0..=rows.len() {
            let weighted: Vec<WeightedRow<'_>> = (0..used).map(|r| (qs[r], rows[r].as_slice())).collect();
            let mut want = vec![0.0; 23];
            accumulate(&mut want, &weighted);
            let mut got = vec![f64::NAN; 23];
            assign(&mut got, &weighted);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{used} rows");
            let mut portable = vec![-7.0; 23];
            assign_portable(&mut portable, &weighted);
            assert_eq!(bits(&portable), bits(&want), "{used} rows");
        }
        assert!(rows.iter().any(|r| r.contains(&-0.0)));
    }
}
