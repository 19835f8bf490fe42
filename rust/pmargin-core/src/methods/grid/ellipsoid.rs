//! The joint moves of cross="correlation" (docs/methods.md, "Correlation aggregation on the
//! grid"): one grid price shock per held underlying, inside the correlation ellipsoid
//! {x = L u : |u| <= 1} (x = price shock / the grid's largest |shock|, L the semi-definite
//! Cholesky factor of the held underlyings' correlations), plus moves where some underlyings sit
//! out (take their most favourable shock) because no shock of theirs completes the others' move.
//!
//! Invariants: the moves depend only on the held set and the grid, never on quantities (so the
//! margin is a maximum of linear functions of the quantities), and they are enumerated once per
//! held set (sorted correlation-matrix indices) and cached. A held set whose enumeration
//! exceeds [`MAX_NODES`] is split into blocks in matrix order (a documented upper bound).

use std::sync::{Arc, RwLock};

use hashbrown::{HashMap, HashSet};

use crate::domain::correlation::CorrelationMatrix;

/// Tolerance of the membership test: |u|^2 <= 1 + TOLERANCE, and a zero pivot's residual
/// within TOLERANCE, so grid points on the boundary count.
pub const TOLERANCE: f64 = 1e-9;

/// Admissible prefixes (partial and full, over every subset) one exact block may enumerate.
pub const MAX_NODES: usize = 100_000;

/// Joint moves of a run of held underlyings, consecutive in matrix order.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// First held position (in matrix order) of the block, and how many it covers.
    pub start: usize,
    pub len: usize,
    /// `len` entries per move: a price-shock index, or `free` (the number of price shocks) for an
    /// underlying that sits out. Full moves first (lexicographic), then subsets by decreasing
    /// size, combinations in lexicographic order, each lexicographic.
    pub tuples: Vec<u32>,
}

/// Every block of one held set, in matrix order.
#[derive(Debug, Clone, PartialEq)]
pub struct JointMoves {
    pub blocks: Vec<Block>,
}

/// The correlation matrix and the grid's scaled price shocks, with the per-held-set cache.
#[derive(Debug)]
pub struct Ellipsoid {
    matrix: CorrelationMatrix,
    /// Price shock / largest |price shock| (0 when every shock is 0), in grid order.
    x: Vec<f64>,
    cache: RwLock<HashMap<Vec<usize>, Arc<JointMoves>>>,
}

impl Ellipsoid {
    pub fn new(matrix: CorrelationMatrix, price_shocks: &[f64]) -> Self {
        let scale = price_shocks.iter().fold(0.0f64, |m, p| m.max(p.abs()));
        let x = price_shocks.iter().map(|p| if scale > 0.0 { p / scale } else { 0.0 }).collect();
        Ellipsoid { matrix, x, cache: RwLock::new(HashMap::new()) }
    }

    /// The index that marks an underlying sitting out of a move.
    pub fn free(&self) -> u32 {
        self.x.len() as u32
    }

    /// The joint moves of the held set `held` (sorted correlation-matrix indices), cached.
    pub fn moves(&self, held: &[usize]) -> Arc<JointMoves> {
        if let Some(found) = self.cache.read().ok().and_then(|c| c.get(held).cloned()) {
            return found;
        }
        let mut blocks = Vec::new();
        self.plan(held, 0, &mut blocks);
        let moves = Arc::new(JointMoves { blocks });
        match self.cache.write() {
            Ok(mut cache) => cache.entry(held.to_vec()).or_insert(moves).clone(),
            Err(_) => moves,
        }
    }

    /// Exact moves of `held` when they fit the budget; otherwise blocks of 3 in matrix order
    /// (3 -> 2 + 1, 2 -> 1 + 1), each planned the same way.
    fn plan(&self, held: &[usize], start: usize, out: &mut Vec<Block>) {
        let len = held.len();
        if len == 0 {
            return;
        }
        if len == 1 {
            out.push(Block { start, len, tuples: (0..self.free()).collect() });
            return;
        }
        if let Some(tuples) = self.enumerate(held) {
            out.push(Block { start, len, tuples });
            return;
        }
        let sizes: Vec<usize> = match len {
            2 => vec![1, 1],
            3 => vec![2, 1],
            _ => (0..len).step_by(3).map(|i| 3.min(len - i)).collect(),
        };
        let mut at = 0;
        for size in sizes {
            self.plan(&held[at..at + size], start + at, out);
            at += size;
        }
    }

