//! Result tables as Arrow record batches.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::take::take;

use crate::aggregate::{AccountOutcome, Driver, ScenarioMatrix};
use crate::attribution::Attribution;
use crate::engine::{Engine, GridMethod, MeasureAccount, MeasureMethod, Window};
use crate::error::{MarginError, Result};
use crate::positions::Book;

fn arrow_error(e: arrow_schema::ArrowError) -> MarginError {
    MarginError::Internal(format!("building a result table: {e}"))
}

fn f64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

fn account_field(ids: &ArrayRef) -> Field {
    Field::new("account_id", ids.data_type().clone(), false)
}

/// `account_id` of each row, from the row's account index.
fn ids_for(account_ids: &ArrayRef, accounts: Vec<u32>) -> Result<ArrayRef> {
    take(account_ids.as_ref(), &UInt32Array::from(accounts), None).map_err(arrow_error)
}

fn f64s(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

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

    fn push(&mut self, engine: &Engine, grid: &GridMethod, worst: Option<(Option<u32>, u32)>) {
        match worst {
            Some((underlying, s)) => {
                let (p, v) = grid.model.scenario(s as usize);
                self.price.append_value(p);
                self.vol.append_value(v);
                self.label.append_value(engine.grid_label(grid, underlying, s));
            }
            None => {
                self.price.append_null();
                self.vol.append_null();
                self.label.append_null();
            }
        }
    }
}

