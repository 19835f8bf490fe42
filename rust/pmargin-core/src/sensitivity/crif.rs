//! CRIF rows read, checked and grouped by account; each account's rows netted into SIMM risk
//! factors (docs/simm.md, "Risk factors"). A row's factor is (product class, risk type, bucket,
//! qualifier, tenor, sub-curve) with only the parts its risk type uses (equity and commodity delta
//! ignore Label1). Netting is a correctly rounded sum, so row order never changes a number.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use arrow_array::{Array, StringArray};
use rayon::prelude::*;

use crate::domain::book::{number_ids, number_string_column};
use crate::domain::by_account;
use crate::domain::exact_sum::exact_sum;
use crate::error::{MarginError, Result};
use crate::float_text::repr;
use crate::input::parts::{filled_in_parts, Part};
use crate::input::prefetch::prefetch;
use crate::input::Table;
use crate::sensitivity::intern::{self, NameMap};
use crate::sensitivity::params::{risk_type, SimmParams, CM, EQ, FX, IR, PRODUCT_CLASSES, RISK_TYPES, RISK_TYPE_NAMES};

pub const TABLE: &str = "crif";

/// The largest CRIF amount accepted, in magnitude. Real sensitivities are many orders below it
/// (1e18 of any currency); the bound keeps SIMM's sums of squared weighted sensitivities far
/// from overflow with the published parameters (docs/simm.md, "Input bounds").
pub const MAX_AMOUNT: f64 = 1e18;

/// One CRIF row, decoded.
#[derive(Clone, Copy, Default)]
pub struct Row<'a> {
    pub product_class: u8,
    pub risk_class: u8,
    pub vol: bool,
    /// Equity / commodity bucket index; 0 for IR and FX.
    pub bucket: u8,
    /// The qualifier's first eight bytes, big-endian and zero-padded: orders and tells apart most
    /// qualifiers without reading the string.
    pub qprefix: u64,
    pub qualifier: &'a str,
    /// Tenor index, -1 when the risk type has none.
    pub tenor: i8,
    /// Sub-curve index (IR delta), else 0.
    pub label2: u8,
    /// FX delta to the calculation currency: read, but not a risk.
    pub skip: bool,
}

impl<'a> Row<'a> {
    pub fn key(&self) -> (u8, u8, bool, u8, Qual<'a>, i8, u8) {
        let head = (self.product_class, self.risk_class, self.vol, self.bucket);
        (head.0, head.1, head.2, head.3, self.qual(), self.tenor, self.label2)
    }

    /// The factor group's part of [`Row::key`] (all but tenor and sub-curve).
    pub fn group_key(&self) -> (u8, u8, bool, u8, Qual<'a>) {
        (self.product_class, self.risk_class, self.vol, self.bucket, self.qual())
    }

    pub fn qual(&self) -> Qual<'a> {
        Qual { prefix: self.qprefix, name: self.qualifier }
    }
}

/// A qualifier with its prefix: equal when the prefixes and lengths are, the bytes compared only
/// past eight.
#[derive(Clone, Copy, Debug)]
pub struct Qual<'a> {
    pub prefix: u64,
    pub name: &'a str,
}

impl PartialEq for Qual<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.prefix == other.prefix
            && self.name.len() == other.name.len()
            && (self.name.len() <= 8 || self.name == other.name)
    }
}

/// One netted risk factor of one account: its rows are `keyed[start..end]` of [`factors`].
pub struct Factor<'a> {
    pub row: Row<'a>,
    pub start: u32,
    pub end: u32,
    pub amount: f64,
    /// The account's factor group (product class, risk class, vol, bucket and qualifier),
    /// numbered in factor order: equal exactly when those are, so a term finds its qualifiers'
    /// runs by comparing integers, not qualifiers.
    pub group: u32,
}

/// The CRIF read: its columns (rows are decoded by each account's worker, so no decoded copy of
/// the whole table is held), amounts, and the rows of each account (accounts sorted by id).
pub struct Crif<'a> {
    cols: Columns<Col<'a>>,
    /// Each batch's columns in place, when all six are plain (the usual layout): found once, not
    /// again at every change of batch (every row of a CRIF out of account order).
    plain: Vec<Option<Columns<Strs<'a>>>>,
    names: Lookups,
    /// First global row of each batch, and the total.
    batch_starts: Vec<usize>,
    /// Read in place when the column is one Float64 chunk without nulls (the usual layout).
    pub amounts: Cow<'a, [f64]>,
    /// None where the amount column is null (only when it is not read in place).
    nulls: Vec<Option<f64>>,
    pub accounts: Vec<&'a str>,
    /// Rows of account i: `order[offsets[i]..offsets[i + 1]]`, ascending ([`Crif::rows`]).
    pub offsets: Vec<usize>,
    /// None when the table is grouped by account in id order (the usual layout): then account
    /// i's rows are `offsets[i]..offsets[i + 1]` themselves, and no per-row index is built.
    pub order: Option<Vec<u32>>,
}

/// The big-endian first eight bytes of a name, zero-padded: the order of the names' prefixes.
fn pack(s: &str) -> u64 {
    let mut head = [0u8; 8];
    let n = s.len().min(8);
    head[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(head)
}

/// The fixed name lists a row is decoded against, name -> index (the first equal name wins;
/// buckets: listed, then the residual one), and risk type -> (risk class, vol). Both the fast
/// path of [`Crif::decode_rows`] and the checked path ([`decode`]) read them.
struct Lookups {
    product_classes: NameMap<u8>,
    risk_types: NameMap<(u8, bool)>,
    tenors: NameMap<i8>,
    sub_curves: NameMap<u8>,
    /// Equity, then commodity buckets.
    buckets: [NameMap<u8>; 2],
    calculation_currency: String,
    /// Its key when short: a keyed qualifier is compared to it as one integer.
    calculation_key: Option<u128>,
}

/// Each name's index; a name whose index does not fit `T` is not found (an unknown name).
fn index_map<'n, T: TryFrom<usize> + Copy + Default>(names: impl IntoIterator<Item = &'n str>) -> NameMap<T> {
    NameMap::new(names.into_iter().enumerate().filter_map(|(i, n)| Some((n.as_bytes(), T::try_from(i).ok()?))))
}

impl Lookups {
    fn new(p: &SimmParams) -> Self {
        let buckets = |rc: usize| {
            let bp = p.bucketed(rc);
            index_map(bp.buckets.iter().map(String::as_str).chain(bp.residual.as_deref()))
        };
        let risk_types = NameMap::new(
            RISK_TYPES.iter().filter_map(|name| risk_type(name).map(|(rc, vol)| (name.as_bytes(), (rc as u8, vol)))),
        );
        Lookups {
            product_classes: index_map(PRODUCT_CLASSES.iter().copied()),
            risk_types,
            tenors: index_map(p.ir.tenors.iter().map(String::as_str)),
            sub_curves: index_map(p.ir.sub_curves.iter().map(String::as_str)),
            buckets: [buckets(EQ), buckets(CM)],
            calculation_currency: p.calculation_currency.clone(),
            calculation_key: intern::key(p.calculation_currency.as_bytes()),
        }
    }
}

/// The six decoded columns: whole ([`Col`]) or of one batch ([`Cells`]).
struct Columns<C> {
    pcs: C,
    rts: C,
    quals: C,
    buckets: C,
    l1s: C,
    l2s: C,
}

