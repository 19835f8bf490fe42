//! Tail risk measures (VaR, ES) over scenario losses, with a bounded streaming top-k so an
//! account's loss vector never has to be held whole (docs/methods.md).

use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    VaR,
    ES,
}

impl std::str::FromStr for Measure {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "var" => Ok(Measure::VaR),
            "es" => Ok(Measure::ES),
            other => Err(format!("must be 'var' or 'es', got '{other}'")),
        }
    }
}

/// k = the number of tail scenarios: ceil(N (1 - c)), snapped to the nearest integer when within
/// 1e-9 (so N = 1000, c = 0.99 gives 10). Too few scenarios is an input error.
pub fn tail_count(n: usize, confidence: f64) -> Result<usize> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(crate::spec::config_error("confidence", format!("must be in (0, 1), got {confidence}")));
    }
    let x = n as f64 * (1.0 - confidence);
    if x < 1.0 - 1e-9 {
        return Err(crate::spec::config_error(
            "confidence",
            format!("{n} scenarios are too few for confidence {confidence}: at least 1 / (1 - c) are needed"),
        ));
    }
    let r = x.round();
    let k = if (x - r).abs() <= 1e-9 * x.max(1.0) { r } else { x.ceil() };
    Ok(k as usize)
}

/// A scenario loss; the tail order is loss descending, then scenario ascending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    pub loss: f64,
    pub scenario: u32,
}

/// A loss and its scenario packed so that a larger key is further into the tail: the loss's
/// order-preserving bits, then the complemented scenario (smaller scenario wins ties). One
/// integer comparison replaces a float comparison plus a tie-break.
#[inline]
fn tail_key(loss: f64, scenario: u32) -> u128 {
    // Losses are finite and never -0.0 (callers compute 0.0 - pnl), so -0.0 == 0.0 holds.
    let bits = loss.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    (u128::from(ordered) << 32) | u128::from(!scenario)
}

#[inline]
fn unpack(key: u128) -> Loss {
    let ordered = (key >> 32) as u64;
    let bits = if ordered >> 63 == 1 { ordered & !(1 << 63) } else { !ordered };
    Loss { loss: f64::from_bits(bits), scenario: !(key as u32) }
}

/// Keeps the k worst losses seen so far, in bounded memory (at most 2k entries).
#[derive(Debug, Clone)]
pub struct Tail {
    k: usize,
    keys: Vec<u128>,
    /// The k-th worst kept after the last trim: nothing at or below it can enter the tail.
    bar: u128,
    /// No loss below this can enter the tail: the loss of `bar`, or a seeded bar (see
    /// `seed_bar`). It is always at most the k-th worst loss of the whole stream.
    bar_loss: f64,
}

/// Losses tested at once when pushing a block.
const RUN: usize = 8;

/// For each 8-bit mask, the positions of its set bits, lowest first (padded with zeros).
static LEFT_PACK: [[u8; RUN]; 256] = {
    let mut table = [[0u8; RUN]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut bit, mut n) = (0, 0);
        while bit < RUN {
            if mask & (1 << bit) != 0 {
                table[mask][n] = bit as u8;
                n += 1;
            }
            bit += 1;
        }
        mask += 1;
    }
    table
};

/// Bit i set when `run[i] <= limit`, for a run of [`RUN`] values.
#[inline(always)]
fn run_mask(run: &[f64], limit: f64) -> usize {
    run.iter().enumerate().fold(0, |m, (i, &x)| m | (usize::from(x <= limit) << i))
}

/// [`run_mask`] with two AVX compares and move-masks.
///
/// # Safety
/// The CPU must support AVX, and `run` must hold at least [`RUN`] values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn run_mask_avx(run: &[f64], limit: f64) -> usize {
    use std::arch::x86_64::{_mm256_cmp_pd, _mm256_loadu_pd, _mm256_movemask_pd, _mm256_set1_pd, _CMP_LE_OQ};
    debug_assert!(run.len() >= RUN);
    let bound = _mm256_set1_pd(limit);
    // SAFETY: run holds at least 8 values (the caller's contract); loads are unaligned.
    let (low, high) = unsafe { (_mm256_loadu_pd(run.as_ptr()), _mm256_loadu_pd(run.as_ptr().add(4))) };
    // _CMP_LE_OQ is `<=` with NaN false, exactly Rust's `x <= limit`.
    let low = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(low, bound)) as usize;
    let high = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(high, bound)) as usize;
    low | (high << 4)
}

/// Losses sampled from a block to seed the bar.
const SEED_SAMPLE: usize = 256;

impl Tail {
    /// An empty tail with its whole buffer reserved up front, so streaming never reallocates.
    pub fn new(k: usize) -> Tail {
        Tail { k, keys: Vec::with_capacity(Self::capacity(k)), bar: 0, bar_loss: f64::NEG_INFINITY }
    }

    fn capacity(k: usize) -> usize {
        2 * k.max(16)
    }

