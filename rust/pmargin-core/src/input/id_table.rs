//! First-seen numbering of string ids (account ids of a shuffled book): an open-addressing table
//! from an id's fingerprint (`input::id_index`: its length and first and last 8 bytes) to its
//! number.
//!
//! For ids of at most 16 bytes (the usual account ids) the fingerprint is the id itself, so a
//! lookup compares the 20 bytes held in the slot and never reads a stored id's bytes: one random
//! memory access per row (the slot) instead of two (slot, then the id's bytes somewhere in the
//! column). Longer ids are hashed and, when their fingerprints agree, compared in full. The table
//! is written for this one job (24-byte slots, linear probing, the hash inline in the caller's
//! loop): numbering is the most expensive step of reading a shuffled book of string ids.

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

use super::id_index::Fingerprint;
use super::prefetch::prefetch;

/// One slot: an id's fingerprint and its number + 1 (0: empty).
#[derive(Clone, Copy, Default)]
struct Slot {
    first: u64,
    last: u64,
    len: u32,
    number: u32,
}

/// An id's fingerprint and hash; [`IdTable::look_ahead`] computes one ahead of its lookup.
#[derive(Clone, Copy)]
pub struct Probe {
    parts: (u32, u64, u64),
    hash: u64,
}

/// Distinct ids numbered 0, 1, ... in the order they were first given.
pub struct IdTable<'a> {
    slots: Vec<Slot>,
    /// Slot of a hash: its top bits (`hash >> shift`).
    shift: u32,
    /// Each id by number (for ids over 16 bytes, compared in full; and for growing).
    ids: Vec<&'a str>,
    /// Seeded per table: ids crafted to collide cannot make numbering quadratic.
    hasher: DefaultHashBuilder,
}

impl Default for IdTable<'_> {
    fn default() -> Self {
        IdTable::with_capacity(0)
    }
}