    /// Every move of `held` (flat, `held.len()` entries each), or None over the budget (or when a
    /// submatrix is not positive semi-definite, which a valid matrix never gives).
    ///
    /// A subset's move is kept only when no shock of one more underlying completes it into an
    /// admissible move of the larger subset: such a move is never larger than its completion,
    /// whose added underlying loses at least its most favourable loss.
    fn enumerate(&self, held: &[usize]) -> Option<Vec<u32>> {
        let n = held.len();
        if n > 63 {
            return None;
        }
        let free = self.free();
        let mut budget = MAX_NODES;
        let mut out = Vec::new();
        // Projections of the last size's moves onto each subset one smaller: (mask, tuple).
        let mut extended: HashSet<(u64, Vec<u32>)> = HashSet::new();
        for size in (1..=n).rev() {
            let mut projections: HashSet<(u64, Vec<u32>)> = HashSet::new();
            for members in combinations(n, size) {
                let names = members.iter().map(|&i| self.matrix.names[held[i]].clone()).collect();
                let values = members
                    .iter()
                    .flat_map(|&i| members.iter().map(move |&j| (i, j)))
                    .map(|(i, j)| self.matrix.get(held[i], held[j]));
                let sub = CorrelationMatrix { names, values: values.collect() };
                let factor = sub.cholesky_lower().ok()?;
                let tuples = inside(&factor, size, &self.x, &mut budget)?;
                let mask = members.iter().fold(0u64, |m, &i| m | (1 << i));
                for tuple in tuples.chunks_exact(size) {
                    if size < n && extended.contains(&(mask, tuple.to_vec())) {
                        continue;
                    }
                    let mut full = vec![free; n];
                    for (&i, &p) in members.iter().zip(tuple) {
                        full[i] = p;
                    }
                    out.extend_from_slice(&full);
                }
                if size > 1 {
                    for (drop, &member) in members.iter().enumerate() {
                        for tuple in tuples.chunks_exact(size) {
                            let mut rest = tuple.to_vec();
                            rest.remove(drop);
                            projections.insert((mask & !(1 << member), rest));
                        }
                    }
                }
            }
            extended = projections;
        }
        Some(out)
    }
}

/// Grid tuples (price-shock indices, lexicographic) inside {L u : |u| <= 1} for the `m x m`
/// lower factor `l`, by forward substitution: u_k = (x_k - (0.0 + sum_{j<k} L_kj u_j)) / L_kk,
/// or, for a zero pivot, u_k = 0 when that residual is within the tolerance; a prefix whose
/// 0.0 + u_1^2 + ... passes 1 + TOLERANCE is pruned. Every admissible prefix spends one unit of
/// `budget`; None when it runs out.
fn inside(l: &[f64], m: usize, x: &[f64], budget: &mut usize) -> Option<Vec<u32>> {
    struct Walk<'a> {
        l: &'a [f64],
        m: usize,
        x: &'a [f64],
        prefix: Vec<u32>,
        u: Vec<f64>,
        out: Vec<u32>,
    }
    fn descend(w: &mut Walk<'_>, k: usize, norm: f64, budget: &mut usize) -> Option<()> {
        if k == w.m {
            w.out.extend_from_slice(&w.prefix);
            return Some(());
        }
        let mut dot = 0.0;
        for j in 0..k {
            dot += w.l[k * w.m + j] * w.u[j];
        }
        let pivot = w.l[k * w.m + k];
        for (p, &xp) in w.x.iter().enumerate() {
            let residual = xp - dot;
            let uk = if pivot > 0.0 {
                residual / pivot
            } else if residual.abs() <= TOLERANCE {
                0.0
            } else {
                continue;
            };
            let reached = norm + uk * uk;
            if reached > 1.0 + TOLERANCE {
                continue;
            }
            *budget = budget.checked_sub(1)?;
            w.prefix[k] = p as u32;
            w.u[k] = uk;
            descend(w, k + 1, reached, budget)?;
        }
        Some(())
    }
    let mut walk = Walk { l, m, x, prefix: vec![0; m], u: vec![0.0; m], out: Vec::new() };
    descend(&mut walk, 0, 0.0, budget)?;
    Some(walk.out)
}

