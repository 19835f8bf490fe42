//! The joint moves of cross="correlation" (docs/methods.md, "Correlation aggregation on the
//! grid"): one grid price shock per held underlying, inside the correlation ellipsoid
//! {x = L u : |u| <= 1} (x = price shock / the grid's largest |shock|, L the semi-definite
//! Cholesky factor of the held underlyings' correlations), plus moves where some underlyings sit
//! out (take their most favourable shock) because no shock of theirs completes the others' move.
//!
//! Invariants: the moves depend only on the held set and the grid, never on quantities (so the
//! margin is a maximum of linear functions of the quantities), and they are enumerated once per
//! held set and cached. A held set whose enumeration fits [`MAX_NODES`] is exact. Over it, the
//! held set is enumerated block by block, the blocks being the correlation's names split once,
//! from the matrix and the grid alone ([`Ellipsoid::partition`]): which names an account holds
//! never moves a block boundary, so a position that loses everywhere never lowers the margin.

use std::sync::{Arc, OnceLock, RwLock};

use hashbrown::{HashMap, HashSet};

use crate::domain::correlation::CorrelationMatrix;

/// Tolerance of the membership test: |u|^2 <= 1 + TOLERANCE, and a zero pivot's residual
/// within TOLERANCE, so grid points on the boundary count.
pub const TOLERANCE: f64 = 1e-9;

/// Admissible prefixes (partial and full, over every subset) one exact block may enumerate.
pub const MAX_NODES: usize = 100_000;

/// Joint moves of some of a held set's underlyings.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The underlyings it covers: places in the held set (ascending, in rank order).
    pub members: Vec<usize>,
    /// `members.len()` entries per move: a price-shock index, or `free` (the number of price
    /// shocks) for an underlying that sits out. Full moves first (lexicographic), then subsets by
    /// decreasing size, combinations in lexicographic order, each lexicographic.
    pub tuples: Vec<u32>,
}

impl Block {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Every block of one held set, in matrix order.
#[derive(Debug, Clone, PartialEq)]
pub struct JointMoves {
    pub blocks: Vec<Block>,
}

/// The correlation matrix and the grid's scaled price shocks, the names' order and blocks, and
/// the per-held-set cache.
#[derive(Debug)]
pub struct Ellipsoid {
    matrix: CorrelationMatrix,
    /// Price shock / largest |price shock| (0 when every shock is 0), in grid order.
    x: Vec<f64>,
    /// Matrix indices in name order, and each matrix index's place in it (its rank): held
    /// underlyings are taken in rank order, so the order the matrix lists its names changes nothing.
    by_rank: Vec<usize>,
    rank: Vec<usize>,
    /// Each matrix index's block ([`Ellipsoid::partition`]), made when a held set first needs it.
    blocks: OnceLock<Vec<usize>>,
    cache: RwLock<HashMap<Vec<usize>, Arc<JointMoves>>>,
}

impl Ellipsoid {
    pub fn new(matrix: CorrelationMatrix, price_shocks: &[f64]) -> Self {
        let scale = price_shocks.iter().fold(0.0f64, |m, p| m.max(p.abs()));
        let x = price_shocks.iter().map(|p| if scale > 0.0 { p / scale } else { 0.0 }).collect();
        let mut by_rank: Vec<usize> = (0..matrix.names.len()).collect();
        by_rank.sort_by(|a, b| matrix.names[*a].cmp(&matrix.names[*b]));
        let mut rank = vec![0; by_rank.len()];
        by_rank.iter().enumerate().for_each(|(r, &i)| rank[i] = r);
        Ellipsoid { matrix, x, by_rank, rank, blocks: OnceLock::new(), cache: RwLock::default() }
    }

    /// The rank of matrix index `i` (its place in name order): a held set is given to
    /// [`Ellipsoid::moves`] as its sorted ranks.
    pub fn rank(&self, i: usize) -> usize {
        self.rank[i]
    }

