//! Greeks of instruments, positions and accounts (per underlying), as Arrow tables.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::take::take;

use super::arrow::ids_for;
use crate::domain::book::Book;
use crate::error::{MarginError, Result};
use crate::pricing::greeks::Greeks;
use crate::risk::group_pnl::group_slots;

fn arrow_error(e: arrow_schema::ArrowError) -> MarginError {
    MarginError::Internal(format!("building a Greeks table: {e}"))
}

fn f64_fields(names: &[&str]) -> Vec<Field> {
    names.iter().map(|n| Field::new(*n, DataType::Float64, false)).collect()
}

fn column(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

/// Greek columns (delta, gamma, vega, theta) of a list of Greeks.
fn greek_columns(greeks: &[Greeks]) -> Vec<ArrayRef> {
    vec![
        column(greeks.iter().map(|g| g.delta)),
        column(greeks.iter().map(|g| g.gamma)),
        column(greeks.iter().map(|g| g.vega)),
        column(greeks.iter().map(|g| g.theta)),
    ]
}

/// `instrument_id`, `price`, `delta`, `gamma`, `vega`, `theta` per unit of quantity.
pub fn instrument_table(ids: &[String], prices: &[f64], greeks: &[Greeks]) -> Result<RecordBatch> {
    let mut fields = vec![Field::new("instrument_id", DataType::Utf8, false)];
    fields.extend(f64_fields(&["price", "delta", "gamma", "vega", "theta"]));
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(ids)), column(prices.iter().copied())];
    columns.extend(greek_columns(greeks));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

