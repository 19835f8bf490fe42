//! The grid's result tables: accounts, by underlying, the scenario matrix of one account, and
//! the attribution tables (by position, explain).

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field};
use arrow_select::take::take;

use super::attribution::Attribution;
use super::outcome::{AccountOutcome, Driver};
use super::GridMethod;
use crate::domain::book::Book;
use crate::error::Result;
use crate::output::arrow::{account_field, arrow_error, batch, f64_field, f64s, ids_for, matrix_columns};
use crate::risk::group_pnl::ScenarioMatrix;

/// Price shock, vol shock and label builders for a nullable grid "worst scenario".
struct GridWorst {
    price: Float64Builder,
    vol: Float64Builder,
    label: StringBuilder,
}

impl GridWorst {
    fn with_capacity(n: usize) -> Self {
        GridWorst {
            price: Float64Builder::with_capacity(n),
            vol: Float64Builder::with_capacity(n),
            label: StringBuilder::with_capacity(n, n * 20),
        }
    }

    fn push(&mut self, grid: &GridMethod, worst: Option<(Option<u32>, u32)>) {
        match worst {
            Some((underlying, s)) => {
                let (p, v) = grid.model.scenario(s as usize);
                self.price.append_value(p);
                self.vol.append_value(v);
                self.label.append_value(grid.label(underlying, s));
            }
            None => {
                self.price.append_null();
                self.vol.append_null();
                self.label.append_null();
            }
        }
    }
}

pub fn accounts_batch(grid: &GridMethod, account_ids: &ArrayRef, outcomes: &[AccountOutcome]) -> Result<RecordBatch> {
    let mm = grid.model.mm_ratio;
    let mut worst = GridWorst::with_capacity(outcomes.len());
    for o in outcomes {
        let driver = o.driver.map(|d| match d {
            Driver::Underlying { underlying, scenario } => (Some(underlying), scenario),
            Driver::Joint { scenario } => (None, scenario),
        });
        worst.push(grid, driver);
    }
    batch(
        vec![
            account_field(account_ids),
            f64_field("initial_margin", false),
            f64_field("maintenance_margin", false),
            f64_field("gross_margin", false),
            Field::new("worst_scenario", DataType::Utf8, true),
            f64_field("worst_price_shock", true),
            f64_field("worst_vol_shock", true),
            f64_field("diversification_benefit", false),
        ],
        vec![
            account_ids.clone(),
            f64s(outcomes.iter().map(|o| o.initial)),
            f64s(outcomes.iter().map(|o| mm * o.initial)),
            f64s(outcomes.iter().map(|o| o.gross)),
            Arc::new(worst.label.finish()),
            Arc::new(worst.price.finish()),
            Arc::new(worst.vol.finish()),
            f64s(outcomes.iter().map(|o| o.undiversified - o.initial)),
        ],
    )
}

pub fn by_underlying_batch(
    grid: &GridMethod,
    names: &[String],
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let n: usize = outcomes.iter().map(|o| o.underlyings.len()).sum();
    let mut accounts = Vec::with_capacity(n);
    let mut underlying_names = StringBuilder::with_capacity(n, n * 4);
    let mut requirement = Vec::with_capacity(n);
    let mut worst = GridWorst::with_capacity(n);
    for (a, o) in outcomes.iter().enumerate() {
        for u in &o.underlyings {
            accounts.push(a as u32);
            underlying_names.append_value(&names[u.underlying as usize]);
            requirement.push(u.requirement);
            worst.push(grid, u.worst.map(|s| (Some(u.underlying), s)));
        }
    }
    batch(
        vec![
            account_field(account_ids),
            Field::new("underlying", DataType::Utf8, false),
            f64_field("requirement", false),
            f64_field("worst_price_shock", true),
            f64_field("worst_vol_shock", true),
            Field::new("worst_scenario", DataType::Utf8, true),
        ],
        vec![
            ids_for(account_ids, accounts)?,
            Arc::new(underlying_names.finish()),
            Arc::new(Float64Array::from(requirement)),
            Arc::new(worst.price.finish()),
            Arc::new(worst.vol.finish()),
            Arc::new(worst.label.finish()),
        ],
    )
}

