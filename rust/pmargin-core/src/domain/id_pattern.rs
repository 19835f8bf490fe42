//! String ids of one fixed-width numbered pattern: a common prefix, then a decimal number of a
//! fixed count of digits ("acct-0001234", "U1234567", "C01145", or integers written as text),
//! the way brokers and clearing houses often number accounts and venues number contracts. Two
//! such ids are equal exactly when their numbers are (the width is fixed, so leading zeros are
//! part of the pattern), so they can be found through a direct table by their numbers instead
//! of hashed: a book's account ids ([`crate::domain::book`], with the same first-seen numbers
//! and so the same results), and position rows' instrument ids when every instrument id has the
//! pattern ([`PatternIndex`]). Any other ids are hashed as strings.

use std::sync::atomic::{AtomicBool, Ordering};

use arrow_array::{Array, StringArray};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::domain::id_digits_sse::SseDigits;
use crate::error::Result;
use crate::input::parts::filled_in_parts;

/// Rows per parallel task.
const PIECE: usize = 1 << 16;

/// Most digits read: 10^18 - 1 fits an i64.
const MAX_DIGITS: usize = 18;

/// The pattern of a column's first id: its prefix and how many digits follow.
#[derive(Clone, Copy)]
struct Pattern<'p> {
    prefix: &'p [u8],
    digits: usize,
    /// For ids of at most 16 bytes: the masks that check one 16-byte load of an id.
    wide: Option<Masks>,
}

/// An id of `len` bytes read little-endian into a `u128`: its bytes (`bytes`), the prefix's
/// (`prefix_bytes`, to equal `prefix`), the digits' high nibbles (to equal `digit_high`) and low
/// nibbles (each at most 9: `+ 6` carries into no high nibble).
#[derive(Clone, Copy)]
struct Masks {
    bytes: u128,
    prefix_bytes: u128,
    prefix: u128,
    digit_high: u128,
    digit_low: u128,
    six: u128,
}

/// `byte` in each of bytes `from..to` of a `u128`.
const fn repeated(byte: u8, from: usize, to: usize) -> u128 {
    let mut x = 0u128;
    let mut i = from;
    while i < to {
        x |= (byte as u128) << (8 * i);
        i += 1;
    }
    x
}

impl<'p> Pattern<'p> {
    /// The pattern of `first`: its trailing digits (1 to 18) and what comes before them.
    fn of(first: &'p [u8]) -> Option<Self> {
        let digits = first.iter().rev().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > MAX_DIGITS {
            return None;
        }
        let (len, p) = (first.len(), first.len() - digits);
        let prefix = &first[..p];
        let wide = (len <= 16).then(|| {
            let mut head = [0u8; 16];
            head[..p].copy_from_slice(prefix);
            Masks {
                bytes: repeated(0xFF, 0, len),
                prefix_bytes: repeated(0xFF, 0, p),
                prefix: u128::from_le_bytes(head),
                digit_high: repeated(0x30, p, len),
                digit_low: repeated(0x0F, p, len),
                six: repeated(0x06, p, len),
            }
        });
        Some(Pattern { prefix, digits, wide })
    }

    fn len(&self) -> usize {
        self.prefix.len() + self.digits
    }

