//! The SIMM result tables: accounts, product classes, risk classes, buckets, and each CRIF row's
//! contribution (in input row order).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field};
use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::input::parts::{by_task, parts_by_task, Parted, TrackedPart};
use crate::output::arrow::{batch, f64_field};
use crate::output::text_parts::{TextColumn, TextPart, WideValues};
use crate::sensitivity::crif::Crif;
use crate::sensitivity::params::{MARGIN_TYPES, PRODUCT_CLASSES, RISK_CLASSES};
use crate::sensitivity::simm::AccountSimm;

pub struct SimmTables {
    pub accounts: RecordBatch,
    pub product_classes: RecordBatch,
    pub risk_classes: RecordBatch,
    pub buckets: RecordBatch,
    pub contributions: RecordBatch,
}

/// The tables' string columns, each as its table (numbered as [`table_rows`]): the accounts'
/// account; the product classes' account and product class; the risk classes' account, product
/// class and risk class; the buckets' account, product class, risk class, margin type and label.
const TEXT: [usize; 11] = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3];

/// The tables' number columns, each as its table: the accounts' SIMM, the product classes'
/// SIMM, the risk classes' delta, vega, curvature and margin, the buckets' K and sum of WS.
const NUMBERS: [usize; 8] = [0, 1, 2, 2, 2, 2, 3, 3];

/// A chunk's rows of each table: accounts, product classes, risk classes, buckets.
fn table_rows(r: &AccountSimm<'_>) -> [usize; 4] {
    [r.totals.len(), r.product.len(), r.risk.len(), r.buckets.len()]
}

/// The bytes of each string column ([`TEXT`]) of one chunk's rows; its accounts start at
/// `first`.
fn text_bytes(names: &[&str], r: &AccountSimm<'_>, first: usize) -> [usize; 11] {
    let name = |a: u32| names[a as usize].len();
    let mut s = [0; 11];
    s[0] = names[first..first + r.totals.len()].iter().map(|n| n.len()).sum();
    for x in &r.product {
        s[1] += name(x.0);
        s[2] += PRODUCT_CLASSES[x.1 as usize].len();
    }
    for x in &r.risk {
        s[3] += name(x.0);
        s[4] += PRODUCT_CLASSES[x.1 as usize].len();
        s[5] += RISK_CLASSES[x.2 as usize].len();
    }
    let b = &r.buckets;
    for ((&a, c), label) in b.account.iter().zip(&b.class).zip(&b.label) {
        s[6] += name(a);
        s[7] += PRODUCT_CLASSES[c[0] as usize].len();
        s[8] += RISK_CLASSES[c[1] as usize].len();
        s[9] += MARGIN_TYPES[c[2] as usize].len();
        s[10] += label.len();
    }
    s
}

/// The account names and the class names as padded copies, when they fit ([`WideValues`]).
struct Wide {
    names: Option<WideValues>,
    product: Option<WideValues>,
    risk: Option<WideValues>,
    margin: Option<WideValues>,
}

