//! Vectors written in parallel, part by part, without being zeroed first.
//!
//! Reading a book and building result columns fill many large vectors whose every value is
//! written once by a parallel task into its own contiguous part. Allocating them zeroed
//! (`vec![0; n]`) made the allocator clear every byte of reused memory first: a memset as large as
//! the vector, a measurable share of a run. Here each part writes its values in order into
//! uninitialised capacity, and the vector gets its length only when every part was filled exactly.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::error::{MarginError, Result};

/// One task's part of a vector being filled: its values are written in order, from the first.
pub struct Part<'a, T> {
    slots: &'a mut [MaybeUninit<T>],
    /// Values written so far: slots `0..filled` are initialised (while `filled <= slots.len()`).
    filled: usize,
}

impl<T> Part<'_, T> {
    /// Append one value. Past the part's end nothing is written and the part counts as
    /// overfilled (the vector is then not built).
    #[inline(always)]
    pub fn push(&mut self, value: T) {
        if let Some(slot) = self.slots.get_mut(self.filled) {
            slot.write(value);
        }
        self.filled += 1;
    }
}

impl<T> Part<'_, T> {
    /// Append every value of `values`: one tight loop over the free slots (no check per value
    /// beyond the iteration itself); values past the part's end overfill it.
    #[inline]
    pub fn extend(&mut self, values: impl IntoIterator<Item = T>) {
        let mut values = values.into_iter();
        let start = self.filled.min(self.slots.len());
        let mut written = 0;
        for (slot, value) in self.slots[start..].iter_mut().zip(&mut values) {
            slot.write(value);
            written += 1;
        }
        // `zip` stops at the first exhausted side, slots first: what is left of `values` did not fit.
        self.filled += written + values.count();
    }
}

impl<T: Copy> Part<'_, T> {
    /// Append `values`.
    #[inline]
    pub fn extend_from_slice(&mut self, values: &[T]) {
        if let Some(slots) = self.slots.get_mut(self.filled..self.filled + values.len()) {
            write_copies(slots, values);
        }
        self.filled += values.len();
    }

    /// Append the first `used` values of `values`, writing all of `values` when they fit (the
    /// values past `used` are overwritten by the next appends or lie past the part's end): one
    /// fixed-size copy instead of a variable-length one.
    #[inline(always)]
    pub fn extend_padded<const N: usize>(&mut self, values: &[T; N], used: usize) {
        if used > N {
            // More values than there are would count slots never written: overfill instead.
            self.filled = self.slots.len() + 1;
            return;
        }
        match self.slots.get_mut(self.filled..self.filled + N) {
            Some(slots) => {
                write_copies(slots, values);
                self.filled += used;
            }
            None => self.extend_from_slice(&values[..used.min(N)]),
        }
    }
}

/// `slots[i] = values[i]` (the two of one length): one memcpy. A loop of element writes is not
/// turned into one, and cost 30 instructions per padded string (`write_copy_of_slice` is past
/// the MSRV).
#[inline(always)]
fn write_copies<T: Copy>(slots: &mut [MaybeUninit<T>], values: &[T]) {
    let n = slots.len().min(values.len());
    // SAFETY: both ranges hold `n` values of T (`n` is the shorter length), `slots` is a unique
    // borrow so they do not overlap, `MaybeUninit<T>` has T's layout, and T is Copy (no drop).
    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), slots.as_mut_ptr().cast::<T>(), n) };
}

/// A vector of `Σ lens` values written part by part by separate tasks, for tasks that fill
/// several vectors at once (where [`filled_in_parts`] fills one): [`Parted::parts`] hands out
/// the parts, [`Parted::finish`] gives the vector once every part handed out was filled exactly.
pub struct Parted<T> {
    out: Vec<T>,
    lens: Vec<usize>,
    /// Parts handed out, and parts dropped exactly filled.
    handed: usize,
    exact: AtomicUsize,
}

/// A part of a [`Parted`] vector; it counts itself exactly filled when dropped so.
pub struct TrackedPart<'a, T> {
    part: Part<'a, T>,
    exact: &'a AtomicUsize,
}

impl<'a, T> std::ops::Deref for TrackedPart<'a, T> {
    type Target = Part<'a, T>;
    fn deref(&self) -> &Part<'a, T> {
        &self.part
    }
}

impl<'a, T> std::ops::DerefMut for TrackedPart<'a, T> {
    fn deref_mut(&mut self) -> &mut Part<'a, T> {
        &mut self.part
    }
}

