//! SPAN result tables: accounts (the components summed over commodities, the requirement and the
//! parameter set), one row per account and combined commodity, and one account's scenarios.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::aggregate::{AccountOutcome, CommodityOutcome};
use super::arrays::{label, N};
use super::spec::SpanModel;
use super::SpanMethod;
use crate::error::Result;
use crate::output::arrow::{account_field, batch, f64_field, f64s, ids_for};

fn parameter_set(model: &SpanModel, n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![model.parameter_set.as_str(); n]))
}

pub fn accounts_batch(model: &SpanModel, account_ids: &ArrayRef, outcomes: &[AccountOutcome]) -> Result<RecordBatch> {
    let part = |f: fn(&CommodityOutcome) -> f64| f64s(outcomes.iter().map(move |o| o.sum(f)));
    batch(
        vec![
            account_field(account_ids),
            f64_field("initial_margin", false),
            f64_field("maintenance_margin", false),
            f64_field("gross_margin", false),
            f64_field("netting_benefit", false),
            f64_field("scanning_risk", false),
            f64_field("intra_charge", false),
            f64_field("delivery_charge", false),
            f64_field("inter_credit", false),
            f64_field("short_option_minimum", false),
            f64_field("span_requirement", false),
            f64_field("net_option_value", false),
            Field::new("parameter_set", DataType::Utf8, false),
        ],
        vec![
            account_ids.clone(),
            f64s(outcomes.iter().map(AccountOutcome::initial)),
            f64s(outcomes.iter().map(AccountOutcome::maintenance)),
            f64s(outcomes.iter().map(|o| o.gross)),
            f64s(outcomes.iter().map(|o| o.gross - o.initial())),
            part(|c| c.scan),
            part(|c| c.intra),
            part(|c| c.delivery),
            part(|c| c.credit),
            part(|c| c.short_option_minimum),
            f64s(outcomes.iter().map(|o| o.span_requirement)),
            f64s(outcomes.iter().map(|o| o.net_option_value)),
            parameter_set(model, outcomes.len()),
        ],
    )
}

pub fn by_commodity_batch(
    model: &SpanModel,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let rows: Vec<(u32, &CommodityOutcome)> =
        outcomes.iter().enumerate().flat_map(|(a, o)| o.commodities.iter().map(move |c| (a as u32, c))).collect();
    let ids = ids_for(account_ids, rows.iter().map(|r| r.0).collect())?;
    let mut names = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
    let mut active = Int32Builder::with_capacity(rows.len());
    for (_, c) in &rows {
        names.append_value(&model.commodities[c.commodity as usize].name);
        active.append_option(c.active.map(|s| s as i32 + 1));
    }
    let col = |f: fn(&CommodityOutcome) -> f64| f64s(rows.iter().map(move |r| f(r.1)));
    batch(
        vec![
            account_field(account_ids),
            Field::new("combined_commodity", DataType::Utf8, false),
            f64_field("scanning_risk", false),
            Field::new("active_scenario", DataType::Int32, true),
            f64_field("time_risk", false),
            f64_field("volatility_risk", false),
            f64_field("price_risk", false),
            f64_field("net_delta", false),
            f64_field("intra_charge", false),
            f64_field("delivery_charge", false),
            f64_field("inter_credit", false),
            f64_field("short_option_minimum", false),
            f64_field("total", false),
            f64_field("net_option_value", false),
        ],
        vec![
            ids,
            Arc::new(names.finish()),
            col(|c| c.scan),
            Arc::new(active.finish()),
            col(|c| c.time_risk),
            col(|c| c.volatility_risk),
            col(|c| c.price_risk),
            col(|c| c.net_delta),
            col(|c| c.intra),
            col(|c| c.delivery),
            col(|c| c.credit),
            col(|c| c.short_option_minimum),
            col(|c| c.total),
            col(|c| c.net_option_value),
        ],
    )
}

/// One account's loss per combined commodity under each scenario (1-based, SPAN order).
pub fn scenario_matrix_batch(method: &SpanMethod, outcome: &AccountOutcome) -> Result<RecordBatch> {
    let mut fields = vec![Field::new("scenario", DataType::Int32, false), Field::new("label", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(1..=N as i32)),
        Arc::new(StringArray::from_iter_values((0..N).map(label))),
    ];
    let mut total = [0.0; N];
    for c in &outcome.commodities {
        fields.push(f64_field(&method.model.commodities[c.commodity as usize].name, false));
        columns.push(f64s(c.scenarios.iter().copied()));
        for (t, x) in total.iter_mut().zip(&c.scenarios) {
            *t += x;
        }
    }
    fields.push(f64_field("total", false));
    columns.push(f64s(total.iter().copied()));
    batch(fields, columns)
}
