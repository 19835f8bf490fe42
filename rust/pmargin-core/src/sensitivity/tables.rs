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

/// A flattened iterator with its length told (arrow sizes the column from it; a flattened
/// iterator cannot know it, so this avoids gathering the strings first).
struct Counted<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let x = self.inner.next()?;
        self.left = self.left.saturating_sub(1);
        Some(x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// `count` strings.
fn strings<'a>(count: usize, values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(Counted { inner: values, left: count }))
}

/// `count` floats.
fn floats(count: usize, values: impl Iterator<Item = f64>) -> ArrayRef {
    f64s(Counted { inner: values, left: count })
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
        vec![
            strings(names.len(), names.iter().copied()),
            floats(names.len(), results.iter().flat_map(|r| r.totals.iter().copied())),
        ],
    )?;
    let pcs = || results.iter().flat_map(|r| r.product.iter());
    let n_pc = results.iter().map(|r| r.product.len()).sum();
    let product_classes = batch(
        vec![str_field("account"), str_field("product_class"), f64_field("simm", false)],
        vec![
            strings(n_pc, pcs().map(|x| name(x.0))),
            strings(n_pc, pcs().map(|x| PRODUCT_CLASSES[x.1 as usize])),
            floats(n_pc, pcs().map(|x| x.2)),
        ],
    )?;
    let rcs = || results.iter().flat_map(|r| r.risk.iter());
    let n_rc = results.iter().map(|r| r.risk.len()).sum();
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
            strings(n_rc, rcs().map(|x| name(x.0))),
            strings(n_rc, rcs().map(|x| PRODUCT_CLASSES[x.1 as usize])),
            strings(n_rc, rcs().map(|x| RISK_CLASSES[x.2 as usize])),
            floats(n_rc, rcs().map(|x| x.3[0])),
            floats(n_rc, rcs().map(|x| x.3[1])),
            floats(n_rc, rcs().map(|x| x.3[2])),
            floats(n_rc, rcs().map(|x| x.4)),
        ],
    )?;
    let bs = || results.iter().flat_map(|r| r.buckets.iter());
    let n_b = results.iter().map(|r| r.buckets.len()).sum();
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
            strings(n_b, bs().map(|x| name(x.0))),
            strings(n_b, bs().map(|x| PRODUCT_CLASSES[x.1 as usize])),
            strings(n_b, bs().map(|x| RISK_CLASSES[x.2 as usize])),
            strings(n_b, bs().map(|x| MARGIN_TYPES[x.3 as usize])),
            strings(n_b, bs().map(|x| x.4)),
            floats(n_b, bs().map(|x| x.5)),
            floats(n_b, bs().map(|x| x.6)),
        ],
    )?;
    // The vector becomes the column's buffer (no copy).
    let contributions: ArrayRef = Arc::new(Float64Array::from(contributions));
    let contributions = batch(vec![f64_field("contribution", false)], vec![contributions])?;
    Ok(SimmTables { accounts, product_classes, risk_classes, buckets, contributions })
}