impl<T> Drop for TrackedPart<'_, T> {
    fn drop(&mut self) {
        if self.part.filled == self.part.slots.len() {
            self.exact.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<T> Parted<T> {
    pub fn new(lens: Vec<usize>) -> Self {
        let total = lens.iter().sum();
        Parted { out: Vec::with_capacity(total), lens, handed: 0, exact: AtomicUsize::new(0) }
    }

    /// One part per length, in order.
    pub fn parts(&mut self) -> Vec<TrackedPart<'_, T>> {
        self.handed += self.lens.len();
        let total = self.lens.iter().sum();
        let mut rest = &mut self.out.spare_capacity_mut()[..total];
        let mut parts = Vec::with_capacity(self.lens.len());
        for &len in &self.lens {
            let (slots, tail) = rest.split_at_mut(len);
            parts.push(TrackedPart { part: Part { slots, filled: 0 }, exact: &self.exact });
            rest = tail;
        }
        parts
    }

    /// The vector; an internal error unless every part handed out was dropped exactly filled.
    pub fn finish(mut self) -> Result<Vec<T>> {
        let total = self.lens.iter().sum();
        if (self.handed == 0 && total > 0) || self.exact.load(Ordering::Relaxed) != self.handed {
            return Err(MarginError::Internal("a parallel part was not filled exactly".into()));
        }
        // SAFETY: the parts of every `parts` call tile `0..total`; each was dropped with its
        // slots `0..filled` written and `filled` equal to its length (counted in `exact`, once
        // per part, and every part handed out was counted), so every value of `0..total` is
        // initialised.
        unsafe { self.out.set_len(total) };
        Ok(self.out)
    }
}

/// The parts of several [`Parted`] vectors of the same lengths, gathered by task: entry `t`
/// holds task `t`'s part of every vector, in the vectors' order (for tasks that write several
/// columns of one type at once).
pub fn parts_by_task<T>(columns: &mut [Parted<T>]) -> Vec<Vec<TrackedPart<'_, T>>> {
    by_task(columns, Parted::parts)
}

/// `parts(column)` of every column, gathered by task as in [`parts_by_task`] (for columns of any
/// kind that hand out one part per task).
pub fn by_task<'c, C, P>(columns: &'c mut [C], parts: impl Fn(&'c mut C) -> Vec<P>) -> Vec<Vec<P>> {
    let n = columns.len();
    let mut by_task: Vec<Vec<P>> = Vec::new();
    for column in columns.iter_mut() {
        let parts = parts(column);
        by_task.resize_with(parts.len(), || Vec::with_capacity(n));
        for (task, part) in by_task.iter_mut().zip(parts) {
            task.push(part);
        }
    }
    by_task
}

/// `slots` set to `T::default()`, as initialised values: a task sets the part of a large vector
/// it is about to write, in cache, instead of the whole vector being zeroed on one core first.
pub fn defaulted<T: Copy + Default>(slots: &mut [MaybeUninit<T>]) -> &mut [T] {
    for slot in slots.iter_mut() {
        slot.write(T::default());
    }
    // SAFETY: every slot was just written, and `MaybeUninit<T>` has T's layout.
    unsafe { &mut *(std::ptr::from_mut(slots) as *mut [T]) }
}

/// `f(item)` of every item, in order, mapped in parallel in chunks of `chunk` items straight into
/// the output (an indexed rayon `collect` does the same with a per-item bookkeeping cost).
pub fn map_in_parts<S: Sync, T: Send>(items: &[S], chunk: usize, f: impl Fn(&S) -> T + Sync) -> Result<Vec<T>> {
    let work = items.chunks(chunk.max(1)).map(|c| (c.len(), c)).collect();
    filled_in_parts(work, |c: &[S], part| part.extend(c.iter().map(&f)))
}