impl<'a> Columns<Col<'a>> {
    /// Batch `b`'s columns in place, when all six are plain (the usual layout): their offsets
    /// and bytes are then found once per batch, not once per cell.
    fn plain(&self, b: usize) -> Option<Columns<Strs<'a>>> {
        let at = |c: &Col<'a>| match c {
            Col::Plain(chunks) => Some(Strs::new(chunks[b])),
            _ => None,
        };
        Some(Columns {
            pcs: at(&self.pcs)?,
            rts: at(&self.rts)?,
            quals: at(&self.quals)?,
            buckets: at(&self.buckets)?,
            l1s: at(&self.l1s)?,
            l2s: at(&self.l2s)?,
        })
    }

    /// Batch `b`'s columns, whatever their layout.
    fn at(&self, b: usize) -> Columns<ColAt<'_, 'a>> {
        let at = |col| ColAt { col, batch: b };
        Columns {
            pcs: at(&self.pcs),
            rts: at(&self.rts),
            quals: at(&self.quals),
            buckets: at(&self.buckets),
            l1s: at(&self.l1s),
            l2s: at(&self.l2s),
        }
    }
}

/// The columns of the batch being decoded by [`Crif::decode_rows`].
enum BatchCols<'c, 'a> {
    Plain(&'c Columns<Strs<'a>>),
    Any(Columns<ColAt<'c, 'a>>),
}

impl<'a> Crif<'a> {
    /// The rows of account `a`, ascending (`buf` holds them when the table is grouped).
    pub fn rows<'s>(&'s self, a: usize, buf: &'s mut Vec<u32>) -> &'s [u32] {
        let (start, end) = (self.offsets[a], self.offsets[a + 1]);
        match &self.order {
            Some(order) => &order[start..end],
            None => {
                buf.clear();
                buf.extend(start as u32..end as u32);
                buf
            }
        }
    }

    /// The CRIF with its rows in place: each account one run (`(first row, account)` of each),
    /// in id order.
    fn in_place(mut self, runs: Vec<(usize, &'a str)>) -> Self {
        let n = self.amounts.len();
        self.offsets = runs.iter().map(|x| x.0).chain([n]).collect();
        self.accounts = runs.into_iter().map(|x| x.1).collect();
        self.order = None;
        self
    }

    /// The batch holding row `r` (`batch_starts` begins at row 0).
    #[inline]
    fn batch_of(&self, r: usize) -> usize {
        self.batch_starts.partition_point(|s| *s <= r) - 1
    }

    /// Decode and check row `r`.
    fn decode_row(&self, p: &SimmParams, r: usize) -> Result<Row<'a>> {
        let b = self.batch_of(r);
        let local = r - self.batch_starts[b];
        let c = &self.cols;
        let amount = if self.nulls.is_empty() { Some(self.amounts[r]) } else { self.nulls[r] };
        decode(
            p,
            &self.names,
            r,
            c.pcs.get(b, local, r),
            c.rts.get(b, local, r),
            c.quals.get(b, local, r),
            c.buckets.get(b, local, r),
            c.l1s.get(b, local, r),
            c.l2s.get(b, local, r),
            amount,
        )
    }

    /// `rows` (ascending, of a CRIF grouped by account) decoded into `out`, and their packed sort
    /// keys ([`packed_key`]) into `scratch` while each row is at hand (for [`factors`]); the
    /// first bad one is the error, with its row.
    pub fn decode_rows(
        &self,
        p: &SimmParams,
        rows: &[u32],
        out: &mut Vec<Row<'a>>,
        scratch: &mut Scratch<'a>,
    ) -> std::result::Result<(), (u32, MarginError)> {
        let mut collect = Collect::new(rows.len(), out, scratch);
        let (mut start, mut end) = (0, 0);
        let mut cols = BatchCols::Any(self.cols.at(0));
        let mut recent = Recent::default();
        for &r in rows {
            let r = r as usize;
            if r < start || r >= end {
                let b = self.batch_of(r);
                (start, end) = (self.batch_starts[b], self.batch_starts[b + 1]);
                cols = match &self.plain[b] {
                    Some(c) => BatchCols::Plain(c),
                    None => BatchCols::Any(self.cols.at(b)),
                };
            }
            let row = match &cols {
                BatchCols::Plain(c) => self.decode_checked(p, c, r - start, r, &mut recent),
                BatchCols::Any(c) => self.decode_checked(p, c, r - start, r, &mut recent),
            };
            collect.push(row.map_err(|e| (r as u32, e))?);
        }
        collect.finish();
        Ok(())
    }

