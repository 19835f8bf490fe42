//! Short names looked up as integers: a name of up to 15 bytes is packed with its length into
//! one `u128` (read straight from an Arrow string buffer, no copy), and looked up in a small
//! open-addressing table by one multiply, so decoding a CRIF row compares no strings; the
//! multiplier is chosen so that every name has its own slot where one does (one probe, hit or
//! miss). Longer names go through an ordinary hash map.

use hashbrown::HashMap;

/// The longest name packed into a key.
const SHORT: usize = 15;

/// `bytes` (at most 15) packed little-endian into the low 120 bits, the length into the top 8.
#[inline]
pub fn key(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > SHORT {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    Some(u128::from_le_bytes(buf) | ((bytes.len() as u128) << 120))
}

/// The low `8 * len` bits set, for `len` in 0..16.
const MASKS: [u128; 16] = {
    let mut m = [0u128; 16];
    let mut i = 1;
    while i < 16 {
        m[i] = u128::MAX >> (128 - 8 * i);
        i += 1;
    }
    m
};

/// [`key`] of `values[start..end]`, reading 16 bytes at once when the buffer has them (the
/// bytes past `end` are masked off).
#[inline(always)]
pub fn key_in(values: &[u8], start: usize, end: usize) -> Option<u128> {
    // `end < start` wraps to a length past SHORT.
    let len = end.wrapping_sub(start);
    if len > SHORT {
        return None;
    }
    match values.get(start..).and_then(<[u8]>::first_chunk::<16>) {
        Some(wide) => Some((u128::from_le_bytes(*wide) & MASKS[len]) | ((len as u128) << 120)),
        None => key(values.get(start..end)?),
    }
}

/// A short name in an Arrow string buffer, to tell with one 16-byte load whether another cell
/// holds the same name ([`key_in`]'s reading, with the length and mask kept rather than looked up
/// for every cell).
#[derive(Clone, Copy)]
pub struct InPlace {
    len: usize,
    mask: u128,
    bytes: u128,
}

impl InPlace {
    /// The name of `values[start..end]`; None past [`SHORT`] bytes or within 16 bytes of the
    /// buffer's end.
    #[inline(always)]
    pub fn of(values: &[u8], start: usize, end: usize) -> Option<InPlace> {
        let len = end.wrapping_sub(start);
        let wide = values.get(start..)?.first_chunk::<16>()?;
        let mask = *MASKS.get(len)?;
        Some(InPlace { len, mask, bytes: u128::from_le_bytes(*wide) & mask })
    }

    /// Whether `values[start..end]` is the same name (false where it cannot be read as one).
    #[inline(always)]
    pub fn matches(&self, values: &[u8], start: usize, end: usize) -> bool {
        end.wrapping_sub(start) == self.len
            && values
                .get(start..)
                .and_then(<[u8]>::first_chunk::<16>)
                .is_some_and(|wide| u128::from_le_bytes(*wide) & self.mask == self.bytes)
    }
}

/// The first eight bytes of a keyed name, big-endian and zero-padded (the order of the names'
/// prefixes): a key's bytes past the name are zero already.
#[inline]
pub fn prefix(key: u128) -> u64 {
    (key as u64).swap_bytes()
}

/// Whether a keyed name is ASCII.
#[inline]
pub fn is_ascii(key: u128) -> bool {
    key & 0x0080_8080_8080_8080_8080_8080_8080_8080 == 0
}

/// A fixed set of names -> values; the first of equal names wins.
pub struct NameMap<T> {
    /// (key, value) per slot; [`EMPTY`] keys mark free slots (a probe then reads one key and no
    /// tag).
    slots: Vec<(u128, T)>,
    shift: u32,
    /// The hash's multiplier: the first of [`MULTIPLIERS`] that puts every short name in its
    /// own home slot, when one does (`perfect`).
    multiplier: u64,
    /// Every short name sits in its home slot: a lookup is one probe, hit or miss. CRIF labels
    /// (tenors, sub-curves, buckets) come in no order, so a second probe after a collision was
    /// a mispredicted branch on a share of the rows.
    perfect: bool,
    long: HashMap<Box<[u8]>, T>,
}

/// Multipliers tried for a collision-free table (odd, well-mixed 64-bit constants).
const MULTIPLIERS: [u64; 8] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0xD6E8_FEB8_6659_FD93,
    0xA076_1D64_78BD_642F,
    0xE703_7ED1_A0B4_28DB,
    0x8EBC_6AF0_9C88_C6E3,
    0x5899_65CC_7537_4CC3,
];