pub fn grid_accounts_batch(
    engine: &Engine,
    grid: &GridMethod,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let mm = engine.mm_ratio;
    let mut worst = GridWorst::with_capacity(outcomes.len());
    for o in outcomes {
        let driver = o.driver.map(|d| match d {
            Driver::Underlying { underlying, scenario } => (Some(underlying), scenario),
            Driver::Joint { scenario } => (None, scenario),
        });
        worst.push(engine, grid, driver);
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

pub fn grid_by_underlying_batch(
    engine: &Engine,
    grid: &GridMethod,
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
) -> Result<RecordBatch> {
    let n: usize = outcomes.iter().map(|o| o.underlyings.len()).sum();
    let mut accounts = Vec::with_capacity(n);
    let mut names = StringBuilder::with_capacity(n, n * 4);
    let mut requirement = Vec::with_capacity(n);
    let mut worst = GridWorst::with_capacity(n);
    for (a, o) in outcomes.iter().enumerate() {
        for u in &o.underlyings {
            accounts.push(a as u32);
            names.append_value(&engine.underlyings.names[u.underlying as usize]);
            requirement.push(u.requirement);
            worst.push(engine, grid, u.worst.map(|s| (Some(u.underlying), s)));
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
            Arc::new(names.finish()),
            Arc::new(Float64Array::from(requirement)),
            Arc::new(worst.price.finish()),
            Arc::new(worst.vol.finish()),
            Arc::new(worst.label.finish()),
        ],
    )
}

/// Per-underlying P&L columns and the total of a scenario matrix.
fn matrix_columns(engine: &Engine, matrix: &ScenarioMatrix, fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
    let s_count = matrix.total.len();
    for (k, &u) in matrix.underlyings.iter().enumerate() {
        fields.push(f64_field(&engine.underlyings.names[u as usize], false));
        columns.push(f64s(matrix.pnl[k * s_count..(k + 1) * s_count].iter().copied()));
    }
    fields.push(f64_field("total", false));
    columns.push(f64s(matrix.total.iter().copied()));
}

/// The risk matrix of one account: scenario, shocks, one column per underlying, total.
pub fn grid_scenario_matrix_batch(engine: &Engine, grid: &GridMethod, matrix: &ScenarioMatrix) -> Result<RecordBatch> {
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
    matrix_columns(engine, matrix, &mut fields, &mut columns);
    batch(fields, columns)
}

/// The risk matrix of one account under a VaR / ES model's normal window.
pub fn measure_scenario_matrix_batch(engine: &Engine, window: &Window, matrix: &ScenarioMatrix) -> Result<RecordBatch> {
    let n = window.labels.len();
    let mut fields = vec![Field::new("scenario", DataType::Int32, false), Field::new("label", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(0..n as i32)),
        Arc::new(StringArray::from_iter_values(&window.labels)),
    ];
    matrix_columns(engine, matrix, &mut fields, &mut columns);
    batch(fields, columns)
}

/// Scenario index and label builders for a nullable VaR / ES "measure scenario".
struct MeasureScenario {
    index: Int32Builder,
    label: StringBuilder,
}

impl MeasureScenario {
    fn with_capacity(n: usize) -> Self {
        MeasureScenario { index: Int32Builder::with_capacity(n), label: StringBuilder::with_capacity(n, n * 12) }
    }

    fn push(&mut self, window: &Window, scenario: Option<u32>) {
        match scenario {
            Some(s) => {
                self.index.append_value(s as i32);
                self.label.append_value(&window.labels[s as usize]);
            }
            None => {
                self.index.append_null();
                self.label.append_null();
            }
        }
    }
}

pub fn measure_accounts_batch(
    engine: &Engine,
    method: &MeasureMethod,
    account_ids: &ArrayRef,
    accounts: &[MeasureAccount],
) -> Result<RecordBatch> {
    let n = accounts.len();
    let mut initial = Vec::with_capacity(n);
    let mut undiversified = Vec::with_capacity(n);
    let mut scenario = MeasureScenario::with_capacity(n);
    let mut tails = ListBuilder::new(Int32Builder::new());
    let mut binding = StringBuilder::with_capacity(n, n * 8);
    let stressed = method.windows.len() > 1;
    for acc in accounts {
        let (margin, w) = acc.binding();
        initial.push(margin);
        undiversified.push((0..acc.underlyings.len()).fold(0.0, |sum, k| sum + acc.underlying_binding(k).0));
        let outcome = &acc.windows[w].total;
        if margin > 0.0 {
            scenario.push(&method.windows[w], Some(outcome.scenario(method.measure)));
            match method.measure {
                crate::measure::Measure::ES => tails.values().append_slice(&to_i32(&outcome.tail)),
                crate::measure::Measure::VaR => tails.values().append_value(outcome.scenario(method.measure) as i32),
            }
        } else {
            scenario.push(&method.windows[w], None);
        }
        tails.append(true);
        if stressed {
            binding.append_value(method.windows[w].name);
        } else {
            binding.append_null();
        }
    }
    let mm = engine.mm_ratio;
    batch(
        vec![
            account_field(account_ids),
            f64_field("initial_margin", false),
            f64_field("maintenance_margin", false),
            f64_field("gross_margin", false),
            f64_field("undiversified_margin", false),
            f64_field("diversification_benefit", false),
            Field::new("measure_scenario", DataType::Int32, true),
            Field::new("measure_scenario_label", DataType::Utf8, true),
            Field::new("tail_scenarios", DataType::List(Arc::new(Field::new("item", DataType::Int32, true))), false),
            Field::new("binding_window", DataType::Utf8, true),
        ],
        vec![
            account_ids.clone(),
            f64s(initial.iter().copied()),
            f64s(initial.iter().map(|m| mm * m)),
            f64s(accounts.iter().map(|a| a.gross)),
            f64s(undiversified.iter().copied()),
            f64s(undiversified.iter().zip(&initial).map(|(u, m)| u - m)),
            Arc::new(scenario.index.finish()),
            Arc::new(scenario.label.finish()),
            Arc::new(tails.finish()),
            Arc::new(binding.finish()),
        ],
    )
}

fn to_i32(tail: &[u32]) -> Vec<i32> {
    tail.iter().map(|&s| s as i32).collect()
}

pub fn measure_by_underlying_batch(
    engine: &Engine,
    method: &MeasureMethod,
    account_ids: &ArrayRef,
    accounts: &[MeasureAccount],
) -> Result<RecordBatch> {
    let n: usize = accounts.iter().map(|a| a.underlyings.len()).sum();
    let mut rows = Vec::with_capacity(n);
    let mut names = StringBuilder::with_capacity(n, n * 4);
    let mut requirement = Vec::with_capacity(n);
    let mut scenario = MeasureScenario::with_capacity(n);
    for (a, acc) in accounts.iter().enumerate() {
        for (k, &u) in acc.underlyings.iter().enumerate() {
            let (margin, w) = acc.underlying_binding(k);
            rows.push(a as u32);
            names.append_value(&engine.underlyings.names[u as usize]);
            requirement.push(margin);
            let s = (margin > 0.0).then_some(acc.windows[w].per_underlying[k].scenario);
            scenario.push(&method.windows[w], s);
        }
    }
    batch(
        vec![
            account_field(account_ids),
            Field::new("underlying", DataType::Utf8, false),
            f64_field("requirement", false),
            Field::new("measure_scenario", DataType::Int32, true),
            Field::new("measure_scenario_label", DataType::Utf8, true),
        ],
        vec![
            ids_for(account_ids, rows)?,
            Arc::new(names.finish()),
            Arc::new(Float64Array::from(requirement)),
            Arc::new(scenario.index.finish()),
            Arc::new(scenario.label.finish()),
        ],
    )
}

/// Per netted position: quantity, contribution to its driving loss, standalone and incremental
/// margin. The number columns share the book's and the attribution's buffers.
pub fn by_position_batch(
    engine: &Engine,
    book: &Book,
    account_ids: &ArrayRef,
    attribution: &Attribution,
) -> Result<RecordBatch> {
    let all_ids: ArrayRef = Arc::new(StringArray::from_iter_values(engine.instruments.ids()));
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
    engine: &Engine,
    grid: &GridMethod,
    account_ids: &ArrayRef,
    attribution: &Attribution,
) -> Result<RecordBatch> {
    let rows = &attribution.explains;
    let mut names = StringBuilder::new();
    let mut worst = GridWorst::with_capacity(rows.len());
    for e in rows {
        names.append_value(&engine.underlyings.names[e.underlying as usize]);
        worst.push(engine, grid, e.scenario.map(|s| (Some(e.underlying), s)));
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
