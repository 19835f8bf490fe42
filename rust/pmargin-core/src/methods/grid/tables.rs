//! The grid's result tables: accounts, by underlying, the scenario matrix of one account, and
//! the attribution tables (by position, explain).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field};
use rayon::prelude::*;

use super::attribution::Attribution;
use super::model::Cross;
use super::outcome::{AccountOutcome, AddonOutcome, Driver, UnderlyingOutcome, UnderlyingRows};
use super::GridMethod;
use crate::domain::book::Book;
use crate::error::{MarginError, Result};
use crate::input::parts::{map_in_parts, parts_by_task, Parted};
use crate::output::arrow::{
    account_field, batch, benefit, f64_field, f64s, ids_for, mapped_f64_columns, mapped_f64s, matrix_columns,
};
use crate::output::gather::{gather_strings, nulls_where};
use crate::output::id_parts::IdColumn;
use crate::output::text_parts::{TextColumn, WideValues};
use crate::risk::group_pnl::ScenarioMatrix;

/// One total of an account's add-ons (an `accounts` column).
type AddonPart = fn(&AddonOutcome) -> f64;

/// A grid scenario: for one underlying (`Some`) or all at once (`None`), and its number.
type Worst = Option<(Option<u32>, u32)>;

/// Price shock, vol shock and label columns of nullable grid "worst scenarios", gathered in
/// parallel from the grid's labels.
struct GridWorst {
    price: ArrayRef,
    vol: ArrayRef,
    label: ArrayRef,
}

impl GridWorst {
    fn of(grid: &GridMethod, worst: &[Worst]) -> Result<GridWorst> {
        // Exact-size columns collected in parallel (written once, never zeroed first).
        let n = worst.len();
        let label_index = map_in_parts(worst, ROWS_CHUNK, |w| w.map(|(u, s)| grid.label_index(u, s) as u32))?;
        let price = map_in_parts(worst, ROWS_CHUNK, |w| w.map_or(0.0, |(u, s)| grid.shock(u, s).0))?;
        let vol = map_in_parts(worst, ROWS_CHUNK, |w| w.map_or(0.0, |(u, s)| grid.shock(u, s).1))?;
        let nulls = nulls_where(n, |i| worst[i].is_some());
        let shocks = |values: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::new(values.into(), nulls.clone())) };
        let label = gather_strings(grid.labels.len(), |i| grid.labels[i].as_str(), &label_index)?;
        Ok(GridWorst { price: shocks(price), vol: shocks(vol), label })
    }
}

/// Rows per parallel task of a column mapped from another.
const ROWS_CHUNK: usize = 1 << 14;

/// Accounts per parallel task of the by-underlying columns.
const ROWS_TASK: usize = 4096;

