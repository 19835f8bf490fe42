//! First-seen numbering of string ids (account ids of a shuffled book): a hash table from an id's
//! fingerprint (`input::id_index`: its length and first and last 8 bytes) to its number.
//!
//! For ids of at most 16 bytes (the usual account ids) the fingerprint is the id itself, so a
//! lookup compares 24 bytes held in the table and never reads a stored id's bytes: one random
//! memory access per row (the table's slot) instead of two (slot, then the id's bytes somewhere in
//! the column). Longer ids are compared in full when their fingerprints agree.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::id_index::Fingerprint;

#[derive(Clone, Copy)]
struct Slot {
    print: Fingerprint,
    number: u32,
}

/// Distinct ids numbered 0, 1, ... in the order they were first given.
#[derive(Default)]
pub struct IdTable<'a> {
    table: HashTable<Slot>,
    /// Each id by number (for ids over 16 bytes, compared in full).
    ids: Vec<&'a str>,
    hasher: DefaultHashBuilder,
}

impl<'a> IdTable<'a> {
    pub fn with_capacity(n: usize) -> IdTable<'a> {
        IdTable {
            table: HashTable::with_capacity(n),
            ids: Vec::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    #[inline]
    fn hash(&self, id: &str, print: &Fingerprint) -> u64 {
        if print.is_whole() {
            self.hasher.hash_one(print)
        } else {
            self.hasher.hash_one(id)
        }
    }

    #[inline]
    fn same(ids: &[&str], slot: &Slot, id: &str, print: &Fingerprint) -> bool {
        slot.print == *print && (print.is_whole() || ids[slot.number as usize] == id)
    }

    /// The number of `id`, if it was given.
    #[inline]
    pub fn get(&self, id: &str) -> Option<u32> {
        let print = Fingerprint::of(id.as_bytes());
        let ids = &self.ids;
        self.table.find(self.hash(id, &print), |slot| Self::same(ids, slot, id, &print)).map(|slot| slot.number)
    }

    /// The number of `id`, and whether it is new (then numbered `len()` before the call).
    #[inline]
    pub fn number(&mut self, id: &'a str) -> (u32, bool) {
        let print = Fingerprint::of(id.as_bytes());
        let hash = self.hash(id, &print);
        let ids = &self.ids;
        let hasher = &self.hasher;
        let entry = self.table.entry(
            hash,
            |slot| Self::same(ids, slot, id, &print),
            |slot| {
                // Rehashing: a slot's hash from its fingerprint, or its id when longer.
                if slot.print.is_whole() {
                    hasher.hash_one(slot.print)
                } else {
                    hasher.hash_one(ids[slot.number as usize])
                }
            },
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(found) => (found.get().number, false),
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let number = self.ids.len() as u32;
                vacant.insert(Slot { print, number });
                self.ids.push(id);
                (number, true)
            }
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
    }
}
