//! The positions table, grouped into accounts and netted per (account, instrument), in a
//! canonical order that no row order or batch split can change (docs/methods.md, "Canonical
//! order"):
//!
//! - accounts keep the order of their first row (output order only: no number depends on it);
//! - within an account, netted positions are ordered by instrument row (instruments table), and
//!   the rows of one (account, instrument) add up to their correctly rounded sum
//!   ([`exact_sum`]), which no order of the rows changes;
//! - a position that nets to exactly zero is not held: it is dropped, and its instrument's
//!   market problems (expired, no vol, no market row) are not raised for it. An account whose
//!   positions all net to zero keeps its (empty) place.
//!
//! Every later sum (groups, P&L, gross) runs over this order, so results are bit-identical under
//! any permutation of the rows.

use arrow_array::{Array, StringArray};
use arrow_buffer::ScalarBuffer;
use hashbrown::HashMap;
use rayon::prelude::*;

use crate::domain::by_account;
use crate::domain::dense_ids::{self, DenseNumbering};
use crate::domain::exact_sum::exact_sum;
use crate::domain::id_pattern;
use crate::domain::instruments::Instruments;
use crate::error::{MarginError, Result};
use crate::input::id_index;
use crate::input::id_table::{IdTable, Probe};
use crate::input::parts::filled_in_parts;
use crate::input::table::Table;

const TABLE: &str = "positions";

/// Instrument row of a position whose instrument id is not in the instruments table.
const UNKNOWN: u32 = u32::MAX;

/// What an account holding an unknown or unusable instrument does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    /// The run fails with the first such problem in row order (the default).
    #[default]
    Raise,
    /// The account is left out of the book and reported in [`Book::failed`].
    Isolate,
}

impl OnError {
    pub fn parse(name: &str) -> Result<OnError> {
        match name {
            "raise" => Ok(OnError::Raise),
            "isolate" => Ok(OnError::Isolate),
            other => Err(MarginError::Config {
                field: "on_error".into(),
                reason: format!("must be 'raise' or 'isolate', got '{other}'"),
            }),
        }
    }
}

/// An account left out of the book (`OnError::Isolate`): its first row and its first problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub first_row: usize,
    pub error: MarginError,
}

/// Accounts as a CSR structure over netted positions.
#[derive(Debug, Default)]
pub struct Book {
    /// Input row (global, across batches) where each account first appears.
    pub first_row: Vec<usize>,
    /// Account `a` owns netted positions `offsets[a]..offsets[a+1]`.
    pub offsets: Vec<usize>,
    /// Instrument row of each netted position (an Arrow buffer: result tables share it).
    pub instrument: ScalarBuffer<u32>,
    /// Net quantity of each netted position (shared by result tables too); never zero.
    pub quantity: ScalarBuffer<f64>,
    /// Accounts left out (`OnError::Isolate`), in order of their first row.
    pub failed: Vec<Failed>,
}

impl Book {
    pub fn n_accounts(&self) -> usize {
        self.first_row.len()
    }

    pub fn positions(&self, account: usize) -> std::ops::Range<usize> {
        self.offsets[account]..self.offsets[account + 1]
    }

    /// Each netted position's account number, in position order (result tables' `account_id`
    /// per position), filled in parallel, a run of accounts per task.
    pub fn position_accounts(&self) -> Result<Vec<u32>> {
        const ACCOUNTS_TASK: usize = 4096;
        let n = self.n_accounts();
        let runs = (0..n).step_by(ACCOUNTS_TASK).map(|a| a..(a + ACCOUNTS_TASK).min(n));
        let work = runs.map(|r| (self.offsets[r.end] - self.offsets[r.start], r)).collect();
        filled_in_parts(work, |r: std::ops::Range<usize>, part| {
            part.extend(r.flat_map(|a| self.positions(a).map(move |_| a as u32)))
        })
    }

    /// The net quantity account `a` holds of `instrument` (0 when it holds none).
    fn held(&self, a: usize, instrument: u32) -> f64 {
        let range = self.positions(a);
        match self.instrument[range.clone()].binary_search(&instrument) {
            Ok(k) => self.quantity[range.start + k],
            Err(_) => 0.0,
        }
    }
}

/// Read, validate and group the positions. `usable(instrument_row)` reports a market problem of
/// a held instrument (no underlying row, no vol, expired), raised for the first row (in row
/// order) of a position that holds it; an unknown instrument id is raised for its row whatever
/// its quantity. With `OnError::Isolate` such accounts are left out and listed in `failed`.
pub fn read_book(
    table: Table<'_>,
    instruments: &Instruments,
    usable: impl Fn(u32) -> Result<()> + Sync,
    on_error: OnError,
) -> Result<Book> {
    table.check_spelling(&["account_id", "instrument_id", "quantity"])?;
    // Numbering accounts and resolving instruments are independent: run them side by side.
    // Column errors keep the reference's order: account_id, instrument_id, quantity.
    let (codes, rows) = rayon::join(|| account_codes(table), || instrument_rows(table, instruments));
    let codes = codes?;
    let rows = rows?;
    let quantities = table.required_finite_values("quantity")?;
    let unusable: Vec<bool> = (0..instruments.len() as u32).map(|r| usable(r).is_err()).collect();
    let (book, flagged) = group_and_net(&codes, &rows, &quantities, &unusable)?;
    if flagged.is_empty() {
        return Ok(book);
    }
    let failed = first_problems(table, &codes, &rows, &book, &flagged, &usable)?;
    match on_error {
        OnError::Raise => {
            let first = failed.into_iter().min_by_key(|(row, _)| *row).map(|(_, e)| e);
            Err(first.unwrap_or_else(|| MarginError::Internal("a flagged account with no problem".into())))
        }
        OnError::Isolate => Ok(without_accounts(book, &flagged, failed)),
    }
}

/// The first problem (in row order) of each flagged account, with its row: an unknown
/// instrument, or a held instrument that `usable` rejects. Only runs when something failed.
fn first_problems(
    table: Table<'_>,
    codes: &AccountCodes,
    rows: &[u32],
    book: &Book,
    flagged: &[u32],
    usable: &impl Fn(u32) -> Result<()>,
) -> Result<Vec<(usize, MarginError)>> {
    let ids = table.required_strings("instrument_id")?;
    let mut slot: HashMap<u32, usize> = flagged.iter().enumerate().map(|(k, &a)| (a, k)).collect();
    let mut found: Vec<Option<(usize, MarginError)>> = vec![None; flagged.len()];
    for (row, (&a, &instrument)) in codes.code.iter().zip(rows).enumerate() {
        let Some(&k) = slot.get(&a) else { continue };
        let problem = if instrument == UNKNOWN {
            Some(MarginError::cell(TABLE, "instrument_id", row, format!("unknown instrument '{}'", ids[row])))
        } else if book.held(a as usize, instrument) != 0.0 {
            usable(instrument).err()
        } else {
            None
        };
        if let Some(error) = problem {
            found[k] = Some((row, error));
            slot.remove(&a);
        }
    }
    found
        .into_iter()
        .map(|f| f.ok_or_else(|| MarginError::Internal("a flagged account with no problem".into())))
        .collect()
}

