//! Arrow helpers for result tables: fields, batches, the `account_id` column gathered from the
//! input's ids (Utf8 or Int64, see engine.rs), and the scenario-matrix columns. Nothing here
//! knows a method or the engine.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::take::take;
use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::input::parts::{map_in_parts, parts_by_task, Parted};
use crate::risk::group_pnl::ScenarioMatrix;
use crate::risk::worst_loss::NOISE;

pub fn arrow_error(e: arrow_schema::ArrowError) -> MarginError {
    MarginError::Internal(format!("building a result table: {e}"))
}

/// What margining together saves, `gross - net`, with rounding counted as none: 0 when it is
/// within `NOISE` (2^-40) of the larger of the two (docs/methods.md, "Noise"), so an account
/// whose two figures agree up to rounding reports no benefit, not -7e-12 or 5e18 on 2e34.
pub fn benefit(gross: f64, net: f64) -> f64 {
    let saved = gross - net;
    if saved.abs() <= NOISE * gross.abs().max(net.abs()) {
        0.0
    } else {
        saved
    }
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

/// `account_id` of each row, from the row's account index (in parallel for Utf8 and Int64 ids).
pub fn ids_for(account_ids: &ArrayRef, accounts: Vec<u32>) -> Result<ArrayRef> {
    if let Some(ids) = super::gather::gather_ids(account_ids, &accounts)? {
        return Ok(ids);
    }
    take(account_ids.as_ref(), &UInt32Array::from(accounts), None).map_err(arrow_error)
}

pub fn f64s(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

/// Rows per parallel task of [`mapped_f64s`].
const MAPPED_CHUNK: usize = 1 << 14;

/// [`f64s`] of `f(item)` per item, mapped in parallel: for large tables, where a serial pass per
/// column over rows of structs is the critical path.
pub fn mapped_f64s<S: Sync>(items: &[S], f: impl Fn(&S) -> f64 + Sync) -> Result<ArrayRef> {
    Ok(Arc::new(Float64Array::from(map_in_parts(items, MAPPED_CHUNK, f)?)))
}

/// `N` columns of `f(item)` per item, mapped in one parallel pass: for tables of several number
/// columns read from large structs, where a pass per column reads every struct `N` times.
pub fn mapped_f64_columns<S: Sync, const N: usize>(
    items: &[S],
    f: impl Fn(&S) -> [f64; N] + Sync,
) -> Result<Vec<ArrayRef>> {
    let tasks: Vec<&[S]> = items.chunks(MAPPED_CHUNK).collect();
    let rows: Vec<usize> = tasks.iter().map(|t| t.len()).collect();
    let mut columns: Vec<Parted<f64>> = (0..N).map(|_| Parted::new(rows.clone())).collect();
    tasks.into_par_iter().zip(parts_by_task(&mut columns)).for_each(|(items, mut parts)| {
        for item in items {
            for (part, value) in parts.iter_mut().zip(f(item)) {
                part.push(value);
            }
        }
    });
    columns.into_iter().map(|c| Ok(Arc::new(Float64Array::from(c.finish()?)) as ArrayRef)).collect()
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

#[cfg(test)]
mod tests {
    #[test]
    fn several_columns_mapped_in_one_pass() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::Float64Type;
        let items: Vec<f64> = (0..3 * super::MAPPED_CHUNK + 5).map(|i| i as f64).collect();
        let columns = super::mapped_f64_columns(&items, |&x| [x, -x, x * x]).expect("exact");
        let values = |i: usize| columns[i].as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(values(0), items);
        assert_eq!(values(1), items.iter().map(|x| -x).collect::<Vec<_>>());
        assert_eq!(values(2), items.iter().map(|x| x * x).collect::<Vec<_>>());
        let none = super::mapped_f64_columns(&[] as &[f64], |&x| [x, x]).expect("empty");
        assert_eq!((none.len(), none[0].len()), (2, 0));
    }

    #[test]
    fn benefits_within_rounding_are_none() {
        assert_eq!(benefit(10.0, 4.0), 6.0);
        assert_eq!(benefit(4.0, 10.0), -6.0);
        assert_eq!(benefit(52894.5624367341, 52894.56243673411), 0.0);
        assert_eq!(benefit(2.3e34, 2.3e34 - 4.6e18), 0.0);
        assert_eq!(benefit(0.0, 0.0), 0.0);
        assert_eq!(benefit(1.0, 1.0 - 1e-9), 1.0 - (1.0 - 1e-9));
    }

    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Int64Array, StringArray};

    use super::*;
    use crate::test_support::{f64_column, schema_of, str_column};

    #[test]
    fn fields_and_batches() {
        assert_eq!(f64_field("x", true), Field::new("x", DataType::Float64, true));
        let b = batch(vec![f64_field("x", false)], vec![f64s([1.5, 2.5].into_iter())]).expect("valid");
        assert_eq!(f64_column(&b, "x"), vec![1.5, 2.5]);
        // Arrow's own errors become internal errors that say what was being built.
        let err = batch(vec![f64_field("x", false), f64_field("y", false)], vec![f64s([1.0].into_iter())])
            .expect_err("two fields, one column");
        assert!(matches!(&err, MarginError::Internal(m) if m.starts_with("building a result table: ")), "{err}");
    }

    #[test]
    fn account_ids_keep_the_inputs_type() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        assert_eq!(account_field(&strings), Field::new("account_id", DataType::Utf8, false));
        let gathered = ids_for(&strings, vec![2, 0, 0]).expect("in range");
        assert_eq!(gathered.as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("c"), Some("a"), Some("a")]);
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![7, 9]));
        assert_eq!(account_field(&ints).data_type(), &DataType::Int64);
        let gathered = ids_for(&ints, vec![1, 1, 0]).expect("in range");
        assert_eq!(gathered.as_primitive::<Int64Type>().values().to_vec(), vec![9, 9, 7]);
    }

    #[test]
    fn matrix_columns_are_named_after_the_underlyings() {
        let names = ["A".to_owned(), "B".to_owned(), "C".to_owned()];
        let matrix =
            ScenarioMatrix { underlyings: vec![2, 0], pnl: vec![1.0, 2.0, -3.0, -4.0], total: vec![-2.0, -2.0] };
        let (mut fields, mut columns) = (vec![Field::new("scenario", DataType::Utf8, false)], Vec::new());
        columns.push(Arc::new(StringArray::from(vec!["s0", "s1"])) as ArrayRef);
        matrix_columns(&names, &matrix, &mut fields, &mut columns);
        let b = batch(fields, columns).expect("valid");
        let names: Vec<String> = schema_of(&b).into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["scenario", "C", "A", "total"]);
        assert_eq!(f64_column(&b, "C"), vec![1.0, 2.0]);
        assert_eq!(f64_column(&b, "A"), vec![-3.0, -4.0]);
        assert_eq!(f64_column(&b, "total"), vec![-2.0, -2.0]);
        assert_eq!(str_column(&b, "scenario")[1].as_deref(), Some("s1"));
    }
}
