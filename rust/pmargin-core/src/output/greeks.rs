//! Greeks of instruments, positions and accounts (per underlying), as Arrow tables.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::take::take;

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
    let mut accounts = Vec::with_capacity(n);
    let mut ids = StringBuilder::with_capacity(n, n * 12);
    let mut scaled = Vec::with_capacity(n);
    for a in 0..book.n_accounts() {
        for p in book.positions(a) {
            let c = book.instrument[p] as usize;
            accounts.push(a as u32);
            ids.append_value(&instrument_ids[c]);
            scaled.push(greeks[c].scaled(book.quantity[p]));
        }
    }
    let mut fields = vec![
        Field::new("account_id", account_ids.data_type().clone(), false),
        Field::new("instrument_id", DataType::Utf8, false),
    ];
    fields.extend(f64_fields(&["quantity", "value", "delta", "gamma", "vega", "theta"]));
    let mut columns: Vec<ArrayRef> = vec![
        take(account_ids.as_ref(), &UInt32Array::from(accounts), None).map_err(arrow_error)?,
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
