//! The failed-accounts table of a run made with `on_error="isolate"`: one row per account left
//! out, with the first problem found in it (`account_id`, `table`, `column`, `row`, `reason`).

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::arrow::{account_field, batch};
use crate::domain::book::Failed;
use crate::error::{MarginError, Result};

/// Where a problem is (table, column, row) and why.
type Cells<'a> = (Option<&'a str>, Option<&'a str>, Option<i64>, String);

/// `account_ids` holds the id of each failed account, in the order of `failed`.
pub fn failed_table(account_ids: &ArrayRef, failed: &[Failed]) -> Result<RecordBatch> {
    let parts: Vec<Cells<'_>> = failed
        .iter()
        .map(|f| match &f.error {
            MarginError::Input { table, column, row, reason } => {
                (Some(table.as_str()), column.as_deref(), row.map(|r| r as i64), reason.clone())
            }
            other => (None, None, None, other.to_string()),
        })
        .collect();
    let strings = |values: Vec<Option<&str>>| Arc::new(StringArray::from(values)) as ArrayRef;
    batch(
        vec![
            account_field(account_ids),
            Field::new("table", DataType::Utf8, true),
            Field::new("column", DataType::Utf8, true),
            Field::new("row", DataType::Int64, true),
            Field::new("reason", DataType::Utf8, false),
        ],
        vec![
            account_ids.clone(),
            strings(parts.iter().map(|p| p.0).collect()),
            strings(parts.iter().map(|p| p.1).collect()),
            Arc::new(Int64Array::from(parts.iter().map(|p| p.2).collect::<Vec<_>>())),
            strings(parts.iter().map(|p| Some(p.3.as_str())).collect()),
        ],
    )
}