/// The key of a free slot: no name has it (a key's top byte is the name's length, at most 15).
const EMPTY: u128 = u128::MAX;

impl<T: Copy + Default> NameMap<T> {
    pub fn new<'n>(entries: impl IntoIterator<Item = (&'n [u8], T)>) -> Self {
        let entries: Vec<(&[u8], T)> = entries.into_iter().collect();
        let mut keys: Vec<u128> = entries.iter().filter_map(|(name, _)| key(name)).collect();
        keys.sort_unstable();
        keys.dedup();
        // The smallest table (at least twice the names, at most 16 times) and the first
        // multiplier without collisions; else the usual size and linear probing.
        let least = (2 * entries.len()).next_power_of_two().max(16);
        let perfect = (0..4).map(|doubling| least << doubling).find_map(|size| {
            let shift = 64 - size.trailing_zeros();
            MULTIPLIERS.iter().find(|&&m| distinct_homes(&keys, m, shift, size)).map(|&m| (size, m))
        });
        let (size, multiplier) = perfect.unwrap_or((least, MULTIPLIERS[0]));
        let mut map = NameMap {
            slots: vec![(EMPTY, T::default()); size],
            shift: 64 - size.trailing_zeros(),
            multiplier,
            perfect: perfect.is_some(),
            long: HashMap::new(),
        };
        for (name, value) in entries {
            match key(name) {
                Some(k) => {
                    let mut i = map.slot(k);
                    loop {
                        match map.slots[i].0 {
                            EMPTY => {
                                map.slots[i] = (k, value);
                                break;
                            }
                            other if other == k => break,
                            _ => i = (i + 1) & (size - 1),
                        }
                    }
                }
                None => {
                    map.long.entry(name.into()).or_insert(value);
                }
            }
        }
        map
    }
}

impl<T: Copy> NameMap<T> {
    #[inline(always)]
    fn slot(&self, k: u128) -> usize {
        home(k, self.multiplier, self.shift)
    }

