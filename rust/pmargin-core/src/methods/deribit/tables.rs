//! Deribit's result tables: accounts (USD totals and the parameter set), by underlying (one
//! row per risk vector, in its own currency and in USD) and one account's risk vectors.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int32Builder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::aggregate::{adjusted, raw_vectors, AccountOutcome, Scratch, Worst};
use super::matrix::{moves, EXTENDED_MOVES, VOL_NAMES};
use super::DeribitMethod;
use crate::domain::book::Book;
use crate::error::Result;
use crate::output::arrow::{account_field, batch, f64_field, f64s, ids_for};

/// Deribit's name of a risk vector: `<underlying>_<settlement currency>`, lower case.
pub fn vector_name(underlying: &str, inverse: bool) -> String {
    let u = underlying.to_ascii_lowercase();
    if inverse {
        format!("{u}_{u}")
    } else {
        format!("{u}_usd")
    }
}

fn vol_name(worst: Worst) -> &'static str {
    if worst.extended {
        "up"
    } else {
        VOL_NAMES[worst.index as usize % 3]
    }
}

pub fn accounts_batch(m: &DeribitMethod, account_ids: &ArrayRef, outcomes: &[AccountOutcome]) -> Result<RecordBatch> {
    let n = outcomes.len();
    batch(
        vec![
            account_field(account_ids),
            f64_field("initial_margin", false),
            f64_field("maintenance_margin", false),
            f64_field("worst_case", false),
            f64_field("roll_shock", false),
            f64_field("delta_shock", false),
            f64_field("risk_matrix_margin", false),
            Field::new("parameter_set", DataType::Utf8, false),
        ],
        vec![
            account_ids.clone(),
            f64s(outcomes.iter().map(|o| o.initial)),
            f64s(outcomes.iter().map(|o| o.maintenance)),
            f64s(outcomes.iter().map(|o| o.worst_case)),
            f64s(outcomes.iter().map(|o| o.roll_shock)),
            f64s(outcomes.iter().map(|o| o.delta_shock)),
            f64s(outcomes.iter().map(|o| o.initial)),
            Arc::new(StringArray::from(vec![m.model.parameter_set.as_str(); n])),
        ],
    )
}

pub fn by_underlying_batch(
    m: &DeribitMethod,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let n: usize = outcomes.iter().map(|o| o.vectors.len()).sum();
    let mut accounts = Vec::with_capacity(n);
    let mut underlying = StringBuilder::with_capacity(n, n * 4);
    let mut settlement = StringBuilder::with_capacity(n, n * 7);
    let mut currency = StringBuilder::with_capacity(n, n * 4);
    let mut vector = StringBuilder::with_capacity(n, n * 8);
    let mut source = StringBuilder::with_capacity(n, n * 8);
    let mut vol = StringBuilder::with_capacity(n, n * 4);
    let mut price_move = Float64Builder::with_capacity(n);
    let mut index = Int32Builder::with_capacity(n);
    // The numbers in one pass: index, worst case, roll, delta shock, margin, maintenance, USD
    // margin, USD maintenance, net delta.
    let mut numbers: [Vec<f64>; 9] = std::array::from_fn(|_| Vec::with_capacity(n));
    let vector_names: Vec<[String; 2]> =
        m.names.iter().map(|name| [vector_name(name, false), vector_name(name, true)]).collect();
    let moves_of: Vec<Vec<f64>> = m.params.iter().map(moves).collect();
    for (a, o) in outcomes.iter().enumerate() {
        for v in &o.vectors {
            let name = &m.names[v.underlying as usize];
            accounts.push(a as u32);
            underlying.append_value(name);
            settlement.append_value(if v.inverse { "inverse" } else { "linear" });
            currency.append_value(if v.inverse { name.as_str() } else { "USD" });
            vector.append_value(&vector_names[v.underlying as usize][usize::from(v.inverse)]);
            let values = [
                v.index_price,
                v.worst_case,
                v.roll_shock,
                v.delta_shock,
                v.risk_matrix_margin,
                v.maintenance,
                v.margin_usd,
                v.maintenance_usd,
                v.net_delta,
            ];
            for (column, x) in numbers.iter_mut().zip(values) {
                column.push(x);
            }
            match v.worst {
                Some(w) => {
                    source.append_value(if w.extended { "extended" } else { "standard" });
                    vol.append_value(vol_name(w));
                    let moved = if w.extended {
                        EXTENDED_MOVES[w.index as usize]
                    } else {
                        moves_of[v.params as usize][w.index as usize / 3]
                    };
                    price_move.append_value(moved);
                    index.append_value(w.index as i32);
                }
                None => {
                    source.append_null();
                    vol.append_null();
                    price_move.append_null();
                    index.append_null();
                }
            }
        }
    }
    let [index_price, worst_case, roll, delta, margin, maintenance, margin_usd, maintenance_usd, net_delta] =
        numbers.map(|c| Arc::new(Float64Array::from(c)) as ArrayRef);
    batch(
        vec![
            account_field(account_ids),
            Field::new("underlying", DataType::Utf8, false),
            Field::new("settlement", DataType::Utf8, false),
            Field::new("currency", DataType::Utf8, false),
            Field::new("risk_vector", DataType::Utf8, false),
            f64_field("index_price", false),
            f64_field("worst_case", false),
            f64_field("roll_shock", false),
            f64_field("delta_shock", false),
            f64_field("risk_matrix_margin", false),
            f64_field("maintenance_margin", false),
            f64_field("initial_margin_usd", false),
            f64_field("maintenance_margin_usd", false),
            f64_field("net_delta", false),
            Field::new("worst_source", DataType::Utf8, true),
            f64_field("worst_price_move", true),
            Field::new("worst_vol", DataType::Utf8, true),
            Field::new("worst_index", DataType::Int32, true),
            f64_field("requirement", false),
        ],
        vec![
            ids_for(account_ids, accounts)?,
            Arc::new(underlying.finish()),
            Arc::new(settlement.finish()),
            Arc::new(currency.finish()),
            Arc::new(vector.finish()),
            index_price,
            worst_case,
            roll,
            delta,
            margin,
            maintenance,
            margin_usd.clone(),
            maintenance_usd,
            net_delta,
            Arc::new(source.finish()),
            Arc::new(price_move.finish()),
            Arc::new(vol.finish()),
            Arc::new(index.finish()),
            margin_usd,
        ],
    )
}

