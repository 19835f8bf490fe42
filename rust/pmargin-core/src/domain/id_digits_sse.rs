//! Fixed-width numbered ids of at most 16 bytes ([`super::id_pattern`]) read with SSSE3 and
//! SSE4.1: one 16-byte load is checked against the pattern in three vector operations (prefix
//! bytes equal, digits '0' to '9', nothing else), and its digits are summed in pairs, fours and
//! eights by multiply-add instructions. About a dozen instructions per id where the same checks
//! and sums in `u128` arithmetic took some forty: reading a book's account and instrument ids
//! is then no longer the longest part of numbering a shuffled book. The numbers are the same.
//! x86-64 only: elsewhere the `u128` path reads every id.

use std::arch::x86_64::{
    __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si32, _mm_extract_epi32, _mm_loadu_si128, _mm_madd_epi16,
    _mm_maddubs_epi16, _mm_max_epu8, _mm_movemask_epi8, _mm_packus_epi32, _mm_set1_epi16, _mm_set1_epi32,
    _mm_shuffle_epi8, _mm_xor_si128,
};

/// Ids between consecutive offsets of a string buffer: the offsets and the buffer.
pub type Ids<'a> = (&'a [i32], &'a [u8]);

/// The vectors that check and read one pattern's ids.
#[derive(Clone, Copy)]
pub struct SseDigits {
    len: usize,
    /// 0xFF on the id's bytes, 0 past them.
    bytes: __m128i,
    /// The prefix, then '0' on each digit, then 0.
    template: __m128i,
    /// 0 on the prefix, 9 on each digit, 0 past the id: the most each byte of `id ^ template`
    /// may be.
    limit: __m128i,
    /// Moves the digits to the top bytes (the last digit to byte 15), zeros below.
    align: __m128i,
}

impl SseDigits {
    /// The reader of ids `prefix` + `digits` digits (at most 16 bytes in all, 1 to 16 digits),
    /// when the CPU has SSSE3 and SSE4.1.
    pub fn new(prefix: &[u8], digits: usize) -> Option<SseDigits> {
        let len = prefix.len() + digits;
        if len > 16 || digits == 0 || !is_x86_feature_detected!("ssse3") || !is_x86_feature_detected!("sse4.1") {
            return None;
        }
        let p = prefix.len();
        let vector = |f: &dyn Fn(usize) -> u8| -> __m128i {
            let b: [u8; 16] = std::array::from_fn(f);
            // SAFETY: an unaligned load of 16 bytes from a 16-byte array.
            unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
        };
        let shift = 16 - len;
        Some(SseDigits {
            len,
            bytes: vector(&|i| if i < len { 0xFF } else { 0 }),
            template: vector(&|i| {
                if i < p {
                    prefix[i]
                } else if i < len {
                    b'0'
                } else {
                    0
                }
            }),
            limit: vector(&|i| if i >= p && i < len { 9 } else { 0 }),
            // Byte i takes byte i - shift: the digits end at byte 15; the prefix (and anything
            // before it) reads as zero (0x80 zeroes a byte).
            align: vector(&|i| if i >= shift + p { (i - shift) as u8 } else { 0x80 }),
        })
    }

    /// `emit(number)` of each id of `values` between consecutive `offsets`, in order;
    /// `slow(start, end)` reads an id too near the end of `values` for a 16-byte load. Returns
    /// the index of the first id without the pattern (nothing emitted for it or after).
    pub fn map_ids(
        &self,
        ids: Ids<'_>,
        slow: &impl Fn(usize, usize) -> Option<i64>,
        emit: impl FnMut(i64),
    ) -> Option<usize> {
        // SAFETY: the CPU has SSSE3 and SSE4.1 (checked when `self` was built).
        unsafe { self.map_ids_sse(ids, slow, emit) }
    }

    #[target_feature(enable = "ssse3,sse4.1")]
    fn map_ids_sse(
        &self,
        (offsets, values): Ids<'_>,
        slow: &impl Fn(usize, usize) -> Option<i64>,
        mut emit: impl FnMut(i64),
    ) -> Option<usize> {
        for (i, w) in offsets.windows(2).enumerate() {
            let (start, end) = (w[0] as usize, w[1] as usize);
            let number = match values.get(start..).and_then(<[u8]>::first_chunk::<16>) {
                Some(wide) if end.wrapping_sub(start) == self.len => self.number(wide),
                Some(_) => None,
                None => slow(start, end),
            };
            match number {
                Some(k) => emit(k),
                None => return Some(i),
            }
        }
        None
    }

