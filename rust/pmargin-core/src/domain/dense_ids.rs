//! First-seen numbering of integer keys in a compact range (account ids 0..N, or the numbers of
//! patterned ids), in parallel: each task finds, for its rows, every key's first row and row
//! count in a table of its own; the tables are merged (least first row, summed counts), the
//! keys are numbered in the order of their first rows, and every row is then given its key's
//! number. The numbers are those of one pass in row order, whatever the number of tasks, and
//! the counts give where each account's rows start (CSR) without another pass over the rows.

use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::input::parts::map_in_parts;

/// Fewer rows than this per task are numbered in one pass.
const ROWS_PER_TASK: usize = 1 << 17;

/// Rows per parallel part of the final numbering pass.
const CHUNK: usize = 1 << 14;

/// Keys numbered in first-seen order.
#[derive(Debug, PartialEq)]
pub struct DenseNumbering {
    /// Each row's number.
    pub code: Vec<u32>,
    /// Each number's first row.
    pub first_row: Vec<usize>,
    /// Each number's rows are one run.
    pub contiguous: bool,
    /// Where each number's rows start in account order: `starts[c]..starts[c + 1]`.
    pub starts: Vec<usize>,
}

/// One task's rows: each slot's first row (`u32::MAX`: none) and row count, and its runs of
/// equal keys (a run continuing from the task before is not counted).
struct TaskTables {
    first: Vec<u32>,
    count: Vec<u32>,
    runs: usize,
}

/// `keys` (each `lo <= k`, `k - lo < span`) numbered in parallel; None when the book is too small
/// for tasks to pay, the range too wide for a table per task (more slots than rows per task),
/// or the rows too many for 32-bit row numbers.
pub fn number_in_parallel(keys: &[i64], lo: i64, span: usize) -> Option<Result<DenseNumbering>> {
    let n = keys.len();
    let tasks = rayon::current_num_threads().min(n / ROWS_PER_TASK);
    if tasks < 2 || span > n / tasks || u32::try_from(n).is_err() {
        return None;
    }
    Some(number(keys, lo, span, tasks))
}

fn number(keys: &[i64], lo: i64, span: usize, tasks: usize) -> Result<DenseNumbering> {
    let n = keys.len();
    // In range by the caller's contract: lo <= k and k - lo < span.
    let slot = |k: i64| (i128::from(k) - i128::from(lo)) as usize;
    let tables: Vec<TaskTables> = (0..tasks)
        .into_par_iter()
        .map(|t| {
            let rows = n * t / tasks..n * (t + 1) / tasks;
            let mut first = vec![u32::MAX; span];
            let mut count = vec![0u32; span];
            let mut runs = 0;
            let mut previous = rows.start.checked_sub(1).map(|r| keys[r]);
            for (row, &k) in keys[rows.clone()].iter().enumerate() {
                let s = slot(k);
                // Rows ascend: the least row is the first one (a minimum, not a branch).
                first[s] = first[s].min((rows.start + row) as u32);
                count[s] += 1;
                runs += usize::from(previous != Some(k));
                previous = Some(k);
            }
            TaskTables { first, count, runs }
        })
        .collect();
    let runs: usize = tables.iter().map(|t| t.runs).sum();
    let Some((head, rest)) = tables.split_first() else {
        return Err(MarginError::Internal("dense numbering without tasks".into()));
    };
    let (mut first, mut count) = (head.first.clone(), head.count.clone());
    first.par_chunks_mut(CHUNK).zip(count.par_chunks_mut(CHUNK)).enumerate().for_each(|(i, (f, c))| {
        let at = i * CHUNK;
        for other in rest {
            for (j, (f, c)) in f.iter_mut().zip(c.iter_mut()).enumerate() {
                *f = (*f).min(other.first[at + j]);
                *c += other.count[at + j];
            }
        }
    });
    // The first rows marked in a bitmap and read back in order: the numbering's order.
    let mut marks = vec![0u64; n.div_ceil(64)];
    for &f in first.iter().filter(|&&f| f != u32::MAX) {
        marks[f as usize / 64] |= 1 << (f % 64);
    }
    let mut before = Vec::with_capacity(marks.len());
    let mut first_row = Vec::new();
    for (w, &word) in marks.iter().enumerate() {
        before.push(first_row.len() as u32);
        let mut bits = word;
        while bits != 0 {
            first_row.push(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    // Each slot's number: the rank of its first row among the first rows.
    let rank = |f: u32| {
        let (w, b) = (f as usize / 64, f % 64);
        before[w] + (marks[w] & ((1u64 << b) - 1)).count_ones()
    };
    let number_of: Vec<u32> = first.iter().map(|&f| if f == u32::MAX { u32::MAX } else { rank(f) }).collect();
    let mut starts = vec![0usize; first_row.len() + 1];
    for (&c, &rows) in number_of.iter().zip(&count) {
        if c != u32::MAX {
            starts[c as usize + 1] = rows as usize;
        }
    }
    for c in 0..first_row.len() {
        starts[c + 1] += starts[c];
    }
    let code = map_in_parts(keys, CHUNK, |&k| number_of[slot(k)])?;
    // Every key has at least one run; all are single runs exactly when there are as many runs
    // as keys.
    let contiguous = runs == first_row.len();
    Ok(DenseNumbering { code, first_row, contiguous, starts })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pass in row order, as the serial numbering does.
    fn one_pass(keys: &[i64], lo: i64, span: usize) -> DenseNumbering {
        let mut number = vec![u32::MAX; span];
        let (mut code, mut first_row, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for (row, &k) in keys.iter().enumerate() {
            let s = (k - lo) as usize;
            if number[s] == u32::MAX {
                number[s] = first_row.len() as u32;
                first_row.push(row);
                counts.push(0);
            }
            counts[number[s] as usize] += 1;
            code.push(number[s]);
        }
        let runs = 1 + keys.windows(2).filter(|w| w[0] != w[1]).count();
        let mut starts = vec![0];
        for c in counts {
            starts.push(starts[starts.len() - 1] + c);
        }
        DenseNumbering { contiguous: runs == first_row.len(), code, first_row, starts }
    }

    #[test]
    fn parallel_numbering_equals_one_pass() {
        let n = 4 * ROWS_PER_TASK + 77;
        let mut x = 12345u64;
        let mut random = move || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            x >> 33
        };
        let shuffled: Vec<i64> = (0..n).map(|_| 1000 + (random() % 50_000) as i64).collect();
        let runs: Vec<i64> = (0..n).map(|r| 7 + (r / 9) as i64 % 40_000).collect();
        // Sorted except one account that comes back at the end.
        let mut split = runs.clone();
        split.push(7);
        for (keys, lo) in [(shuffled, 1000), (runs, 7), (split, 7)] {
            let span = (keys.iter().max().expect("keys") - lo + 1) as usize;
            for threads in [2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
                let got = pool.install(|| number_in_parallel(&keys, lo, span)).expect("parallel").expect("numbered");
                assert_eq!(got, one_pass(&keys, lo, span), "{threads} threads");
            }
        }
    }

    #[test]
    fn small_or_wide_books_are_left_to_one_pass() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a pool");
        pool.install(|| {
            assert!(number_in_parallel(&[1, 2, 3], 1, 3).is_none());
            let keys: Vec<i64> = (0..4 * ROWS_PER_TASK as i64).collect();
            assert!(number_in_parallel(&keys, 0, keys.len()).is_none());
        });
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
        let keys = vec![0i64; 4 * ROWS_PER_TASK];
        assert!(one.install(|| number_in_parallel(&keys, 0, 1)).is_none());
    }
}