/// The `k`-subsets of 0..n in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        out.push(idx.clone());
        let Some(i) = (0..k).rev().find(|&i| idx[i] < n - k + i) else { return out };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(d: usize, rho: f64) -> CorrelationMatrix {
        let names = (0..d).map(|i| format!("U{i}")).collect();
        let values = (0..d * d).map(|e| if e / d == e % d { 1.0 } else { rho }).collect();
        CorrelationMatrix::new(names, values).expect("valid")
    }

    fn moves(e: &Ellipsoid, held: &[usize]) -> Vec<Vec<u32>> {
        let m = e.moves(held);
        assert_eq!(m.blocks.len(), 1);
        m.blocks[0].tuples.chunks_exact(held.len()).map(<[u32]>::to_vec).collect()
    }

    #[test]
    fn combinations_in_lexicographic_order() {
        assert_eq!(combinations(3, 2), vec![vec![0, 1], vec![0, 2], vec![1, 2]]);
        assert_eq!(combinations(2, 2), vec![vec![0, 1]]);
        assert_eq!(combinations(3, 1), vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn one_underlying_moves_everywhere() {
        let e = Ellipsoid::new(matrix(2, 0.5), &[-0.1, 0.0, 0.1]);
        assert_eq!(moves(&e, &[1]), vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn perfect_correlation_moves_together() {
        let e = Ellipsoid::new(matrix(3, 1.0), &[-0.1, 0.0, 0.1]);
        assert_eq!(moves(&e, &[0, 1, 2]), vec![vec![0, 0, 0], vec![1, 1, 1], vec![2, 2, 2]]);
    }

    #[test]
    fn uncorrelated_moves_stay_in_the_disc_and_uncompleted_moves_sit_out() {
        // x in {-1, 0, 1}: (0, 0), (0, +-1), (+-1, 0); every single move is completed by a 0.
        let e = Ellipsoid::new(matrix(2, 0.0), &[-0.1, 0.0, 0.1]);
        assert_eq!(moves(&e, &[0, 1]), vec![vec![0, 1], vec![1, 0], vec![1, 1], vec![1, 2], vec![2, 1]]);
        // At rho = 0.8 only (0, 0) fits: x_1 = 1 needs x_2 = 0.8, off the grid, so the extreme
        // moves are kept with the other underlying sitting out (index 3).
        let e = Ellipsoid::new(matrix(2, 0.8), &[-0.1, 0.0, 0.1]);
        let expected = vec![vec![1, 1], vec![0, 3], vec![2, 3], vec![3, 0], vec![3, 2]];
        assert_eq!(moves(&e, &[0, 1]), expected);
    }

    #[test]
    fn boundary_points_count() {
        // rho = 0.8 on a 0.1 step: (1.0, 0.8) lies on the ellipse (u = (1, 0)).
        let shocks: Vec<f64> = (0..=10).map(|i| 0.1 * f64::from(i)).collect();
        let e = Ellipsoid::new(matrix(2, 0.8), &shocks);
        assert!(moves(&e, &[0, 1]).contains(&vec![10, 8]));
        assert!(!moves(&e, &[0, 1]).contains(&vec![10, 9]));
    }

    #[test]
    fn large_held_sets_split_into_blocks_of_three() {
        let shocks: Vec<f64> = (-10..=10).map(|i| 0.015 * f64::from(i)).collect();
        let e = Ellipsoid::new(matrix(7, 0.0), &shocks);
        let m = e.moves(&[0, 1, 2, 3, 4, 5, 6]);
        let spans: Vec<(usize, usize)> = m.blocks.iter().map(|b| (b.start, b.len)).collect();
        assert_eq!(spans, vec![(0, 3), (3, 3), (6, 1)]);
        // Cached: the same Arc comes back.
        assert!(Arc::ptr_eq(&m, &e.moves(&[0, 1, 2, 3, 4, 5, 6])));
        // All correlations 1 stay exact however many underlyings are held.
        let e = Ellipsoid::new(matrix(7, 1.0), &shocks);
        assert_eq!(e.moves(&[0, 1, 2, 3, 4, 5, 6]).blocks.len(), 1);
    }
}
