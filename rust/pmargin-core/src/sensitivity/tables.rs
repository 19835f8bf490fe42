//! The SIMM result tables: accounts, product classes, risk classes, buckets, and each CRIF row's
//! contribution (in input row order).

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field};
use rayon::prelude::*;

use crate::error::Result;
use crate::output::arrow::{batch, f64_field};
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

/// A string column of the rows of every chunk: offsets and bytes sized exactly in a first pass,
/// then filled in one (no growing buffers on large outputs).
fn strings<'r, 'a: 'r, T: 'r>(
    results: &'r [AccountSimm<'a>],
    rows: impl Fn(&'r AccountSimm<'a>) -> &'r [T],
    value: impl Fn(&T) -> &'r str,
) -> ArrayRef {
    let (mut n, mut bytes) = (0usize, 0usize);
    for r in results {
        let rs = rows(r);
        n += rs.len();
        bytes += rs.iter().map(|x| value(x).len()).sum::<usize>();
    }
    // A builder sized exactly: the bytes come from `&str`s, so it checks no UTF-8 again.
    let mut b = StringBuilder::with_capacity(n, bytes);
    for r in results {
        for x in rows(r) {
            b.append_value(value(x));
        }
    }
    Arc::new(b.finish())
}

/// A float column of the rows of every chunk.
fn floats<'r, 'a: 'r, T: 'r>(
    results: &'r [AccountSimm<'a>],
    rows: impl Fn(&'r AccountSimm<'a>) -> &'r [T],
    value: impl Fn(&T) -> f64,
) -> ArrayRef {
    let n = results.iter().map(|r| rows(r).len()).sum();
    let mut out: Vec<f64> = Vec::with_capacity(n);
    for r in results {
        out.extend(rows(r).iter().map(&value));
    }
    Arc::new(Float64Array::from(out))
}

type Column<'a> = Box<dyn Fn() -> ArrayRef + Send + Sync + 'a>;

fn str_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// `results`: the worker chunks in account order; `contributions` in input row order. The
/// columns are built in parallel.
pub fn build(crif: &Crif<'_>, results: Vec<AccountSimm<'_>>, contributions: Vec<f64>) -> Result<SimmTables> {
    let names = &crif.accounts;
    let name = move |i: u32| names[i as usize];
    let rs = results.as_slice();
    fn totals<'r>(r: &'r AccountSimm<'_>) -> &'r [f64] {
        &r.totals
    }
    fn product<'r>(r: &'r AccountSimm<'_>) -> &'r [(u32, u8, f64)] {
        &r.product
    }
    fn risk<'r>(r: &'r AccountSimm<'_>) -> &'r [(u32, u8, u8, [f64; 3], f64)] {
        &r.risk
    }
    fn bucket_account<'r>(r: &'r AccountSimm<'_>) -> &'r [u32] {
        &r.buckets.account
    }
    fn bucket_class<'r>(r: &'r AccountSimm<'_>) -> &'r [[u8; 3]] {
        &r.buckets.class
    }
    fn bucket_label<'r, 'a>(r: &'r AccountSimm<'a>) -> &'r [&'a str] {
        &r.buckets.label
    }
    fn bucket_k<'r>(r: &'r AccountSimm<'_>) -> &'r [f64] {
        &r.buckets.k
    }
    fn bucket_ws_sum<'r>(r: &'r AccountSimm<'_>) -> &'r [f64] {
        &r.buckets.ws_sum
    }
    let columns: Vec<Column<'_>> = vec![
        // accounts
        Box::new(|| {
            let bytes = names.iter().map(|s| s.len()).sum();
            let mut b = StringBuilder::with_capacity(names.len(), bytes);
            names.iter().for_each(|s| b.append_value(s));
            Arc::new(b.finish())
        }),
        Box::new(move || floats(rs, totals, |x| *x)),
        // product classes
        Box::new(move || strings(rs, product, |x| name(x.0))),
        Box::new(move || strings(rs, product, |x| PRODUCT_CLASSES[x.1 as usize])),
        Box::new(move || floats(rs, product, |x| x.2)),
        // risk classes
        Box::new(move || strings(rs, risk, |x| name(x.0))),
        Box::new(move || strings(rs, risk, |x| PRODUCT_CLASSES[x.1 as usize])),
        Box::new(move || strings(rs, risk, |x| RISK_CLASSES[x.2 as usize])),
        Box::new(move || floats(rs, risk, |x| x.3[0])),
        Box::new(move || floats(rs, risk, |x| x.3[1])),
        Box::new(move || floats(rs, risk, |x| x.3[2])),
        Box::new(move || floats(rs, risk, |x| x.4)),
        // buckets
        Box::new(move || strings(rs, bucket_account, |x| name(*x))),
        Box::new(move || strings(rs, bucket_class, |x| PRODUCT_CLASSES[x[0] as usize])),
        Box::new(move || strings(rs, bucket_class, |x| RISK_CLASSES[x[1] as usize])),
        Box::new(move || strings(rs, bucket_class, |x| MARGIN_TYPES[x[2] as usize])),
        Box::new(move || strings(rs, bucket_label, |x| x)),
        Box::new(move || floats(rs, bucket_k, |x| *x)),
        Box::new(move || floats(rs, bucket_ws_sum, |x| *x)),
    ];
    let mut built: Vec<ArrayRef> = columns.into_par_iter().map(|c| c()).collect();
    let bucket_cols = built.split_off(12);
    let risk_cols = built.split_off(5);
    let pc_cols = built.split_off(2);
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