    /// Push the losses `0 - pnl[i]` of scenarios `first + i`. Most losses cannot enter the tail
    /// once it has filled, so each run of eight is tested at once against the bar (a loss `0 - x`
    /// passes `push`'s first test exactly when `x <= -bar_loss`), and only the passing ones are
    /// visited, without a branch per rejected loss.
    pub fn push_losses(&mut self, pnl: &[f64], first: usize) {
        if self.bar_loss == f64::NEG_INFINITY && self.keys.is_empty() && pnl.len() >= (8 * self.k).max(2 * SEED_SAMPLE)
        {
            self.seed_bar(pnl);
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports AVX2 and POPCNT, checked just above.
            unsafe { self.push_runs_avx2(pnl, first) };
            return;
        }
        self.push_runs(pnl, first, run_mask);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt")]
    fn push_runs_avx2(&mut self, pnl: &[f64], first: usize) {
        // SAFETY: this function only runs on CPUs with AVX2 (so AVX), and runs are 8 long.
        self.push_runs(pnl, first, |run, limit| unsafe { run_mask_avx(run, limit) });
    }

    /// Per segment: gather the candidates (x <= -bar_loss) without a branch per loss, eight at a
    /// time (`mask` gives which of a run pass) through a left-packing table, then push them; the
    /// bar may rise between segments.
    #[inline(always)]
    fn push_runs(&mut self, pnl: &[f64], first: usize, mask: impl Fn(&[f64], f64) -> usize) {
        const SEGMENT: usize = 256;
        let mut candidates = [0u16; SEGMENT + RUN];
        for (s, segment) in pnl.chunks(SEGMENT).enumerate() {
            let limit = -self.bar_loss;
            let mut n = 0;
            let mut runs = segment.chunks_exact(RUN);
            for (r, run) in (&mut runs).enumerate() {
                let mask = mask(run, limit);
                let base = (r * RUN) as u16;
                for (slot, &i) in candidates[n..n + RUN].iter_mut().zip(&LEFT_PACK[mask]) {
                    *slot = base + u16::from(i);
                }
                n += mask.count_ones() as usize;
            }
            let tail_start = segment.len() - runs.remainder().len();
            for i in tail_start..segment.len() {
                candidates[n] = i as u16;
                n += 1;
            }
            let start = first + s * SEGMENT;
            for &i in &candidates[..n] {
                let i = usize::from(i);
                self.push(0.0 - segment[i], (start + i) as u32);
            }
        }
    }

    /// Before the first push, raise the bar from a large block alone: a loss level T that at
    /// least k of the block's losses reach is a valid bar (the k-th worst loss of the whole
    /// stream is at least T), so losses below T never need storing. T is picked from an evenly
    /// spaced sample of the block, at about twice the tail's share of it, then checked by
    /// counting over the whole block; when the count falls short, nothing is seeded and the
    /// stream proceeds as usual. Either way the tail is exact.
    fn seed_bar(&mut self, pnl: &[f64]) {
        let stride = pnl.len() / SEED_SAMPLE;
        let mut sample: Vec<f64> = pnl.iter().step_by(stride).take(SEED_SAMPLE).copied().collect();
        let rank = (2 * self.k * SEED_SAMPLE).div_ceil(pnl.len()).clamp(1, SEED_SAMPLE);
        // The rank-th lowest P&L is the rank-th worst loss of the sample.
        let (_, limit, _) = sample.select_nth_unstable_by(rank - 1, f64::total_cmp);
        let limit = *limit;
        let reaching = pnl.iter().fold(0usize, |n, &x| n + usize::from(x <= limit));
        if reaching >= self.k {
            self.bar_loss = 0.0 - limit;
        }
    }

    #[inline]
    pub fn push(&mut self, loss: f64, scenario: u32) {
        if loss < self.bar_loss {
            return;
        }
        let key = tail_key(loss, scenario);
        if key <= self.bar {
            return;
        }
        self.keys.push(key);
        if self.keys.len() >= Self::capacity(self.k) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.keys.len() > self.k {
            self.keys.select_nth_unstable_by(self.k - 1, |a, b| b.cmp(a));
            self.keys.truncate(self.k);
        }
        if self.keys.len() == self.k {
            self.bar = self.keys.iter().copied().min().unwrap_or(0);
            self.bar_loss = unpack(self.bar).loss;
        }
    }

    /// The k worst losses in tail order; the tail is left empty, its buffer kept for reuse.
    pub fn finish(&mut self) -> Vec<Loss> {
        self.trim();
        self.keys.sort_unstable_by(|a, b| b.cmp(a));
        let losses = self.keys.drain(..).map(unpack).collect();
        (self.bar, self.bar_loss) = (0, f64::NEG_INFINITY);
        losses
    }
}

/// A measure's value and the scenarios behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TailOutcome {
    /// VaR or ES (may be negative: the margin is max(0, value)).
    pub value: f64,
    /// The k tail scenarios in tail order.
    pub tail: Vec<u32>,
}

