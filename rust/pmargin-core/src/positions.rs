//! The positions table, grouped into accounts and netted per (account, instrument).
//!
//! Accounts keep first-seen order; within an account, netted positions keep the order in which
//! their (account, instrument) pair first appears. Both engines sum in exactly this order.

use hashbrown::HashMap;
use rayon::prelude::*;

use crate::columns::Table;
use crate::error::{MarginError, Result};
use crate::instruments::Instruments;

const TABLE: &str = "positions";

/// Accounts as a CSR structure over netted positions.
#[derive(Debug, Default)]
pub struct Book {
    /// Input row (global, across batches) where each account first appears.
    pub first_row: Vec<usize>,
    /// Account `a` owns netted positions `offsets[a]..offsets[a+1]`.
    pub offsets: Vec<usize>,
    /// Instrument row of each netted position.
    pub instrument: Vec<u32>,
    /// Net quantity of each netted position.
    pub quantity: Vec<f64>,
}

impl Book {
    pub fn n_accounts(&self) -> usize {
        self.first_row.len()
    }

    pub fn positions(&self, account: usize) -> std::ops::Range<usize> {
        self.offsets[account]..self.offsets[account + 1]
    }
}

/// Read, validate and group the positions. `usable(instrument_row)` reports a market problem of
/// a held instrument (no underlying row, no vol, expired), raised for the first position using it.
pub fn read_book(
    table: Table<'_>,
    instruments: &Instruments,
    usable: impl Fn(u32) -> Result<()> + Sync,
) -> Result<Book> {
    let codes = account_codes(table)?;
    let ids = table.required_strings("instrument_id")?;
    let quantities = table.required_finite("quantity")?;
    let rows = resolve_instruments(&ids, instruments, &usable)?;
    Ok(group_and_net(&codes, &rows, &quantities))
}

/// Dense account code per row, numbered in first-seen order.
struct AccountCodes {
    code: Vec<u32>,
    first_row: Vec<usize>,
}

fn account_codes(table: Table<'_>) -> Result<AccountCodes> {
    const COL: &str = "account_id";
    if table.is_integer(COL)? {
        let keys = table.integers(COL)?;
        number_keys(&keys)
    } else {
        let keys = table.strings(COL).map_err(|_| {
            let dtype = table.schema().field_with_name(COL).map(|f| f.data_type().to_string()).unwrap_or_default();
            MarginError::column(TABLE, COL, format!("expected a string or integer column, got Arrow type {dtype}"))
        })?;
        number_keys(&keys)
    }
}

/// First-seen numbering; consecutive rows of one account skip the hash lookup.
fn number_keys<K: Copy + Eq + std::hash::Hash>(keys: &[Option<K>]) -> Result<AccountCodes> {
    let mut map: HashMap<K, u32> = HashMap::new();
    let mut code = Vec::with_capacity(keys.len());
    let mut first_row = Vec::new();
    let mut previous: Option<(K, u32)> = None;
    for (row, key) in keys.iter().enumerate() {
        let key = key.ok_or_else(|| MarginError::cell(TABLE, "account_id", row, "null is not allowed"))?;
        let c = match previous {
            Some((k, c)) if k == key => c,
            _ => *map.entry(key).or_insert_with(|| {
                first_row.push(row);
                (first_row.len() - 1) as u32
            }),
        };
        previous = Some((key, c));
        code.push(c);
    }
    Ok(AccountCodes { code, first_row })
}