    /// The block of each matrix index, blocks numbered by their first name.
    fn blocks(&self) -> &[usize] {
        self.blocks.get_or_init(|| {
            let mut of = vec![0; self.matrix.names.len()];
            for (b, members) in self.partition().into_iter().enumerate() {
                members.into_iter().for_each(|i| of[i] = b);
            }
            of
        })
    }

    /// The names split into blocks, from the matrix and the grid alone (never from a held set):
    /// pairs by decreasing |rho| (ties by their names), two blocks merged when the union's
    /// enumeration fits the budget. Names sorted within a block, blocks by their first name, so
    /// the order in which the matrix lists its names changes nothing.
    fn partition(&self) -> Vec<Vec<usize>> {
        let names = &self.matrix.names;
        let n = names.len();
        let mut pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| if names[i] <= names[j] { (i, j) } else { (j, i) })
            .collect();
        pairs.sort_by(|a, b| {
            let (ra, rb) = (self.matrix.get(a.0, a.1).abs(), self.matrix.get(b.0, b.1).abs());
            rb.total_cmp(&ra).then_with(|| names[a.0].cmp(&names[b.0])).then_with(|| names[a.1].cmp(&names[b.1]))
        });
        let mut blocks: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        let mut id: Vec<usize> = (0..n).collect();
        // Blocks only grow, so two blocks that could not merge never can: each pair is tried once.
        let mut failed: HashSet<(usize, usize)> = HashSet::new();
        for (i, j) in pairs {
            let (a, b) = (id[i].min(id[j]), id[i].max(id[j]));
            if a == b || failed.contains(&(a, b)) {
                continue;
            }
            let mut union: Vec<usize> = blocks[a].iter().chain(&blocks[b]).copied().collect();
            union.sort_by(|p, q| names[*p].cmp(&names[*q]));
            if self.enumerate(&union).is_some() {
                let merged = blocks.len();
                union.iter().for_each(|&m| id[m] = merged);
                blocks[a].clear();
                blocks[b].clear();
                blocks.push(union);
            } else {
                failed.insert((a, b));
            }
        }
        let mut out: Vec<Vec<usize>> = blocks.into_iter().filter(|b| !b.is_empty()).collect();
        out.sort_by(|p, q| names[p[0]].cmp(&names[q[0]]));
        out
    }

    /// The index that marks an underlying sitting out of a move.
    pub fn free(&self) -> u32 {
        self.x.len() as u32
    }

