//! The SIMM result tables: accounts, product classes, risk classes, buckets, and each CRIF row's
//! contribution (in input row order).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
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

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn str_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

pub fn build(crif: &Crif<'_>, results: Vec<AccountSimm<'_>>, contributions: Vec<f64>) -> Result<SimmTables> {
    let names = &crif.accounts;
    let accounts = batch(
        vec![str_field("account"), f64_field("simm", false)],
        vec![strings(names.iter().copied()), f64s(results.iter().map(|r| r.total))],
    )?;
    let pcs: Vec<(usize, (u8, f64))> =
        results.iter().enumerate().flat_map(|(i, r)| r.product.iter().map(move |x| (i, *x))).collect();
    let product_classes = batch(
        vec![str_field("account"), str_field("product_class"), f64_field("simm", false)],
        vec![
            strings(pcs.iter().map(|(i, _)| names[*i])),
            strings(pcs.iter().map(|(_, (pc, _))| PRODUCT_CLASSES[*pc as usize])),
            f64s(pcs.iter().map(|(_, (_, v))| *v)),
        ],
    )?;
    type RiskRow = (u8, u8, [f64; 3], f64);
    let rcs: Vec<(usize, &RiskRow)> =
        results.iter().enumerate().flat_map(|(i, r)| r.risk.iter().map(move |x| (i, x))).collect();
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
            strings(rcs.iter().map(|(i, _)| names[*i])),
            strings(rcs.iter().map(|(_, x)| PRODUCT_CLASSES[x.0 as usize])),
            strings(rcs.iter().map(|(_, x)| RISK_CLASSES[x.1 as usize])),
            f64s(rcs.iter().map(|(_, x)| x.2[0])),
            f64s(rcs.iter().map(|(_, x)| x.2[1])),
            f64s(rcs.iter().map(|(_, x)| x.2[2])),
            f64s(rcs.iter().map(|(_, x)| x.3)),
        ],
    )?;
    type BucketRow<'b> = (u8, u8, u8, &'b str, f64, f64);
    let bs: Vec<(usize, &BucketRow<'_>)> =
        results.iter().enumerate().flat_map(|(i, r)| r.buckets.iter().map(move |x| (i, x))).collect();
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
            strings(bs.iter().map(|(i, _)| names[*i])),
            strings(bs.iter().map(|(_, x)| PRODUCT_CLASSES[x.0 as usize])),
            strings(bs.iter().map(|(_, x)| RISK_CLASSES[x.1 as usize])),
            strings(bs.iter().map(|(_, x)| MARGIN_TYPES[x.2 as usize])),
            strings(bs.iter().map(|(_, x)| x.3)),
            f64s(bs.iter().map(|(_, x)| x.4)),
            f64s(bs.iter().map(|(_, x)| x.5)),
        ],
    )?;
    let contributions = batch(vec![f64_field("contribution", false)], vec![f64s(contributions.into_iter())])?;
    Ok(SimmTables { accounts, product_classes, risk_classes, buckets, contributions })
}