    /// The value of a short name's key (inlined: it is the decode loop's one probe).
    #[inline(always)]
    pub fn get_key(&self, k: u128) -> Option<T> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(k);
        if self.perfect {
            let (other, v) = self.slots[i];
            return (other == k).then_some(v);
        }
        loop {
            match self.slots[i] {
                (other, v) if other == k => return Some(v),
                (EMPTY, _) => return None,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The value of any name.
    #[inline]
    pub fn get(&self, bytes: &[u8]) -> Option<T> {
        match key(bytes) {
            Some(k) => self.get_key(k),
            None => self.long.get(bytes).copied(),
        }
    }
}

/// The home slot of a key in a table of `64 - shift` bits.
#[inline(always)]
fn home(k: u128, multiplier: u64, shift: u32) -> usize {
    let x = (k as u64) ^ ((k >> 64) as u64).rotate_left(29);
    (x.wrapping_mul(multiplier) >> shift) as usize
}

/// Whether distinct `keys` all have different home slots.
fn distinct_homes(keys: &[u128], multiplier: u64, shift: u32, size: usize) -> bool {
    let mut taken = vec![false; size];
    keys.iter().all(|&k| !std::mem::replace(&mut taken[home(k, multiplier, shift)], true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_in_place_equal_keys_of_copies() {
        let buf = b"USDRisk_IRCurveResidual1yx";
        assert_eq!(key_in(buf, 0, 3), key(b"USD"));
        assert_eq!(key_in(buf, 3, 15), key(b"Risk_IRCurve"));
        // Near the end of the buffer: the copy path.
        assert_eq!(key_in(buf, 15, 23), key(b"Residual"));
        assert_eq!(key_in(buf, 23, 25), key(b"1y"));
        assert_eq!(key_in(buf, 25, 25), key(b""));
        assert_eq!(key_in(buf, 0, 16), None);
        assert_ne!(key(b"A"), key(b"A\0"));
        assert_eq!(key(b"0123456789abcdef"), None);
    }

    #[test]
    fn names_in_place_match_equal_names_only() {
        let buf = b"A0001A0001A0002A00010123456789abcdefA0001";
        let first = InPlace::of(buf, 0, 5).expect("short");
        assert!(first.matches(buf, 5, 10));
        assert!(!first.matches(buf, 10, 15));
        assert!(!first.matches(buf, 15, 19), "a prefix of the name is not the name");
        assert!(!first.matches(buf, 36, 41), "the same name within 16 bytes of the end: not read");
        assert!(InPlace::of(buf, 20, 36).is_none(), "sixteen bytes");
        assert!(InPlace::of(buf, 36, 41).is_none(), "within 16 bytes of the end");
        assert!(InPlace::of(buf, 5, 4).is_none(), "end before start");
    }

    #[test]
    fn prefix_is_the_big_endian_padded_head() {
        for name in ["", "A", "USD", "ABCDEFGH", "ABCDEFGHIJ"] {
            let mut head = [0u8; 8];
            let n = name.len().min(8);
            head[..n].copy_from_slice(&name.as_bytes()[..n]);
            assert_eq!(prefix(key(name.as_bytes()).unwrap_or(0)), u64::from_be_bytes(head), "{name}");
        }
        assert!(is_ascii(key(b"Risk_FX").unwrap_or(0)));
        assert!(!is_ascii(key("é".as_bytes()).unwrap_or(0)));
    }

    #[test]
    fn maps_find_short_and_long_names_first_wins() {
        let names: [&[u8]; 6] = [b"1y", b"2y", b"1y", b"Risk_CommodityVol", b"", b"Residual"];
        let map = NameMap::new(names.iter().enumerate().map(|(i, n)| (*n, i)));
        assert_eq!(map.get(b"1y"), Some(0));
        assert_eq!(map.get(b"2y"), Some(1));
        assert_eq!(map.get(b"Risk_CommodityVol"), Some(3));
        assert_eq!(map.get(b""), Some(4));
        assert_eq!(map.get(b"Residual"), Some(5));
        assert_eq!(map.get(b"3y"), None);
        assert_eq!(map.get(b"Risk_CommodityVo"), None);
        // Many names: probing finds each.
        let many: Vec<String> = (0..500).map(|i| format!("N{i}")).collect();
        let map = NameMap::new(many.iter().enumerate().map(|(i, n)| (n.as_bytes(), i)));
        for (i, n) in many.iter().enumerate() {
            assert_eq!(map.get(n.as_bytes()), Some(i));
        }
        assert_eq!(map.get(b"N500"), None);
        // Names without a pattern, too many for a table without collisions: probing.
        let mut x = 1u64;
        let scattered: Vec<String> = (0..5000)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                format!("{:x}", x >> 8)
            })
            .collect();
        let map = NameMap::new(scattered.iter().enumerate().map(|(i, n)| (n.as_bytes(), i)));
        assert!(!map.perfect);
        for (i, n) in scattered.iter().enumerate() {
            assert_eq!(map.get(n.as_bytes()), Some(i));
        }
        assert_eq!(map.get(b"N500"), None);
    }

    #[test]
    fn small_sets_get_one_probe_tables() {
        let tenors = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"];
        let curves = ["OIS", "Libor1m", "Libor3m", "Libor6m", "Libor12m", "Prime", "Municipal"];
        for names in [&tenors[..], &curves[..], &["RatesFX", "Credit", "Equity", "Commodity"][..]] {
            let map = NameMap::new(names.iter().enumerate().map(|(i, n)| (n.as_bytes(), i)));
            assert!(map.perfect, "{names:?}");
            for (i, n) in names.iter().enumerate() {
                assert_eq!(map.get(n.as_bytes()), Some(i));
            }
            // A miss whose home slot holds another name, or nothing.
            for other in ["", "1Y", "4y", "OIS ", "Libor", "Rates"] {
                assert_eq!(map.get(other.as_bytes()), None, "{other}");
            }
        }
    }
}