impl TailOutcome {
    pub fn from_tail(tail: &[Loss], measure: Measure) -> TailOutcome {
        let k = tail.len();
        let value = match measure {
            Measure::VaR => tail[k - 1].loss,
            Measure::ES => tail.iter().fold(0.0, |acc, l| acc + l.loss) / k as f64,
        };
        TailOutcome { value, tail: tail.iter().map(|l| l.scenario).collect() }
    }

    /// The scenario to report: the VaR scenario, or ES's worst.
    pub fn scenario(&self, measure: Measure) -> u32 {
        match measure {
            Measure::VaR => self.tail[self.tail.len() - 1],
            Measure::ES => self.tail[0],
        }
    }

    pub fn margin(&self) -> f64 {
        self.value.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Measure of a whole loss vector, pushed through the streaming tail.
    fn measure_of(losses: impl Iterator<Item = f64>, k: usize, measure: Measure) -> TailOutcome {
        let mut tail = Tail::new(k);
        for (s, loss) in losses.enumerate() {
            tail.push(loss, s as u32);
        }
        TailOutcome::from_tail(&tail.finish(), measure)
    }

    #[test]
    fn batched_pushes_into_a_reused_tail_equal_single_pushes() {
        let pnl: Vec<f64> = (0..3001).map(|i| ((i * 7919) % 1013) as f64 - 500.0).collect();
        let mut single = Tail::new(25);
        for (s, x) in pnl.iter().enumerate() {
            single.push(0.0 - x, s as u32);
        }
        let want = single.finish();
        let mut batched = Tail::new(25);
        for _ in 0..2 {
            for (b, block) in pnl.chunks(253).enumerate() {
                batched.push_losses(block, b * 253);
            }
            assert_eq!(batched.finish(), want);
        }
    }

    /// Pushes one block at a time, and one loss at a time, and checks both tails agree.
    fn assert_block_pushes_exact(pnl: &[f64], block: usize, k: usize) {
        let mut single = Tail::new(k);
        for (s, x) in pnl.iter().enumerate() {
            single.push(0.0 - x, s as u32);
        }
        let mut batched = Tail::new(k);
        for (b, chunk) in pnl.chunks(block).enumerate() {
            batched.push_losses(chunk, b * block);
        }
        assert_eq!(batched.finish(), single.finish());
    }

    #[test]
    fn seeded_bars_keep_the_tail_exact() {
        let spread: Vec<f64> = (0..10_000).map(|i| ((i * 7919) % 10_007) as f64 - 5000.0).collect();
        for (block, k) in [(4096, 250), (4096, 17), (1000, 25), (10_000, 1), (600, 40)] {
            assert_block_pushes_exact(&spread, block, k);
        }
        // The sampled P&Ls (every 16th) are the only large losses: the seed's count falls
        // short and no bar is seeded.
        let trap: Vec<f64> = (0..4096).map(|i| if i % 16 == 0 { -1e6 - i as f64 } else { (i % 97) as f64 }).collect();
        assert_block_pushes_exact(&trap, 4096, 250);
        // Ties at the seeded level.
        let ties: Vec<f64> = (0..8192).map(|i| -((i % 5) as f64)).collect();
        assert_block_pushes_exact(&ties, 4096, 250);
    }

    #[test]
    fn tail_count_snaps_to_integers() {
        assert_eq!(tail_count(1000, 0.99).expect("ok"), 10);
        assert_eq!(tail_count(1000, 0.975).expect("ok"), 25);
        assert_eq!(tail_count(250, 0.99).expect("ok"), 3);
        assert!(tail_count(99, 0.99).is_err());
        assert_eq!(tail_count(100, 0.99).expect("ok"), 1);
    }

    #[test]
    fn keys_order_losses_then_scenarios() {
        for (loss, s) in [(0.0, 3), (-1.5, 0), (2.25e10, 7), (-3e-300, 1)] {
            assert_eq!(unpack(tail_key(loss, s)), Loss { loss, scenario: s });
        }
        assert!(tail_key(1.0, 5) > tail_key(0.5, 0));
        assert!(tail_key(-0.5, 5) > tail_key(-1.0, 0));
        assert!(tail_key(1.0, 2) > tail_key(1.0, 3));
        assert!(tail_key(0.0, 0) > tail_key(-1e-300, 0));
    }

    #[test]
    fn streaming_tail_equals_a_full_sort() {
        let losses: Vec<f64> = (0..5000).map(|i| ((i * 7919) % 1013) as f64 - 500.0).collect();
        for k in [1, 3, 50, 400] {
            let got = measure_of(losses.iter().copied(), k, Measure::ES);
            let mut sorted: Vec<(f64, u32)> = losses.iter().enumerate().map(|(i, l)| (*l, i as u32)).collect();
            sorted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let expect: Vec<u32> = sorted[..k].iter().map(|x| x.1).collect();
            assert_eq!(got.tail, expect);
            let es = sorted[..k].iter().fold(0.0, |acc, x| acc + x.0) / k as f64;
            assert_eq!(got.value, es);
            let var = measure_of(losses.iter().copied(), k, Measure::VaR);
            assert_eq!(var.value, sorted[k - 1].0);
        }
    }
}