    /// The joint moves of the held set `held` (sorted ranks, [`Ellipsoid::rank`]), cached: one
    /// exact block when its enumeration fits the budget, else a block per [`Ellipsoid::partition`]
    /// block it holds names of, in block order.
    pub fn moves(&self, held: &[usize]) -> Arc<JointMoves> {
        if let Some(found) = self.cache.read().ok().and_then(|c| c.get(held).cloned()) {
            return found;
        }
        let indices: Vec<usize> = held.iter().map(|&r| self.by_rank[r]).collect();
        let every = || (0..self.free()).collect::<Vec<u32>>();
        let mut blocks = Vec::new();
        if indices.len() == 1 {
            blocks.push(Block { members: vec![0], tuples: every() });
        } else if let Some(tuples) = self.enumerate(&indices) {
            blocks.push(Block { members: (0..indices.len()).collect(), tuples });
        } else {
            let of = self.blocks();
            let mut ids: Vec<usize> = indices.iter().map(|&i| of[i]).collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let members: Vec<usize> = (0..indices.len()).filter(|&j| of[indices[j]] == id).collect();
                let names: Vec<usize> = members.iter().map(|&j| indices[j]).collect();
                // Part of a block (in the block's name order) visits part of the block's prefixes,
                // so it fits; one block per member would be the conservative bound regardless.
                match (names.len(), self.enumerate(&names)) {
                    (1, _) => blocks.push(Block { members, tuples: every() }),
                    (_, Some(tuples)) => blocks.push(Block { members, tuples }),
                    (_, None) => {
                        blocks.extend(members.into_iter().map(|j| Block { members: vec![j], tuples: every() }))
                    }
                }
            }
        }
        let moves = Arc::new(JointMoves { blocks });
        match self.cache.write() {
            Ok(mut cache) => cache.entry(held.to_vec()).or_insert(moves).clone(),
            Err(_) => moves,
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
    fn a_held_set_over_the_budget_splits_along_the_matrix_blocks() {
        let shocks: Vec<f64> = (-10..=10).map(|i| 0.015 * f64::from(i)).collect();
        // Seven uncorrelated names on the default grid: any four fit (exact), five do not; the
        // matrix's blocks are U0..U3 and U4..U6.
        let e = Ellipsoid::new(matrix(7, 0.0), &shocks);
        let members = |held: &[usize]| e.moves(held).blocks.iter().map(|b| b.members.clone()).collect::<Vec<_>>();
        assert_eq!(members(&[1, 5]), vec![vec![0, 1]]);
        assert_eq!(members(&[0, 1, 4, 5]), vec![vec![0, 1, 2, 3]]);
        assert_eq!(members(&[0, 1, 2, 3, 4, 5, 6]), vec![vec![0, 1, 2, 3], vec![4, 5, 6]]);
        // Over the budget, the blocks are the matrix's, whichever names are held: U1, U2 with U5, U6
        // and U4 split as U1, U2 | U4, U5, U6 (places 0, 1 | 2, 3, 4).
        assert_eq!(members(&[1, 2, 4, 5, 6]), vec![vec![0, 1], vec![2, 3, 4]]);
        // Cached: the same Arc comes back.
        assert!(Arc::ptr_eq(&e.moves(&[0, 1, 2, 3, 4, 5, 6]), &e.moves(&[0, 1, 2, 3, 4, 5, 6])));
        // All correlations 1 stay exact however many underlyings are held.
        let e = Ellipsoid::new(matrix(7, 1.0), &shocks);
        assert_eq!(e.moves(&[0, 1, 2, 3, 4, 5, 6]).blocks.len(), 1);
    }

    #[test]
    fn the_most_correlated_names_share_a_block_whatever_the_listing_order() {
        let shocks: Vec<f64> = (-10..=10).map(|i| 0.015 * f64::from(i)).collect();
        // U0/U5 and U2/U4 strongly correlated, the rest uncorrelated; listed in two orders.
        let names = ["U0", "U1", "U2", "U3", "U4", "U5", "U6"];
        let rho = |a: &str, b: &str| match (a.min(b), a.max(b)) {
            _ if a == b => 1.0,
            ("U0", "U5") => 0.95,
            ("U2", "U4") => -0.9,
            _ => 0.0,
        };
        for listing in [names.to_vec(), vec!["U6", "U4", "U2", "U0", "U5", "U3", "U1"]] {
            let values = listing.iter().flat_map(|a| listing.iter().map(move |b| rho(a, b))).collect();
            let m = CorrelationMatrix::new(listing.iter().map(|s| (*s).to_owned()).collect(), values).expect("valid");
            let e = Ellipsoid::new(m, &shocks);
            let named = |blocks: Vec<Vec<usize>>| -> Vec<Vec<&str>> {
                blocks.iter().map(|b| b.iter().map(|&i| listing[i]).collect()).collect()
            };
            // U0/U5 first, then U2/U4; then the zero pairs by name: U1 and U3 join U0's block (four
            // names fit), U6 joins U2's.
            assert_eq!(named(e.partition()), vec![vec!["U0", "U1", "U3", "U5"], vec!["U2", "U4", "U6"]], "{listing:?}");
            // Ranks are name order whatever the listing.
            let ranked: Vec<&str> = e.by_rank.iter().map(|&i| listing[i]).collect();
            assert_eq!(ranked, names.to_vec());
        }
    }
}
