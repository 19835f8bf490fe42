//! Result tables as Arrow record batches.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::take::take;

use crate::aggregate::{AccountOutcome, Driver, ScenarioMatrix};
use crate::engine::GridEngine;
use crate::error::{MarginError, Result};

fn arrow_error(e: arrow_schema::ArrowError) -> MarginError {
    MarginError::Internal(format!("building a result table: {e}"))
}

fn f64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

pub fn accounts_schema(account_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("account_id", account_type.clone(), false),
        f64_field("initial_margin", false),
        f64_field("maintenance_margin", false),
        f64_field("gross_margin", false),
        Field::new("worst_scenario", DataType::Utf8, true),
        f64_field("worst_price_shock", true),
        f64_field("worst_vol_shock", true),
    ]))
}

pub fn by_underlying_schema(account_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("account_id", account_type.clone(), false),
        Field::new("underlying", DataType::Utf8, false),
        f64_field("requirement", false),
        f64_field("worst_price_shock", true),
        f64_field("worst_vol_shock", true),
        Field::new("worst_scenario", DataType::Utf8, true),
    ]))
}

/// Price shock, vol shock and label builders for a nullable "worst scenario".
struct WorstColumns {
    price: Float64Builder,
    vol: Float64Builder,
    label: StringBuilder,
}

impl WorstColumns {
    fn with_capacity(n: usize) -> Self {
        WorstColumns {
            price: Float64Builder::with_capacity(n),
            vol: Float64Builder::with_capacity(n),
            label: StringBuilder::with_capacity(n, n * 20),
        }
    }

    fn push(&mut self, engine: &GridEngine, worst: Option<(Option<u32>, u32)>) {
        match worst {
            Some((underlying, s)) => {
                let (p, v) = engine.model.scenario(s as usize);
                self.price.append_value(p);
                self.vol.append_value(v);
                self.label.append_value(engine.label(underlying, s));
            }
            None => {
                self.price.append_null();
                self.vol.append_null();
                self.label.append_null();
            }
        }
    }
}

pub fn accounts_batch(
    engine: &GridEngine,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let mm = engine.model.mm_ratio;
    let initial: Float64Array = outcomes.iter().map(|o| Some(o.initial)).collect();
    let maintenance: Float64Array = outcomes.iter().map(|o| Some(mm * o.initial)).collect();
    let gross: Float64Array = outcomes.iter().map(|o| Some(o.gross)).collect();
    let mut worst = WorstColumns::with_capacity(outcomes.len());
    for o in outcomes {
        worst.push(
            engine,
            o.driver.map(|d| match d {
                Driver::Underlying {
                    underlying,
                    scenario,
                } => (Some(underlying), scenario),
                Driver::Joint { scenario } => (None, scenario),
            }),
        );
    }
    let columns: Vec<ArrayRef> = vec![
        account_ids.clone(),
        Arc::new(initial),
        Arc::new(maintenance),
        Arc::new(gross),
        Arc::new(worst.label.finish()),
        Arc::new(worst.price.finish()),
        Arc::new(worst.vol.finish()),
    ];
    RecordBatch::try_new(accounts_schema(account_ids.data_type()), columns).map_err(arrow_error)
}

pub fn by_underlying_batch(
    engine: &GridEngine,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let n: usize = outcomes.iter().map(|o| o.underlyings.len()).sum();
    let mut account_index = Vec::with_capacity(n);
    let mut names = StringBuilder::with_capacity(n, n * 4);
    let mut requirement = Vec::with_capacity(n);
    let mut worst = WorstColumns::with_capacity(n);
    for (a, o) in outcomes.iter().enumerate() {
        for u in &o.underlyings {
            account_index.push(a as u32);
            names.append_value(&engine.underlyings.names[u.underlying as usize]);
            requirement.push(u.requirement);
            worst.push(engine, u.worst.map(|s| (Some(u.underlying), s)));
        }
    }
    let ids = take(
        account_ids.as_ref(),
        &UInt32Array::from(account_index),
        None,
    )
    .map_err(arrow_error)?;
    let columns: Vec<ArrayRef> = vec![
        ids,
        Arc::new(names.finish()),
        Arc::new(Float64Array::from(requirement)),
        Arc::new(worst.price.finish()),
        Arc::new(worst.vol.finish()),
        Arc::new(worst.label.finish()),
    ];
    RecordBatch::try_new(by_underlying_schema(account_ids.data_type()), columns)
        .map_err(arrow_error)
}

/// The risk matrix of one account: scenario, shocks, one column per underlying, total.
pub fn scenario_matrix_batch(engine: &GridEngine, matrix: &ScenarioMatrix) -> Result<RecordBatch> {
    let s_count = engine.model.n_scenarios();
    let mut fields = vec![
        Field::new("scenario", DataType::Int32, false),
        f64_field("price_shock", false),
        f64_field("vol_shock", false),
    ];
    let shocks: Vec<(f64, f64)> = (0..s_count).map(|s| engine.model.scenario(s)).collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::Int32Array::from_iter_values(0..s_count as i32)),
        Arc::new(Float64Array::from_iter_values(shocks.iter().map(|s| s.0))),
        Arc::new(Float64Array::from_iter_values(shocks.iter().map(|s| s.1))),
    ];
    for (k, &u) in matrix.underlyings.iter().enumerate() {
        fields.push(f64_field(&engine.underlyings.names[u as usize], false));
        columns.push(Arc::new(Float64Array::from(
            matrix.pnl[k * s_count..(k + 1) * s_count].to_vec(),
        )));
    }
    fields.push(f64_field("total", false));
    columns.push(Arc::new(Float64Array::from(matrix.total.clone())));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

/// `instrument_id`, `price` per unit of quantity.
pub fn values_batch(ids: &[String], prices: &[f64]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("instrument_id", DataType::Utf8, false),
        f64_field("price", false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::StringArray::from_iter_values(ids)),
        Arc::new(Float64Array::from(prices.to_vec())),
    ];
    RecordBatch::try_new(schema, columns).map_err(arrow_error)
}