impl<'a> IdTable<'a> {
    pub fn with_capacity(n: usize) -> IdTable<'a> {
        // At most half full: short probe runs.
        let bits = (2 * n.max(1)).next_power_of_two().trailing_zeros().max(4);
        IdTable {
            slots: vec![Slot::default(); 1 << bits],
            shift: 64 - bits,
            ids: Vec::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// An id's fingerprint `(len, first, last)` and hash: ids of at most 16 bytes hash their
    /// fingerprint (which is the whole id), longer ones all their bytes.
    #[inline(always)]
    fn key_of(&self, id: &str) -> Probe {
        let b = id.as_bytes();
        let parts = Fingerprint::of(b).parts();
        let hash = if b.len() <= 16 { self.hasher.hash_one(parts) } else { self.hasher.hash_one(b) };
        Probe { parts, hash }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The slot holding `id` (of fingerprint `parts` and hash `hash`), or the empty slot where
    /// it would go.
    #[inline(always)]
    fn find(&self, id: &str, (len, first, last): (u32, u64, u64), hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = (hash >> self.shift) as usize;
        loop {
            let slot = &self.slots[at];
            if slot.number == 0
                || (slot.first == first
                    && slot.last == last
                    && slot.len == len
                    && (len <= 16 || self.ids[slot.number as usize - 1] == id))
            {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// The number of `id`, if it was given.
    #[inline]
    pub fn get(&self, id: &str) -> Option<u32> {
        let Probe { parts, hash } = self.key_of(id);
        self.slots[self.find(id, parts, hash)].number.checked_sub(1)
    }

    /// The number of `id`, and whether it is new (then numbered `len()` before the call).
    #[inline(always)]
    pub fn number(&mut self, id: &'a str) -> (u32, bool) {
        self.number_probed(id, self.key_of(id))
    }

    /// `id`'s probe for a later [`Self::number_probed`], its slot requested from memory now. In
    /// a shuffled book nearly every row's slot is a cache miss; requesting the slots of the next
    /// rows while this one is numbered overlaps those misses instead of waiting for each in turn.
    #[inline(always)]
    pub fn look_ahead(&self, id: &str) -> Probe {
        let probe = self.key_of(id);
        prefetch(&self.slots[(probe.hash >> self.shift) as usize]);
        probe
    }

    /// [`Self::number`] of `id` from its probe (made by [`Self::look_ahead`] on this table; a
    /// probe made before the table grew still holds the right hash).
    /// Always inlined: it runs once per row of a shuffled book, and as a call it spent a third
    /// of its instructions saving and restoring registers.
    #[inline(always)]
    pub fn number_probed(&mut self, id: &'a str, Probe { parts, hash }: Probe) -> (u32, bool) {
        let at = self.find(id, parts, hash);
        let found = self.slots[at].number;
        if found != 0 {
            return (found - 1, false);
        }
        let number = self.ids.len() as u32;
        let (len, first, last) = parts;
        self.slots[at] = Slot { first, last, len, number: number + 1 };
        self.ids.push(id);
        if 2 * self.ids.len() > self.slots.len() {
            self.grow();
        }
        (number, true)
    }

    /// Twice the slots, every id placed again.
    #[cold]
    fn grow(&mut self) {
        let bits = 64 - self.shift + 1;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); 1 << bits]);
        self.shift = 64 - bits;
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.number != 0) {
            let mut at = (self.key_of(self.ids[slot.number as usize - 1]).hash >> self.shift) as usize;
            while self.slots[at].number != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_ids_first_seen() {
        let mut t = IdTable::with_capacity(0);
        assert!(t.is_empty() && t.get("a").is_none());
        let ids = ["b", "acct-0000001", "b", "", "acct-0000002", "", "acct-0000001"];
        let got: Vec<(u32, bool)> = ids.iter().map(|id| t.number(id)).collect();
        assert_eq!(got, vec![(0, true), (1, true), (0, false), (2, true), (3, true), (2, false), (1, false)]);
        assert_eq!((t.len(), t.get("acct-0000002"), t.get("acct-0000003")), (4, Some(3), None));
    }

    #[test]
    fn long_ids_with_the_same_ends_are_told_apart() {
        // Same length and the same first and last 8 bytes: equal fingerprints, different ids.
        let ids = ["AAAAAAAA-x-BBBBBBBB", "AAAAAAAA-y-BBBBBBBB", "AAAAAAAA-x-BBBBBBBB", "AAAAAAAA-z-BBBBBBBB"];
        let mut t = IdTable::with_capacity(1);
        let got: Vec<u32> = ids.iter().map(|id| t.number(id).0).collect();
        assert_eq!(got, vec![0, 1, 0, 2]);
        assert_eq!(t.get("AAAAAAAA-w-BBBBBBBB"), None);
        assert_eq!(t.get("AAAAAAAA-z-BBBBBBBB"), Some(2));
        // Their hashes differ (the middle is hashed), so they do not share one probe run.
        assert_ne!(t.key_of(ids[0]).hash, t.key_of(ids[1]).hash);
    }

    #[test]
    fn ids_whose_ends_cancel_do_not_share_a_hash() {
        // 16-byte ids whose first and last 8 bytes differ by the same bits (`first ^ last` is
        // 0x01 in every byte): a hash that combined the two words before mixing them would send
        // every one to the same probe run.
        let t = IdTable::with_capacity(0);
        let ids: Vec<String> = (0..64u32)
            .map(|i| {
                let first: Vec<u8> = (0..8).map(|j| b'A' + 2 * ((i >> j) & 1) as u8).collect();
                let last: Vec<u8> = first.iter().map(|c| c ^ 1).collect();
                String::from_utf8([first, last].concat()).expect("ASCII")
            })
            .collect();
        let mut hashes: Vec<u64> = ids.iter().map(|id| t.key_of(id).hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), ids.len());
    }

    #[test]
    fn many_ids_survive_growth() {
        // Starts small and grows many times; short, 16-byte and long ids mixed.
        let ids: Vec<String> = (0..50_000)
            .map(|i| match i % 3 {
                0 => format!("{i}"),
                1 => format!("acct-{i:011}"),
                _ => format!("client/{i}/portfolio/{}", i % 7),
            })
            .collect();
        let mut t = IdTable::with_capacity(0);
        for (k, id) in ids.iter().enumerate() {
            assert_eq!(t.number(id), (k as u32, true));
        }
        for (k, id) in ids.iter().enumerate().rev() {
            assert_eq!(t.number(id), (k as u32, false));
            assert_eq!(t.get(id), Some(k as u32));
        }
        assert_eq!(t.get("client/1/portfolio/2"), None);
    }
}
