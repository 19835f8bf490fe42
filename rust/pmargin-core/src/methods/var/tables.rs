//! The VaR / ES result tables: accounts (with the tail scenarios and the binding window), by
//! underlying, and the scenario matrix of one account under the normal window.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::aggregate::VarAccount;
use super::{VarMethod, Window};
use crate::error::Result;
use crate::output::arrow::{account_field, batch, f64_field, f64s, ids_for, matrix_columns};
use crate::risk::group_pnl::ScenarioMatrix;

/// The risk matrix of one account under a VaR / ES model's normal window.
pub fn scenario_matrix_batch(window: &Window, names: &[String], matrix: &ScenarioMatrix) -> Result<RecordBatch> {
    let n = window.labels.len();
    let mut fields = vec![Field::new("scenario", DataType::Int32, false), Field::new("label", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(0..n as i32)),
        Arc::new(StringArray::from_iter_values(&window.labels)),
    ];
    matrix_columns(names, matrix, &mut fields, &mut columns);
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

pub fn accounts_batch(method: &VarMethod, account_ids: &ArrayRef, accounts: &[VarAccount]) -> Result<RecordBatch> {
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
                crate::risk::tail::Measure::ES => tails.values().append_slice(&to_i32(&outcome.tail)),
                crate::risk::tail::Measure::VaR => tails.values().append_value(outcome.scenario(method.measure) as i32),
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
    let mm = method.mm_ratio;
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

pub fn by_underlying_batch(
    method: &VarMethod,
    underlying_names: &[String],
    account_ids: &ArrayRef,
    accounts: &[VarAccount],
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
            names.append_value(&underlying_names[u as usize]);
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