/// The book without the `flagged` accounts (ascending), which go to `failed` with their problems.
fn without_accounts(book: Book, flagged: &[u32], problems: Vec<(usize, MarginError)>) -> Book {
    let n_kept = book.n_accounts() - flagged.len();
    let mut kept = Book { first_row: Vec::with_capacity(n_kept), offsets: vec![0], ..Book::default() };
    let (mut instrument, mut quantity) = (Vec::new(), Vec::new());
    let mut next_flagged = flagged.iter().peekable();
    for a in 0..book.n_accounts() {
        if next_flagged.next_if_eq(&&(a as u32)).is_some() {
            continue;
        }
        kept.first_row.push(book.first_row[a]);
        instrument.extend_from_slice(&book.instrument[book.positions(a)]);
        quantity.extend_from_slice(&book.quantity[book.positions(a)]);
        kept.offsets.push(instrument.len());
    }
    kept.instrument = instrument.into();
    kept.quantity = quantity.into();
    kept.failed = flagged
        .iter()
        .zip(problems)
        .map(|(&a, (_, error))| Failed { first_row: book.first_row[a as usize], error })
        .collect();
    kept
}

/// Instrument row of every position row, [`UNKNOWN`] for an id not in the instruments table;
/// the error is the column's own (missing, wrong type, null).
fn instrument_rows(table: Table<'_>, instruments: &Instruments) -> Result<Vec<u32>> {
    // Plain string ids are read in place; other encodings are first gathered as &str.
    if let Some(chunks) = table.plain_strings("instrument_id")? {
        // Ids of the instruments' numbered pattern are parsed into their rows, not hashed.
        if let Some(numbered) = instruments.numbered() {
            if let Some(rows) = numbered.rows_of(&chunks, UNKNOWN)? {
                return Ok(rows);
            }
        }
        if let [chunk] = chunks.as_slice() {
            return resolve_instruments(Array::len(*chunk), |i| chunk.value(i), instruments);
        }
        let mut rows = Vec::with_capacity(table.num_rows());
        for chunk in chunks {
            rows.extend(resolve_instruments(Array::len(chunk), |i| chunk.value(i), instruments)?);
        }
        return Ok(rows);
    }
    let gathered = table.required_strings("instrument_id")?;
    resolve_instruments(gathered.len(), |i| gathered[i], instruments)
}

/// Each row's account (numbered as [`read_book`] numbers accounts) and instrument row, for
/// pointing an error about a netted position at its rows. Unknown instruments get `u32::MAX`.
pub fn row_codes(table: Table<'_>, instruments: &Instruments) -> Result<(Vec<u32>, Vec<u32>)> {
    let codes = account_codes(table)?.code;
    let ids = table.required_strings("instrument_id")?;
    let rows = ids.iter().map(|id| instruments.row_of(id).unwrap_or(u32::MAX)).collect();
    Ok((codes, rows))
}

/// Dense account code per row, numbered in first-seen order.
struct AccountCodes {
    code: Vec<u32>,
    first_row: Vec<usize>,
    /// Each account's rows are contiguous (the usual layout): grouping is then the identity.
    contiguous: bool,
    /// Where each account's rows start in account order, when the numbering counted them.
    starts: Option<Vec<usize>>,
}

fn account_codes(table: Table<'_>) -> Result<AccountCodes> {
    const COL: &str = "account_id";
    if let Some(keys) = table.plain_i64(COL)? {
        // Int64 without nulls (the usual integer ids): read in place.
        return number_integers(&keys);
    }
    if table.is_integer(COL)? {
        let keys = table.integers(COL)?;
        // Result tables carry integer ids as int64 (docs/methods.md, "Inputs").
        let bad = keys.iter().position(|k| k.is_none_or(|k| i64::try_from(k).is_err()));
        if let Some(row) = bad {
            let reason = match keys[row] {
                None => "null is not allowed".to_owned(),
                Some(k) => format!("{k} does not fit an int64 (integer account ids are int64 in results)"),
            };
            return Err(MarginError::cell(TABLE, COL, row, reason));
        }
        let keys: Vec<i64> = keys.into_iter().flatten().map(|k| k as i64).collect();
        number_integers(&keys)
    } else if let Some(chunks) = table.plain_strings(COL)? {
        number_strings(&chunks)
    } else {
        let keys = table.required_strings(COL).map_err(|e| match e {
            MarginError::Input { row: None, .. } => {
                let dtype = table.schema().field_with_name(COL).map(|f| f.data_type().to_string()).unwrap_or_default();
                MarginError::column(TABLE, COL, format!("expected a string or integer column, got Arrow type {dtype}"))
            }
            other => other,
        })?;
        Ok(number_keys(keys.iter().copied(), table.num_rows()))
    }
}

/// First-seen numbering of a string column without nulls (`chunks`). Out of account order, ids
/// of one numbered pattern ("acct-0001234") are numbered as their numbers (equal exactly when the
/// ids are) instead of hashed. A book sorted by account is left to the string path: one
/// comparison per row numbers it.
fn number_strings(chunks: &[&StringArray]) -> Result<AccountCodes> {
    if !starts_sorted(chunks) {
        if let Some(keys) = id_pattern::numbers(chunks)? {
            return number_integers(&keys);
        }
    }
    if let [chunk] = chunks {
        let keys = |i: usize| chunk.value(i);
        return Ok(number_keys_split(&keys, Array::len(*chunk)));
    }
    let n = chunks.iter().map(|c| Array::len(*c)).sum();
    Ok(number_keys(chunks.iter().flat_map(|c| (0..Array::len(*c)).map(move |i| c.value(i))), n))
}

/// Each row's number and each number's first row, numbering a string column without nulls as a
/// book's account ids are numbered (a CRIF's account column out of account order).
pub fn number_string_column(chunks: &[&StringArray]) -> Result<(Vec<u32>, Vec<usize>)> {
    let codes = number_strings(chunks)?;
    Ok((codes.code, codes.first_row))
}

const CHUNK: usize = 1 << 14;

/// Rows whose order [`starts_sorted`] reads.
const SORTED_SAMPLE: usize = 4096;

/// Whether the first rows' ids ascend (in runs of one account), as a book sorted by account's
/// do. Only a choice of path: every path numbers the ids alike.
fn starts_sorted(chunks: &[&StringArray]) -> bool {
    let Some(first) = chunks.iter().find(|c| !c.is_empty()) else { return true };
    let n = first.len().min(SORTED_SAMPLE);
    (1..n).all(|i| first.value(i - 1) <= first.value(i))
}