/// Per netted position: quantity times the instrument's price and Greeks.
pub fn position_table(
    book: &Book,
    account_ids: &ArrayRef,
    instrument_ids: &[String],
    greeks: &[Greeks],
) -> Result<RecordBatch> {
    let n = book.instrument.len();
    let mut ids = StringBuilder::with_capacity(n, n * 12);
    let mut scaled = Vec::with_capacity(n);
    for (&c, &q) in book.instrument.iter().zip(book.quantity.iter()) {
        let c = c as usize;
        ids.append_value(&instrument_ids[c]);
        scaled.push(greeks[c].scaled(q));
    }
    let mut fields = vec![
        Field::new("account_id", account_ids.data_type().clone(), false),
        Field::new("instrument_id", DataType::Utf8, false),
    ];
    fields.extend(f64_fields(&["quantity", "value", "delta", "gamma", "vega", "theta"]));
    let mut columns: Vec<ArrayRef> = vec![
        ids_for(account_ids, book.position_accounts()?)?,
        Arc::new(ids.finish()),
        column(book.quantity.iter().copied()),
        column(scaled.iter().map(|g| g.price)),
    ];
    columns.extend(greek_columns(&scaled));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

/// Per account and underlying (first-seen order): summed Greeks plus cash measures:
/// `cash_delta` = delta x spot, `cash_gamma` = 0.5 x gamma x (0.01 x spot)^2 (the P&L of a 1%
/// move from gamma), `vega_1pct` = vega / 100 (per vol point).
pub fn underlying_table(
    book: &Book,
    account_ids: &ArrayRef,
    underlying_of: &[u32],
    names: &[String],
    spots: &[f64],
    greeks: &[Greeks],
) -> Result<RecordBatch> {
    let mut accounts = Vec::new();
    let mut underlying = StringBuilder::new();
    let mut sums: Vec<(Greeks, f64)> = Vec::new();
    for a in 0..book.n_accounts() {
        let (order, slots) = group_slots(book, a, underlying_of);
        let mut per = vec![Greeks::default(); order.len()];
        for (p, k) in book.positions(a).zip(slots) {
            let g = greeks[book.instrument[p] as usize].scaled(book.quantity[p]);
            per[k].delta += g.delta;
            per[k].gamma += g.gamma;
            per[k].vega += g.vega;
            per[k].theta += g.theta;
        }
        for (u, g) in order.iter().zip(per) {
            accounts.push(a as u32);
            underlying.append_value(&names[*u as usize]);
            sums.push((g, spots[*u as usize]));
        }
    }
    let mut fields = vec![
        Field::new("account_id", account_ids.data_type().clone(), false),
        Field::new("underlying", DataType::Utf8, false),
    ];
    fields.extend(f64_fields(&["delta", "gamma", "vega", "theta", "cash_delta", "cash_gamma", "vega_1pct"]));
    let greeks: Vec<Greeks> = sums.iter().map(|(g, _)| *g).collect();
    let mut columns: Vec<ArrayRef> = vec![
        take(account_ids.as_ref(), &UInt32Array::from(accounts), None).map_err(arrow_error)?,
        Arc::new(underlying.finish()),
    ];
    columns.extend(greek_columns(&greeks));
    columns.push(column(sums.iter().map(|(g, s)| g.delta * s)));
    columns.push(column(sums.iter().map(|(g, s)| 0.5 * g.gamma * (0.01 * s) * (0.01 * s))));
    columns.push(column(sums.iter().map(|(g, _)| g.vega / 100.0)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{book, f64_column, schema_of, str_column};

    fn g(price: f64, delta: f64, gamma: f64, vega: f64, theta: f64) -> Greeks {
        Greeks { price, delta, gamma, vega, theta }
    }

    /// Instruments 0 and 1 on underlying 0 (spot 200), 2 on underlying 1 (spot 10).
    fn greeks() -> Vec<Greeks> {
        vec![g(200.0, 1.0, 0.0, 0.0, 0.0), g(12.0, 0.5, 0.01, 40.0, -8.0), g(1.0, -0.25, 0.2, 3.0, -0.5)]
    }

    fn ids() -> ArrayRef {
        Arc::new(StringArray::from(vec!["acc-1", "acc-2"]))
    }

    fn instrument_ids() -> Vec<String> {
        ["F", "C", "P"].map(str::to_owned).to_vec()
    }

    #[test]
    fn instrument_table_is_per_unit() {
        let t = instrument_table(&instrument_ids(), &[200.0, 12.0, 1.0], &greeks()).expect("a table");
        let mut expected = vec![("instrument_id".to_owned(), DataType::Utf8, false)];
        expected.extend(["price", "delta", "gamma", "vega", "theta"].map(|n| (n.to_owned(), DataType::Float64, false)));
        assert_eq!(schema_of(&t), expected);
        assert_eq!(f64_column(&t, "price"), vec![200.0, 12.0, 1.0]);
        assert_eq!(f64_column(&t, "vega"), vec![0.0, 40.0, 3.0]);
        assert_eq!(f64_column(&t, "theta"), vec![0.0, -8.0, -0.5]);
    }

    #[test]
    fn position_table_scales_by_the_quantity() {
        let positions = book(&[&[(1, 2.0), (0, -1.0)], &[(2, 4.0)]]);
        let t = position_table(&positions, &ids(), &instrument_ids(), &greeks()).expect("a table");
        let names: Vec<String> = schema_of(&t).into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["account_id", "instrument_id", "quantity", "value", "delta", "gamma", "vega", "theta"]);
        assert_eq!(str_column(&t, "account_id"), ["acc-1", "acc-1", "acc-2"].map(|s| Some(s.to_owned())));
        assert_eq!(str_column(&t, "instrument_id"), ["C", "F", "P"].map(|s| Some(s.to_owned())));
        assert_eq!(f64_column(&t, "quantity"), vec![2.0, -1.0, 4.0]);
        assert_eq!(f64_column(&t, "value"), vec![24.0, -200.0, 4.0]);
        assert_eq!(f64_column(&t, "delta"), vec![1.0, -1.0, -1.0]);
        assert_eq!(f64_column(&t, "gamma"), vec![0.02, 0.0, 0.8]);
        assert_eq!(f64_column(&t, "vega"), vec![80.0, 0.0, 12.0]);
        assert_eq!(f64_column(&t, "theta"), vec![-16.0, 0.0, -2.0]);
    }

    #[test]
    fn underlying_table_sums_and_cash_measures() {
        // Account 1: 2 C and -1 F on underlying 0, then 4 P on underlying 1; account 2: 1 F.
        let positions = book(&[&[(1, 2.0), (2, 4.0), (0, -1.0)], &[(0, 1.0)]]);
        let t = underlying_table(&positions, &ids(), &[0, 0, 1], &["X".into(), "Y".into()], &[200.0, 10.0], &greeks())
            .expect("a table");
        let names: Vec<String> = schema_of(&t).into_iter().map(|f| f.0).collect();
        assert_eq!(
            names,
            ["account_id", "underlying", "delta", "gamma", "vega", "theta", "cash_delta", "cash_gamma", "vega_1pct"]
        );
        assert_eq!(str_column(&t, "account_id"), ["acc-1", "acc-1", "acc-2"].map(|s| Some(s.to_owned())));
        assert_eq!(str_column(&t, "underlying"), ["X", "Y", "X"].map(|s| Some(s.to_owned())));
        // X in account 1: delta 2 x 0.5 - 1 = 0, gamma 0.02, vega 80, theta -16.
        assert_eq!(f64_column(&t, "delta"), vec![0.0, -1.0, 1.0]);
        assert_eq!(f64_column(&t, "gamma"), vec![0.02, 0.8, 0.0]);
        assert_eq!(f64_column(&t, "vega"), vec![80.0, 12.0, 0.0]);
        assert_eq!(f64_column(&t, "theta"), vec![-16.0, -2.0, 0.0]);
        // delta x spot; 0.5 x gamma x (1% of spot)^2: 0.5 x 0.02 x 4 and 0.5 x 0.8 x 0.01; vega / 100.
        assert_eq!(f64_column(&t, "cash_delta"), vec![0.0, -10.0, 200.0]);
        let cash_gamma = f64_column(&t, "cash_gamma");
        assert!((cash_gamma[0] - 0.04).abs() < 1e-15 && (cash_gamma[1] - 0.004).abs() < 1e-15 && cash_gamma[2] == 0.0);
        assert_eq!(f64_column(&t, "vega_1pct"), vec![0.8, 0.12, 0.0]);
    }
}