/// The risk matrix of one account: scenario, shocks, one column per underlying, total.
pub fn scenario_matrix_batch(grid: &GridMethod, names: &[String], matrix: &ScenarioMatrix) -> Result<RecordBatch> {
    let s_count = grid.model.n_scenarios();
    let shocks: Vec<(f64, f64)> = (0..s_count).map(|s| grid.model.scenario(s)).collect();
    let mut fields = vec![
        Field::new("scenario", DataType::Int32, false),
        f64_field("price_shock", false),
        f64_field("vol_shock", false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(0..s_count as i32)),
        f64s(shocks.iter().map(|s| s.0)),
        f64s(shocks.iter().map(|s| s.1)),
    ];
    matrix_columns(names, matrix, &mut fields, &mut columns);
    batch(fields, columns)
}

/// Per netted position: quantity, contribution to its driving loss, standalone and incremental
/// margin. The number columns share the book's and the attribution's buffers.
pub fn by_position_batch(
    instrument_ids: &[String],
    book: &Book,
    account_ids: &ArrayRef,
    attribution: &Attribution,
) -> Result<RecordBatch> {
    let all_ids: ArrayRef = Arc::new(StringArray::from_iter_values(instrument_ids));
    let instruments = UInt32Array::new(book.instrument.clone(), None);
    // The two string columns are the bulk of the work: gather them in parallel.
    let (ids, account_column) = rayon::join(
        || take(all_ids.as_ref(), &instruments, None).map_err(arrow_error),
        || {
            let mut accounts = Vec::with_capacity(book.instrument.len());
            for a in 0..book.n_accounts() {
                accounts.extend(book.positions(a).map(|_| a as u32));
            }
            ids_for(account_ids, accounts)
        },
    );
    let shared =
        |values: &arrow_buffer::ScalarBuffer<f64>| -> ArrayRef { Arc::new(Float64Array::new(values.clone(), None)) };
    batch(
        vec![
            account_field(account_ids),
            Field::new("instrument_id", DataType::Utf8, false),
            f64_field("quantity", false),
            f64_field("contribution", false),
            f64_field("standalone_margin", false),
            f64_field("incremental_margin", false),
        ],
        vec![
            account_column?,
            ids?,
            shared(&book.quantity),
            shared(&attribution.contribution),
            shared(&attribution.standalone),
            shared(&attribution.incremental),
        ],
    )
}

/// Per account and underlying: the driving scenario and its P&L split into delta, gamma, vega
/// and the residual of full revaluation.
pub fn explain_batch(
    grid: &GridMethod,
    underlying_names: &[String],
    account_ids: &ArrayRef,
    attribution: &Attribution,
) -> Result<RecordBatch> {
    let rows = &attribution.explains;
    let mut names = StringBuilder::new();
    let mut worst = GridWorst::with_capacity(rows.len());
    for e in rows {
        names.append_value(&underlying_names[e.underlying as usize]);
        worst.push(grid, e.scenario.map(|s| (Some(e.underlying), s)));
    }
    batch(
        vec![
            account_field(account_ids),
            Field::new("underlying", DataType::Utf8, false),
            Field::new("scenario", DataType::Utf8, true),
            f64_field("price_shock", true),
            f64_field("vol_shock", true),
            f64_field("pnl", false),
            f64_field("delta_pnl", false),
            f64_field("gamma_pnl", false),
            f64_field("vega_pnl", false),
            f64_field("residual", false),
        ],
        vec![
            ids_for(account_ids, attribution.explain_account.clone())?,
            Arc::new(names.finish()),
            Arc::new(worst.label.finish()),
            Arc::new(worst.price.finish()),
            Arc::new(worst.vol.finish()),
            f64s(rows.iter().map(|e| e.pnl)),
            f64s(rows.iter().map(|e| e.delta_pnl)),
            f64s(rows.iter().map(|e| e.gamma_pnl)),
            f64s(rows.iter().map(|e| e.vega_pnl)),
            f64s(rows.iter().map(|e| e.residual())),
        ],
    )
}