/// First-seen numbering of integer ids: a direct table when their range is compact, else hashed.
fn number_integers(keys: &[i64]) -> Result<AccountCodes> {
    let Some((lo, span)) = id_pattern::dense_span(keys) else {
        return Ok(number_keys(keys.iter().map(|&k| i128::from(k)), keys.len()));
    };
    match dense_ids::number_in_parallel(keys, lo, span) {
        Some(numbered) => {
            let DenseNumbering { code, first_row, contiguous, starts } = numbered?;
            Ok(AccountCodes { code, first_row, contiguous, starts: Some(starts) })
        }
        None => Ok(number_dense(keys, lo, span)),
    }
}

/// Integer ids in a compact range (the usual 0..N or 1..N) numbered through a direct table
/// instead of a hash map: the same numbers as [`number_keys`] (first-seen order) without hashing,
/// which is most of the cost of a shuffled book.
fn number_dense(keys: &[i64], lo: i64, span: usize) -> AccountCodes {
    let mut slot = vec![u32::MAX; span];
    let mut code = Vec::with_capacity(keys.len());
    let mut first_row = Vec::new();
    let mut contiguous = true;
    let mut previous = None;
    for (row, &k) in keys.iter().enumerate() {
        // In range by construction: lo <= k and k - lo < span.
        let s = &mut slot[(i128::from(k) - i128::from(lo)) as usize];
        if *s == u32::MAX {
            *s = first_row.len() as u32;
            first_row.push(row);
        } else if previous != Some(k) {
            // A key seen before, after another key: this account's rows are split.
            contiguous = false;
        }
        previous = Some(k);
        code.push(*s);
    }
    AccountCodes { code, first_row, contiguous, starts: None }
}

/// An account key: equality with the previous row's key is tested on every row, so it is kept
/// cheap for the short string ids books use. Its [`FirstSeen`] numbers distinct keys.
trait Key: Copy + Ord {
    type Map: FirstSeen<Self>;

    #[inline]
    fn same(self, other: Self) -> bool {
        self == other
    }
}

/// Distinct keys numbered 0, 1, ... in the order they are first given.
trait FirstSeen<K> {
    /// What [`Self::look_ahead`] computes of a key for [`Self::number_probed`].
    type Probe;
    fn with_capacity(n: usize) -> Self;
    /// The key's number, and whether it is new (numbered `len()` before the call).
    fn number(&mut self, key: K) -> (u32, bool);
    /// Prepare the lookup of `key` (its hash, its slot fetched): the same numbers follow.
    fn look_ahead(&self, key: K) -> Self::Probe;
    /// [`Self::number`] of a key prepared by [`Self::look_ahead`].
    fn number_probed(&mut self, key: K, probe: Self::Probe) -> (u32, bool);
}

impl FirstSeen<i128> for HashMap<i128, u32> {
    type Probe = ();

    fn with_capacity(n: usize) -> Self {
        HashMap::with_capacity(n)
    }

    #[inline]
    fn number(&mut self, key: i128) -> (u32, bool) {
        let next = self.len() as u32;
        let mut new = false;
        let c = *self.entry(key).or_insert_with(|| {
            new = true;
            next
        });
        (c, new)
    }

    #[inline]
    fn look_ahead(&self, _: i128) {}

    #[inline]
    fn number_probed(&mut self, key: i128, (): ()) -> (u32, bool) {
        self.number(key)
    }
}

/// String ids go through fingerprints, which never read a stored id's bytes (`input::id_table`).
impl<'a> FirstSeen<&'a str> for IdTable<'a> {
    type Probe = Probe;

    fn with_capacity(n: usize) -> Self {
        IdTable::with_capacity(n)
    }

    #[inline(always)]
    fn number(&mut self, key: &'a str) -> (u32, bool) {
        IdTable::number(self, key)
    }

    #[inline(always)]
    fn look_ahead(&self, key: &'a str) -> Probe {
        IdTable::look_ahead(self, key)
    }

    #[inline(always)]
    fn number_probed(&mut self, key: &'a str, probe: Probe) -> (u32, bool) {
        IdTable::number_probed(self, key, probe)
    }
}

impl Key for i128 {
    type Map = HashMap<i128, u32>;
}

impl<'a> Key for &'a str {
    type Map = IdTable<'a>;

    #[inline]
    fn same(self, other: Self) -> bool {
        id_index::same_bytes(self.as_bytes(), other.as_bytes())
    }
}

/// First-seen numbering, and the map from key to number: None while the accounts' first keys
/// come in strictly increasing order (books sorted by account), which proves them distinct
/// without hashing. Consecutive rows of one account are compared with the previous row only,
/// so a book laid out account by account costs one comparison, or one lookup, per account.
/// `n` keys are given; a map, once needed, is reserved for `accounts` keys.
fn number_keys_mapped<K: Key>(
    keys: impl Iterator<Item = K> + Clone,
    n: usize,
    accounts: usize,
) -> (AccountCodes, Option<K::Map>) {
    let mut code = Vec::with_capacity(n);
    let mut first_row = Vec::new();
    // While sorted: each account's key, in order (they seed the map if the order breaks).
    let mut heads: Vec<K> = Vec::new();
    let mut previous: Option<(K, u32)> = None;
    let mut rows = keys.enumerate();
    let mut unsorted_at = None;
    for (row, key) in rows.by_ref() {
        let c = match previous {
            Some((k, c)) if k.same(key) => c,
            last if last.is_none_or(|(k, _)| k < key) => {
                first_row.push(row);
                heads.push(key);
                (first_row.len() - 1) as u32
            }
            _ => {
                unsorted_at = Some((row, key));
                break;
            }
        };
        previous = Some((key, c));
        code.push(c);
    }
    let Some((row, key)) = unsorted_at else {
        return (AccountCodes { code, first_row, contiguous: true, starts: None }, None);
    };
    let mut map = K::Map::with_capacity(accounts.max(heads.len()));
    for k in heads.drain(..) {
        map.number(k);
    }
    let rest = std::iter::once((row, key)).chain(rows);
    // The keys that need a lookup (those unlike the row before), LOOK_AHEAD of them probed
    // ahead of their turn, in the same order as the loop below meets them.
    let mut last = previous.map(|(k, _)| k);
    let mut lookups = rest.clone().map(|(_, k)| k).filter(move |&k| {
        let lookup = !last.is_some_and(|l| l.same(k));
        last = Some(k);
        lookup
    });
    let mut probes: std::collections::VecDeque<_> =
        lookups.by_ref().take(LOOK_AHEAD).map(|k| map.look_ahead(k)).collect();
    let mut contiguous = true;
    for (row, key) in rest {
        let c = match previous {
            Some((k, c)) if k.same(key) => c,
            _ => {
                let probe = probes.pop_front().unwrap_or_else(|| map.look_ahead(key));
                if let Some(next) = lookups.next() {
                    probes.push_back(map.look_ahead(next));
                }
                let (c, new) = map.number_probed(key, probe);
                if new {
                    first_row.push(row);
                } else {
                    // A key seen before, after another key: this account's rows are split.
                    contiguous = false;
                }
                c
            }
        };
        previous = Some((key, c));
        code.push(c);
    }
    (AccountCodes { code, first_row, contiguous, starts: None }, Some(map))
}

