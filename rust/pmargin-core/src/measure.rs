//! Tail risk measures (VaR, ES) over scenario losses, with a bounded streaming top-k so an
//! account's loss vector never has to be held whole (docs/methods.md).

use crate::error::{MarginError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    VaR,
    ES,
}

/// k = the number of tail scenarios: ceil(N (1 - c)), snapped to the nearest integer when within
/// 1e-9 (so N = 1000, c = 0.99 gives 10). Too few scenarios is an input error.
pub fn tail_count(n: usize, confidence: f64) -> Result<usize> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(MarginError::column("model", "confidence", format!("must be in (0, 1), got {confidence}")));
    }
    let x = n as f64 * (1.0 - confidence);
    if x < 1.0 - 1e-9 {
        return Err(MarginError::column(
            "model",
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

/// Keeps the k worst losses seen so far, in bounded memory (at most 4k entries).
#[derive(Debug, Clone)]
pub struct Tail {
    k: usize,
    keys: Vec<u128>,
    /// The k-th worst kept after the last trim: nothing at or below it can enter the tail.
    bar: u128,
    /// Its loss: a quick float test that rejects most pushes.
    bar_loss: f64,
}

impl Tail {
    pub fn new(k: usize) -> Tail {
        Tail { k, keys: Vec::new(), bar: 0, bar_loss: f64::NEG_INFINITY }
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
        if self.keys.len() >= 4 * self.k.max(16) {
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

    /// The k worst losses in tail order.
    pub fn finish(mut self) -> Vec<Loss> {
        self.trim();
        self.keys.sort_unstable_by(|a, b| b.cmp(a));
        self.keys.into_iter().map(unpack).collect()
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
