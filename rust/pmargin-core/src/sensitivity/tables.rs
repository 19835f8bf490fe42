//! The SIMM result tables: accounts, product classes, risk classes, buckets, and each CRIF row's
//! contribution (in input row order).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use crate::error::Result;
use crate::output::arrow::{batch, f64_field, f64s};
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

/// (Gathered first: arrow needs an exact length, which a flattened iterator does not give.)
fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    let values: Vec<&str> = values.collect();
    Arc::new(StringArray::from_iter_values(values))
}

fn str_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// `results`: the worker chunks in account order; `contributions` in input row order.
pub fn build(crif: &Crif<'_>, results: Vec<AccountSimm<'_>>, contributions: Vec<f64>) -> Result<SimmTables> {
    let names = &crif.accounts;
    let name = |i: u32| names[i as usize];
    let accounts = batch(
        vec![str_field("account"), f64_field("simm", false)],
        vec![strings(names.iter().copied()), f64s(results.iter().flat_map(|r| r.totals.iter().copied()))],
    )?;
    let pcs = || results.iter().flat_map(|r| r.product.iter());
    let product_classes = batch(
        vec![str_field("account"), str_field("product_class"), f64_field("simm", false)],
        vec![
            strings(pcs().map(|x| name(x.0))),
            strings(pcs().map(|x| PRODUCT_CLASSES[x.1 as usize])),
            f64s(pcs().map(|x| x.2)),
        ],
    )?;
    let rcs = || results.iter().flat_map(|r| r.risk.iter());
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
        vec![
            strings(rcs().map(|x| name(x.0))),
            strings(rcs().map(|x| PRODUCT_CLASSES[x.1 as usize])),
            strings(rcs().map(|x| RISK_CLASSES[x.2 as usize])),
            f64s(rcs().map(|x| x.3[0])),
            f64s(rcs().map(|x| x.3[1])),
            f64s(rcs().map(|x| x.3[2])),
            f64s(rcs().map(|x| x.4)),
        ],
    )?;
    let bs = || results.iter().flat_map(|r| r.buckets.iter());
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
        vec![
            strings(bs().map(|x| name(x.0))),
            strings(bs().map(|x| PRODUCT_CLASSES[x.1 as usize])),
            strings(bs().map(|x| RISK_CLASSES[x.2 as usize])),
            strings(bs().map(|x| MARGIN_TYPES[x.3 as usize])),
            strings(bs().map(|x| x.4)),
            f64s(bs().map(|x| x.5)),
            f64s(bs().map(|x| x.6)),
        ],
    )?;
    // The vector becomes the column's buffer (no copy).
    let contributions: ArrayRef = Arc::new(Float64Array::from(contributions));
    let contributions = batch(vec![f64_field("contribution", false)], vec![contributions])?;
    Ok(SimmTables { accounts, product_classes, risk_classes, buckets, contributions })
}