/// A vector of `Σ len` values: each `(len, input)` of `work` is one part of `len` values, in
/// order, written by `fill(input, part)` in parallel. An internal error when a part is not filled
/// with exactly its `len` values (no vector is built then).
pub fn filled_in_parts<T, W>(work: Vec<(usize, W)>, fill: impl Fn(W, &mut Part<'_, T>) + Sync) -> Result<Vec<T>>
where
    T: Send,
    W: Send,
{
    let total: usize = work.iter().map(|w| w.0).sum();
    let mut out: Vec<T> = Vec::with_capacity(total);
    let mut rest = &mut out.spare_capacity_mut()[..total];
    let mut parts = Vec::with_capacity(work.len());
    for (len, input) in work {
        let (slots, tail) = rest.split_at_mut(len);
        parts.push((input, slots));
        rest = tail;
    }
    let exact = parts
        .into_par_iter()
        .map(|(input, slots)| {
            let mut part = Part { slots, filled: 0 };
            fill(input, &mut part);
            part.filled == part.slots.len()
        })
        .reduce(|| true, |a, b| a && b);
    if !exact {
        // Values already written are leaked, never read: `out` keeps length 0.
        return Err(MarginError::Internal("a parallel part was not filled exactly".into()));
    }
    // SAFETY: the parts tile `0..total` (split in order above), and each one's slots
    // `0..filled` were written (`push`, `extend_*` write exactly the slots they count, or count
    // past the end without writing, which makes `filled` exceed the part); `filled` equals each
    // part's length, so every value of `0..total` is initialised.
    unsafe { out.set_len(total) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_fill_their_own_ranges_in_order() {
        let work: Vec<(usize, std::ops::Range<u32>)> = vec![(3, 0..3), (0, 3..3), (5, 3..8), (1, 8..9)];
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let got = pool
                .install(|| {
                    filled_in_parts(work.clone(), |range, part| {
                        for v in range {
                            part.push(v * 10);
                        }
                    })
                })
                .expect("exact");
            assert_eq!(got, vec![0, 10, 20, 30, 40, 50, 60, 70, 80]);
        }
        let empty: Vec<u8> = filled_in_parts(Vec::<(usize, ())>::new(), |_, _| {}).expect("nothing to fill");
        assert!(empty.is_empty());
    }

    #[test]
    fn slices_and_padded_copies_append_exactly() {
        // Padded copies of 4 values of which 1..=3 are used; near the end of a part they fall
        // back to exact copies.
        let words: [[u8; 4]; 3] = [*b"ab__", *b"cde_", *b"f___"];
        let used = [2, 3, 1];
        let got = filled_in_parts(vec![(6, 0), (8, 1)], |rep: usize, part| {
            for k in 0..2 + 2 * rep {
                part.extend_padded(&words[k % 3], used[k % 3]);
            }
            if rep == 0 {
                part.extend_from_slice(b"z");
            } else {
                part.extend_from_slice(b"");
            }
        })
        .expect("exact");
        assert_eq!(std::str::from_utf8(&got).expect("ascii"), "abcdezabcdefab");
    }

    #[test]
    fn extend_and_map_fill_exactly() {
        let items: Vec<u32> = (0..1000).collect();
        for chunk in [1, 7, 1000, 5000] {
            let got = map_in_parts(&items, chunk, |&i| u64::from(i) * 3).expect("exact");
            assert_eq!(got, items.iter().map(|&i| u64::from(i) * 3).collect::<Vec<_>>());
        }
        let mixed = filled_in_parts(vec![(5, 0u8)], |_, part| {
            part.push(1u8);
            part.extend([2, 3]);
            part.extend_from_slice(&[4]);
            part.extend(std::iter::once(5));
        })
        .expect("exact");
        assert_eq!(mixed, vec![1, 2, 3, 4, 5]);
        let over = filled_in_parts(vec![(2, ())], |_, part| part.extend([1u8, 2, 3]));
        assert!(over.is_err());
        let after_over = filled_in_parts(vec![(1, ())], |_, part| {
            part.extend([1u8, 2]);
            part.extend([3u8]);
        });
        assert!(after_over.is_err());
        assert!(map_in_parts(&[] as &[u8], 4, |&x| x).expect("empty").is_empty());
    }

    #[test]
    fn parted_vectors_are_built_only_when_every_part_is_exact() {
        let fill = |lens: Vec<usize>, counts: Vec<usize>| {
            let mut parted = Parted::new(lens);
            let parts = parted.parts();
            parts.into_par_iter().zip(counts).enumerate().for_each(|(i, (mut part, n))| {
                for v in 0..n {
                    part.push(10 * i + v);
                }
            });
            parted.finish()
        };
        assert_eq!(fill(vec![2, 0, 3], vec![2, 0, 3]).expect("exact"), vec![0, 1, 20, 21, 22]);
        assert!(fill(vec![2, 3], vec![2, 2]).is_err());
        assert!(fill(vec![2, 3], vec![3, 3]).is_err());
        assert!(fill(vec![], vec![]).expect("nothing").is_empty());
        // Parts never handed out, or forgotten, build nothing.
        assert!(Parted::<u8>::new(vec![1]).finish().is_err());
        let mut parted = Parted::<u8>::new(vec![1]);
        let mut parts = parted.parts();
        parts[0].push(1);
        std::mem::forget(parts);
        assert!(parted.finish().is_err());
    }

    #[test]
    fn parts_gathered_by_task_fill_every_vector() {
        let mut columns: Vec<Parted<u32>> = (0..3).map(|_| Parted::new(vec![2, 1])).collect();
        parts_by_task(&mut columns).into_par_iter().enumerate().for_each(|(t, parts)| {
            assert_eq!(parts.len(), 3);
            for (c, mut part) in parts.into_iter().enumerate() {
                let n = if t == 0 { 2 } else { 1 };
                for i in 0..n {
                    part.push((10 * c + t + i) as u32);
                }
            }
        });
        let got: Vec<Vec<u32>> = columns.into_iter().map(|c| c.finish().expect("exact")).collect();
        assert_eq!(got, vec![vec![0, 1, 1], vec![10, 11, 11], vec![20, 21, 21]]);
    }

    #[test]
    fn a_part_filled_short_or_long_is_an_error() {
        let short = filled_in_parts(vec![(2, 1), (2, 2)], |n: u32, part| {
            for v in 0..n {
                part.push(v);
            }
        });
        assert!(matches!(short, Err(MarginError::Internal(_))));
        let long = filled_in_parts(vec![(1, ())], |_, part| part.extend_from_slice(&[1u64, 2]));
        assert!(matches!(long, Err(MarginError::Internal(_))));
        let padded_long = filled_in_parts(vec![(2, ())], |_, part| {
            part.extend_padded(&[1u8, 2, 3, 4], 2);
            part.push(5);
        });
        assert!(padded_long.is_err());
        let used_past_values = filled_in_parts(vec![(6, ())], |_, part| part.extend_padded(&[1u8, 2], 6));
        assert!(used_past_values.is_err());
    }
}