/// Instrument row per position row; the error of the first row (in row order) that fails.
fn resolve_instruments(
    ids: &[&str],
    instruments: &Instruments,
    usable: &(impl Fn(u32) -> Result<()> + Sync),
) -> Result<Vec<u32>> {
    const CHUNK: usize = 1 << 14;
    let mut rows = vec![0u32; ids.len()];
    let first_error = rows
        .par_chunks_mut(CHUNK)
        .zip(ids.par_chunks(CHUNK))
        .enumerate()
        .filter_map(|(chunk, (out, ids))| {
            for (i, (slot, id)) in out.iter_mut().zip(ids).enumerate() {
                let row = chunk * CHUNK + i;
                let found = instruments.row_of(id).ok_or_else(|| {
                    MarginError::cell(TABLE, "instrument_id", row, format!("unknown instrument '{id}'"))
                });
                match found.and_then(|r| usable(r).map(|()| r)) {
                    Ok(r) => *slot = r,
                    Err(e) => return Some((row, e)),
                }
            }
            None
        })
        .min_by_key(|(row, _)| *row);
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(rows),
    }
}

/// Counting sort of rows by account (stable), then net each account's rows per instrument.
fn group_and_net(codes: &AccountCodes, instrument: &[u32], quantity: &[f64]) -> Book {
    let n_accounts = codes.first_row.len();
    let mut starts = vec![0usize; n_accounts + 1];
    for &c in &codes.code {
        starts[c as usize + 1] += 1;
    }
    for a in 0..n_accounts {
        starts[a + 1] += starts[a];
    }
    let mut fill = starts.clone();
    let mut order = vec![0usize; codes.code.len()];
    for (row, &c) in codes.code.iter().enumerate() {
        order[fill[c as usize]] = row;
        fill[c as usize] += 1;
    }

    let netted: Vec<Vec<(u32, f64)>> = (0..n_accounts)
        .into_par_iter()
        .with_min_len(256)
        .map(|a| net_rows(&order[starts[a]..starts[a + 1]], instrument, quantity))
        .collect();

    let total: usize = netted.iter().map(Vec::len).sum();
    let mut book = Book {
        first_row: codes.first_row.clone(),
        offsets: Vec::with_capacity(n_accounts + 1),
        instrument: Vec::with_capacity(total),
        quantity: Vec::with_capacity(total),
    };
    book.offsets.push(0);
    for positions in netted {
        for (i, q) in positions {
            book.instrument.push(i);
            book.quantity.push(q);
        }
        book.offsets.push(book.instrument.len());
    }
    book
}

/// Net one account's rows per instrument, keeping first-seen order; quantities add in row order.
fn net_rows(rows: &[usize], instrument: &[u32], quantity: &[f64]) -> Vec<(u32, f64)> {
    let mut out: Vec<(u32, f64)> = Vec::with_capacity(rows.len());
    if rows.len() <= 32 {
        for &r in rows {
            match out.iter_mut().find(|(i, _)| *i == instrument[r]) {
                Some((_, q)) => *q += quantity[r],
                None => out.push((instrument[r], quantity[r])),
            }
        }
    } else {
        let mut slot: HashMap<u32, usize> = HashMap::with_capacity(rows.len());
        for &r in rows {
            match slot.get(&instrument[r]) {
                Some(&k) => out[k].1 += quantity[r],
                None => {
                    slot.insert(instrument[r], out.len());
                    out.push((instrument[r], quantity[r]));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_and_keeps_first_seen_order() {
        let codes = AccountCodes { code: vec![0, 1, 0, 0, 1], first_row: vec![0, 1] };
        let instrument = [5, 7, 6, 5, 7];
        let quantity = [1.0, 2.0, 3.0, 4.0, -2.0];
        let book = group_and_net(&codes, &instrument, &quantity);
        assert_eq!(book.offsets, vec![0, 2, 3]);
        assert_eq!(book.instrument, vec![5, 6, 7]);
        assert_eq!(book.quantity, vec![5.0, 3.0, 0.0]);
    }

    #[test]
    fn numbers_keys_first_seen() {
        let keys = [Some("b"), Some("b"), Some("a"), Some("b")];
        let codes = number_keys(&keys).expect("no nulls");
        assert_eq!(codes.code, vec![0, 0, 1, 0]);
        assert_eq!(codes.first_row, vec![0, 2]);
        let err = number_keys(&[Some(1), None]).err().expect("null").to_string();
        assert_eq!(err, "positions.account_id, row 1: null is not allowed");
    }
}
