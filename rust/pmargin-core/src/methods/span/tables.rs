//! SPAN result tables: accounts (the components summed over commodities, the requirement and the
//! parameter set), one row per account and combined commodity, and one account's scenarios.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int32Builder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::aggregate::{AccountOutcome, CommodityOutcome};
use super::arrays::{label, N};
use super::spec::SpanModel;
use super::SpanMethod;
use crate::error::Result;
use crate::output::arrow::{account_field, batch, benefit, f64_field, f64s, ids_for};

fn parameter_set(model: &SpanModel, n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![model.parameter_set.as_str(); n]))
}

/// Builders of `n` float columns filled in one pass over the outcomes (their structs are large:
/// one pass reads each once).
fn columns<T>(items: &[T], n: usize, values: impl Fn(&T, &mut [f64])) -> Vec<ArrayRef> {
    let mut builders: Vec<Float64Builder> = (0..n).map(|_| Float64Builder::with_capacity(items.len())).collect();
    let mut row = vec![0.0; n];
    for item in items {
        values(item, &mut row);
        for (b, x) in builders.iter_mut().zip(&row) {
            b.append_value(*x);
        }
    }
    builders.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect()
}

pub fn accounts_batch(model: &SpanModel, account_ids: &ArrayRef, outcomes: &[AccountOutcome]) -> Result<RecordBatch> {
    const NAMES: [&str; 11] = [
        "initial_margin",
        "maintenance_margin",
        "gross_margin",
        "netting_benefit",
        "scanning_risk",
        "intra_charge",
        "delivery_charge",
        "inter_credit",
        "short_option_minimum",
        "span_requirement",
        "net_option_value",
    ];
    let values = columns(outcomes, NAMES.len(), |o, row| {
        row[0] = o.initial();
        row[1] = o.maintenance();
        row[2] = o.gross;
        row[3] = benefit(o.gross, o.initial());
        row[4] = o.sum(|c| c.scan);
        row[5] = o.sum(|c| c.intra);
        row[6] = o.sum(|c| c.delivery);
        row[7] = o.sum(|c| c.credit);
        row[8] = o.sum(|c| c.short_option_minimum);
        row[9] = o.span_requirement;
        row[10] = o.net_option_value;
    });
    let mut fields = vec![account_field(account_ids)];
    fields.extend(NAMES.iter().map(|n| f64_field(n, false)));
    fields.push(Field::new("parameter_set", DataType::Utf8, false));
    let mut arrays = vec![account_ids.clone()];
    arrays.extend(values);
    arrays.push(parameter_set(model, outcomes.len()));
    batch(fields, arrays)
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
    const NAMES: [&str; 11] = [
        "scanning_risk",
        "time_risk",
        "volatility_risk",
        "price_risk",
        "net_delta",
        "intra_charge",
        "delivery_charge",
        "inter_credit",
        "short_option_minimum",
        "total",
        "net_option_value",
    ];
    let mut values = columns(&rows, NAMES.len(), |(_, c), row| {
        row.copy_from_slice(&[
            c.scan,
            c.time_risk,
            c.volatility_risk,
            c.price_risk,
            c.net_delta,
            c.intra,
            c.delivery,
            c.credit,
            c.short_option_minimum,
            c.total,
            c.net_option_value,
        ]);
    })
    .into_iter();
    let mut fields = vec![account_field(account_ids), Field::new("combined_commodity", DataType::Utf8, false)];
    let mut arrays: Vec<ArrayRef> = vec![ids, Arc::new(names.finish())];
    for (i, name) in NAMES.iter().enumerate() {
        fields.push(f64_field(name, false));
        arrays.push(values.next().expect("one column per name"));
        if i == 0 {
            fields.push(Field::new("active_scenario", DataType::Int32, true));
            arrays.push(Arc::new(active.finish()));
        }
    }
    batch(fields, arrays)
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
