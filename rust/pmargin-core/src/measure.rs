//! Tail risk measures (VaR, ES) over scenario losses, with a bounded streaming top-k so an
//! account's loss vector never has to be held whole (docs/methods.md).

use std::cmp::Ordering;

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

#[inline]
fn tail_order(a: &Loss, b: &Loss) -> Ordering {
    // partial_cmp: -0.0 and 0.0 are the same loss (tie broken by scenario); losses are finite.
    b.loss.partial_cmp(&a.loss).unwrap_or(Ordering::Equal).then(a.scenario.cmp(&b.scenario))
}

/// Keeps the k worst losses seen so far, in bounded memory (at most 2k entries).
#[derive(Debug, Clone)]
pub struct Tail {
    k: usize,
    items: Vec<Loss>,
    /// The k-th worst loss kept after the last trim: anything not worse cannot enter the tail.
    bar: Option<Loss>,
}

impl Tail {
    pub fn new(k: usize) -> Tail {
        Tail { k, items: Vec::new(), bar: None }
    }

    #[inline]
    pub fn push(&mut self, loss: f64, scenario: u32) {
        let item = Loss { loss, scenario };
        if let Some(bar) = &self.bar {
            if tail_order(&item, bar) != Ordering::Less {
                return;
            }
        }
        self.items.push(item);
        if self.items.len() >= 2 * self.k.max(16) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.items.len() > self.k {
            self.items.select_nth_unstable_by(self.k - 1, tail_order);
            self.items.truncate(self.k);
        }
        if self.items.len() == self.k {
            self.bar = self.items.iter().copied().max_by(tail_order);
        }
    }

    /// The k worst losses in tail order.
    pub fn finish(mut self) -> Vec<Loss> {
        self.trim();
        self.items.sort_unstable_by(tail_order);
        self.items
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

/// Measure of a whole loss vector (used for unit positions and by tests).
pub fn measure_of(losses: impl Iterator<Item = f64>, k: usize, measure: Measure) -> TailOutcome {
    let mut tail = Tail::new(k);
    for (s, loss) in losses.enumerate() {
        tail.push(loss, s as u32);
    }
    TailOutcome::from_tail(&tail.finish(), measure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_count_snaps_to_integers() {
        assert_eq!(tail_count(1000, 0.99).expect("ok"), 10);
        assert_eq!(tail_count(1000, 0.975).expect("ok"), 25);
        assert_eq!(tail_count(250, 0.99).expect("ok"), 3);
        assert!(tail_count(99, 0.99).is_err());
        assert_eq!(tail_count(100, 0.99).expect("ok"), 1);
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