/// The by-underlying table's columns (account id, underlying, requirement, worst price and vol
/// shocks, worst scenario), one row per (account, underlying) of `tasks` (each its row count
/// and its `(account, outcome)` rows, in order). Each task writes every column of its rows in
/// one pass into its own part of exact-size columns, string sizes counted first: a pass per
/// column and intermediate columns cost twice as much on a book of many underlyings.
fn by_underlying_columns<'a, I>(
    grid: &GridMethod,
    names: &[String],
    account_ids: &ArrayRef,
    tasks: Vec<(usize, I)>,
) -> Result<Vec<ArrayRef>>
where
    I: Iterator<Item = (usize, &'a UnderlyingOutcome)> + Clone + Send + Sync,
{
    let label = |u: &UnderlyingOutcome| u.worst.map(|s| grid.label_index(Some(u.underlying), s));
    let text_ids = IdColumn::text_ids(account_ids);
    // The names' and labels' lengths read from a table each (not through each String).
    let name_len: Vec<usize> = names.iter().map(String::len).collect();
    let label_len: Vec<usize> = grid.labels.iter().map(String::len).collect();
    let sizes: Vec<[usize; 3]> = tasks
        .par_iter()
        .map(|(_, rows)| {
            rows.clone().fold([0; 3], |[ids, under, labels], (a, u)| {
                [
                    ids + IdColumn::text_len(text_ids, a),
                    under + name_len[u.underlying as usize],
                    labels + label(u).map_or(0, |l| label_len[l]),
                ]
            })
        })
        .collect();
    let rows: Vec<usize> = tasks.iter().map(|t| t.0).collect();
    let n: usize = rows.iter().sum();
    let bytes = |i: usize| sizes.iter().map(|s| s[i]).collect::<Vec<usize>>();
    let mut ids = IdColumn::new(account_ids, &rows, bytes(0))?;
    let mut underlyings = TextColumn::new(&rows, bytes(1))?;
    let mut labels = TextColumn::new(&rows, bytes(2))?;
    let [mut requirement, mut price, mut vol] = [0; 3].map(|_| Parted::<f64>::new(rows.clone()));
    let mut valid = Parted::<bool>::new(rows.clone());
    let wide_names = WideValues::of(names.iter().map(String::as_str), n);
    let wide_labels = WideValues::of(grid.labels.iter().map(String::as_str), n);
    let parts = tasks.into_iter().zip(ids.parts()).zip(underlyings.parts()).zip(labels.parts());
    let parts = parts.zip(requirement.parts()).zip(price.parts()).zip(vol.parts()).zip(valid.parts());
    parts.collect::<Vec<_>>().into_par_iter().for_each(
        |(((((((task, mut id), mut under), mut lab), mut req), mut price), mut vol), mut valid)| {
            for (a, u) in task.1 {
                id.push(a);
                under.push_of(names, wide_names.as_ref(), u.underlying as usize);
                req.push(u.requirement);
                match u.worst {
                    Some(s) => {
                        let (p, v) = grid.shock(Some(u.underlying), s);
                        price.push(p);
                        vol.push(v);
                        lab.push_of(&grid.labels, wide_labels.as_ref(), grid.label_index(Some(u.underlying), s));
                        valid.push(true);
                    }
                    None => {
                        price.push(0.0);
                        vol.push(0.0);
                        lab.push_null();
                        valid.push(false);
                    }
                }
            }
        },
    );
    let valid = valid.finish()?;
    let nulls = nulls_where(n, |i| valid[i]);
    let shocks = |values: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::new(values.into(), nulls.clone())) };
    Ok(vec![
        ids.finish()?,
        underlyings.finish(None)?,
        Arc::new(Float64Array::from(requirement.finish()?)),
        shocks(price.finish()?),
        shocks(vol.finish()?),
        labels.finish(nulls.clone())?,
    ])
}

/// The by-underlying rows of each account's own underlyings, in tasks of accounts.
fn per_account_tasks(
    outcomes: &[AccountOutcome],
) -> Vec<(usize, impl Iterator<Item = (usize, &UnderlyingOutcome)> + Clone + Send + Sync)> {
    outcomes
        .chunks(ROWS_TASK)
        .enumerate()
        .map(|(t, chunk)| {
            let len = chunk.iter().map(|o| o.underlyings.len()).sum();
            let rows = chunk
                .iter()
                .enumerate()
                .flat_map(move |(i, o)| o.underlyings.iter().map(move |u| (t * ROWS_TASK + i, u)));
            (len, rows)
        })
        .collect()
}

/// The by-underlying rows of the flat pieces of a cross="sum" aggregation, one task per piece.
fn flat_tasks(
    rows: &UnderlyingRows,
) -> Vec<(usize, impl Iterator<Item = (usize, &UnderlyingOutcome)> + Clone + Send + Sync)> {
    rows.pieces.iter().map(|p| (p.rows.len(), p.account.iter().map(|&a| a as usize).zip(&p.rows))).collect()
}

/// The scenario that drives an account's margin, as a grid scenario.
fn driving_scenario(outcome: &AccountOutcome) -> Worst {
    outcome.driver.map(|d| match d {
        Driver::Underlying { underlying, scenario } => (Some(underlying), scenario),
        Driver::Joint { scenario } => (None, scenario),
    })
}

/// Number columns of the accounts table written in one pass: initial, maintenance and gross
/// margins, worst price and vol shocks, netting and cross-underlying benefits.
const ACCOUNT_NUMBERS: usize = 7;