    /// Every row decoded and checked, in row order: for a CRIF out of account order, where
    /// decoding account by account would fetch each row's six cells from all over the columns
    /// (a cache miss each). Read in order and in parallel, a row costs what it does in a grouped
    /// CRIF, and an account then reads one record per row ([`Crif::gather_rows`]). The first bad
    /// row is the error.
    pub fn decode_all(&self, p: &SimmParams) -> Result<Vec<Row<'a>>> {
        let mut pieces = Vec::new();
        for (b, w) in self.batch_starts.windows(2).enumerate() {
            pieces.extend((w[0]..w[1]).step_by(DECODE_PIECE).map(|lo| (DECODE_PIECE.min(w[1] - lo), (b, lo))));
        }
        let bad: Mutex<Vec<(usize, MarginError)>> = Mutex::default();
        let all = filled_in_parts(pieces, |(b, lo), part| {
            let rows = lo..(lo + DECODE_PIECE).min(self.batch_starts[b + 1]);
            let found = match &self.plain[b] {
                Some(c) => self.decode_piece(p, c, b, rows.clone(), part),
                None => self.decode_piece(p, &self.cols.at(b), b, rows.clone(), part),
            };
            if let Some((r, e)) = found {
                // The piece's rows from the bad one on hold defaults: the table is not returned.
                part.extend((r..rows.end).map(|_| Row::default()));
                bad.lock().unwrap_or_else(PoisonError::into_inner).push((r, e));
            }
        })?;
        let bad = bad.into_inner().unwrap_or_else(PoisonError::into_inner);
        match bad.into_iter().min_by_key(|(r, _)| *r) {
            Some((_, e)) => Err(e),
            None => Ok(all),
        }
    }

    /// Rows `rows` of batch `b` (columns `c`) decoded into `part`, up to the first bad one,
    /// which is returned with its row.
    fn decode_piece<C: Cells<'a>>(
        &self,
        p: &SimmParams,
        c: &Columns<C>,
        b: usize,
        rows: Range<usize>,
        part: &mut Part<'_, Row<'a>>,
    ) -> Option<(usize, MarginError)> {
        let start = self.batch_starts[b];
        let mut recent = Recent::default();
        for r in rows {
            match self.decode_checked(p, c, r - start, r, &mut recent) {
                Ok(row) => part.push(row),
                Err(e) => return Some((r, e)),
            }
        }
        None
    }

    /// `rows` of a CRIF decoded by [`Crif::decode_all`] into `out`, with their packed sort keys,
    /// as [`Crif::decode_rows`] leaves them. The rows are scattered over `all` and the amounts:
    /// both are requested [`AHEAD`].
    pub fn gather_rows(&self, all: &[Row<'a>], rows: &[u32], out: &mut Vec<Row<'a>>, scratch: &mut Scratch<'a>) {
        let ahead = |r: u32| {
            if let Some(row) = all.get(r as usize) {
                prefetch(row);
            }
            if let Some(amount) = self.amounts.get(r as usize) {
                prefetch(amount);
            }
        };
        rows.iter().take(AHEAD).for_each(|&r| ahead(r));
        let mut collect = Collect::new(rows.len(), out, scratch);
        for (i, &r) in rows.iter().enumerate() {
            if let Some(&later) = rows.get(i + AHEAD) {
                ahead(later);
            }
            collect.push(all.get(r as usize).copied().unwrap_or_default());
        }
        collect.finish();
    }

    /// Row `r` (row `local` of the batch of `c`) decoded: by hashed lookups, or, when any part
    /// is not plainly valid, by the checked path (which words the error).
    #[inline(always)]
    fn decode_checked<C: Cells<'a>>(
        &self,
        p: &SimmParams,
        c: &Columns<C>,
        local: usize,
        r: usize,
        recent: &mut Recent,
    ) -> Result<Row<'a>> {
        match self.decode_fast(c, local, r, recent) {
            Some(row) => Ok(row),
            None => self.decode_row(p, r),
        }
    }

    /// Row `r` (row `local` of the batch of `c`) decoded by hashed lookups, or None when any
    /// part is not plainly valid; then [`Crif::decode_row`] decides (and words the error).
    // Always inlined: called, it returns the row through memory (3% more instructions).
    #[inline(always)]
    fn decode_fast<C: Cells<'a>>(
        &self,
        c: &Columns<C>,
        local: usize,
        r: usize,
        recent: &mut Recent,
    ) -> Option<Row<'a>> {
        let f = &self.names;
        let amount = if self.nulls.is_empty() { self.amounts[r] } else { self.nulls[r]? };
        if amount.is_nan() || amount.abs() > MAX_AMOUNT {
            return None;
        }
        let product_class = c.pcs.find(&f.product_classes, &mut recent.product_class, local, r)?;
        let (rc, vol) = c.rts.find(&f.risk_types, &mut recent.risk_type, local, r)?;
        let rc = rc as usize;
        let (q, qkey) = c.quals.qualifier(local, r)?;
        let chars = match qkey {
            Some(k) if intern::is_ascii(k) => q.len(),
            _ => q.chars().count(),
        };
        if chars == 0 || (rc == IR && chars != 3) || (rc == FX && chars != if vol { 6 } else { 3 }) {
            return None;
        }
        if (rc == IR || rc == FX) && !q.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        // A pair of one currency has no volatility: the checked path words it.
        if rc == FX && vol && q[..3] == q[3..] {
            return None;
        }
        let tenor = if vol || rc == IR { c.l1s.lookup(&f.tenors, local, r)? } else { -1 };
        let label2 = if rc == IR && !vol { c.l2s.lookup(&f.sub_curves, local, r)? } else { 0 };
        let bucket = if rc == EQ || rc == CM {
            let i = usize::from(rc == CM);
            c.buckets.lookup(&f.buckets[i], local, r)?
        } else {
            0
        };
        let skip = rc == FX
            && !vol
            && match qkey {
                Some(k) => Some(k) == f.calculation_key,
                None => q == f.calculation_currency,
            };
        let qprefix = qkey.map_or_else(|| pack(q), intern::prefix);
        Some(Row { product_class, risk_class: rc as u8, vol, bucket, qprefix, qualifier: q, tenor, label2, skip })
    }
}

/// How a currency code and a currency pair are written: `usd` is not `USD` to SIMM (it would be
/// an unknown currency of its own), so only capitals are read.
const CODE: &str = "three capital letters, as USD";
const PAIR: &str = "six capital letters, as EURUSD";

/// Whether `q` is `n` capital ASCII letters.
fn capitals(q: &str, n: usize) -> bool {
    q.len() == n && q.bytes().all(|b| b.is_ascii_uppercase())
}

fn fail(column: &str, row: usize, reason: String) -> MarginError {
    MarginError::cell(TABLE, column, row, reason)
}

#[allow(clippy::too_many_arguments)]
fn decode<'a>(
    p: &SimmParams,
    names: &Lookups,
    r: usize,
    pc: Option<&'a str>,
    rt: Option<&'a str>,
    q: Option<&'a str>,
    b: Option<&'a str>,
    l1: Option<&'a str>,
    l2: Option<&'a str>,
    amount: Option<f64>,
) -> Result<Row<'a>> {
    let pc_name = pc.unwrap_or("");
    let Some(product_class) = names.product_classes.get(pc_name.as_bytes()) else {
        let shown = pc.map_or_else(|| "None".to_owned(), |s| format!("'{s}'"));
        return Err(fail(
            "ProductClass",
            r,
            format!("unknown product class {shown} (expected one of {})", PRODUCT_CLASSES.join(", ")),
        ));
    };
    let Some((rc, vol)) = rt.and_then(risk_type) else {
        let shown = rt.map_or_else(|| "None".to_owned(), |s| format!("'{s}'"));
        return Err(fail(
            "RiskType",
            r,
            format!("risk type {shown} is not supported (pmargin computes {RISK_TYPE_NAMES})"),
        ));
    };
    let q = q.unwrap_or("");
    if q.is_empty() {
        return Err(fail("Qualifier", r, "qualifier is empty".into()));
    }
    match amount {
        Some(a) if a.abs() <= MAX_AMOUNT => {}
        Some(a) if a.is_finite() => {
            return Err(fail(
                &p.amount_column,
                r,
                "amount exceeds 1e18 in magnitude (pmargin's bound on CRIF amounts; check the amount's units)".into(),
            ))
        }
        Some(a) => return Err(fail(&p.amount_column, r, format!("amount must be a finite number, got {}", repr(a)))),
        None => return Err(fail(&p.amount_column, r, "amount must be a finite number, got None".into())),
    }
    let l1 = l1.unwrap_or("");
    let l2 = l2.unwrap_or("");
    let b = b.unwrap_or("");
    let mut tenor = -1i8;
    let mut label2 = 0u8;
    let mut bucket = 0u8;
    let tenors = &p.ir.tenors;
    if vol || rc == IR {
        match names.tenors.get(l1.as_bytes()) {
            Some(t) => tenor = t,
            None => {
                return Err(fail("Label1", r, format!("tenor '{l1}' is not a SIMM tenor ({})", tenors.join(", "))));
            }
        }
    }
    if rc == IR && !vol {
        match names.sub_curves.get(l2.as_bytes()) {
            Some(i) => label2 = i,
            None => {
                return Err(fail(
                    "Label2",
                    r,
                    format!("sub-curve '{l2}' is not a SIMM sub-curve ({})", p.ir.sub_curves.join(", ")),
                ));
            }
        }
    }
    if rc == IR && !capitals(q, 3) {
        return Err(fail("Qualifier", r, format!("interest rate qualifier '{q}' must be a currency code ({CODE})")));
    }
    if rc == FX && !capitals(q, if vol { 6 } else { 3 }) {
        let what = if vol { format!("a currency pair ({PAIR})") } else { format!("a currency code ({CODE})") };
        return Err(fail("Qualifier", r, format!("FX qualifier '{q}' must be {what}")));
    }
    if rc == FX && vol && q[..3] == q[3..] {
        return Err(fail("Qualifier", r, format!("FX vol qualifier '{q}' must be a pair of two currencies")));
    }
    if rc == EQ || rc == CM {
        match names.buckets[usize::from(rc == CM)].get(b.as_bytes()) {
            Some(i) => bucket = i,
            None => {
                let what = if rc == EQ { "equity" } else { "commodity" };
                return Err(fail("Bucket", r, format!("{what} bucket '{b}' is not a SIMM bucket")));
            }
        }
    }
    let skip = rc == FX && !vol && q == p.calculation_currency;
    let qprefix = pack(q);
    Ok(Row { product_class, risk_class: rc as u8, vol, bucket, qprefix, qualifier: q, tenor, label2, skip })
}

