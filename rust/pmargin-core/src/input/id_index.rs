//! Fast lookups of short string ids (instrument and account ids are mostly 8-16 bytes): byte
//! equality without a call into memcmp, and a small open-addressing index from id to row.
//! Every position row resolves its instrument through [`IdIndex::get`], so this is a hot path.

/// The 8 bytes of `b` at `at` as one word.
#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The bytes of `b` (shorter than 8) as one zero-padded little-endian word, from two overlapping
/// loads instead of a variable-length copy (a call into memcpy per id).
#[inline]
fn short_word(b: &[u8]) -> u64 {
    let len = b.len();
    debug_assert!(len < 8);
    if len >= 4 {
        let half = |at: usize| u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]));
        // The overlapping bytes are the same in both halves, so or-ing them is exact.
        half(0) | half(len - 4) << ((len - 4) * 8)
    } else if len > 0 {
        u64::from(b[0]) | u64::from(b[len / 2]) << (len / 2 * 8) | u64::from(b[len - 1]) << ((len - 1) * 8)
    } else {
        0
    }
}

/// `a == b` for byte strings; 8 to 16 bytes compare as two overlapping words.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
}

/// An id's length and its first and last 8 bytes (zero-padded when shorter): for ids of at most
/// 16 bytes these determine the id, so most lookups never touch the id's own bytes.
/// The length is kept as u32 (an id of 4 GiB is not an id) so that a fingerprint and a number pack
/// into 24 bytes (`input::id_table`); ids over 16 bytes are always compared in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint {
    len: u32,
    first: u64,
    last: u64,
}

impl Fingerprint {
    #[inline]
    pub(crate) fn of(b: &[u8]) -> Fingerprint {
        let len = b.len();
        if len >= 8 {
            return Fingerprint { len: len as u32, first: word(b, 0), last: word(b, len - 8) };
        }
        Fingerprint { len: len as u32, first: short_word(b), last: 0 }
    }

    /// `(len, first, last)`, for tables that pack them with a number (`input::id_table`).
    #[inline]
    pub(crate) fn parts(&self) -> (u32, u64, u64) {
        (self.len, self.first, self.last)
    }

    #[inline]
    fn hash(&self) -> u64 {
        let mixed = self.first ^ self.last.rotate_left(29) ^ (self.len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Fold the high half in before the multiply, so differences anywhere reach the top bits.
        (mixed ^ (mixed >> 32)).wrapping_mul(0xFF51_AFD7_ED55_8CCD)
    }
}

/// Row of each distinct id, by linear probing in a table at most half full.
#[derive(Debug, Default)]
pub struct IdIndex {
    ids: Vec<String>,
    /// Per slot: the id's fingerprint and row + 1 (0: empty).
    slots: Vec<(Fingerprint, u32)>,
    shift: u32,
}

impl IdIndex {
    /// Index of `ids` (distinct; the caller has checked) by their position.
    pub fn new(ids: Vec<String>) -> IdIndex {
        let bits = (2 * ids.len().max(1)).next_power_of_two().trailing_zeros().max(4);
        let mut index = IdIndex { ids, slots: vec![(Fingerprint::default(), 0); 1 << bits], shift: 64 - bits };
        for row in 0..index.ids.len() {
            let print = Fingerprint::of(index.ids[row].as_bytes());
            let mut slot = index.home(&print);
            while index.slots[slot].1 != 0 {
                slot = (slot + 1) & (index.slots.len() - 1);
            }
            index.slots[slot] = (print, row as u32 + 1);
        }
        index
    }

    #[inline]
    fn home(&self, print: &Fingerprint) -> usize {
        (print.hash() >> self.shift) as usize
    }

    /// Always inlined: it runs once per position row, and as a call it spends a fifth of its
    /// instructions saving and restoring registers.
    #[inline(always)]
    pub fn get(&self, id: &str) -> Option<u32> {
        let id = id.as_bytes();
        let print = Fingerprint::of(id);
        let mut slot = self.home(&print);
        loop {
            let (stored, row) = &self.slots[slot];
            let row = row.checked_sub(1)?;
            if *stored == print && (id.len() <= 16 || self.ids[row as usize].as_bytes() == id) {
                return Some(row);
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_id_and_rejects_others() {
        let ids: Vec<String> = (0..500)
            .map(|i| match i % 4 {
                0 => format!("BTC-{i}"),
                1 => format!("ETH-30D-{:05}-C", i * 7),
                2 => format!("a-very-long-instrument-identifier-{i}"),
                _ => format!("{i}"),
            })
            .collect();
        let index = IdIndex::new(ids.clone());
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), Some(row as u32), "{id}");
        }
        for other in ["", "BTC-", "ETH-30D-00007-P", "a-very-long-instrument-identifier-3", "x"] {
            assert_eq!(index.get(other), None, "{other}");
        }
        assert_eq!(IdIndex::new(Vec::new()).get("a"), None);
    }

    #[test]
    fn short_words_are_the_zero_padded_bytes() {
        let text = b"abcdefg";
        for len in 0..8 {
            let mut w = [0u8; 8];
            w[..len].copy_from_slice(&text[..len]);
            assert_eq!(short_word(&text[..len]), u64::from_le_bytes(w), "{len}");
        }
    }

    #[test]
    fn same_bytes_is_equality() {
        let words = ["", "a", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq"];
        for a in words {
            for b in words {
                assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), a == b);
            }
            let mut c = a.as_bytes().to_vec();
            if let Some(x) = c.get_mut(a.len() / 2) {
                *x ^= 1;
                assert!(!same_bytes(a.as_bytes(), &c));
            }
        }
    }

    #[test]
    fn long_ids_with_the_same_ends_are_told_apart() {
        // Same length, same first and last 8 bytes: only the middle differs, so the fingerprints
        // collide and the lookup must compare the ids themselves.
        let ids: Vec<String> =
            ["AAAAAAAA-x-BBBBBBBB", "AAAAAAAA-y-BBBBBBBB", "AAAAAAAA-z-BBBBBBBB"].map(String::from).into();
        let index = IdIndex::new(ids.clone());
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), Some(row as u32), "{id}");
        }
        assert_eq!(index.get("AAAAAAAA-w-BBBBBBBB"), None);
        assert_eq!(index.ids(), ids.as_slice());
    }
}