/// The accounts table's columns after `account_id` (its margins, the driving scenario and its
/// shocks, the benefits), written in one pass per task of accounts into exact-size columns
/// (label sizes counted first), where a pass per column cost a table of 100,000 accounts as much
/// as its by-underlying table's 650,000 rows.
fn accounts_columns(grid: &GridMethod, outcomes: &[AccountOutcome]) -> Result<Vec<ArrayRef>> {
    let mm = grid.model.mm_ratio;
    let tasks: Vec<&[AccountOutcome]> = outcomes.chunks(ROWS_TASK).collect();
    let rows: Vec<usize> = tasks.iter().map(|t| t.len()).collect();
    let label_len: Vec<usize> = grid.labels.iter().map(String::len).collect();
    let bytes = tasks
        .par_iter()
        .map(|t| t.iter().filter_map(driving_scenario).map(|(u, s)| label_len[grid.label_index(u, s)]).sum())
        .collect();
    let mut labels = TextColumn::new(&rows, bytes)?;
    let mut numbers: Vec<Parted<f64>> = (0..ACCOUNT_NUMBERS).map(|_| Parted::new(rows.clone())).collect();
    let mut valid = Parted::<bool>::new(rows.clone());
    let wide = WideValues::of(grid.labels.iter().map(String::as_str), outcomes.len());
    let number_parts = parts_by_task(&mut numbers);
    let parts: Vec<_> = tasks.into_iter().zip(number_parts).zip(labels.parts()).zip(valid.parts()).collect();
    parts.into_par_iter().for_each(|(((accounts, mut number), mut label), mut valid)| {
        for o in accounts {
            let (price, vol) = match driving_scenario(o) {
                Some((u, s)) => {
                    label.push_of(&grid.labels, wide.as_ref(), grid.label_index(u, s));
                    valid.push(true);
                    grid.shock(u, s)
                }
                None => {
                    label.push_null();
                    valid.push(false);
                    (0.0, 0.0)
                }
            };
            let values = [
                o.initial,
                mm * o.initial,
                o.gross,
                price,
                vol,
                benefit(o.gross, o.initial),
                benefit(o.undiversified, o.initial),
            ];
            for (part, value) in number.iter_mut().zip(values) {
                part.push(value);
            }
        }
    });
    let valid = valid.finish()?;
    let nulls = nulls_where(valid.len(), |i| valid[i]);
    let mut numbers = numbers.into_iter().map(Parted::finish);
    let mut next = |nulls: Option<NullBuffer>| -> Result<ArrayRef> {
        let values = numbers.next().ok_or_else(|| MarginError::Internal("accounts: a column short".into()))??;
        Ok(Arc::new(Float64Array::new(values.into(), nulls)))
    };
    let (initial, maintenance, gross) = (next(None)?, next(None)?, next(None)?);
    let (price, vol) = (next(nulls.clone())?, next(nulls.clone())?);
    let (netting, cross) = (next(None)?, next(None)?);
    Ok(vec![initial, maintenance, gross, labels.finish(nulls)?, price, vol, netting, cross])
}

pub fn accounts_batch(grid: &GridMethod, account_ids: &ArrayRef, outcomes: &[AccountOutcome]) -> Result<RecordBatch> {
    let mut fields = vec![
        account_field(account_ids),
        f64_field("initial_margin", false),
        f64_field("maintenance_margin", false),
        f64_field("gross_margin", false),
        Field::new("worst_scenario", DataType::Utf8, true),
        f64_field("worst_price_shock", true),
        f64_field("worst_vol_shock", true),
        f64_field("netting_benefit", false),
        f64_field("cross_underlying_benefit", false),
    ];
    let mut columns = vec![account_ids.clone()];
    columns.extend(accounts_columns(grid, outcomes)?);
    if grid.model.addons.is_on() {
        let parts: [(&str, AddonPart); 4] = [
            ("scan_margin", |a| a.scan),
            ("calendar_charge", |a| a.calendar),
            ("delta_shock", |a| a.delta_shock),
            ("short_option_minimum", |a| a.short_option_minimum),
        ];
        for (name, part) in parts {
            fields.push(f64_field(name, false));
            columns.push(mapped_f64s(outcomes, |o| o.addons.as_deref().map_or(0.0, part))?);
        }
    }
    batch(fields, columns)
}