/// The last short name looked up in one map and what it found: an account's rows mostly repeat
/// the names of the row before, and a repeat then costs one comparison, not a hash probe.
struct Last<T> {
    key: u128,
    value: Option<T>,
}

impl<T: Copy> Last<T> {
    /// The value of `map` for key `k`, probing only when `k` differs from the last key.
    #[inline]
    fn get(&mut self, map: &NameMap<T>, k: u128) -> Option<T> {
        if k != self.key {
            *self = Last { key: k, value: map.get_key(k) };
        }
        self.value
    }
}

impl<T> Default for Last<T> {
    /// No key: a short name's key has its length (at most 15) in the top byte.
    fn default() -> Self {
        Last { key: u128::MAX, value: None }
    }
}

/// A [`Last`] for the columns of [`Crif::decode_rows`] whose values come in runs; labels
/// (tenors, sub-curves, buckets) seldom repeat row to row, so they are probed directly.
#[derive(Default)]
struct Recent {
    product_class: Last<u8>,
    risk_type: Last<(u8, bool)>,
}

/// A string column read in place when it is plain Utf8 without nulls (what the Python layer
/// hands over), else gathered once; a missing optional column reads as null.
enum Col<'a> {
    Plain(Vec<&'a StringArray>),
    Gathered(Vec<Option<&'a str>>),
    Missing,
}

impl<'a> Col<'a> {
    fn read(table: &Table<'a>, column: &str, required: bool) -> Result<Self> {
        if !required && !table.has_column(column) {
            return Ok(Col::Missing);
        }
        Ok(match table.plain_strings(column)? {
            Some(chunks) => Col::Plain(chunks),
            None => Col::Gathered(table.strings(column)?),
        })
    }

    /// Row `local` of batch `batch` (`global` counts across batches).
    #[inline]
    fn get(&self, batch: usize, local: usize, global: usize) -> Option<&'a str> {
        match self {
            Col::Plain(chunks) => Some(chunks[batch].value(local)),
            Col::Gathered(values) => values[global],
            Col::Missing => None,
        }
    }
}

/// How [`Crif::decode_fast`] reads the cell of row `local` of one batch (`global` counts
/// across batches); null reads as "".
trait Cells<'a> {
    /// The value of `map` for the cell, remembered in `last`.
    fn find<T: Copy>(&self, map: &NameMap<T>, last: &mut Last<T>, local: usize, global: usize) -> Option<T>;
    /// The value of `map` for the cell, probed.
    fn lookup<T: Copy>(&self, map: &NameMap<T>, local: usize, global: usize) -> Option<T>;
    /// The cell as a qualifier, and its name key when short ([`intern::key`]); None when null.
    fn qualifier(&self, local: usize, global: usize) -> Option<(&'a str, Option<u128>)>;
}

/// One batch of a plain column, read in place.
#[derive(Clone, Copy)]
struct Strs<'a> {
    array: &'a StringArray,
    offsets: &'a [i32],
    values: &'a [u8],
}

impl<'a> Strs<'a> {
    fn new(array: &'a StringArray) -> Self {
        Strs { array, offsets: array.value_offsets(), values: array.values() }
    }

    /// The byte range of row `local`, and its key when short.
    #[inline(always)]
    fn key(&self, local: usize) -> (Option<u128>, usize, usize) {
        let (start, end) = (self.offsets[local] as usize, self.offsets[local + 1] as usize);
        (intern::key_in(self.values, start, end), start, end)
    }
}

impl<'a> Cells<'a> for Strs<'a> {
    #[inline(always)]
    fn find<T: Copy>(&self, map: &NameMap<T>, last: &mut Last<T>, local: usize, _: usize) -> Option<T> {
        match self.key(local) {
            (Some(k), _, _) => last.get(map, k),
            (None, start, end) => map.get(self.values.get(start..end)?),
        }
    }

    #[inline(always)]
    fn lookup<T: Copy>(&self, map: &NameMap<T>, local: usize, _: usize) -> Option<T> {
        match self.key(local) {
            (Some(k), _, _) => map.get_key(k),
            (None, start, end) => map.get(self.values.get(start..end)?),
        }
    }

    // Always inlined: called, its 32-byte result comes back through memory and the 16-byte
    // key is read before its two 8-byte halves are stored (a stalled load every row).
    #[inline(always)]
    fn qualifier(&self, local: usize, _: usize) -> Option<(&'a str, Option<u128>)> {
        Some((self.array.value(local), self.key(local).0))
    }
}

/// One batch of any column.
struct ColAt<'c, 'a> {
    col: &'c Col<'a>,
    batch: usize,
}

impl<'a> Cells<'a> for ColAt<'_, 'a> {
    #[inline]
    fn find<T: Copy>(&self, map: &NameMap<T>, last: &mut Last<T>, local: usize, global: usize) -> Option<T> {
        match self.col {
            Col::Plain(chunks) => Strs::new(chunks[self.batch]).find(map, last, local, global),
            _ => self.lookup(map, local, global),
        }
    }

    #[inline]
    fn lookup<T: Copy>(&self, map: &NameMap<T>, local: usize, global: usize) -> Option<T> {
        match self.col {
            Col::Plain(chunks) => Strs::new(chunks[self.batch]).lookup(map, local, global),
            Col::Gathered(values) => map.get(values[global].unwrap_or("").as_bytes()),
            Col::Missing => map.get(b""),
        }
    }

    #[inline]
    fn qualifier(&self, local: usize, global: usize) -> Option<(&'a str, Option<u128>)> {
        match self.col {
            Col::Plain(chunks) => Strs::new(chunks[self.batch]).qualifier(local, global),
            Col::Gathered(values) => values[global].map(|q| (q, intern::key(q.as_bytes()))),
            Col::Missing => None,
        }
    }
}

