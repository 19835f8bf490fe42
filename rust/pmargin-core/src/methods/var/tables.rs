//! The VaR / ES result tables: accounts (with the tail scenarios and the binding window), by
//! underlying, and the scenario matrix of one account under the normal window.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use super::aggregate::VarAccount;
use super::{VarMethod, Window};
use crate::error::Result;
use crate::output::arrow::{account_field, batch, benefit, f64_field, f64s, ids_for, matrix_columns};
use crate::risk::group_pnl::ScenarioMatrix;
use crate::risk::tail::Measure;

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

/// The accounts table. `tail_scenarios` is there only when the model asks for it (see
/// [`super::TailSpec::tail_scenarios`]): the worst n of the tail, in tail order.
pub fn accounts_batch(method: &VarMethod, account_ids: &ArrayRef, accounts: &[VarAccount]) -> Result<RecordBatch> {
    let n = accounts.len();
    let mut initial = Vec::with_capacity(n);
    let mut undiversified = Vec::with_capacity(n);
    let mut scenario = MeasureScenario::with_capacity(n);
    let mut tails = method.tail_scenarios.map(|_| ListBuilder::new(Int32Builder::new()));
    let cap = method.tail_scenarios.unwrap_or(0);
    let mut binding = StringBuilder::with_capacity(n, n * 8);
    let stressed = method.windows.len() > 1;
    for acc in accounts {
        let (margin, w) = acc.binding();
        initial.push(margin);
        undiversified.push((0..acc.underlyings.len()).fold(0.0, |sum, k| sum + acc.underlying_binding(k).0));
        let outcome = &acc.windows[w].total;
        if margin > 0.0 {
            scenario.push(&method.windows[w], Some(outcome.scenario(method.measure)));
            if let Some(tails) = &mut tails {
                match method.measure {
                    Measure::ES => tails.values().append_slice(&to_i32(&outcome.tail[..outcome.tail.len().min(cap)])),
                    Measure::VaR => tails.values().append_value(outcome.scenario(method.measure) as i32),
                }
            }
        } else {
            scenario.push(&method.windows[w], None);
        }
        if let Some(tails) = &mut tails {
            tails.append(true);
        }
        if stressed {
            binding.append_value(method.windows[w].name);
        } else {
            binding.append_null();
        }
    }
    let mm = method.mm_ratio;
    let gross: Vec<f64> = accounts.iter().map(|a| a.gross).collect();
    let mut fields = vec![
        account_field(account_ids),
        f64_field("initial_margin", false),
        f64_field("maintenance_margin", false),
        f64_field("gross_margin", false),
        f64_field("undiversified_margin", false),
        f64_field("netting_benefit", false),
        f64_field("cross_underlying_benefit", false),
        Field::new("measure_scenario", DataType::Int32, true),
        Field::new("measure_scenario_label", DataType::Utf8, true),
    ];
    let mut columns = vec![
        account_ids.clone(),
        f64s(initial.iter().copied()),
        f64s(initial.iter().map(|m| mm * m)),
        f64s(gross.iter().copied()),
        f64s(undiversified.iter().copied()),
        f64s(gross.iter().zip(&initial).map(|(g, m)| benefit(*g, *m))),
        f64s(undiversified.iter().zip(&initial).map(|(u, m)| benefit(*u, *m))),
        Arc::new(scenario.index.finish()) as ArrayRef,
        Arc::new(scenario.label.finish()),
    ];
    if let Some(mut tails) = tails {
        let item = Arc::new(Field::new("item", DataType::Int32, true));
        fields.push(Field::new("tail_scenarios", DataType::List(item), false));
        columns.push(Arc::new(tails.finish()));
    }
    fields.push(Field::new("binding_window", DataType::Utf8, true));
    columns.push(Arc::new(binding.finish()));
    batch(fields, columns)
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

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::{Array, UInt64Array};

    use super::*;
    use crate::risk::arrays::RiskArrays;
    use crate::risk::tail::{Measure, TailOutcome};
    use crate::risk::tail_stream::{Summary, WindowOutcome};
    use crate::test_support::{f64_column, schema_of, str_column};

    fn window(name: &'static str) -> Window {
        Window { name, risk: RiskArrays::default(), k: 2, labels: (0..4).map(|s| format!("{name}-{s}")).collect() }
    }

    fn method(measure: Measure, windows: &[&'static str]) -> VarMethod {
        let windows = windows.iter().map(|n| window(n)).collect();
        VarMethod {
            measure,
            mm_ratio: 0.8,
            windows,
            tail_scenarios: Some(usize::MAX),
            sizes: Vec::new(),
            budget_field: "memory_budget",
        }
    }

    fn outcome(value: f64, tail: [u32; 2], per_underlying: &[(f64, u32)]) -> WindowOutcome {
        WindowOutcome {
            total: TailOutcome { value, tail: tail.to_vec() },
            per_underlying: per_underlying.iter().map(|&(value, scenario)| Summary { value, scenario }).collect(),
        }
    }

    /// Account 0 on underlyings 1 and 0, binding in the last window; account 1 never loses.
    fn accounts(n_windows: usize) -> Vec<VarAccount> {
        let mut first = vec![outcome(4.0, [3, 1], &[(3.0, 3), (2.0, 0)])];
        let mut second = vec![outcome(-1.0, [2, 0], &[(-1.0, 2)])];
        if n_windows == 2 {
            first.push(outcome(6.0, [0, 2], &[(5.0, 0), (1.0, 2)]));
            second.push(outcome(-2.0, [1, 3], &[(-2.0, 1)]));
        }
        vec![
            VarAccount { underlyings: vec![1, 0], windows: first, gross: 9.0 },
            VarAccount { underlyings: vec![0], windows: second, gross: 0.0 },
        ]
    }

    fn ids() -> ArrayRef {
        Arc::new(UInt64Array::from(vec![100, 200]))
    }

    fn lists(batch: &RecordBatch) -> Vec<Vec<i32>> {
        let lists = batch.column_by_name("tail_scenarios").expect("a column").as_list::<i32>();
        (0..lists.len()).map(|i| lists.value(i).as_primitive::<Int32Type>().values().to_vec()).collect()
    }

    fn scenarios(batch: &RecordBatch) -> Vec<Option<i32>> {
        batch.column_by_name("measure_scenario").expect("a column").as_primitive::<Int32Type>().iter().collect()
    }

    #[test]
    fn accounts_table_with_two_windows() {
        let t = accounts_batch(&method(Measure::ES, &["normal", "stressed"]), &ids(), &accounts(2)).expect("a table");
        let f = |name: &str, t: DataType, nullable: bool| (name.to_owned(), t, nullable);
        assert_eq!(
            schema_of(&t),
            vec![
                f("account_id", DataType::UInt64, false),
                f("initial_margin", DataType::Float64, false),
                f("maintenance_margin", DataType::Float64, false),
                f("gross_margin", DataType::Float64, false),
                f("undiversified_margin", DataType::Float64, false),
                f("netting_benefit", DataType::Float64, false),
                f("cross_underlying_benefit", DataType::Float64, false),
                f("measure_scenario", DataType::Int32, true),
                f("measure_scenario_label", DataType::Utf8, true),
                f("tail_scenarios", DataType::List(Arc::new(Field::new("item", DataType::Int32, true))), false),
                f("binding_window", DataType::Utf8, true),
            ]
        );
        assert_eq!(f64_column(&t, "initial_margin"), vec![6.0, 0.0]);
        assert_eq!(f64_column(&t, "maintenance_margin"), vec![0.8 * 6.0, 0.0]);
        assert_eq!(f64_column(&t, "gross_margin"), vec![9.0, 0.0]);
        // Each underlying's own binding window: 5 (stressed) + 2 (normal).
        assert_eq!(f64_column(&t, "undiversified_margin"), vec![7.0, 0.0]);
        assert_eq!(f64_column(&t, "cross_underlying_benefit"), vec![1.0, 0.0]);
        assert_eq!(f64_column(&t, "netting_benefit"), vec![3.0, 0.0]);
        // ES: the worst scenario and the whole tail; nothing for an account that does not lose.
        assert_eq!(scenarios(&t), vec![Some(0), None]);
        assert_eq!(str_column(&t, "measure_scenario_label"), vec![Some("stressed-0".to_owned()), None]);
        assert_eq!(lists(&t), vec![vec![0, 2], vec![]]);
        assert_eq!(str_column(&t, "binding_window"), vec![Some("stressed".to_owned()), Some("normal".to_owned())]);
    }

    #[test]
    fn accounts_table_with_one_window_under_var() {
        let t = accounts_batch(&method(Measure::VaR, &["normal"]), &ids(), &accounts(1)).expect("a table");
        assert_eq!(f64_column(&t, "initial_margin"), vec![4.0, 0.0]);
        // VaR: the k-th worst scenario alone.
        assert_eq!(scenarios(&t), vec![Some(1), None]);
        assert_eq!(lists(&t), vec![vec![1], vec![]]);
        assert_eq!(str_column(&t, "binding_window"), vec![None, None]);
    }

    #[test]
    fn tail_scenarios_are_capped_or_absent() {
        let mut m = method(Measure::ES, &["normal", "stressed"]);
        m.tail_scenarios = Some(1);
        let t = accounts_batch(&m, &ids(), &accounts(2)).expect("a table");
        assert_eq!(lists(&t), vec![vec![0], vec![]]);
        m.tail_scenarios = None;
        let t = accounts_batch(&m, &ids(), &accounts(2)).expect("a table");
        assert!(t.column_by_name("tail_scenarios").is_none());
        assert_eq!(t.schema().field(t.num_columns() - 1).name(), "binding_window");
    }

    #[test]
    fn by_underlying_table() {
        let names = ["A".to_owned(), "B".to_owned()];
        let t = by_underlying_batch(&method(Measure::ES, &["normal", "stressed"]), &names, &ids(), &accounts(2))
            .expect("a table");
        let f = |name: &str, t: DataType, nullable: bool| (name.to_owned(), t, nullable);
        assert_eq!(
            schema_of(&t),
            vec![
                f("account_id", DataType::UInt64, false),
                f("underlying", DataType::Utf8, false),
                f("requirement", DataType::Float64, false),
                f("measure_scenario", DataType::Int32, true),
                f("measure_scenario_label", DataType::Utf8, true),
            ]
        );
        let owners: Vec<u64> = t.column(0).as_primitive::<arrow_array::types::UInt64Type>().values().to_vec();
        assert_eq!(owners, vec![100, 100, 200]);
        assert_eq!(str_column(&t, "underlying"), ["B", "A", "A"].map(|s| Some(s.to_owned())));
        assert_eq!(f64_column(&t, "requirement"), vec![5.0, 2.0, 0.0]);
        assert_eq!(scenarios(&t), vec![Some(0), Some(0), None]);
        assert_eq!(
            str_column(&t, "measure_scenario_label"),
            vec![Some("stressed-0".to_owned()), Some("normal-0".to_owned()), None]
        );
    }

    #[test]
    fn scenario_matrix_table() {
        let matrix =
            ScenarioMatrix { underlyings: vec![0], pnl: vec![1.0, -2.0, 3.0, -4.0], total: vec![1.0, -2.0, 3.0, -4.0] };
        let t = scenario_matrix_batch(&window("normal"), &["A".to_owned()], &matrix).expect("a table");
        let names: Vec<String> = schema_of(&t).into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["scenario", "label", "A", "total"]);
        assert_eq!(t.column(0).as_primitive::<Int32Type>().values().to_vec(), vec![0, 1, 2, 3]);
        assert_eq!(str_column(&t, "label")[3].as_deref(), Some("normal-3"));
        assert_eq!(f64_column(&t, "A"), vec![1.0, -2.0, 3.0, -4.0]);
    }
}