/// One account's risk vectors, long: `risk_vector`, `source`, `index`, `price_move`, `vol`,
/// `pnl` (summed, before the dampener and offset: Deribit's `pre_aggregated_risk_vectors`) and
/// `adjusted_pnl` (after them).
pub fn scenario_matrix_batch(m: &DeribitMethod, book: &Book, account: usize) -> Result<RecordBatch> {
    let ctx = m.context();
    let mut vector = Vec::new();
    let mut source = Vec::new();
    let mut index = Vec::new();
    let mut price_move = Vec::new();
    let mut vol = Vec::new();
    let mut pnl = Vec::new();
    let mut adjusted_pnl = Vec::new();
    let mut scratch = Scratch::default();
    raw_vectors(book, account, &ctx, &mut scratch);
    for raw in &scratch.vectors[..scratch.used] {
        let p = &m.params[raw.params as usize];
        let name = vector_name(&m.names[raw.underlying as usize], raw.inverse);
        let entries = adjusted(raw, p, m.spot[raw.underlying as usize]);
        let standard = moves(p);
        for (j, (&x, &y)) in raw.pnl.iter().zip(&entries).enumerate() {
            let extended = j >= 3 * standard.len();
            vector.push(name.clone());
            source.push(if extended { "extended" } else { "standard" });
            let k = if extended { j - 3 * standard.len() } else { j };
            index.push(k as i32);
            price_move.push(if extended { EXTENDED_MOVES[k] } else { standard[k / 3] });
            vol.push(if extended { "up" } else { VOL_NAMES[k % 3] });
            pnl.push(x);
            adjusted_pnl.push(y);
        }
    }
    batch(
        vec![
            Field::new("risk_vector", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("index", DataType::Int32, false),
            f64_field("price_move", false),
            Field::new("vol", DataType::Utf8, false),
            f64_field("pnl", false),
            f64_field("adjusted_pnl", false),
        ],
        vec![
            Arc::new(StringArray::from(vector)),
            Arc::new(StringArray::from(source)),
            Arc::new(Int32Array::from(index)),
            Arc::new(Float64Array::from(price_move)),
            Arc::new(StringArray::from(vol)),
            Arc::new(Float64Array::from(pnl)),
            Arc::new(Float64Array::from(adjusted_pnl)),
        ],
    )
}