/// Read the columns and group rows by account (a null account is an error); the rows
/// themselves are decoded and checked per account ([`Crif::decode_rows`]).
pub fn read_crif<'a>(table: &Table<'a>, p: &SimmParams) -> Result<Crif<'a>> {
    let n = table.num_rows();
    let has_accounts = table.has_column(&p.account_column);
    let accounts_col = Col::read(table, &p.account_column, false)?;
    let cols = Columns {
        pcs: Col::read(table, "ProductClass", true)?,
        rts: Col::read(table, "RiskType", true)?,
        quals: Col::read(table, "Qualifier", true)?,
        buckets: Col::read(table, "Bucket", false)?,
        l1s: Col::read(table, "Label1", false)?,
        l2s: Col::read(table, "Label2", false)?,
    };
    // Amounts in place when the layout allows it (no copy), else gathered.
    let (amounts, nulls) = match table.plain_f64(&p.amount_column)? {
        Some(values) => (Cow::Borrowed(values), Vec::new()),
        None => {
            let values = table.numbers(&p.amount_column)?;
            (Cow::Owned(values.iter().map(|a| a.unwrap_or(0.0)).collect()), values)
        }
    };
    let mut batch_starts = vec![0];
    for batch in table.batches() {
        batch_starts.push(batch_starts.last().copied().unwrap_or(0) + batch.num_rows());
    }
    let plain = (0..table.batches().len()).map(|b| cols.plain(b)).collect();
    let mut crif = Crif {
        cols,
        plain,
        names: Lookups::new(p),
        batch_starts,
        amounts,
        nulls,
        accounts: Vec::new(),
        offsets: Vec::new(),
        order: None,
    };
    // Each account's rows in one run, accounts in id order (the usual layout): the rows stay in
    // place, and ids that strictly ascend are distinct without hashing them.
    let runs = match &accounts_col {
        Col::Plain(chunks) => ascending_runs(chunks, &crif.batch_starts),
        _ => None,
    };
    if let Some(runs) = runs {
        return Ok(crif.in_place(runs));
    }
    // Otherwise every row's account, numbered in first-seen order.
    let (code, first_row, ids) = match &accounts_col {
        Col::Plain(chunks) => {
            let (code, first_row) = number_string_column(chunks)?;
            (code, first_row, None)
        }
        _ => {
            let mut ids: Vec<&'a str> = Vec::with_capacity(n);
            for (b, batch) in table.batches().iter().enumerate() {
                for local in 0..batch.num_rows() {
                    let r = crif.batch_starts[b] + local;
                    match accounts_col.get(b, local, r) {
                        Some(a) => ids.push(a),
                        None if !has_accounts => ids.push(""),
                        None => {
                            // Reported unless an earlier row is bad (rows are otherwise checked
                            // later).
                            for earlier in 0..r {
                                crif.decode_row(p, earlier)?;
                            }
                            return Err(fail(&p.account_column, r, "account is null".into()));
                        }
                    }
                }
            }
            if let Some(runs) = runs_if_ascending(ids.iter().copied().enumerate()) {
                return Ok(crif.in_place(runs));
            }
            let (code, first_row) = number_ids(&ids);
            (code, first_row, Some(ids))
        }
    };
    let names: Vec<&'a str> = first_row
        .iter()
        .map(|&r| match (&ids, &accounts_col) {
            (Some(ids), _) => ids[r],
            (None, accounts) => {
                let b = crif.batch_of(r);
                accounts.get(b, r - crif.batch_starts[b], r).unwrap_or("")
            }
        })
        .collect();
    in_id_order(&mut crif, names, code)?;
    Ok(crif)
}

/// The accounts (`names`, numbered as `code` numbers each row) sorted by id, and the rows
/// listed account by account, each account's in row order: `crif.accounts`, `offsets` and
/// `order`, grouped in parallel (`by_account`).
fn in_id_order<'a>(crif: &mut Crif<'a>, names: Vec<&'a str>, mut code: Vec<u32>) -> Result<()> {
    let mut sorted: Vec<u32> = (0..names.len() as u32).collect();
    sorted.par_sort_unstable_by(|a, b| names[*a as usize].cmp(names[*b as usize]));
    let mut rank = vec![0u32; names.len()];
    for (i, a) in sorted.iter().enumerate() {
        rank[*a as usize] = i as u32;
    }
    code.par_iter_mut().with_min_len(1 << 14).for_each(|c| *c = rank[*c as usize]);
    let offsets = by_account::account_starts(&code, names.len());
    crif.order = Some(by_account::in_account_order(&code, &offsets, |r| r as u32)?);
    crif.offsets = offsets;
    crif.accounts = sorted.iter().map(|a| names[*a as usize]).collect();
    Ok(())
}

/// Rows per parallel piece of [`ascending_runs`].
const RUN_PIECE: usize = 1 << 16;

/// `(first row, account)` of each run of rows of one account of a null-free account column,
/// when the accounts strictly ascend from run to run (each account one run, in id order); None
/// otherwise. Pieces of rows are scanned in parallel, each stopping at its first descent.
fn ascending_runs<'a>(chunks: &[&'a StringArray], batch_starts: &[usize]) -> Option<Vec<(usize, &'a str)>> {
    let pieces: Vec<(usize, usize, usize)> = chunks
        .iter()
        .enumerate()
        .flat_map(|(b, a)| (0..a.len()).step_by(RUN_PIECE).map(move |lo| (b, lo, (lo + RUN_PIECE).min(a.len()))))
        .collect();
    let runs: Vec<Vec<(usize, &'a str)>> = pieces
        .into_par_iter()
        .map(|(b, lo, hi)| {
            let a = chunks[b];
            let (offsets, values) = (a.value_offsets(), a.values().as_slice());
            // A row of a short id like the one before is told by one 16-byte load and compare
            // (no call into memcmp, no per-row length lookups).
            let cell = |i: usize| (offsets[i] as usize, offsets[i + 1] as usize);
            let (start, end) = cell(lo);
            let (mut short, mut prev) = (intern::InPlace::of(values, start, end), a.value(lo));
            let mut out = vec![(batch_starts[b] + lo, prev)];
            for local in lo + 1..hi {
                let (start, end) = cell(local);
                if short.is_some_and(|s| s.matches(values, start, end)) {
                    continue;
                }
                let v = a.value(local);
                if v != prev {
                    if v < prev {
                        return None;
                    }
                    out.push((batch_starts[b] + local, v));
                }
                (short, prev) = (intern::InPlace::of(values, start, end), v);
            }
            Some(out)
        })
        .collect::<Option<_>>()?;
    // A piece's first run continues the run before it when the account is the same.
    runs_if_ascending(runs.into_iter().flatten())
}

/// The `(row, account)` of each run of `rows` (each row's account, in row order) of one account,
/// when the accounts strictly ascend from run to run; None otherwise.
fn runs_if_ascending<'a>(rows: impl Iterator<Item = (usize, &'a str)>) -> Option<Vec<(usize, &'a str)>> {
    let mut runs: Vec<(usize, &'a str)> = Vec::new();
    for (row, id) in rows {
        match runs.last() {
            Some(&(_, last)) if last == id => {}
            Some(&(_, last)) if last > id => return None,
            _ => runs.push((row, id)),
        }
    }
    Some(runs)
}

/// One risk row of an account in factor order ([`factors`]): its amount, its place among the
/// account's rows, and its factor (an index into [`Scratch::factors`]). One record per row, so
/// the rows' pass of the contributions reads one slice and no table column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keyed {
    pub amount: f64,
    pub position: u32,
    pub factor: u32,
}

/// Buffers reused from one account to the next (one set per worker chunk, not per account).
#[derive(Default)]
pub struct Scratch<'a> {
    /// The packed keys of the account's risk rows, when `packable` (every row fits one).
    packed: Vec<u128>,
    packable: bool,
    sorting: KeySort,
    local: Vec<(u128, i32, u32)>,
    pub factors: Vec<Factor<'a>>,
    /// The account's risk rows in factor order.
    pub keyed: Vec<Keyed>,
    values: Vec<f64>,
}