/// First-seen numbering of string ids out of order (a CRIF's account ids): each id's number, and
/// where each number's first id is. The numbering of a book's account ids, so the same work:
/// two halves in parallel, slots probed ahead.
pub fn number_ids(ids: &[&str]) -> (Vec<u32>, Vec<usize>) {
    let codes = number_keys_split(&|i| ids[i], ids.len());
    (codes.code, codes.first_row)
}

/// Lookups of a shuffled book probed ahead of their turn: enough to overlap the cache misses of
/// a table larger than the caches, few enough that the probed slots are still cached when used.
const LOOK_AHEAD: usize = 16;

fn number_keys<K: Key>(keys: impl Iterator<Item = K> + Clone, n: usize) -> AccountCodes {
    number_keys_mapped(keys, n, expected_accounts(n)).0
}

/// Books average several positions per account: maps are reserved for `n / 8` accounts.
fn expected_accounts(n_rows: usize) -> usize {
    n_rows / 8
}

/// [`number_keys`] on two halves in parallel (split at an account boundary), then merged: the
/// second half's accounts already seen in the first keep the first half's numbers, the others
/// are numbered after them in the second half's first-seen order. The result is the same as one
/// sequential pass.
fn number_keys_split<'a>(key: &(impl Fn(usize) -> &'a str + Sync), n: usize) -> AccountCodes {
    let mut split = n / 2;
    while split > 0 && split < n && key(split) == key(split - 1) {
        split += 1;
    }
    if split == 0 || split >= n || n < (1 << 16) {
        return number_keys((0..n).map(key), n);
    }
    // Each half of a shuffled book holds nearly every account: both reserve for the whole
    // book's (a half's own share would make its map grow, copying every slot, midway).
    let accounts = expected_accounts(n);
    let ((first, seen), (second, second_map)) = rayon::join(
        || number_keys_mapped((0..split).map(key), split, accounts),
        || number_keys_mapped((split..n).map(key), n - split, accounts),
    );
    let mut first_row = first.first_row;
    let mut contiguous = first.contiguous && second.contiguous;
    // Both halves sorted, the second starting after the first ends: all accounts are new.
    let disjoint_sorted = seen.is_none()
        && second_map.is_none()
        && key(first_row[first_row.len() - 1]) < key(split + second.first_row[0]);
    let remap: Vec<u32> = if disjoint_sorted {
        let offset = first_row.len() as u32;
        first_row.extend(second.first_row.iter().map(|&local_row| split + local_row));
        (0..second.first_row.len() as u32).map(|c| offset + c).collect()
    } else {
        let seen = seen.unwrap_or_else(|| {
            let mut table = IdTable::with_capacity(first_row.len());
            for &row in &first_row {
                table.number(key(row));
            }
            table
        });
        // The lookups (each a cache miss in a large table) in parallel; the numbering of the new
        // accounts, in the second half's first-seen order, after.
        let found: Vec<Option<u32>> = second.first_row.par_iter().map(|&local| seen.get(key(split + local))).collect();
        found
            .into_iter()
            .zip(&second.first_row)
            .map(|(found, &local_row)| match found {
                Some(c) => {
                    contiguous = false;
                    c
                }
                None => {
                    first_row.push(split + local_row);
                    (first_row.len() - 1) as u32
                }
            })
            .collect()
    };
    let mut code = first.code;
    code.par_extend(second.code.par_iter().map(|&c| remap[c as usize]));
    AccountCodes { code, first_row, contiguous, starts: None }
}

/// Instrument row of `id(i)` for i in 0..n, [`UNKNOWN`] when the id is not known.
fn resolve_instruments<'a>(
    n: usize,
    id: impl Fn(usize) -> &'a str + Sync,
    instruments: &Instruments,
) -> Result<Vec<u32>> {
    // Chunks of rows written in place (never zeroed first).
    let work = (0..n).step_by(CHUNK).map(|start| (CHUNK.min(n - start), start)).collect();
    filled_in_parts(work, |start, part| {
        part.extend((start..).take(CHUNK.min(n - start)).map(|i| instruments.row_of(id(i)).unwrap_or(UNKNOWN)));
    })
}

/// Each row's `(instrument, quantity)`, in account order.
type PackedRows = Vec<(u32, f64)>;

/// Where each account's rows start (CSR), and for a book whose accounts are not contiguous each
/// row's (instrument, quantity) moved into its account's place ([`by_account`], a parallel
/// stable counting sort): the netting then reads each account's rows in one run instead of
/// gathering them from all over the columns. The order of rows within an account does not
/// matter: netting orders them by instrument and adds the rows of one instrument exactly.
fn rows_by_account(
    codes: &AccountCodes,
    instrument: &[u32],
    quantity: &[f64],
) -> Result<(Vec<usize>, Option<PackedRows>)> {
    if codes.contiguous {
        // Each account one run, accounts numbered in row order: its rows start at its first
        // row (no pass over the rows).
        let starts = codes.first_row.iter().copied().chain([codes.code.len()]).collect();
        return Ok((starts, None));
    }
    let starts = match &codes.starts {
        Some(starts) => starts.clone(),
        None => by_account::account_starts(&codes.code, codes.first_row.len()),
    };
    let packed = by_account::rows_in_account_order(&codes.code, &starts, instrument, quantity)?;
    Ok((starts, Some(packed)))
}

/// One task's accounts, netted: instruments, quantities, position count per account, and the
/// accounts holding an unknown or unusable instrument.
type Piece = (Vec<u32>, Vec<f64>, Vec<usize>, Vec<u32>);

/// Group rows by account, then net each account's rows per instrument in canonical order, in
/// parallel over chunks of accounts writing flat arrays (no per-account allocation survives).
/// Also returns the accounts (ascending) that hold an unknown instrument (any quantity) or an
/// `unusable` one (a non-zero net).
fn group_and_net(
    codes: &AccountCodes,
    instrument: &[u32],
    quantity: &[f64],
    unusable: &[bool],
) -> Result<(Book, Vec<u32>)> {
    const ACCOUNTS_PER_TASK: usize = 2048;
    let n_accounts = codes.first_row.len();
    let (starts, packed) = rows_by_account(codes, instrument, quantity)?;
    let pieces: Vec<Piece> = (0..n_accounts.div_ceil(ACCOUNTS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let accounts = task * ACCOUNTS_PER_TASK..((task + 1) * ACCOUNTS_PER_TASK).min(n_accounts);
            let rows = starts[accounts.end] - starts[accounts.start];
            let (mut ins, mut qty, mut counts) = (Vec::with_capacity(rows), Vec::with_capacity(rows), Vec::new());
            let mut flagged = Vec::new();
            let mut scratch = NetScratch::default();
            let net = Netting { unusable };
            for a in accounts {
                let before = ins.len();
                let bad = match &packed {
                    Some(packed) => {
                        net.account(packed[starts[a]..starts[a + 1]].iter().copied(), &mut scratch, &mut ins, &mut qty)
                    }
                    None => net.account(
                        (starts[a]..starts[a + 1]).map(|r| (instrument[r], quantity[r])),
                        &mut scratch,
                        &mut ins,
                        &mut qty,
                    ),
                };
                if bad {
                    flagged.push(a as u32);
                }
                counts.push(ins.len() - before);
            }
            (ins, qty, counts, flagged)
        })
        .collect();
    // Concatenate the pieces in parallel, each into its own part of the final arrays.
    let instrument = filled_in_parts(pieces.iter().map(|p| (p.0.len(), &p.0)).collect(), |ins, part| {
        part.extend_from_slice(ins);
    });
    let quantity = filled_in_parts(pieces.iter().map(|p| (p.1.len(), &p.1)).collect(), |qty, part| {
        part.extend_from_slice(qty);
    });
    let mut offsets = Vec::with_capacity(n_accounts + 1);
    offsets.push(0);
    for count in pieces.iter().flat_map(|p| &p.2) {
        offsets.push(offsets[offsets.len() - 1] + count);
    }
    let flagged = pieces.iter().flat_map(|p| p.3.iter().copied()).collect();
    let book = Book {
        first_row: codes.first_row.clone(),
        offsets,
        instrument: instrument?.into(),
        quantity: quantity?.into(),
        failed: Vec::new(),
    };
    Ok((book, flagged))
}

