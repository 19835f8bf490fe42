//! TIMS result tables: accounts (risk after offsets, minimum, requirement, parameter set) and one
//! row per account and class group with its product group's figures.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::aggregate::{AccountOutcome, ClassOutcome, ProductOutcome};
use super::spec::TimsModel;
use super::{point, TimsMethod, N};
use crate::error::Result;
use crate::output::arrow::{account_field, batch, benefit, f64_field, f64s, ids_for};

pub fn accounts_batch(model: &TimsModel, account_ids: &ArrayRef, outcomes: &[AccountOutcome]) -> Result<RecordBatch> {
    let sum = |f: fn(&ProductOutcome) -> f64| {
        f64s(outcomes.iter().map(move |o| o.products.iter().fold(0.0, |a, p| a + f(p))))
    };
    batch(
        vec![
            account_field(account_ids),
            f64_field("initial_margin", false),
            f64_field("maintenance_margin", false),
            f64_field("gross_margin", false),
            f64_field("netting_benefit", false),
            f64_field("risk", false),
            f64_field("minimum", false),
            f64_field("class_group_risk", false),
            Field::new("parameter_set", DataType::Utf8, false),
        ],
        vec![
            account_ids.clone(),
            f64s(outcomes.iter().map(|o| o.requirement)),
            f64s(outcomes.iter().map(|o| o.requirement)),
            f64s(outcomes.iter().map(|o| o.gross)),
            f64s(outcomes.iter().map(|o| benefit(o.gross, o.requirement))),
            sum(|p| p.risk),
            sum(|p| p.minimum),
            f64s(outcomes.iter().map(|o| o.classes.iter().fold(0.0, |a, c| a + c.risk))),
            Arc::new(StringArray::from(vec![model.parameter_set.as_str(); outcomes.len()])),
        ],
    )
}

pub fn by_class_group_batch(
    model: &TimsModel,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let rows: Vec<(u32, &ClassOutcome, &ProductOutcome)> = outcomes
        .iter()
        .enumerate()
        .flat_map(|(a, o)| {
            o.classes.iter().map(move |c| {
                let p = model.class_groups[c.class_group as usize].product_group as u32;
                let product = o.products.iter().find(|x| x.product_group == p).expect("every held class has its group");
                (a as u32, c, product)
            })
        })
        .collect();
    let ids = ids_for(account_ids, rows.iter().map(|r| r.0).collect())?;
    let mut underlying = StringBuilder::new();
    let mut product = StringBuilder::new();
    let mut worst = Float64Builder::new();
    for (_, c, p) in &rows {
        let group = &model.class_groups[c.class_group as usize];
        underlying.append_value(&group.underlying);
        product.append_value(&model.product_groups[p.product_group as usize].name);
        worst.append_option(c.worst.map(|k| point(k as usize, group.down, group.up)));
    }
    batch(
        vec![
            account_field(account_ids),
            Field::new("underlying", DataType::Utf8, false),
            Field::new("product_group", DataType::Utf8, false),
            f64_field("class_group_risk", false),
            f64_field("worst_move", true),
            f64_field("product_group_risk", false),
            f64_field("product_group_minimum", false),
            f64_field("product_group_requirement", false),
        ],
        vec![
            ids,
            Arc::new(underlying.finish()),
            Arc::new(product.finish()),
            f64s(rows.iter().map(|r| r.1.risk)),
            Arc::new(worst.finish()),
            f64s(rows.iter().map(|r| r.2.risk)),
            f64s(rows.iter().map(|r| r.2.minimum)),
            f64s(rows.iter().map(|r| r.2.requirement)),
        ],
    )
}

/// One account's P&L per class group at each point (`point` 1..10, `move` of the first class).
pub fn scenario_matrix_batch(method: &TimsMethod, outcome: &AccountOutcome) -> Result<RecordBatch> {
    let mut fields = vec![Field::new("point", DataType::Int32, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int32Array::from_iter_values(1..=N as i32))];
    let mut total = [0.0; N];
    for c in &outcome.classes {
        fields.push(f64_field(&method.model.class_groups[c.class_group as usize].underlying, false));
        columns.push(f64s(c.pnl.iter().copied()));
        for (t, x) in total.iter_mut().zip(&c.pnl) {
            *t += x;
        }
    }
    fields.push(f64_field("total", false));
    columns.push(f64s(total.iter().copied()));
    batch(fields, columns)
}
