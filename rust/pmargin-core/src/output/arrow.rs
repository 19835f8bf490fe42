//! Arrow helpers for result tables: fields, batches, the `account_id` column gathered from the
//! input's own ids, and the scenario-matrix columns. Nothing here knows a method or the engine.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::take::take;

use crate::error::{MarginError, Result};
use crate::risk::group_pnl::ScenarioMatrix;

pub fn arrow_error(e: arrow_schema::ArrowError) -> MarginError {
    MarginError::Internal(format!("building a result table: {e}"))
}

pub fn f64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

pub fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

pub fn account_field(ids: &ArrayRef) -> Field {
    Field::new("account_id", ids.data_type().clone(), false)
}

/// `account_id` of each row, from the row's account index.
pub fn ids_for(account_ids: &ArrayRef, accounts: Vec<u32>) -> Result<ArrayRef> {
    take(account_ids.as_ref(), &UInt32Array::from(accounts), None).map_err(arrow_error)
}

pub fn f64s(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

/// Per-underlying P&L columns and the total of a scenario matrix.
pub fn matrix_columns(names: &[String], matrix: &ScenarioMatrix, fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
    let s_count = matrix.total.len();
    for (k, &u) in matrix.underlyings.iter().enumerate() {
        fields.push(f64_field(&names[u as usize], false));
        columns.push(f64s(matrix.pnl[k * s_count..(k + 1) * s_count].iter().copied()));
    }
    fields.push(f64_field("total", false));
    columns.push(f64s(matrix.total.iter().copied()));
}