/// Reusable buffers of one account's netting.
#[derive(Default)]
struct NetScratch {
    /// `instrument << 32 | k` per row, `k` the row's place in `quantity`: sorting these plain
    /// (distinct) integers orders the rows by instrument.
    keys: Vec<u64>,
    /// The keys in order, for [`sort_distinct`].
    sorted: Vec<u64>,
    quantity: Vec<f64>,
    duplicates: Vec<f64>,
}

/// Most keys [`sort_distinct`] places by counting.
const RANKED_KEYS: usize = 16;

/// Sort distinct keys. A few (an account's positions) in no particular order are each put at
/// their rank, the count of smaller keys: every pair is compared without a branch, where a
/// sort's comparisons would branch at random (a shuffled book's accounts). Keys that ascend but
/// for at most one step down, and more keys, go to the standard sort (its insertion then makes
/// few moves, with branches that predict well).
fn sort_distinct(keys: &mut [u64], sorted: &mut Vec<u64>) {
    if keys.len() > RANKED_KEYS || keys.windows(2).map(|w| usize::from(w[0] > w[1])).sum::<usize>() <= 1 {
        keys.sort_unstable();
        return;
    }
    sorted.clear();
    sorted.resize(keys.len(), 0);
    for &k in keys.iter() {
        let rank = keys.iter().map(|&x| usize::from(x < k)).sum::<usize>();
        sorted[rank] = k;
    }
    keys.copy_from_slice(sorted);
}

/// Each instrument's usability, shared by every account's netting.
struct Netting<'a> {
    unusable: &'a [bool],
}

