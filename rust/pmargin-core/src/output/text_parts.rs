//! A Utf8 result column written part by part: each parallel task appends its rows' strings to
//! its own part of the offsets and of the bytes, whose sizes were counted first. A task can so
//! write several columns of its rows in one pass (the grid's by-underlying table), where
//! [`super::gather::gather_strings`] makes a pass per column.

use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use crate::error::{MarginError, Result};
use crate::input::parts::{Parted, TrackedPart};

/// Bytes of one padded copy ([`TextPart::push_wide`]).
pub const WIDE: usize = 32;

/// A string column of `rows.iter().sum()` rows whose task `i` writes `rows[i]` strings of
/// `bytes[i]` bytes in all.
pub struct TextColumn {
    offsets: Parted<i32>,
    bytes: Parted<u8>,
    /// Each part's first offset.
    starts: Vec<usize>,
}

/// The values of a string column zero-padded to [`WIDE`] bytes, when all fit and there are many
/// more rows than values ([`TextPart::push_of`]): a row then costs one fixed-size copy instead of
/// a call into memcpy.
pub struct WideValues {
    wide: Vec<[u8; WIDE]>,
    len: Vec<usize>,
}

impl WideValues {
    /// None when a value is longer than [`WIDE`] or `rows` is under four times the values.
    pub fn of<'a>(values: impl Iterator<Item = &'a str>, rows: usize) -> Option<WideValues> {
        let values: Vec<&str> = values.collect();
        if values.len().saturating_mul(4) > rows || values.iter().any(|v| v.len() > WIDE) {
            return None;
        }
        let wide = values
            .iter()
            .map(|v| {
                let mut w = [0u8; WIDE];
                w[..v.len()].copy_from_slice(v.as_bytes());
                w
            })
            .collect();
        Some(WideValues { wide, len: values.iter().map(|v| v.len()).collect() })
    }

    /// Value `i` padded, and its length (for [`crate::input::parts::Part::extend_padded`]).
    #[inline(always)]
    pub fn padded(&self, i: usize) -> (&[u8; WIDE], usize) {
        (&self.wide[i], self.len[i])
    }
}

/// One task's part of a [`TextColumn`].
pub struct TextPart<'a> {
    offsets: TrackedPart<'a, i32>,
    bytes: TrackedPart<'a, u8>,
    /// The column's bytes before the next string.
    at: usize,
}

impl TextColumn {
    /// An internal error when the column would pass 2 GiB of text (Utf8 offsets are i32).
    pub fn new(rows: &[usize], bytes: Vec<usize>) -> Result<TextColumn> {
        let total: usize = bytes.iter().sum();
        if i32::try_from(total).is_err() {
            return Err(MarginError::Internal(format!("a result string column of {total} bytes is over 2 GiB")));
        }
        let starts = bytes
            .iter()
            .scan(0, |at, &b| {
                let start = *at;
                *at += b;
                Some(start)
            })
            .collect();
        // The first offset, 0, is its own part.
        let offsets = Parted::new(std::iter::once(1).chain(rows.iter().copied()).collect());
        Ok(TextColumn { offsets, bytes: Parted::new(bytes), starts })
    }

    /// The parts, one per task, in order.
    pub fn parts(&mut self) -> Vec<TextPart<'_>> {
        let mut offsets = self.offsets.parts().into_iter();
        if let Some(mut first) = offsets.next() {
            first.push(0);
        }
        offsets
            .zip(self.bytes.parts())
            .zip(&self.starts)
            .map(|((offsets, bytes), &at)| TextPart { offsets, bytes, at })
            .collect()
    }

    /// The column (nulls from `nulls`); an internal error unless every part was filled exactly.
    pub fn finish(self, nulls: Option<NullBuffer>) -> Result<ArrayRef> {
        let offsets = self.offsets.finish()?;
        let bytes = self.bytes.finish()?;
        let last = offsets.last().map_or(0, |&o| o as usize);
        if offsets.first() != Some(&0) || last != bytes.len() {
            return Err(MarginError::Internal("a string column's offsets do not match its bytes".into()));
        }
        debug_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        // SAFETY: the offsets start at 0, end at the length of `bytes` (checked above) and never
        // decrease: each part's offsets run from its start (the bytes counted for the parts
        // before it) up by each value's length, and its bytes were exactly its count (the parts
        // were filled exactly), so it ends where the next part starts. Checking it again
        // (`OffsetBuffer::new`) was a serial pass over every row.
        let offsets = unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)) };
        // Every value was appended as a whole `&str` (`push`) or as the first bytes of one
        // (`push_wide`'s `used`, a whole value's length), so `bytes` is UTF-8 with every offset
        // between two values: checking it again would read every byte once more.
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        if nulls.as_ref().is_some_and(|n| n.len() != offsets.len() - 1) {
            return Err(MarginError::Internal("a string column's nulls do not match its rows".into()));
        }
        // SAFETY: offsets valid for `bytes` (above), every slice between two offsets a whole
        // value, valid UTF-8; nulls (if any) of the column's length (checked above).
        Ok(Arc::new(unsafe { StringArray::new_unchecked(offsets, Buffer::from(bytes), nulls) }))
    }
}