    /// The number of `id` if it has the pattern, byte by byte.
    fn number(&self, id: &[u8]) -> Option<i64> {
        if id.len() != self.len() || !id.starts_with(self.prefix) {
            return None;
        }
        id[self.prefix.len()..].iter().try_fold(0i64, |n, b| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0')))
    }

    /// The number of the id at `values[start..end]`, read as one 16-byte load when the buffer
    /// holds 16 bytes from `start`.
    #[inline(always)]
    fn number_at(&self, values: &[u8], start: usize, end: usize) -> Option<i64> {
        let (Some(m), Some(wide)) = (self.wide, values.get(start..).and_then(<[u8]>::first_chunk::<16>)) else {
            return self.number(values.get(start..end)?);
        };
        let x = u128::from_le_bytes(*wide) & m.bytes;
        let high_nibbles = m.digit_low << 4;
        let fits = end.wrapping_sub(start) == self.len()
            && x & m.prefix_bytes == m.prefix
            && x & high_nibbles == m.digit_high
            && ((x & m.digit_low) + m.six) & high_nibbles == 0;
        if !fits {
            return None;
        }
        // The digit values, the last one in the top byte: sixteen digits, leading zeros first.
        let digits = (x & m.digit_low) << (8 * (16 - self.len()));
        Some(eight_digits(digits as u64) * 100_000_000 + eight_digits((digits >> 64) as u64))
    }
}

/// The number written by eight digit values (0 to 9), the first (most significant) in the low
/// byte: pairs, then fours, then the whole, each step in every lane at once.
#[inline(always)]
fn eight_digits(d: u64) -> i64 {
    // Every lane stays below its width: pairs <= 99 in bytes, fours <= 9,999 in 16 bits.
    let pairs = (d * 10 + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let fours = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    ((fours & 0xFFFF) * 10_000 + (fours >> 32)) as i64
}

/// Each row's number, when every id of the column (`chunks`, without nulls) has the first id's
/// pattern; None otherwise (or for no rows).
pub fn numbers(chunks: &[&StringArray]) -> Result<Option<Vec<i64>>> {
    let Some(first) = chunks.iter().find(|c| !c.is_empty()).map(|c| c.value(0)) else { return Ok(None) };
    let Some(pattern) = Pattern::of(first.as_bytes()) else { return Ok(None) };
    mapped(chunks, pattern, |k| k)
}

/// `f(number)` of each row's id, when every id has `pattern`; None otherwise.
fn mapped<T: Copy + Default + Send>(
    chunks: &[&StringArray],
    pattern: Pattern<'_>,
    f: impl Fn(i64) -> T + Sync,
) -> Result<Option<Vec<T>>> {
    let mismatch = AtomicBool::new(false);
    // Ids of at most 16 bytes are read with SSE where the CPU has it (the same numbers).
    #[cfg(target_arch = "x86_64")]
    let sse = pattern.wide.and_then(|_| SseDigits::new(pattern.prefix, pattern.digits));
    let work: Vec<(usize, (&StringArray, usize))> = chunks
        .iter()
        .flat_map(|c| (0..c.len()).step_by(PIECE).map(move |lo| ((c.len() - lo).min(PIECE), (*c, lo))))
        .collect();
    let values = filled_in_parts(work, |(chunk, lo), part| {
        let (offsets, values) = (chunk.value_offsets(), chunk.values().as_slice());
        let n = (chunk.len() - lo).min(PIECE);
        if mismatch.load(Ordering::Relaxed) {
            return part.extend(std::iter::repeat_n(T::default(), n));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(sse) = &sse {
            let slow = |start: usize, end: usize| pattern.number(values.get(start..end)?);
            if let Some(i) = sse.map_ids((&offsets[lo..=lo + n], values), &slow, |k| part.push(f(k))) {
                mismatch.store(true, Ordering::Relaxed);
                part.extend(std::iter::repeat_n(T::default(), n - i));
            }
            return;
        }
        for (i, w) in offsets[lo..=lo + n].windows(2).enumerate() {
            match pattern.number_at(values, w[0] as usize, w[1] as usize) {
                Some(k) => part.push(f(k)),
                None => {
                    mismatch.store(true, Ordering::Relaxed);
                    return part.extend(std::iter::repeat_n(T::default(), n - i));
                }
            }
        }
    })?;
    Ok((!mismatch.into_inner()).then_some(values))
}

/// The range of integer keys when it is compact enough for a direct table: at most four slots
/// per key (or 65,536) and never more than 2^26 slots (256 MiB of u32 would be too many). The
/// rule of both direct tables: integer account ids' ([`crate::domain::book`]) and
/// [`PatternIndex`]'s.
pub fn dense_span(keys: &[i64]) -> Option<(i64, usize)> {
    let span_of = |keys: &[i64]| keys.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &k| (lo.min(k), hi.max(k)));
    let (lo, hi) = keys
        .par_chunks(1 << 16)
        .map(span_of)
        .reduce(|| (i64::MAX, i64::MIN), |(lo, hi), (l, h)| (lo.min(l), hi.max(h)));
    if keys.is_empty() {
        return None;
    }
    let span = usize::try_from(i128::from(hi) - i128::from(lo) + 1).ok()?;
    (span <= (4 * keys.len()).max(1 << 16) && span <= 1 << 26).then_some((lo, span))
}

/// The rows of a table's distinct ids (an instruments table's), found by their numbers in a
/// direct table when every id has the first id's pattern and the numbers are compact (as in
/// C00000 ... C01999, or plain integer ids written as text): a position's id is then parsed,
/// not hashed.
#[derive(Debug)]
pub struct PatternIndex {
    /// The first id: it defines the pattern.
    example: String,
    lo: i64,
    /// Row + 1 of the id numbered `lo + i`, 0 when none.
    rows: Vec<u32>,
}

impl PatternIndex {
    /// None unless every id has the first's pattern and their numbers span a compact range
    /// ([`dense_span`]).
    pub fn new(ids: &[&str]) -> Option<PatternIndex> {
        let example = *ids.first()?;
        let pattern = Pattern::of(example.as_bytes())?;
        let numbers: Vec<i64> = ids.iter().map(|id| pattern.number(id.as_bytes())).collect::<Option<_>>()?;
        let (lo, span) = dense_span(&numbers)?;
        let mut rows = vec![0u32; span];
        for (row, k) in numbers.iter().enumerate() {
            rows[(k - lo) as usize] = u32::try_from(row + 1).ok()?;
        }
        Some(PatternIndex { example: example.to_owned(), lo, rows })
    }

    /// Each id's row (`missing` for an id with the pattern but no row), when every id of the
    /// column (`chunks`, without nulls) has the pattern; None otherwise.
    pub fn rows_of(&self, chunks: &[&StringArray], missing: u32) -> Result<Option<Vec<u32>>> {
        let Some(pattern) = Pattern::of(self.example.as_bytes()) else { return Ok(None) };
        mapped(chunks, pattern, |k| {
            let slot = usize::try_from(k.wrapping_sub(self.lo)).ok().and_then(|i| self.rows.get(i));
            slot.and_then(|r| r.checked_sub(1)).unwrap_or(missing)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(ids: &[&str]) -> Option<Vec<i64>> {
        let array = StringArray::from_iter_values(ids);
        numbers(&[&array]).expect("parts")
    }

    #[test]
    fn pattern_index_finds_the_rows_a_map_finds() {
        // Patterned ids with gaps, in no order; positions hold them, patterned ids of no row, and
        // span several chunks (the last one short).
        let ids: Vec<String> = (0..300u32).map(|i| format!("C{:05}", (i * 7919) % 1000)).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let index = PatternIndex::new(&refs).expect("patterned and compact");
        let map: std::collections::HashMap<&str, u32> =
            refs.iter().enumerate().map(|(r, id)| (*id, r as u32)).collect();
        let wanted: Vec<String> = (0..PIECE as u32 + 500).map(|i| format!("C{:05}", (i * 31) % 1100)).collect();
        let (head, tail) = wanted.split_at(PIECE + 100);
        let chunks = [StringArray::from_iter_values(head), StringArray::from_iter_values(tail)];
        let rows = index.rows_of(&[&chunks[0], &chunks[1]], u32::MAX).expect("parts").expect("patterned");
        let want: Vec<u32> = wanted.iter().map(|id| map.get(id.as_str()).copied().unwrap_or(u32::MAX)).collect();
        assert_eq!(rows, want);
        assert!(want.contains(&u32::MAX), "some ids have no row");
        // One id off the pattern: the column is not resolved here (the caller hashes it).
        let off = StringArray::from_iter_values(["C00001", "C0001", "C00002"]);
        assert_eq!(index.rows_of(&[&off], u32::MAX).expect("parts"), None);
        // Tables that get no index: ids off the first's pattern, numbers too far apart, none.
        assert!(PatternIndex::new(&["C00001", "D00002"]).is_none());
        assert!(PatternIndex::new(&["C00001", "C0002"]).is_none());
        assert!(PatternIndex::new(&["1", "999999999"]).is_none());
        assert!(PatternIndex::new(&["BTC-PERP", "ETH-PERP"]).is_none());
        assert!(PatternIndex::new(&[]).is_none());
    }

    #[test]
    fn dense_spans_are_compact_ranges() {
        assert_eq!(dense_span(&[5, 3, 9]), Some((3, 7)));
        assert_eq!(dense_span(&[0, 65_535]), Some((0, 65_536)));
        assert_eq!(dense_span(&[0, 65_536]), None);
        assert_eq!(dense_span(&[0, i64::MAX]), None);
        assert_eq!(dense_span(&[i64::MIN, i64::MAX]), None);
        assert_eq!(dense_span(&[]), None);
    }

    #[test]
    fn patterned_ids_read_as_their_numbers() {
        assert_eq!(column(&["acct-0000123", "acct-0000007", "acct-9999999"]), Some(vec![123, 7, 9_999_999]));
        assert_eq!(column(&["U1234567", "U0000000"]), Some(vec![1_234_567, 0]));
        // No prefix; the longest numbers; ids past 16 bytes (read byte by byte).
        assert_eq!(column(&["00042", "99999"]), Some(vec![42, 99_999]));
        assert_eq!(column(&["999999999999999999", "000000000000000001"]), Some(vec![999_999_999_999_999_999, 1]));
        assert_eq!(column(&["client/portfolio-000123", "client/portfolio-000124"]), Some(vec![123, 124]));
    }

    #[test]
    fn ids_off_the_pattern_are_not_numbered() {
        for ids in [
            vec!["acct-0000123", "acct-000123"],      // shorter: "000123" and "0000123" differ
            vec!["acct-0000123", "acct-00001234"],    // longer
            vec!["acct-0000123", "acc1-0000123"],     // another prefix
            vec!["acct-0000123", "acct-00001x3"],     // not a digit
            vec!["acct-0000123", "acct-0000:23"],     // ':' follows '9'
            vec!["acct-0000123", "acct-0000/23"],     // '/' precedes '0'
            vec!["acct-0000123", "acct-0000\u{e9}3"], // two bytes of UTF-8 in a digit's place
            vec!["acct-", "acct-"],                   // no digits
            vec!["1234567890123456789", "1"],         // 19 digits: past an i64
        ] {
            assert_eq!(column(&ids), None, "{ids:?}");
        }
        assert_eq!(column(&[]), None);
    }

    #[test]
    fn wide_reads_equal_byte_by_byte_reads() {
        // Every length 1..=16, every split of prefix and digits, ids near the buffer's end.
        let mut checked = 0;
        for len in 1..=18usize {
            for p in 0..len {
                let prefix: String = (0..p).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                let ids: Vec<String> = [0u64, 7, 123_456_789_012_345_678]
                    .iter()
                    .map(|v| format!("{prefix}{:0>w$}", v % 10u64.pow((len - p) as u32), w = len - p))
                    .collect();
                let strs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let pattern = Pattern::of(ids[0].as_bytes());
                let array = StringArray::from_iter_values(&strs);
                let (offsets, values) = (array.value_offsets(), array.values().as_slice());
                for (i, id) in strs.iter().enumerate() {
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let expected = pattern.and_then(|pt| pt.number(id.as_bytes()));
                    assert_eq!(pattern.and_then(|pt| pt.number_at(values, start, end)), expected, "{id}");
                    if len - p <= MAX_DIGITS {
                        assert_eq!(expected, id[p..].parse::<i64>().ok(), "{id}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 400);
    }

    #[test]
    fn eight_digits_parses_every_place() {
        for v in [0u64, 1, 9, 10, 99_999_999, 12_345_678, 87_654_321, 10_000_000, 90_909_090] {
            let digits = format!("{v:08}");
            let d = digits.bytes().enumerate().fold(0u64, |acc, (i, b)| acc | (u64::from(b - b'0') << (8 * i)));
            assert_eq!(eight_digits(d), v as i64);
        }
    }

    #[test]
    fn pieces_across_chunks_keep_row_order() {
        let ids: Vec<String> =
            (0..(PIECE as u64 * 2 + 5)).map(|i| format!("A{:07}", (i * 7919) % 10_000_000)).collect();
        let (a, b) = ids.split_at(PIECE + 3);
        let (a, b) = (StringArray::from_iter_values(a), StringArray::from_iter_values(b));
        let got = numbers(&[&a, &b]).expect("parts").expect("patterned");
        let want: Vec<i64> = ids.iter().map(|s| s[1..].parse().expect("digits")).collect();
        assert_eq!(got, want);
        // One id off the pattern in the last piece: none numbered.
        let mut bad = ids.clone();
        *bad.last_mut().expect("rows") = "B0000001".into();
        let c = StringArray::from_iter_values(&bad);
        assert_eq!(numbers(&[&c]).expect("parts"), None);
    }
}