/// An account's decoded rows appended to `out`, and their packed sort keys to the scratch's
/// while every row fits one ([`fits_packed`]; a row that is not a risk, FX delta in the
/// calculation currency, has none).
struct Collect<'s, 'a> {
    out: &'s mut Vec<Row<'a>>,
    scratch: &'s mut Scratch<'a>,
    packable: bool,
}

impl<'s, 'a> Collect<'s, 'a> {
    fn new(n_rows: usize, out: &'s mut Vec<Row<'a>>, scratch: &'s mut Scratch<'a>) -> Self {
        out.clear();
        scratch.packed.clear();
        Collect { out, scratch, packable: n_rows < 1 << POSITION_BITS }
    }

    #[inline]
    fn push(&mut self, row: Row<'a>) {
        if self.packable {
            if fits_packed(&row) {
                if !row.skip {
                    self.scratch.packed.push(packed_key(&row, self.out.len()));
                }
            } else {
                self.packable = false;
            }
        }
        self.out.push(row);
    }

    fn finish(self) {
        self.scratch.packable = self.packable;
    }
}

/// Bits of the row's position in [`packed_key`].
const POSITION_BITS: u32 = 29;

/// The whole sort key of a row whose qualifier has at most eight bytes, in one integer:
/// (product class, risk class, vol, bucket, qualifier prefix, qualifier length, tenor,
/// sub-curve, position). Ordering these is ordering by [`factors`]' comparator.
#[inline]
fn packed_key(row: &Row<'_>, position: usize) -> u128 {
    (u128::from(row.product_class) << 125)
        | (u128::from(row.risk_class) << 122)
        | (u128::from(row.vol) << 121)
        | (u128::from(row.bucket) << 113)
        | (u128::from(row.qprefix) << 49)
        | ((row.qualifier.len() as u128) << 45)
        | (u128::from((row.tenor as i16 + 1) as u8) << 37)
        | (u128::from(row.label2) << 29)
        | position as u128
}

/// How many rows ahead [`Crif::gather_rows`] requests a row's record and amount.
const AHEAD: usize = 8;

/// Rows per parallel piece of [`Crif::decode_all`].
const DECODE_PIECE: usize = 1 << 13;

/// Accounts up to this many rows are sorted by insertion.
const INSERTION_ROWS: usize = 96;

/// Bits of [`packed_key`] below the factor group's (the qualifier's length and up): tenor,
/// sub-curve, position.
const GROUP_SHIFT: u32 = 45;

/// Rows of a factor group from which [`sort_keys`] ranks them rather than inserting them.
const RANKED_GROUP: usize = 4;

/// Scratch of [`sort_keys`].
#[derive(Default)]
struct KeySort {
    ranked: Vec<u128>,
    /// Below 2^23: compared as signed integers (one SSE2 instruction; unsigned needs three).
    low: Vec<i32>,
}

/// Distinct keys sorted. CRIF rows usually come grouped by risk type, and one curve's rows
/// (one factor group: keys equal above the tenor) together, in no order of tenor: each such run
/// is put in order by ranking its keys, then insertion moves each key only past its own run's
/// larger keys, far fewer steps than a general sort makes on so few keys. Ranking a run of keys
/// that differ only in their low bits costs a branch-free count per pair where inserting them
/// cost a mispredicted branch per key.
fn sort_keys(keys: &mut [u128], buffers: &mut KeySort) {
    if keys.len() > INSERTION_ROWS {
        keys.sort_unstable();
        return;
    }
    let mut start = 0;
    while start < keys.len() {
        let group = keys[start] >> GROUP_SHIFT;
        let end = start + 1 + keys[start + 1..].iter().take_while(|k| **k >> GROUP_SHIFT == group).count();
        if end - start >= RANKED_GROUP {
            rank_group(&mut keys[start..end], buffers);
        }
        start = end;
    }
    for i in 1..keys.len() {
        let k = keys[i];
        // A key after its predecessor (within a sorted run) stays: no store, and the loop's
        // exit branch is left to the keys that move.
        if keys[i - 1] < k {
            continue;
        }
        let mut j = i;
        while j > 0 && keys[j - 1] > k {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = k;
    }
}

/// Keys equal above [`GROUP_SHIFT`] sorted by rank: each key's low bits (tenor, sub-curve and a
/// position below 128) fit one `u32` that orders them alike, and a key's rank is the count of
/// smaller ones. Left to insertion when a position is 128 or more (an account of more rows than
/// risk rows: the rows skipped still count).
fn rank_group(keys: &mut [u128], buffers: &mut KeySort) {
    let positions = keys.iter().fold(0u32, |acc, &k| acc | (k as u32 & ((1 << POSITION_BITS) - 1)));
    if positions >= 128 {
        return;
    }
    let KeySort { ranked, low } = buffers;
    low.clear();
    low.extend(keys.iter().map(|&k| ((((k >> POSITION_BITS) as i32) & 0xFFFF) << 7) | (k as i32 & 0x7F)));
    ranked.clear();
    ranked.resize(keys.len(), 0);
    for (&k, &d) in keys.iter().zip(low.iter()) {
        let rank: i32 = low.iter().map(|&e| i32::from(e < d)).sum();
        ranked[rank as usize] = k;
    }
    keys.copy_from_slice(ranked);
}

/// The netted factors of one account's rows, sorted by factor key, and the account's risk rows
/// in factor order (each factor's rows ascending): `scratch.factors` and `scratch.keyed`.
/// `decoded[i]` is row `rows[i]`, and `scratch` holds their packed keys
/// ([`Crif::decode_rows`]).
pub fn factors<'a>(crif: &Crif<'a>, rows: &[u32], decoded: &[Row<'a>], scratch: &mut Scratch<'a>) {
    scratch.keyed.clear();
    scratch.factors.clear();
    if scratch.packable {
        sort_keys(&mut scratch.packed, &mut scratch.sorting);
        packed_factors(&crif.amounts, rows, decoded, scratch);
    } else {
        general_factors(&crif.amounts, rows, decoded, scratch);
    }
    let Scratch { factors, keyed, values, .. } = scratch;
    for f in factors.iter_mut().filter(|f| f.end - f.start > 1) {
        f.amount = net(&keyed[f.start as usize..f.end as usize], values);
    }
}

/// Whether a row's factor key fits [`packed_key`] (its qualifier has at most eight bytes).
#[inline]
fn fits_packed(row: &Row<'_>) -> bool {
    row.qualifier.len() <= 8 && row.tenor >= -1 && row.product_class < 8 && row.risk_class < 8
}

/// [`factors`] from the sorted packed keys, in one pass: equal factor keys are equal packed keys
/// without the position. Each factor's amount is its first row's (netted later when it has
/// more).
fn packed_factors<'a>(amounts: &[f64], rows: &[u32], decoded: &[Row<'a>], scratch: &mut Scratch<'a>) {
    let Scratch { packed, factors, keyed, .. } = scratch;
    let mut last = None;
    let mut group = (None, 0);
    for (i, k) in packed.iter().enumerate() {
        let at = (*k as u32) & ((1 << POSITION_BITS) - 1);
        let r = rows[at as usize];
        let head = Some(k >> POSITION_BITS);
        match factors.last_mut() {
            Some(f) if head == last => f.end = i as u32 + 1,
            _ => {
                // Packed qualifiers fit the key: equal bits above the tenor are one group.
                let g = Some(k >> GROUP_SHIFT);
                if g != group.0 {
                    group = (g, factors.len() as u32);
                }
                let row = decoded[at as usize];
                let amount = amounts[r as usize];
                factors.push(Factor { row, start: i as u32, end: i as u32 + 1, amount, group: group.1 });
            }
        }
        keyed.push(Keyed { amount: amounts[r as usize], position: at, factor: factors.len() as u32 - 1 });
        last = head;
    }
}