pub fn by_underlying_batch(
    grid: &GridMethod,
    names: &[String],
    account_ids: &ArrayRef,
    outcomes: &[AccountOutcome],
    rows: Option<&UnderlyingRows>,
) -> Result<RecordBatch> {
    let mut columns = match rows {
        Some(rows) => by_underlying_columns(grid, names, account_ids, flat_tasks(rows))?,
        None => by_underlying_columns(grid, names, account_ids, per_account_tasks(outcomes))?,
    };
    let mut fields = vec![
        account_field(account_ids),
        Field::new("underlying", DataType::Utf8, false),
        f64_field("requirement", false),
        f64_field("worst_price_shock", true),
        f64_field("worst_vol_shock", true),
        Field::new("worst_scenario", DataType::Utf8, true),
    ];
    if grid.model.addons.is_on() {
        for (i, name) in ["calendar_charge", "delta_shock", "short_option_minimum"].into_iter().enumerate() {
            let values = outcomes.iter().flat_map(|o| {
                (0..o.underlyings.len()).map(move |k| o.addons.as_ref().map_or(0.0, |a| a.per_underlying[k][i]))
            });
            fields.push(f64_field(name, false));
            columns.push(f64s(values));
        }
    }
    batch(fields, columns)
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

/// The by-position table's two string columns (account id, instrument id), one row per netted
/// position in book order: the bulk of the table's work, written together in tasks of accounts
/// (sizes counted first), each into its own part of both columns.
fn by_position_ids(instrument_ids: &[String], book: &Book, account_ids: &ArrayRef) -> Result<(ArrayRef, ArrayRef)> {
    let n_accounts = book.n_accounts();
    if book.instrument.par_iter().any(|&i| i as usize >= instrument_ids.len()) {
        return Err(MarginError::Internal("by-position rows: an instrument without an id".into()));
    }
    let tasks: Vec<std::ops::Range<usize>> =
        (0..n_accounts).step_by(ROWS_TASK).map(|a| a..(a + ROWS_TASK).min(n_accounts)).collect();
    let rows: Vec<usize> = tasks.iter().map(|r| book.offsets[r.end] - book.offsets[r.start]).collect();
    let text_ids = IdColumn::text_ids(account_ids);
    let id_len: Vec<usize> = instrument_ids.iter().map(String::len).collect();
    let sizes: Vec<[usize; 2]> = tasks
        .par_iter()
        .map(|accounts| {
            accounts.clone().fold([0; 2], |[ids, instruments], a| {
                let positions = book.positions(a);
                let account = IdColumn::text_len(text_ids, a);
                let held: usize = positions.clone().map(|p| id_len[book.instrument[p] as usize]).sum();
                [ids + account * positions.len(), instruments + held]
            })
        })
        .collect();
    let mut ids = IdColumn::new(account_ids, &rows, sizes.iter().map(|s| s[0]).collect())?;
    let mut instruments = TextColumn::new(&rows, sizes.iter().map(|s| s[1]).collect())?;
    let wide = WideValues::of(instrument_ids.iter().map(String::as_str), book.instrument.len());
    let parts: Vec<_> = tasks.into_iter().zip(ids.parts()).zip(instruments.parts()).collect();
    parts.into_par_iter().for_each(|((accounts, mut id), mut instrument)| {
        for a in accounts {
            for p in book.positions(a) {
                id.push(a);
                instrument.push_of(instrument_ids, wide.as_ref(), book.instrument[p] as usize);
            }
        }
    });
    Ok((ids.finish()?, instruments.finish(None)?))
}

/// Per netted position: quantity, contribution to its driving loss, standalone and incremental
/// margin. The number columns share the book's and the attribution's buffers.
pub fn by_position_batch(
    instrument_ids: &[String],
    book: &Book,
    account_ids: &ArrayRef,
    attribution: &Attribution,
) -> Result<RecordBatch> {
    let (account_column, ids) = by_position_ids(instrument_ids, book, account_ids)?;
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
            account_column,
            ids,
            shared(&book.quantity),
            shared(&attribution.contribution),
            shared(&attribution.standalone),
            shared(&attribution.incremental),
        ],
    )
}