    /// The number of the id starting `wide` (its length already checked), None when it does not
    /// have the pattern.
    #[inline]
    #[target_feature(enable = "ssse3,sse4.1")]
    fn number(&self, wide: &[u8; 16]) -> Option<i64> {
        // SAFETY: an unaligned load of the 16 bytes of `wide`.
        let id = _mm_and_si128(unsafe { _mm_loadu_si128(wide.as_ptr().cast()) }, self.bytes);
        // Prefix bytes become 0 and digits 0..=9 exactly when they are the pattern's: a byte b
        // has b ^ '0' <= 9 only for '0'..='9'.
        let delta = _mm_xor_si128(id, self.template);
        let fits = _mm_cmpeq_epi8(_mm_max_epu8(delta, self.limit), self.limit);
        if _mm_movemask_epi8(fits) != 0xFFFF {
            return None;
        }
        // Sixteen digit values, the most significant first (leading zeros for short numbers):
        // pairs (10a + b), fours (100 x pair + pair), eights (10,000 x four + four).
        let digits = _mm_shuffle_epi8(delta, self.align);
        let pairs = _mm_maddubs_epi16(digits, _mm_set1_epi16(0x010A));
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let fours = _mm_packus_epi32(fours, fours);
        let eights = _mm_madd_epi16(fours, _mm_set1_epi32(0x0001_2710));
        let high = _mm_cvtsi128_si32(eights) as u32;
        let low = _mm_extract_epi32::<1>(eights) as u32;
        Some(i64::from(high) * 100_000_000 + i64::from(low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parts::filled_in_parts;

    fn read(prefix: &str, digits: usize, ids: &[&str]) -> (Vec<i64>, Option<usize>) {
        let Some(sse) = SseDigits::new(prefix.as_bytes(), digits) else { return (Vec::new(), Some(usize::MAX)) };
        let mut values: Vec<u8> = Vec::new();
        let mut offsets = vec![0i32];
        for id in ids {
            values.extend_from_slice(id.as_bytes());
            offsets.push(values.len() as i32);
        }
        let slow = |start: usize, end: usize| -> Option<i64> {
            let id = std::str::from_utf8(&values[start..end]).ok()?;
            let rest =
                id.strip_prefix(prefix).filter(|r| r.len() == digits && r.bytes().all(|b| b.is_ascii_digit()))?;
            rest.parse().ok()
        };
        let stop = std::sync::Mutex::new(None);
        let got = filled_in_parts(vec![(ids.len(), ())], |(), part| {
            let at = sse.map_ids((&offsets, &values), &slow, |k| part.push(k));
            if let Some(i) = at {
                part.extend(std::iter::repeat_n(-1, ids.len() - i));
            }
            *stop.lock().expect("one task") = at;
        })
        .expect("filled");
        (got, stop.into_inner().expect("one task"))
    }

    #[test]
    fn ids_of_the_pattern_read_as_their_numbers() {
        let ids = ["acct-0001234", "acct-9999999", "acct-0000000", "acct-0420000"];
        assert_eq!(read("acct-", 7, &ids), (vec![1234, 9_999_999, 0, 420_000], None));
        let ids = ["1234567890123456", "0000000000000001", "9999999999999999"];
        assert_eq!(read("", 16, &ids), (vec![1_234_567_890_123_456, 1, 9_999_999_999_999_999], None));
        assert_eq!(read("C", 5, &["C01145", "C00000", "C99999"]), (vec![1145, 0, 99999], None));
        assert_eq!(read("", 1, &["7", "0"]), (vec![7, 0], None));
    }

    #[test]
    fn ids_off_the_pattern_stop_the_reading() {
        for bad in [
            "acct-000123",
            "acct-00012345",
            "acct-000123a",
            "acct-00012:4",
            "acct-00012/4",
            "Acct-0001234",
            "acct_0001234",
        ] {
            let (got, stop) = read("acct-", 7, &["acct-0000001", bad, "acct-0000002"]);
            assert_eq!((got, stop), (vec![1, -1, -1], Some(1)), "{bad}");
        }
        // Bytes past the id's end never count, whatever they are.
        assert_eq!(read("U", 3, &["U123", "U4567"]), (vec![123, -1], Some(1)));
        assert_eq!(read("U", 3, &["U123", "U456", "X"]), (vec![123, 456, -1], Some(2)));
    }
}