/// [`factors`] for rows with long qualifiers: sorted on a packed key first (product class, risk
/// class, vol, bucket, qualifier prefix), then the qualifier (its length settles it when both
/// fit the prefix), tenor and sub-curve, then the row (rows are ascending, so their position
/// orders them alike).
fn general_factors<'a>(amounts: &[f64], rows: &[u32], decoded: &[Row<'a>], scratch: &mut Scratch<'a>) {
    let Scratch { local, factors, keyed, .. } = scratch;
    local.clear();
    local.extend(decoded.iter().enumerate().filter(|(_, row)| !row.skip).map(|(i, row)| {
        let hi = (u128::from(row.product_class) << 88)
            | (u128::from(row.risk_class) << 80)
            | (u128::from(row.vol) << 72)
            | (u128::from(row.bucket) << 64)
            | u128::from(row.qprefix);
        let lo = (i32::from(row.tenor) << 8) | i32::from(row.label2);
        (hi, lo, i as u32)
    }));
    local.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| {
                let (qa, qb) = (decoded[a.2 as usize].qualifier, decoded[b.2 as usize].qualifier);
                if qa.len() <= 8 && qb.len() <= 8 {
                    qa.len().cmp(&qb.len())
                } else {
                    qa.cmp(qb)
                }
            })
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    for (i, x) in local.iter().enumerate() {
        let (at, row) = (x.2, decoded[x.2 as usize]);
        let r = rows[at as usize];
        match factors.last_mut() {
            Some(f) if f.row.key() == row.key() => f.end = i as u32 + 1,
            last => {
                let group = match last {
                    Some(f) if f.row.group_key() == row.group_key() => f.group,
                    _ => factors.len() as u32,
                };
                let amount = amounts[r as usize];
                factors.push(Factor { row, start: i as u32, end: i as u32 + 1, amount, group });
            }
        }
        keyed.push(Keyed { amount: amounts[r as usize], position: at, factor: factors.len() as u32 - 1 });
    }
}