/// Per account and underlying: the driving scenario and its P&L split into delta, gamma, vega
/// and the residual of full revaluation.
///
/// `by_underlying`: the same run's by-underlying table, whose rows are the explain's rows (one
/// per account and underlying, in the same order: the attributed aggregation builds both in
/// step). Its `account_id` and `underlying` columns are then shared, not gathered again, and so
/// are its worst-scenario columns under cross="sum", where each underlying's driving scenario is
/// its worst.
pub fn explain_batch(
    grid: &GridMethod,
    underlying_names: &[String],
    account_ids: &ArrayRef,
    attribution: &Attribution,
    by_underlying: Option<&RecordBatch>,
) -> Result<RecordBatch> {
    let rows = &attribution.explains;
    let shared = by_underlying.filter(|b| b.num_rows() == rows.len());
    let column = |name: &str| shared.and_then(|b| b.column_by_name(name)).cloned();
    let (ids, names) = match (column("account_id"), column("underlying")) {
        (Some(ids), Some(names)) => (ids, names),
        _ => {
            let underlyings: Vec<Option<u32>> = rows.par_iter().map(|e| Some(e.underlying)).collect();
            let names = gather_strings(underlying_names.len(), |u| underlying_names[u].as_str(), &underlyings)?;
            (ids_for(account_ids, attribution.explain_account.clone())?, names)
        }
    };
    let worst_of_sum = match grid.model.cross {
        Cross::Sum => column("worst_scenario").zip(column("worst_price_shock")).zip(column("worst_vol_shock")),
        _ => None,
    };
    let worst = match worst_of_sum {
        Some(((label, price), vol)) => GridWorst { price, vol, label },
        None => {
            let worsts: Vec<Worst> = rows.par_iter().map(|e| e.scenario.map(|s| (Some(e.underlying), s))).collect();
            GridWorst::of(grid, &worsts)?
        }
    };
    let numbers = mapped_f64_columns(rows, |e| [e.pnl, e.delta_pnl, e.gamma_pnl, e.vega_pnl, e.residual()])?;
    let mut columns = vec![ids, names, worst.label, worst.price, worst.vol];
    columns.extend(numbers);
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
        columns,
    )
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Int64Array, StringArray};
    use smallvec::smallvec;

    use super::*;
    use crate::methods::grid::attribution::Explain;
    use crate::methods::grid::model::Cross;
    use crate::methods::grid::outcome::UnderlyingOutcome;
    use crate::methods::grid::tests::{built, model};
    use crate::test_support::{book, f64_column, opt_f64_column, schema_of, str_column, two_underlyings};

    fn f64_col(name: &str, nullable: bool) -> (String, DataType, bool) {
        (name.to_owned(), DataType::Float64, nullable)
    }

    fn ids() -> ArrayRef {
        Arc::new(Int64Array::from(vec![11, 22, 33]))
    }

    fn strings(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Three accounts: driven by B's scenario 1, by joint scenario 0, and never losing.
    fn outcomes() -> Vec<AccountOutcome> {
        let u = |underlying, requirement, worst| UnderlyingOutcome { underlying, requirement, worst };
        vec![
            AccountOutcome {
                initial: 12.0,
                gross: 15.0,
                undiversified: 12.0,
                driver: Some(Driver::Underlying { underlying: 1, scenario: 1 }),
                underlyings: smallvec![u(1, 8.0, Some(1)), u(0, 4.0, Some(0))],
                binding: smallvec![],
                addons: None,
            },
            AccountOutcome {
                initial: 2.0,
                gross: 9.0,
                undiversified: 5.0,
                driver: Some(Driver::Joint { scenario: 0 }),
                underlyings: smallvec![u(0, 5.0, Some(0))],
                binding: smallvec![],
                addons: None,
            },
            AccountOutcome { underlyings: smallvec![u(0, 0.0, None)], ..AccountOutcome::default() },
        ]
    }

    #[test]
    fn accounts_table() {
        let (_, grid) = built(&two_underlyings(), model(&[-0.1, 0.1], &[0.0], Cross::Sum));
        let t = accounts_batch(&grid, &ids(), &outcomes()).expect("a table");
        assert_eq!(
            schema_of(&t),
            vec![
                ("account_id".to_owned(), DataType::Int64, false),
                f64_col("initial_margin", false),
                f64_col("maintenance_margin", false),
                f64_col("gross_margin", false),
                ("worst_scenario".to_owned(), DataType::Utf8, true),
                f64_col("worst_price_shock", true),
                f64_col("worst_vol_shock", true),
                f64_col("netting_benefit", false),
                f64_col("cross_underlying_benefit", false),
            ]
        );
        assert_eq!(t.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![11, 22, 33]);
        assert_eq!(f64_column(&t, "initial_margin"), vec![12.0, 2.0, 0.0]);
        // mm_ratio 0.5.
        assert_eq!(f64_column(&t, "maintenance_margin"), vec![6.0, 1.0, 0.0]);
        assert_eq!(f64_column(&t, "gross_margin"), vec![15.0, 9.0, 0.0]);
        assert_eq!(f64_column(&t, "cross_underlying_benefit"), vec![0.0, 3.0, 0.0]);
        // Gross minus initial: what netting saves.
        assert_eq!(f64_column(&t, "netting_benefit"), vec![3.0, 7.0, 0.0]);
        assert_eq!(
            str_column(&t, "worst_scenario"),
            strings(&[Some("B +10.0% vol +0%"), Some("ALL -10.0% vol +0%"), None])
        );
        assert_eq!(opt_f64_column(&t, "worst_price_shock")[..2], [Some(0.1), Some(-0.1)]);
        assert_eq!(t.column_by_name("worst_price_shock").expect("a column").null_count(), 1);
        assert_eq!(t.column_by_name("worst_vol_shock").expect("a column").null_count(), 1);
    }

    #[test]
    fn by_underlying_table() {
        let (valuation, grid) = built(&two_underlyings(), model(&[-0.1, 0.1], &[0.0], Cross::Sum));
        let t = by_underlying_batch(&grid, &valuation.underlyings.names, &ids(), &outcomes(), None).expect("a table");
        assert_eq!(
            schema_of(&t),
            vec![
                ("account_id".to_owned(), DataType::Int64, false),
                ("underlying".to_owned(), DataType::Utf8, false),
                f64_col("requirement", false),
                f64_col("worst_price_shock", true),
                f64_col("worst_vol_shock", true),
                ("worst_scenario".to_owned(), DataType::Utf8, true),
            ]
        );
        assert_eq!(t.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![11, 11, 22, 33]);
        assert_eq!(str_column(&t, "underlying"), strings(&[Some("B"), Some("A"), Some("A"), Some("A")]));
        assert_eq!(f64_column(&t, "requirement"), vec![8.0, 4.0, 5.0, 0.0]);
        // A joint account's underlyings still report their own worst, labelled by underlying.
        assert_eq!(
            str_column(&t, "worst_scenario"),
            strings(&[Some("B +10.0% vol +0%"), Some("A -10.0% vol +0%"), Some("A -10.0% vol +0%"), None])
        );
        assert_eq!(opt_f64_column(&t, "worst_vol_shock"), vec![Some(0.0), Some(0.0), Some(0.0), None]);
    }

    #[test]
    fn by_underlying_from_flat_rows_equals_per_account() {
        let (valuation, grid) = built(&two_underlyings(), model(&[-0.1, 0.1], &[0.0], Cross::Sum));
        let names = &valuation.underlyings.names;
        // The three accounts many times over (several tasks), one account, and none.
        let many: Vec<AccountOutcome> = (0..3 * ROWS_TASK + 5).map(|a| outcomes()[a % 3].clone()).collect();
        let many_ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..many.len() as i64));
        let one_id: ArrayRef = Arc::new(Int64Array::from(vec![11]));
        let none: ArrayRef = Arc::new(Int64Array::from(Vec::<i64>::new()));
        for (outcomes, ids) in [(many, many_ids), (outcomes()[..1].to_vec(), one_id), (Vec::new(), none)] {
            let want = by_underlying_batch(&grid, names, &ids, &outcomes, None).expect("a table");
            // The same rows in pieces of uneven size, the outcomes without their own.
            let mut rows = UnderlyingRows::default();
            let mut bare = outcomes.clone();
            for (a, o) in bare.iter_mut().enumerate() {
                if a % 1000 == 0 {
                    rows.pieces.push(Default::default());
                }
                let piece = rows.pieces.last_mut().expect("a piece");
                piece.account.extend(o.underlyings.iter().map(|_| a as u32));
                piece.rows.extend(o.underlyings.drain(..));
            }
            let got = by_underlying_batch(&grid, names, &ids, &bare, Some(&rows)).expect("a table");
            assert_eq!(got, want);
        }
    }

    #[test]
    fn scenario_matrix_table() {
        let (valuation, grid) = built(&two_underlyings(), model(&[-0.1, 0.1], &[-0.5, 0.5], Cross::Sum));
        let matrix =
            ScenarioMatrix { underlyings: vec![1], pnl: vec![1.0, 2.0, 3.0, 4.0], total: vec![1.0, 2.0, 3.0, 4.0] };
        let t = scenario_matrix_batch(&grid, &valuation.underlyings.names, &matrix).expect("a table");
        assert_eq!(
            schema_of(&t),
            vec![
                ("scenario".to_owned(), DataType::Int32, false),
                f64_col("price_shock", false),
                f64_col("vol_shock", false),
                f64_col("B", false),
                f64_col("total", false),
            ]
        );
        assert_eq!(t.column(0).as_primitive::<arrow_array::types::Int32Type>().values().to_vec(), vec![0, 1, 2, 3]);
        assert_eq!(f64_column(&t, "price_shock"), vec![-0.1, -0.1, 0.1, 0.1]);
        assert_eq!(f64_column(&t, "vol_shock"), vec![-0.5, 0.5, -0.5, 0.5]);
        assert_eq!(f64_column(&t, "B"), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn attribution_tables() {
        let (valuation, grid) = built(&two_underlyings(), model(&[-0.1, 0.1], &[0.0], Cross::Sum));
        // Account 11: FB, FA; account 22: CA.
        let positions = book(&[&[(1, -1.0), (0, 2.0)], &[(3, 4.0)]]);
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["x", "y"]));
        let attribution = Attribution {
            contribution: vec![10.0, 20.0, 0.5].into(),
            standalone: vec![10.0, 20.0, 1.5].into(),
            incremental: vec![-1.0, 2.0, 3.0].into(),
            explains: vec![
                Explain {
                    underlying: 1,
                    scenario: Some(1),
                    pnl: -10.0,
                    delta_pnl: -9.0,
                    gamma_pnl: -0.5,
                    vega_pnl: 0.0,
                },
                Explain { underlying: 0, scenario: None, pnl: 0.0, delta_pnl: 0.0, gamma_pnl: 0.0, vega_pnl: 0.0 },
            ],
            explain_account: vec![0, 1],
        };
        let t = by_position_batch(valuation.instruments.ids(), &positions, &ids, &attribution).expect("a table");
        assert_eq!(
            schema_of(&t),
            vec![
                ("account_id".to_owned(), DataType::Utf8, false),
                ("instrument_id".to_owned(), DataType::Utf8, false),
                f64_col("quantity", false),
                f64_col("contribution", false),
                f64_col("standalone_margin", false),
                f64_col("incremental_margin", false),
            ]
        );
        assert_eq!(str_column(&t, "account_id"), strings(&[Some("x"), Some("x"), Some("y")]));
        assert_eq!(str_column(&t, "instrument_id"), strings(&[Some("FB"), Some("FA"), Some("CA")]));
        assert_eq!(f64_column(&t, "quantity"), vec![-1.0, 2.0, 4.0]);
        assert_eq!(f64_column(&t, "contribution"), vec![10.0, 20.0, 0.5]);
        assert_eq!(f64_column(&t, "standalone_margin"), vec![10.0, 20.0, 1.5]);
        assert_eq!(f64_column(&t, "incremental_margin"), vec![-1.0, 2.0, 3.0]);

        let t = explain_batch(&grid, &valuation.underlyings.names, &ids, &attribution, None).expect("a table");
        let mut expected = vec![
            ("account_id".to_owned(), DataType::Utf8, false),
            ("underlying".to_owned(), DataType::Utf8, false),
            ("scenario".to_owned(), DataType::Utf8, true),
            f64_col("price_shock", true),
            f64_col("vol_shock", true),
        ];
        expected.extend(["pnl", "delta_pnl", "gamma_pnl", "vega_pnl", "residual"].map(|n| f64_col(n, false)));
        assert_eq!(schema_of(&t), expected);
        assert_eq!(str_column(&t, "account_id"), strings(&[Some("x"), Some("y")]));
        assert_eq!(str_column(&t, "underlying"), strings(&[Some("B"), Some("A")]));
        assert_eq!(str_column(&t, "scenario"), strings(&[Some("B +10.0% vol +0%"), None]));
        assert_eq!(opt_f64_column(&t, "price_shock"), vec![Some(0.1), None]);
        assert_eq!(f64_column(&t, "residual"), vec![-0.5, 0.0]);
    }
}