impl Netting<'_> {
    /// Net one account's rows into `ins` / `qty` in canonical order: by instrument row, the
    /// rows of one instrument added exactly, zero nets dropped. True when the account holds an
    /// unknown instrument (any quantity) or an unusable one (a non-zero net).
    fn account(
        &self,
        rows: impl Iterator<Item = (u32, f64)>,
        scratch: &mut NetScratch,
        ins: &mut Vec<u32>,
        qty: &mut Vec<f64>,
    ) -> bool {
        let NetScratch { keys, sorted, quantity, duplicates } = scratch;
        keys.clear();
        quantity.clear();
        let mut bad = false;
        for (i, q) in rows {
            bad |= i == UNKNOWN;
            keys.push(u64::from(i) << 32 | quantity.len() as u64);
            quantity.push(q);
        }
        // Equal instruments are only the duplicates of one position, summed exactly below: the
        // order among them does not matter.
        sort_distinct(keys, sorted);
        let mut j = 0;
        while j < keys.len() {
            let i = (keys[j] >> 32) as u32;
            if i == UNKNOWN {
                break;
            }
            let mut end = j + 1;
            while end < keys.len() && (keys[end] >> 32) as u32 == i {
                end += 1;
            }
            let at = |k: u64| quantity[(k & 0xFFFF_FFFF) as usize];
            let q = if end == j + 1 {
                at(keys[j])
            } else {
                duplicates.clear();
                duplicates.extend(keys[j..end].iter().map(|&k| at(k)));
                exact_sum(duplicates)
            };
            if q != 0.0 {
                bad |= self.unusable[i as usize];
                ins.push(i);
                qty.push(q);
            }
            j = end;
        }
        bad
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::Int64Array;

    use super::*;
    use crate::test_support::Lcg;

    #[test]
    fn dense_integer_numbering_equals_the_map() {
        // Shuffled, split, repeated and contiguous layouts, with negative ids.
        let layouts: [Vec<i64>; 4] =
            [vec![5, 5, 3, 9, 3, 5, -2, 9], vec![1, 1, 2, 2, 3], vec![7, 6, 6, 5], vec![0, 0, 0]];
        for keys in layouts {
            let (lo, span) = id_pattern::dense_span(&keys).expect("compact");
            let dense = number_dense(&keys, lo, span);
            let mapped = number_keys(keys.iter().map(|&k| i128::from(k)), keys.len());
            assert_eq!(dense.code, mapped.code, "{keys:?}");
            assert_eq!(dense.first_row, mapped.first_row, "{keys:?}");
            assert_eq!(dense.contiguous, mapped.contiguous, "{keys:?}");
        }
    }
    use crate::domain::instruments::read_instruments;
    use crate::spec::OwnedTable;
    use crate::test_support::{floats, instruments, ints, positions, rebatched, strings, table, Inst};

    #[test]
    fn nets_in_instrument_order_and_drops_zero_nets() {
        let codes = AccountCodes { code: vec![0, 1, 0, 0, 1], first_row: vec![0, 1], contiguous: false, starts: None };
        let instrument = [6, 7, 5, 6, 7];
        let quantity = [1.0, 2.0, 3.0, 4.0, -2.0];
        let (book, flagged) = group_and_net(&codes, &instrument, &quantity, &[false; 8]).expect("filled");
        // Account 1 nets to zero: it keeps its place, with no position.
        assert_eq!(book.offsets, vec![0, 2, 2]);
        assert_eq!(book.instrument, vec![5, 6]);
        assert_eq!(book.quantity, vec![3.0, 5.0]);
        assert!(flagged.is_empty());
        // An unusable instrument flags only an account that holds it (non-zero net).
        let mut unusable = [false; 8];
        unusable[7] = true;
        assert!(group_and_net(&codes, &instrument, &quantity, &unusable).expect("filled").1.is_empty());
        unusable[5] = true;
        assert_eq!(group_and_net(&codes, &instrument, &quantity, &unusable).expect("filled").1, vec![0]);
    }

    #[test]
    fn contiguous_accounts_start_at_their_first_rows() {
        for (code, first_row) in [(vec![0, 0, 1, 2, 2, 2], vec![0, 2, 3]), (vec![0], vec![0]), (vec![], vec![])] {
            let codes = AccountCodes { code: code.clone(), first_row, contiguous: true, starts: None };
            let (starts, packed) =
                rows_by_account(&codes, &vec![0; code.len()], &vec![1.0; code.len()]).expect("counted");
            assert_eq!(starts, by_account::account_starts(&code, codes.first_row.len()));
            assert!(packed.is_none());
        }
    }

    #[test]
    fn netting_does_not_depend_on_row_order() {
        // A +1e6 / -1e6 pair with small quantities, in every rotation and reversed.
        let base = [(2, 1e6), (2, 0.1), (1, 3.0), (2, -1e6), (2, 0.2), (1, -1.0)];
        let mut expected = None;
        for rotation in 0..base.len() {
            for reverse in [false, true] {
                let mut rows = base.to_vec();
                rows.rotate_left(rotation);
                if reverse {
                    rows.reverse();
                }
                let codes = AccountCodes { code: vec![0; 6], first_row: vec![0], contiguous: true, starts: None };
                let (ins, qty): (Vec<u32>, Vec<f64>) = rows.into_iter().unzip();
                let (book, _) = group_and_net(&codes, &ins, &qty, &[false; 3]).expect("filled");
                let got = (book.instrument.to_vec(), book.quantity.to_vec());
                assert_eq!(got.0, vec![1, 2]);
                assert_eq!(got.1[1], 0.30000000000000004, "the exact sum, rounded once");
                assert_eq!(expected.get_or_insert(got.clone()), &got);
            }
        }
    }

    #[test]
    fn split_numbering_equals_one_pass() {
        let n = 200_000;
        // Accounts interleave across the split so both merge branches are exercised.
        let keys: Vec<String> = (0..n).map(|i| format!("a{}", (i / 3) % 70_001)).collect();
        let key = |i: usize| keys[i].as_str();
        let split = number_keys_split(&key, n);
        let single = number_keys((0..n).map(key), n);
        assert_eq!(split.code, single.code);
        assert_eq!(split.first_row, single.first_row);
        assert_eq!(split.contiguous, single.contiguous);
        // Sorted halves that overlap (the second restarts): must fall back to lookups.
        let restart: Vec<String> = (0..n).map(|i| format!("c{:06}", (i % (n / 2)) / 7)).collect();
        let key = |i: usize| restart[i].as_str();
        let split = number_keys_split(&key, n);
        let single = number_keys((0..n).map(key), n);
        assert_eq!((split.code, split.first_row, split.contiguous), (single.code, single.first_row, single.contiguous));
        assert!(!single.contiguous);
        let sorted: Vec<String> = (0..n).map(|i| format!("b{:06}", i / 10)).collect();
        let key = |i: usize| sorted[i].as_str();
        let split = number_keys_split(&key, n);
        assert!(split.contiguous);
        assert_eq!(split.code, number_keys((0..n).map(key), n).code);
    }

    /// Plain first-seen numbering, to check the sorted fast path and its fallback against.
    fn naive(keys: &[i128]) -> (Vec<u32>, Vec<usize>) {
        let mut seen: Vec<i128> = Vec::new();
        let mut first_row = Vec::new();
        let code = keys
            .iter()
            .enumerate()
            .map(|(row, k)| match seen.iter().position(|s| s == k) {
                Some(c) => c as u32,
                None => {
                    seen.push(*k);
                    first_row.push(row);
                    (seen.len() - 1) as u32
                }
            })
            .collect();
        (code, first_row)
    }

    #[test]
    fn sorted_fast_path_and_fallback_equal_plain_numbering() {
        let mut g = Lcg(7);
        for case in 0..200 {
            let n = 1 + case % 40;
            let keys: Vec<i128> = (0..n)
                .map(|i| {
                    // Mostly increasing runs, with occasional steps back and repeats.
                    let jitter = (g.next_u64() >> 60) as i128;
                    if case % 3 == 0 {
                        (i / 3) as i128
                    } else {
                        (i / 2) as i128 - jitter % 3
                    }
                })
                .collect();
            let codes = number_keys(keys.iter().copied(), n);
            let (code, first_row) = naive(&keys);
            assert_eq!((codes.code, codes.first_row), (code, first_row), "{keys:?}");
        }
    }

    #[test]
    fn looked_ahead_string_numbering_equals_plain_numbering() {
        // Sorted at first, then out of order: every later lookup is probed LOOK_AHEAD keys ahead,
        // runs of one account skip their probes, the table grows midway (all keys distinct),
        // and ids of more than 16 bytes are compared in full.
        let mut g = Lcg(11);
        for case in 0..60 {
            let n = 1 + (g.next_u64() % 400) as usize;
            let sorted_head = (g.next_u64() % 50) as usize;
            let distinct = 1 + (g.next_u64() % (n as u64 + 1)) as usize;
            let long = case % 2 == 1;
            let keys: Vec<String> = (0..n)
                .map(|i| {
                    let k = if i < sorted_head { i / 3 } else { (g.next_u64() % distinct as u64) as usize };
                    let repeat = if case % 3 == 0 && i > 0 { i - 1 } else { i };
                    let k = if repeat != i && g.next_u64().is_multiple_of(2) { (repeat / 3).min(k) } else { k };
                    if long {
                        format!("account-with-a-long-id-{k:05}")
                    } else {
                        format!("A{k:04}")
                    }
                })
                .collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let codes = number_keys(refs.iter().copied(), n);
            let mut numbers: Vec<&str> = Vec::new();
            let mut want_first_row = Vec::new();
            let want_code: Vec<u32> = refs
                .iter()
                .enumerate()
                .map(|(row, k)| match numbers.iter().position(|s| s == k) {
                    Some(c) => c as u32,
                    None => {
                        numbers.push(k);
                        want_first_row.push(row);
                        (numbers.len() - 1) as u32
                    }
                })
                .collect();
            // Contiguous: no account's rows come back after another account's.
            let runs = 1 + want_code.windows(2).filter(|w| w[0] != w[1]).count();
            assert_eq!((&codes.code, &codes.first_row), (&want_code, &want_first_row), "case {case}: {refs:?}");
            assert_eq!(codes.contiguous, runs == numbers.len(), "case {case}: {refs:?}");
        }
    }

    #[test]
    fn ranked_keys_sort_as_the_standard_sort() {
        // Every count up to past the ranked ones, unknown instruments (the top bit set) included.
        let mut g = Lcg(3);
        let mut sorted = Vec::new();
        for n in 0..=(RANKED_KEYS + 3) {
            for _ in 0..20 {
                let mut keys: Vec<u64> = (0..n)
                    .map(|k| {
                        let instrument =
                            if g.next_u64().is_multiple_of(7) { UNKNOWN } else { (g.next_u64() % 5) as u32 };
                        u64::from(instrument) << 32 | k as u64
                    })
                    .collect();
                let mut want = keys.clone();
                want.sort_unstable();
                // And the keys in order, rotated (one step down).
                let mut rotated = want.clone();
                rotated.rotate_left(n / 3);
                sort_distinct(&mut keys, &mut sorted);
                sort_distinct(&mut rotated, &mut sorted);
                assert_eq!((&keys, &rotated), (&want, &want));
            }
        }
    }

    #[test]
    fn patterned_ids_number_as_hashed_ids_do() {
        // Shuffled, sorted at first then shuffled (past the sorted sample), with a repeat of the
        // row before; some columns with one id off the pattern (hashed instead), in one batch
        // and across batches: always the plain first-seen numbering.
        let mut g = Lcg(5);
        for case in 0..48 {
            let n = 1 + (g.next_u64() % 9000) as usize;
            let distinct = 1 + (g.next_u64() % (n as u64)) as usize;
            let sorted_head = if case % 3 == 0 { SORTED_SAMPLE + 10 } else { 0 };
            let mut ids: Vec<String> = (0..n)
                .map(|i| {
                    let k = if i < sorted_head { i / 3 } else { (g.next_u64() % distinct as u64) as usize };
                    format!("acct-{k:07}")
                })
                .collect();
            if case % 4 == 1 {
                ids[n / 2] = format!("acct-{:06}", 1);
            }
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut seen = std::collections::HashMap::new();
            let mut want_first_row = Vec::new();
            let want_code: Vec<u32> = refs
                .iter()
                .enumerate()
                .map(|(row, id)| {
                    *seen.entry(*id).or_insert_with(|| {
                        want_first_row.push(row);
                        want_first_row.len() as u32 - 1
                    })
                })
                .collect();
            let runs = 1 + want_code.windows(2).filter(|w| w[0] != w[1]).count();
            // The shuffled columns all on the pattern take its path (the others are the control).
            let column = StringArray::from(refs.clone());
            let patterned = !starts_sorted(&[&column]) && id_pattern::numbers(&[&column]).expect("parts").is_some();
            let shuffled = sorted_head == 0 && refs.windows(2).any(|w| w[0] > w[1]);
            assert_eq!(patterned, shuffled && case % 4 != 1, "case {case}");
            let t = positions(&refs.iter().map(|id| (*id, "FA", 1.0)).collect::<Vec<_>>());
            for t in [t.clone(), rebatched(&t, 1 + n / 3)] {
                let codes = account_codes(t.view("positions")).expect("valid");
                assert_eq!((&codes.code, &codes.first_row), (&want_code, &want_first_row), "case {case}");
                assert_eq!(codes.contiguous, runs == want_first_row.len(), "case {case}");
            }
        }
    }

    #[test]
    fn numbers_keys_first_seen() {
        let keys = ["b", "b", "a", "b"];
        let codes = number_keys(keys.iter().copied(), 4);
        assert_eq!(codes.code, vec![0, 0, 1, 0]);
        assert_eq!(codes.first_row, vec![0, 2]);
        assert!(!codes.contiguous);
        let runs = number_keys([3, 3, 1, 2, 2].into_iter(), 5);
        assert!(runs.contiguous);
        assert_eq!(runs.code, vec![0, 0, 1, 2, 2]);
    }

    #[test]
    fn patterned_instrument_ids_resolve_as_hashed_ids_do() {
        let t = instruments(&[Inst::spot("C0003", "A"), Inst::spot("C0001", "A"), Inst::spot("C0007", "B")]);
        let ins = read_instruments(t.view("instruments")).expect("valid");
        assert!(ins.numbered().is_some());
        let hashed = |ids: &[&str]| ids.iter().map(|id| ins.row_of(id).unwrap_or(UNKNOWN)).collect::<Vec<_>>();
        // All patterned (one with no row), then one id off the pattern (the hashed path).
        for ids in [vec!["C0007", "C0001", "C0002", "C0003", "C0007"], vec!["C0007", "C1", "C0003"]] {
            let rows: Vec<(&str, &str, f64)> = ids.iter().map(|id| ("a", *id, 1.0)).collect();
            let p = positions(&rows);
            assert_eq!(instrument_rows(p.view("positions"), &ins).expect("rows"), hashed(&ids), "{ids:?}");
        }
        assert_eq!(hashed(&["C0007", "C0001", "C0002", "C0003"]), vec![2, 1, UNKNOWN, 0]);
    }

    /// Rows 0 `FA`, 1 `FB`, 2 `SA`.
    fn three_instruments() -> Instruments {
        let t = instruments(&[Inst::future("FA", "A", 30), Inst::future("FB", "B", 30), Inst::spot("SA", "A")]);
        read_instruments(t.view("instruments")).expect("valid")
    }

    fn read(t: &OwnedTable) -> Result<Book> {
        read_book(t.view("positions"), &three_instruments(), |_| Ok(()), OnError::Raise)
    }

    /// Each account's netted positions keyed by its id: what no row order may change.
    fn netted_by_id(t: &OwnedTable, book: &Book) -> Vec<(String, Vec<(u32, f64)>)> {
        let ids = t.view("positions").required_strings("account_id").expect("string ids");
        let mut out: Vec<(String, Vec<(u32, f64)>)> = (0..book.n_accounts())
            .map(|a| {
                let held = book.positions(a).map(|p| (book.instrument[p], book.quantity[p])).collect();
                (ids[book.first_row[a]].to_owned(), held)
            })
            .collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    }

    /// A seeded shuffle of `rows`.
    fn shuffled<T: Clone>(rows: &[T], seed: u64) -> Vec<T> {
        let mut g = Lcg(seed);
        let mut out = rows.to_vec();
        for i in (1..out.len()).rev() {
            out.swap(i, (g.next_u64() >> 33) as usize % (i + 1));
        }
        out
    }

    #[test]
    fn shuffled_books_group_and_net_alike() {
        // Small books (one numbering pass) and one over the split size (two halves merged);
        // duplicates of one (account, instrument) and ids of every length.
        for (n_accounts, per_account) in [(40, 7), (9_000, 8)] {
            let names = ["FA", "FB", "SA"];
            let mut rows: Vec<(String, &str, f64)> = Vec::new();
            for a in 0..n_accounts {
                let id = match a % 3 {
                    0 => format!("{a}"),
                    1 => format!("acct-{a:09}"),
                    _ => format!("a-long-account-identifier-{a}"),
                };
                for k in 0..per_account {
                    let q = if k == per_account - 1 && a % 5 == 0 { -1.0 } else { 0.25 * (k as f64 + 1.0) };
                    rows.push((id.clone(), names[(a + k) % 3], q));
                }
                if a % 5 == 0 {
                    // One more duplicate of the last row's instrument.
                    rows.push((id.clone(), names[(a + per_account - 1) % 3], 1.0 - 0.25 * per_account as f64 - 1.0));
                }
            }
            let as_table = |rows: &[(String, &str, f64)]| {
                let view: Vec<(&str, &str, f64)> = rows.iter().map(|(a, i, q)| (a.as_str(), *i, *q)).collect();
                positions(&view)
            };
            let sorted = as_table(&rows);
            let want = netted_by_id(&sorted, &read(&sorted).expect("valid"));
            assert_eq!(want.len(), n_accounts);
            for seed in [1, 2] {
                let t = as_table(&shuffled(&rows, seed));
                for t in [t.clone(), rebatched(&t, 1 + rows.len() / 3)] {
                    let book = read(&t).expect("valid");
                    assert_eq!(netted_by_id(&t, &book), want, "seed {seed}");
                    // Accounts in the order of their first row.
                    assert!(book.first_row.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }

    #[test]
    fn empty_and_one_row_books() {
        let book = read(&positions(&[])).expect("valid");
        assert_eq!((book.n_accounts(), book.offsets.clone(), book.instrument.len()), (0, vec![0], 0));
        let book = read(&positions(&[("only", "SA", -2.5)])).expect("valid");
        assert_eq!((book.first_row.clone(), book.offsets.clone()), (vec![0], vec![0, 1]));
        assert_eq!((book.instrument.to_vec(), book.quantity.to_vec()), (vec![2], vec![-2.5]));
        let book = read(&positions(&[("zero", "SA", 0.0)])).expect("valid");
        assert_eq!((book.n_accounts(), book.offsets.clone()), (1, vec![0, 0]));
    }

    #[test]
    fn reads_and_nets_a_table_across_batches() {
        let t =
            positions(&[("b", "FA", 1.0), ("a", "FB", 2.0), ("b", "FA", 3.0), ("b", "SA", -1.0), ("a", "FB", -2.0)]);
        for t in [t.clone(), rebatched(&t, 2)] {
            let book = read(&t).expect("valid");
            assert_eq!(book.first_row, vec![0, 1]);
            // Account "a" nets to zero: it keeps its place with no positions.
            assert_eq!(book.offsets, vec![0, 2, 2]);
            assert_eq!(book.instrument, vec![0, 2]);
            assert_eq!(book.quantity, vec![4.0, -1.0]);
            assert_eq!((book.n_accounts(), book.positions(1)), (2, 2..2));
        }
    }

    #[test]
    fn integer_account_ids_are_accounts_too() {
        let t = table(vec![
            ("account_id", ints(&[7, 3, 7])),
            ("instrument_id", strings(&["FA", "FA", "SA"])),
            ("quantity", floats(&[1.0, 2.0, 3.0])),
        ]);
        let book = read(&t).expect("valid");
        assert_eq!((book.first_row, book.offsets), (vec![0, 1], vec![0, 2, 3]));
        // Account 7's positions in instrument order.
        assert_eq!(book.instrument, vec![0, 2, 0]);
    }

    #[test]
    fn errors_name_column_and_row_in_the_reference_order() {
        let error = |t: &OwnedTable| read(t).expect_err("invalid").to_string();
        assert_eq!(
            error(&positions(&[("a", "FA", 1.0), ("a", "ZZ", 1.0)])),
            "positions.instrument_id, row 1: unknown instrument 'ZZ'"
        );
        assert_eq!(
            error(&positions(&[("a", "FA", 1.0), ("a", "FA", 1.0), ("b", "SA", f64::NAN)])),
            "positions.quantity, row 2: not a finite number: nan"
        );
        // The account column is checked before the instruments.
        let t = table(vec![
            ("account_id", Arc::new(Int64Array::from(vec![Some(1), None])) as _),
            ("instrument_id", strings(&["ZZ", "FA"])),
            ("quantity", floats(&[1.0, 1.0])),
        ]);
        assert_eq!(error(&t), "positions.account_id, row 1: null is not allowed");
        let t = table(vec![
            ("account_id", floats(&[1.0])),
            ("instrument_id", strings(&["FA"])),
            ("quantity", floats(&[1.0])),
        ]);
        assert_eq!(error(&t), "positions.account_id: expected a string or integer column, got Arrow type Float64");
        let t = table(vec![("account_id", strings(&["a"])), ("instrument_id", strings(&["FA"]))]);
        assert_eq!(error(&t), "positions.quantity: missing column");
        // An unusable instrument is reported for the first position holding it.
        let usable = |row: u32| {
            if row == 2 {
                Err(MarginError::cell("instruments", "expiry", 2, "expired"))
            } else {
                Ok(())
            }
        };
        let t = positions(&[("a", "FA", 1.0), ("a", "SA", 1.0)]);
        let err =
            read_book(t.view("positions"), &three_instruments(), usable, OnError::Raise).expect_err("SA is unusable");
        assert_eq!(err.to_string(), "instruments.expiry, row 2: expired");
        // A position netting to zero is not held: its instrument's problem is not raised.
        let t = positions(&[("a", "FA", 1.0), ("a", "SA", 1.0), ("a", "SA", -1.0)]);
        let book = read_book(t.view("positions"), &three_instruments(), usable, OnError::Raise).expect("SA not held");
        assert_eq!((book.instrument.to_vec(), book.quantity.to_vec()), (vec![0], vec![1.0]));
    }

    #[test]
    fn isolated_accounts_are_left_out_with_their_first_problem() {
        let usable = |row: u32| match row {
            2 => Err(MarginError::cell("instruments", "expiry", 2, "expired")),
            _ => Ok(()),
        };
        let t = positions(&[
            ("a", "FA", 1.0),
            ("b", "SA", 1.0),
            ("c", "FB", 2.0),
            ("d", "ZZ", 0.0),
            ("b", "YY", 1.0),
            ("e", "SA", 1.0),
            ("e", "SA", -1.0),
        ]);
        let err = read_book(t.view("positions"), &three_instruments(), usable, OnError::Raise).expect_err("strict");
        assert_eq!(err.to_string(), "instruments.expiry, row 2: expired");
        let book = read_book(t.view("positions"), &three_instruments(), usable, OnError::Isolate).expect("isolated");
        // a, c and e (which nets SA to zero) are margined; b and d failed.
        assert_eq!(book.first_row, vec![0, 2, 5]);
        assert_eq!(book.offsets, vec![0, 1, 2, 2]);
        assert_eq!((book.instrument.to_vec(), book.quantity.to_vec()), (vec![0, 1], vec![1.0, 2.0]));
        let failed: Vec<(usize, String)> = book.failed.iter().map(|f| (f.first_row, f.error.to_string())).collect();
        assert_eq!(
            failed,
            vec![
                (1, "instruments.expiry, row 2: expired".to_owned()),
                (3, "positions.instrument_id, row 3: unknown instrument 'ZZ'".to_owned()),
            ]
        );
        // Whole-table errors still raise.
        let t = table(vec![("account_id", strings(&["a"])), ("instrument_id", strings(&["FA"]))]);
        let err =
            read_book(t.view("positions"), &three_instruments(), usable, OnError::Isolate).expect_err("no column");
        assert_eq!(err.to_string(), "positions.quantity: missing column");
        assert!(OnError::parse("skip").is_err() && OnError::parse("isolate") == Ok(OnError::Isolate));
    }
}