/// The correctly rounded sum of the rows' amounts ([`exact_sum`]; `values` holds them).
fn net(rows: &[Keyed], values: &mut Vec<f64>) -> f64 {
    values.clear();
    values.extend(rows.iter().map(|k| k.amount));
    exact_sum(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Lcg;

    fn row(pc: u8, rc: u8, vol: bool, bucket: u8, q: &str, tenor: i8, label2: u8) -> Row<'_> {
        Row {
            product_class: pc,
            risk_class: rc,
            vol,
            bucket,
            qprefix: pack(q),
            qualifier: q,
            tenor,
            label2,
            skip: false,
        }
    }

    /// The general comparator of [`factors`], for rows with short qualifiers.
    fn general(a: &(Row<'_>, usize), b: &(Row<'_>, usize)) -> std::cmp::Ordering {
        let (x, y) = (&a.0, &b.0);
        (x.product_class, x.risk_class, x.vol, x.bucket, x.qprefix)
            .cmp(&(y.product_class, y.risk_class, y.vol, y.bucket, y.qprefix))
            .then(x.qualifier.len().cmp(&y.qualifier.len()))
            .then(
                ((i32::from(x.tenor) << 8) | i32::from(x.label2))
                    .cmp(&((i32::from(y.tenor) << 8) | i32::from(y.label2))),
            )
            .then(a.1.cmp(&b.1))
    }

    #[test]
    fn packed_key_orders_as_the_comparator() {
        let qs = ["", "A", "AB", "AB\0", "USD", "EUR", "EURUSD", "N12", "N1", "ABCDEFGH", "\u{e9}"];
        let mut rows = Vec::new();
        let mut i = 0;
        for pc in [0u8, 2, 3] {
            for rc in [0u8, 1, 3] {
                for vol in [false, true] {
                    for (j, q) in qs.iter().enumerate() {
                        let tenor = (j as i8 % 4) - 1;
                        rows.push((row(pc, rc, vol, (j % 3) as u8, q, tenor, (j % 2) as u8), i));
                        rows.push((row(pc, rc, vol, (j % 3) as u8, q, tenor, (j % 2) as u8), i + 1));
                        i += 2;
                    }
                }
            }
        }
        let mut by_key: Vec<u128> = rows.iter().map(|(r, i)| packed_key(r, *i)).collect();
        by_key.reverse();
        by_key.sort_unstable();
        let mut expected = rows.clone();
        expected.reverse();
        expected.sort_by(general);
        let got: Vec<usize> = by_key.iter().map(|k| (*k as usize) & ((1 << POSITION_BITS) - 1)).collect();
        let want: Vec<usize> = expected.iter().map(|x| x.1).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn factors_own_their_rows_on_both_paths() {
        let decoded = [
            row(0, 0, false, 0, "USD", 1, 0),
            row(0, 0, false, 0, "USD", 0, 0),
            row(0, 0, false, 0, "USD", 1, 0),
            row(0, 0, false, 0, "EUR", 1, 0),
        ];
        let (amounts, rows) = ([1.0, 2.0, 4.0, 8.0], [0u32, 1, 2, 3]);
        let mut scratch = Scratch::default();
        scratch.packed.extend(decoded.iter().enumerate().map(|(i, r)| packed_key(r, i)));
        sort_keys(&mut scratch.packed, &mut scratch.sorting);
        packed_factors(&amounts, &rows, &decoded, &mut scratch);
        // EUR, then USD by tenor; each factor's rows ascending.
        let keyed = |s: &Scratch<'_>| s.keyed.iter().map(|k| (k.amount, k.position, k.factor)).collect::<Vec<_>>();
        assert_eq!(keyed(&scratch), [(8.0, 3, 0), (2.0, 1, 1), (1.0, 0, 2), (4.0, 2, 2)]);
        let ranges: Vec<(u32, u32)> = scratch.factors.iter().map(|f| (f.start, f.end)).collect();
        assert_eq!(ranges, [(0, 1), (1, 2), (2, 4)]);
        // EUR a group, USD's two tenors one.
        let groups = |s: &Scratch<'_>| s.factors.iter().map(|f| f.group).collect::<Vec<_>>();
        assert_eq!(groups(&scratch), [0, 1, 1]);
        // Long qualifiers: the general path.
        let decoded = [
            row(0, 3, false, 2, "LONG_ISSUER_B", -1, 0),
            row(0, 3, false, 2, "LONG_ISSUER_A", -1, 0),
            row(0, 3, false, 2, "LONG_ISSUER_B", -1, 0),
        ];
        let mut scratch = Scratch::default();
        general_factors(&amounts, &rows[..3], &decoded, &mut scratch);
        assert_eq!(keyed(&scratch), [(2.0, 1, 0), (1.0, 0, 1), (4.0, 2, 1)]);
        assert_eq!(groups(&scratch), [0, 1]);
        // One issuer's two tenors are one group; another issuer with the same first eight
        // bytes is not.
        let decoded = [
            row(0, 3, true, 2, "LONG_ISSUER_B", 1, 0),
            row(0, 3, true, 2, "LONG_ISSUER_A", 0, 0),
            row(0, 3, true, 2, "LONG_ISSUER_B", 0, 0),
        ];
        let mut scratch = Scratch::default();
        general_factors(&amounts, &rows[..3], &decoded, &mut scratch);
        assert_eq!(groups(&scratch), [0, 1, 1]);
    }

    #[test]
    fn rows_net_to_the_exact_sum_of_their_amounts() {
        let mut values = Vec::new();
        let rows = |amounts: &[f64]| -> Vec<Keyed> {
            amounts.iter().map(|&amount| Keyed { amount, position: 0, factor: 0 }).collect()
        };
        assert_eq!(net(&rows(&[4.0, 1.0, 2.0]), &mut values), 7.0);
        assert_eq!(net(&rows(&[1e16, 0.5, -1e16]), &mut values), 0.5);
        assert_eq!(net(&rows(&[0.1, 0.2]), &mut values), 0.1 + 0.2);
    }

    #[test]
    fn a_decoded_row_is_one_32_byte_record() {
        // docs/simm.md gives the memory of a CRIF out of account order as 32 bytes per row.
        assert_eq!(std::mem::size_of::<Row<'_>>(), 32);
    }

    #[test]
    fn ascending_runs_span_pieces_and_batches() {
        let n = RUN_PIECE + 10;
        // Runs of three rows, one crossing the piece boundary; the second batch continues the
        // last account of the first, then ascends.
        let first = StringArray::from_iter_values((0..n).map(|i| format!("A{:06}", i / 3)));
        let last = format!("A{:06}", (n - 1) / 3);
        let second = StringArray::from_iter_values([last.as_str(), "B", "B", "C"]);
        let got = ascending_runs(&[&first, &second], &[0, n, n + 4]).expect("ascending");
        let mut want: Vec<(usize, String)> = (0..n).step_by(3).map(|i| (i, format!("A{:06}", i / 3))).collect();
        want.extend([(n + 1, "B".to_owned()), (n + 3, "C".to_owned())]);
        assert_eq!(got.iter().map(|(r, id)| (*r, (*id).to_owned())).collect::<Vec<_>>(), want);
        // An account met again after another, within a piece or across pieces or batches: not
        // ascending.
        let back = StringArray::from_iter_values(["B", "A", "C"]);
        assert!(ascending_runs(&[&back], &[0, 3]).is_none());
        let again = StringArray::from_iter_values(["A000000", "Z"]);
        assert!(ascending_runs(&[&first, &again], &[0, n, n + 2]).is_none());
        let split = StringArray::from_iter_values((0..n).map(|i| if i == RUN_PIECE { "A" } else { "B" }));
        assert!(ascending_runs(&[&split], &[0, n]).is_none());
    }

    #[test]
    fn keys_sort_by_insertion_and_in_general_alike() {
        let mut g = Lcg(7);
        let mut buffers = KeySort::default();
        for n in [0, 1, 2, 5, 50, 96, 97, 300] {
            let mut keys: Vec<u128> = (0..n).map(|i| (u128::from(g.next_u64() >> 40) << 64) | i as u128).collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            sort_keys(&mut keys, &mut buffers);
            assert_eq!(keys, expected, "{n} keys");
        }
    }

    #[test]
    fn factor_groups_sort_by_rank_as_in_general() {
        // Curves' rows together in any order of tenor and sub-curve (ranked), one-row groups
        // between them (inserted), and a group split in two runs by another row.
        let mut g = Lcg(11);
        let mut buffers = KeySort::default();
        for n in [3, 4, 5, 20, 50, 96] {
            for layout in 0..3 {
                let rows: Vec<Row<'_>> = (0..n)
                    .map(|i| {
                        let (group, tenor) = match layout {
                            0 => (0, (g.next_u64() % 12) as i8),
                            1 => ((i / 7) % 3, (g.next_u64() % 12) as i8 - 1),
                            _ => (if i == n / 2 { 1 } else { 0 }, (g.next_u64() % 3) as i8),
                        };
                        let q = ["USD", "EUR", "JPY"][group];
                        row(0, (group % 2) as u8, false, 0, q, tenor, (g.next_u64() % 3) as u8)
                    })
                    .collect();
                // Positions as they come, and past 128 (skipped rows before them).
                for skipped in [0, 100, 1 << 20] {
                    let mut keys: Vec<u128> =
                        rows.iter().enumerate().map(|(i, r)| packed_key(r, i + skipped * (i % 2))).collect();
                    let mut expected = keys.clone();
                    expected.sort_unstable();
                    sort_keys(&mut keys, &mut buffers);
                    assert_eq!(keys, expected, "{n} rows, layout {layout}, {skipped} skipped");
                }
            }
        }
        // Positions 128 apart (equal in their low seven bits) in one group of equal tenors.
        let usd = row(0, 0, false, 0, "USD", 3, 0);
        let positions = [131, 2, 130, 0, 129, 1, 128, 3];
        let mut keys: Vec<u128> = positions.iter().map(|&p| packed_key(&usd, p)).collect();
        let mut expected = keys.clone();
        expected.sort_unstable();
        sort_keys(&mut keys, &mut buffers);
        assert_eq!(keys, expected);
    }

    #[test]
    fn remembered_lookups_equal_fresh_ones() {
        // Repeats, switches, unknown names (remembered as not found), "" and a long name.
        let values = ["1y", "1y", "2y", "zz", "zz", "1y", "", "", "Risk_CommodityVolatility", "2y", "2y"];
        let array = StringArray::from_iter_values(values);
        let col = Col::Plain(vec![&array]);
        let map: NameMap<u8> = index_map(["1y", "2y", "", "Risk_CommodityVolatility"]);
        let (mut last, mut last_any) = (Last::default(), Last::default());
        for (i, v) in values.iter().enumerate() {
            assert_eq!(Strs::new(&array).find(&map, &mut last, i, i), map.get(v.as_bytes()), "row {i}");
            let any = ColAt { col: &col, batch: 0 };
            assert_eq!(any.find(&map, &mut last_any, i, i), map.get(v.as_bytes()), "row {i}");
            assert_eq!(Strs::new(&array).lookup(&map, i, i), map.get(v.as_bytes()), "row {i}");
            assert_eq!(any.lookup(&map, i, i), map.get(v.as_bytes()), "row {i}");
        }
    }

    #[test]
    fn fast_lookups_find_the_first_equal_name() {
        let map: NameMap<u8> = index_map(["1y", "2y", "1y", "Residual"]);
        assert_eq!(map.get(b"1y"), Some(0));
        assert_eq!(map.get(b"Residual"), Some(3));
        assert_eq!(map.get(b"3y"), None);
        assert_eq!(map.get(b""), None);
        // An index past what the map's type holds is not found (an unknown name, not a wrap).
        let many: Vec<String> = (0..300).map(|i| format!("b{i}")).collect();
        let map: NameMap<u8> = index_map(many.iter().map(String::as_str));
        assert_eq!((map.get(b"b255"), map.get(b"b256")), (Some(255), None));
    }
}