/// Write one chunk's rows (its accounts from `first`) into its part of every column.
fn write_chunk(
    names: &[&str],
    wide: &Wide,
    (r, first): (&AccountSimm<'_>, usize),
    text: &mut [TextPart<'_>],
    numbers: &mut [TrackedPart<'_, f64>],
) {
    // The parts come one per column: other lengths leave them unfilled (an internal error).
    let (
        [acc, p_acc, p_pc, r_acc, r_pc, r_rc, b_acc, b_pc, b_rc, b_mt, b_label],
        [simm, p_simm, delta, vega, curv, margin, k, ws],
    ) = (text, numbers)
    else {
        return;
    };
    let name = |part: &mut TextPart<'_>, a: usize| part.push_of(names, wide.names.as_ref(), a);
    for a in first..first + r.totals.len() {
        name(acc, a);
    }
    simm.extend_from_slice(&r.totals);
    for x in &r.product {
        name(p_acc, x.0 as usize);
        p_pc.push_of(&PRODUCT_CLASSES, wide.product.as_ref(), x.1 as usize);
        p_simm.push(x.2);
    }
    for x in &r.risk {
        name(r_acc, x.0 as usize);
        r_pc.push_of(&PRODUCT_CLASSES, wide.product.as_ref(), x.1 as usize);
        r_rc.push_of(&RISK_CLASSES, wide.risk.as_ref(), x.2 as usize);
        delta.push(x.3[0]);
        vega.push(x.3[1]);
        curv.push(x.3[2]);
        margin.push(x.4);
    }
    let b = &r.buckets;
    for ((&a, c), label) in b.account.iter().zip(&b.class).zip(&b.label) {
        name(b_acc, a as usize);
        b_pc.push_of(&PRODUCT_CLASSES, wide.product.as_ref(), c[0] as usize);
        b_rc.push_of(&RISK_CLASSES, wide.risk.as_ref(), c[1] as usize);
        b_mt.push_of(&MARGIN_TYPES, wide.margin.as_ref(), c[2] as usize);
        b_label.push(label);
    }
    k.extend_from_slice(&b.k);
    ws.extend_from_slice(&b.ws_sum);
}

fn str_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// `results`: the worker chunks in account order; `contributions` in input row order. Each
/// chunk writes every column of its rows in one pass, in parallel, into its own part of
/// exact-size columns (string sizes counted first): a pass per column, each row's strings
/// copied by a call into memcpy, was a tenth of a run.
pub fn build(crif: &Crif<'_>, results: Vec<AccountSimm<'_>>, contributions: Vec<f64>) -> Result<SimmTables> {
    let names: &[&str] = &crif.accounts;
    let rs = results.as_slice();
    let firsts: Vec<usize> = rs
        .iter()
        .scan(0, |at, r| {
            let first = *at;
            *at += r.totals.len();
            Some(first)
        })
        .collect();
    if firsts.last().zip(rs.last()).map_or(0, |(f, r)| f + r.totals.len()) != names.len() {
        return Err(MarginError::Internal("SIMM results do not cover the accounts".into()));
    }
    let sizes: Vec<[usize; 11]> = rs.par_iter().zip(&firsts).map(|(r, &first)| text_bytes(names, r, first)).collect();
    let rows: [Vec<usize>; 4] = std::array::from_fn(|t| rs.iter().map(|r| table_rows(r)[t]).collect());
    let mut text = TEXT
        .iter()
        .enumerate()
        .map(|(c, &t)| TextColumn::new(&rows[t], sizes.iter().map(|s| s[c]).collect()))
        .collect::<Result<Vec<_>>>()?;
    let mut numbers: Vec<Parted<f64>> = NUMBERS.iter().map(|&t| Parted::new(rows[t].clone())).collect();
    let all_rows = rows.iter().flatten().sum();
    let wide = Wide {
        names: WideValues::of(names.iter().copied(), all_rows),
        product: WideValues::of(PRODUCT_CLASSES.iter().copied(), all_rows),
        risk: WideValues::of(RISK_CLASSES.iter().copied(), all_rows),
        margin: WideValues::of(MARGIN_TYPES.iter().copied(), all_rows),
    };
    let chunks = rs.iter().zip(firsts.iter().copied());
    let tasks: Vec<_> = chunks.zip(by_task(&mut text, TextColumn::parts)).zip(parts_by_task(&mut numbers)).collect();
    tasks.into_par_iter().for_each(|((chunk, mut t), mut x)| write_chunk(names, &wide, chunk, &mut t, &mut x));
    let mut text = text.into_iter().map(|c| c.finish(None));
    let mut numbers = numbers.into_iter().map(|c| Ok(Arc::new(Float64Array::from(c.finish()?)) as ArrayRef));
    let mut take = |strings: usize, floats: usize| -> Result<Vec<ArrayRef>> {
        text.by_ref().take(strings).chain(numbers.by_ref().take(floats)).collect()
    };
    let (built, pc_cols, risk_cols, bucket_cols) = (take(1, 1)?, take(2, 1)?, take(3, 4)?, take(5, 2)?);
    let accounts = batch(vec![str_field("account"), f64_field("simm", false)], built)?;
    let product_classes =
        batch(vec![str_field("account"), str_field("product_class"), f64_field("simm", false)], pc_cols)?;
    let risk_classes = batch(
        vec![
            str_field("account"),
            str_field("product_class"),
            str_field("risk_class"),
            f64_field("delta", false),
            f64_field("vega", false),
            f64_field("curvature", false),
            f64_field("margin", false),
        ],
        risk_cols,
    )?;
    let buckets = batch(
        vec![
            str_field("account"),
            str_field("product_class"),
            str_field("risk_class"),
            str_field("margin_type"),
            str_field("bucket"),
            f64_field("k", false),
            f64_field("ws_sum", false),
        ],
        bucket_cols,
    )?;
    // The vector becomes the column's buffer (no copy).
    let contributions: ArrayRef = Arc::new(Float64Array::from(contributions));
    let contributions = batch(vec![f64_field("contribution", false)], vec![contributions])?;
    Ok(SimmTables { accounts, product_classes, risk_classes, buckets, contributions })
}