impl TextPart<'_> {
    /// Append one string.
    #[inline(always)]
    pub fn push(&mut self, value: &str) {
        self.bytes.extend_from_slice(value.as_bytes());
        self.end(value.len());
    }

    /// Append the string whose bytes are the first `used` of `wide` (`used` a whole value's
    /// length): one fixed-size copy, the bytes past the value overwritten by the next one's.
    #[inline(always)]
    pub fn push_wide(&mut self, wide: &[u8; WIDE], used: usize) {
        self.bytes.extend_padded(wide, used);
        self.end(used);
    }

    /// Append `values[i]`, as a padded copy when `wide` holds the values.
    #[inline(always)]
    pub fn push_of<S: AsRef<str>>(&mut self, values: &[S], wide: Option<&WideValues>, i: usize) {
        match wide.map(|w| w.padded(i)) {
            Some((padded, len)) => self.push_wide(padded, len),
            None => self.push(values[i].as_ref()),
        }
    }

    /// Append a null (no bytes).
    #[inline(always)]
    pub fn push_null(&mut self) {
        self.end(0);
    }

    #[inline(always)]
    fn end(&mut self, len: usize) {
        self.at += len;
        // In range: the column's total was checked to fit an i32 (a part written past its
        // bytes is overfilled, and the column is then not built).
        self.offsets.push(self.at as i32);
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use rayon::prelude::*;

    use super::*;

    #[test]
    fn parts_write_one_column() {
        let rows: [&[Option<&str>]; 3] = [&[Some("a"), None, Some("déf")], &[], &[Some(""), Some("xyz")]];
        let count = |r: &[Option<&str>]| r.iter().flatten().map(|s| s.len()).sum::<usize>();
        let mut column =
            TextColumn::new(&rows.map(<[_]>::len), rows.iter().map(|r| count(r)).collect()).expect("small");
        column.parts().into_par_iter().zip(rows).for_each(|(mut part, values)| {
            for v in values {
                match v {
                    // Wide copies of the short ones: their padding is overwritten.
                    Some(s) if s.len() < 3 => {
                        let mut wide = [b'#'; WIDE];
                        wide[..s.len()].copy_from_slice(s.as_bytes());
                        part.push_wide(&wide, s.len());
                    }
                    Some(s) => part.push(s),
                    None => part.push_null(),
                }
            }
        });
        let flat: Vec<Option<&str>> = rows.concat();
        let nulls = NullBuffer::from(flat.iter().map(Option::is_some).collect::<Vec<_>>());
        let got = column.finish(Some(nulls)).expect("exact");
        let want: StringArray = flat.iter().copied().collect();
        assert_eq!(got.as_string::<i32>(), &want);
        assert_eq!(got.null_count(), 1);
    }

    #[test]
    fn miscounted_parts_are_errors() {
        for (rows, bytes) in [(vec![2], vec![2]), (vec![1], vec![1]), (vec![1], vec![3])] {
            let mut column = TextColumn::new(&rows, bytes).expect("small");
            for mut part in column.parts() {
                part.push("ab");
            }
            assert!(column.finish(None).is_err());
        }
        let mut column = TextColumn::new(&[1], vec![2]).expect("small");
        column.parts().into_iter().for_each(|mut p| p.push("ab"));
        assert!(column.finish(Some(NullBuffer::new_null(2))).is_err());
        assert!(TextColumn::new(&[1], vec![1 << 31]).is_err());
    }
}
