//! The engine: a valuation (validated instruments and market, every contract priced once) and a
//! method built on it (its scenarios and risk arrays), ready to margin any number of books
//! (pre-trade checks reuse one engine). It only dispatches: every number comes from a stage.

use std::sync::Arc;

use arrow_array::{new_empty_array, Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::DataType;
use arrow_select::interleave::interleave;
use arrow_select::take::take;

use rayon::prelude::*;

use crate::domain::book::{read_book, row_codes, Book, OnError};
use crate::error::{MarginError, Result};
use crate::float_text;
use crate::input::table::{integer_values, string_values};
use crate::input::Table;
pub use crate::methods::ResultBatches;
use crate::methods::{Method, MethodSpec, Outcome, RunView};
use crate::output::gather::strings_at;
use crate::output::{failed, greeks};
use crate::risk::arrays::MAX_PNL;
use crate::spec::Limits;
use crate::valuation::Valuation;

pub struct Engine {
    pub valuation: Arc<Valuation>,
    pub(crate) method: Arc<dyn Method>,
}

impl Engine {
    /// Validate the tables (underlyings, vols, instruments, then the method's own) and build the
    /// method's scenarios and risk arrays.
    pub fn new(
        instruments: Table<'_>,
        underlyings: Table<'_>,
        vols: Table<'_>,
        as_of_ns: i64,
        spec: MethodSpec,
        limits: Limits,
    ) -> Result<Engine> {
        let mut valuation = Valuation::new(instruments, underlyings, vols, as_of_ns, limits)?;
        for column in spec.group_columns() {
            valuation.groups.push(crate::domain::groups::Grouping::by_column(instruments, &column)?);
        }
        let method = spec.build(&mut valuation)?;
        Ok(Engine { valuation: Arc::new(valuation), method })
    }

    pub fn n_instruments(&self) -> usize {
        self.valuation.instruments.len()
    }

    fn book(&self, positions: Table<'_>, on_error: OnError) -> Result<Book> {
        read_book(positions, &self.valuation.instruments, |row| self.valuation.check_usable(row), on_error)
    }

    /// Margin every account of a positions table; with `by_position`, also attribute each
    /// account's margin to its positions and explain its driving scenarios. With
    /// `OnError::Isolate`, accounts holding an unknown or unusable instrument are left out and
    /// reported by [`MarginRun::failed_batch`].
    pub fn margin(&self, positions: Table<'_>, by_position: bool, on_error: OnError) -> Result<MarginRun> {
        let book = self.book(positions, on_error)?;
        self.check_scale(positions, &book, |c| self.method.pnl_scale(c))?;
        let outcome = self.method.clone().margin(&self.valuation, &book, by_position)?;
        let account_ids = first_account_ids(positions, &book.first_row)?;
        let failed_rows: Vec<usize> = book.failed.iter().map(|f| f.first_row).collect();
        let failed_ids = first_account_ids(positions, &failed_rows)?;
        Ok(MarginRun {
            book,
            outcome,
            account_ids,
            failed_ids,
            method: self.method.clone(),
            valuation: self.valuation.clone(),
        })
    }

    /// Every netted position's |quantity| x `scale(contract)` (its largest |P&L per unit| under
    /// the method's scenarios, or its largest |value or Greek| per unit) stays within
    /// [`MAX_PNL`], so every sum made from them is finite; else an input error on the quantity of
    /// the first row (row order) of a position over it.
    fn check_scale(&self, positions: Table<'_>, book: &Book, scale: impl Fn(u32) -> f64 + Sync) -> Result<()> {
        // Each instrument's scale once (a few thousand calls), not once per position.
        let scales: Vec<f64> = (0..self.n_instruments() as u32).map(scale).collect();
        // Written as "not within" so that a NaN counts as over.
        let within = |x: f64| x <= MAX_PNL;
        let over = |p: usize| !within(book.quantity[p].abs() * scales[book.instrument[p] as usize]);
        if !(0..book.instrument.len()).into_par_iter().any(over) {
            return Ok(());
        }
        let mut failing = std::collections::HashSet::new();
        for a in 0..book.n_accounts() {
            failing.extend(book.positions(a).filter(|&p| over(p)).map(|p| (a as u32, book.instrument[p])));
        }
        let (accounts, instruments) = row_codes(positions, &self.valuation.instruments)?;
        let row = (0..accounts.len())
            .find(|&r| failing.contains(&(accounts[r], instruments[r])))
            .ok_or_else(|| MarginError::Internal("a position over the P&L bound has no row".into()))?;
        let id = &self.valuation.instruments.ids()[instruments[row] as usize];
        let max_pnl = float_text::g(MAX_PNL);
        Err(MarginError::cell(
            "positions",
            "quantity",
            row,
            format!(
                "the account's net position in '{id}' is worth or moves by more than {max_pnl}: check the quantity \
                 (and the instrument's multiplier)"
            ),
        ))
    }

    /// Price per unit of quantity (multiplier included) and Greeks of every instrument; the
    /// first instrument that cannot be priced (in table order) is an error.
    pub fn values_batch(&self) -> Result<RecordBatch> {
        let v = &self.valuation;
        if let Some(problem) = v.problems.iter().flatten().next() {
            return Err(problem.clone());
        }
        greeks::instrument_table(v.instruments.ids(), &v.base_values, &v.greeks)
    }

    /// Greeks per netted position and per account and underlying.
    pub fn greeks_batches(&self, positions: Table<'_>) -> Result<(RecordBatch, RecordBatch)> {
        let book = self.book(positions, OnError::Raise)?;
        let v = &self.valuation;
        self.check_scale(positions, &book, |c| {
            let g = &v.greeks[c as usize];
            [g.price, g.delta, g.gamma, g.vega, g.theta].iter().fold(0.0, |m, x| m.max(x.abs()))
        })?;
        let ids = first_account_ids(positions, &book.first_row)?;
        let by_position = greeks::position_table(&book, &ids, v.instruments.ids(), &v.greeks)?;
        let by_underlying = greeks::underlying_table(
            &book,
            &ids,
            &v.underlying_of,
            &v.underlyings.names,
            &v.underlyings.spot,
            &v.greeks,
        )?;
        Ok((by_position, by_underlying))
    }
}

/// The outcome of margining one positions table, with the method that made it.
pub struct MarginRun {
    pub book: Book,
    /// `account_id` of each account: Utf8 for string ids, Int64 for integer ids.
    pub account_ids: ArrayRef,
    /// `account_id` of each account left out (`OnError::Isolate`), in `book.failed` order.
    failed_ids: ArrayRef,
    outcome: Box<dyn Outcome>,
    method: Arc<dyn Method>,
    valuation: Arc<Valuation>,
}

impl MarginRun {
    fn view(&self) -> RunView<'_> {
        RunView { book: &self.book, account_ids: &self.account_ids }
    }

    pub fn n_accounts(&self) -> usize {
        self.book.n_accounts()
    }

    pub fn accounts_batch(&self) -> Result<RecordBatch> {
        self.outcome.accounts(&self.view())
    }

    pub fn by_underlying_batch(&self) -> Result<RecordBatch> {
        self.outcome.by_underlying(&self.view())
    }

    /// The accounts left out of the run (`OnError::Isolate`) and why: `account_id`, `table`,
    /// `column`, `row`, `reason`; empty when nothing failed.
    pub fn failed_batch(&self) -> Result<RecordBatch> {
        failed::failed_table(&self.failed_ids, &self.book.failed)
    }

    /// `account_id`, `instrument_id`, `quantity`, `contribution`, `standalone_margin`,
    /// `incremental_margin` per netted position, and the explain table per account and
    /// underlying; an error unless the run was made with `by_position`.
    pub fn attribution_batches(&self) -> Result<(RecordBatch, RecordBatch)> {
        self.outcome
            .attribution(&self.view())
            .unwrap_or_else(|| Err(MarginError::Internal("no attribution was computed for this run".into())))
    }

    /// Every table of the run, built in parallel.
    pub fn all_batches(&self) -> Result<ResultBatches> {
        self.outcome.tables(&self.view())
    }

    /// The risk matrix of account `account` (its index in the accounts table).
    pub fn scenario_matrix_batch(&self, account: usize) -> Result<RecordBatch> {
        if account >= self.book.n_accounts() {
            return Err(MarginError::input(
                "positions",
                Some("account_id"),
                None,
                format!("no account number {account}"),
            ));
        }
        self.method.scenario_matrix(&self.valuation, &self.book, account)
    }
}

/// The account_id cell of each account's first row, as Utf8 for string ids and Int64 for integer
/// ids whatever their input encoding (Utf8View, LargeUtf8, dictionaries, narrower or unsigned
/// integers): one output type per kind that every Arrow consumer can sort, filter and write
/// (docs/methods.md, "Inputs"). The ids were validated when the book was read (UTF-8; integers
/// that fit an int64).
fn first_account_ids(positions: Table<'_>, first_rows: &[usize]) -> Result<ArrayRef> {
    let index = positions
        .schema()
        .index_of("account_id")
        .map_err(|_| MarginError::column("positions", "account_id", "missing column"))?;
    let dtype = positions.schema().field(index).data_type().clone();
    let integer = dtype.is_integer() || matches!(&dtype, DataType::Dictionary(_, v) if v.is_integer());
    let columns: Vec<&dyn Array> = positions.batches().iter().map(|b| b.column(index).as_ref()).collect();
    if first_rows.is_empty() || columns.is_empty() {
        return Ok(new_empty_array(if integer { &DataType::Int64 } else { &DataType::Utf8 }));
    }
    // One batch of plain string or int64 ids (the usual inputs): gathered in parallel.
    if let [column] = columns.as_slice() {
        if let Some(ids) = column.as_any().downcast_ref::<StringArray>().filter(|c| c.null_count() == 0) {
            return strings_at(ids, first_rows);
        }
        if let Some(ids) = column.as_any().downcast_ref::<Int64Array>().filter(|c| c.null_count() == 0) {
            let values = ids.values();
            let picked: Option<Vec<i64>> = first_rows.par_iter().map(|&r| values.get(r).copied()).collect();
            let picked =
                picked.ok_or_else(|| MarginError::Internal("gathering account ids: a row past the end".into()))?;
            return Ok(Arc::new(Int64Array::from(picked)));
        }
    }
    let mut starts = Vec::with_capacity(columns.len());
    let mut total = 0;
    for c in &columns {
        starts.push(total);
        total += c.len();
    }
    let picks: Vec<(usize, usize)> = first_rows
        .iter()
        .map(|&row| {
            let batch = starts.partition_point(|&s| s <= row) - 1;
            (batch, row - starts[batch])
        })
        .collect();
    let failed = |e: arrow_schema::ArrowError| MarginError::Internal(format!("gathering account ids: {e}"));
    if !matches!(dtype, DataType::Dictionary(..)) {
        return plain_ids(interleave(&columns, &picks).map_err(failed)?, integer);
    }
    // Dictionaries: each batch's picks taken and decoded on their own, then interleaved.
    // Interleaving the dictionary arrays would merge their dictionaries, which overflows a
    // narrow key type (int8 keys, each batch under 128 ids, 200 ids in all).
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); columns.len()];
    let mut local = Vec::with_capacity(picks.len());
    for &(batch, row) in &picks {
        local.push((batch, rows[batch].len()));
        rows[batch].push(row as u32);
    }
    let decoded = columns
        .iter()
        .zip(rows)
        .map(|(column, rows)| plain_ids(take(*column, &UInt32Array::from(rows), None).map_err(failed)?, integer))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let decoded: Vec<&dyn Array> = decoded.iter().map(|a| a.as_ref()).collect();
    interleave(&decoded, &local).map_err(failed)
}

/// Account ids as the result tables carry them: Int64 for integer ids, Utf8 for string ids.
fn plain_ids(ids: ArrayRef, integer: bool) -> Result<ArrayRef> {
    match ids.data_type() {
        DataType::Utf8 | DataType::Int64 => Ok(ids),
        _ if integer => {
            let values = integer_values(ids.as_ref())
                .ok_or_else(|| MarginError::Internal("account ids are not integers".into()))?;
            Ok(Arc::new(Int64Array::from_iter(values.into_iter().map(|v| v.and_then(|v| i64::try_from(v).ok())))))
        }
        _ => Ok(Arc::new(StringArray::from_iter(string_values(ids.as_ref())))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::option_terms::OptionType;
    use crate::pricing::greeks::vanilla;
    use crate::spec::Value;
    use crate::test_support::{
        assert_all_close, assert_close, correlation, f64_column, floats, grid_spec, opt_f64_column, positions,
        rebatched, str_column, strings, table, two_underlyings, vols, Market,
    };
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::Int32Array;

    /// Long 2 `FA` (A at 100) and short 1 `FB` (B at 50, multiplier 2), shocks -10% / +10%:
    /// A's P&L is [-20, +20], B's [+10, -10].
    fn pair_book() -> crate::spec::OwnedTable {
        positions(&[("acc", "FA", 2.0), ("acc", "FB", -1.0)])
    }

    fn run(cross: &str, rho: Option<Value>) -> RecordBatch {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], cross, 0.5, rho)).expect("valid");
        engine
            .margin(pair_book().view("positions"), false, crate::OnError::Raise)
            .expect("margined")
            .accounts_batch()
            .expect("a table")
    }

    #[test]
    fn dictionary_account_ids_over_a_narrow_key_across_batches() {
        use arrow_array::types::Int8Type;
        use arrow_array::DictionaryArray;
        // 200 accounts in two batches of 100 rows, each batch its own int8-keyed dictionary:
        // every batch fits the key type, the two together do not.
        let ids: Vec<String> = (0..200).map(|a| format!("a{a:03}")).collect();
        let plain = positions(&ids.iter().map(|id| (id.as_str(), "FA", 1.0)).collect::<Vec<_>>());
        let batches = ids
            .chunks(100)
            .map(|chunk| {
                let keyed: DictionaryArray<Int8Type> = chunk.iter().map(String::as_str).collect();
                let rest = positions(&chunk.iter().map(|id| (id.as_str(), "FA", 1.0)).collect::<Vec<_>>());
                let columns = vec![
                    Arc::new(keyed) as ArrayRef,
                    rest.batches[0].column(1).clone(),
                    rest.batches[0].column(2).clone(),
                ];
                let fields = vec![
                    arrow_schema::Field::new(
                        "account_id",
                        DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
                        true,
                    ),
                    arrow_schema::Field::new("instrument_id", DataType::Utf8, true),
                    arrow_schema::Field::new("quantity", DataType::Float64, true),
                ];
                RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).expect("a batch")
            })
            .collect::<Vec<_>>();
        let keyed = crate::spec::OwnedTable { schema: batches[0].schema(), batches };
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 0.5, None)).expect("valid");
        let margined = |t: &crate::spec::OwnedTable| {
            engine
                .margin(t.view("positions"), false, crate::OnError::Raise)
                .expect("margined")
                .accounts_batch()
                .expect("a table")
        };
        let (want, got) = (margined(&plain), margined(&keyed));
        assert_eq!(got.column(0).data_type(), &DataType::Utf8);
        assert_eq!(str_column(&got, "account_id"), str_column(&want, "account_id"));
        assert_eq!(str_column(&got, "account_id")[199], Some("a199".to_owned()));
        assert_eq!(got, want);
    }

    #[test]
    fn margins_a_long_and_a_short_future_on_two_underlyings() {
        let sum = run("sum", None);
        assert_eq!(str_column(&sum, "account_id"), vec![Some("acc".to_owned())]);
        assert_all_close(&f64_column(&sum, "initial_margin"), &[30.0], 1e-9);
        assert_all_close(&f64_column(&sum, "maintenance_margin"), &[15.0], 1e-9);
        assert_all_close(&f64_column(&sum, "gross_margin"), &[30.0], 1e-9);
        assert_all_close(&f64_column(&sum, "cross_underlying_benefit"), &[0.0], 1e-9);
        assert_all_close(&f64_column(&sum, "netting_benefit"), &[0.0], 1e-9);
        // The driver is the underlying with the largest requirement: A, falling 10%.
        assert_eq!(str_column(&sum, "worst_scenario"), vec![Some("A -10.0% vol +0%".to_owned())]);
        assert_eq!(opt_f64_column(&sum, "worst_price_shock"), vec![Some(-0.1)]);
        assert_eq!(opt_f64_column(&sum, "worst_vol_shock"), vec![Some(0.0)]);

        // Joint: the total is [-10, +10], so 10; the hedge saves 20.
        let joint = run("joint", None);
        assert_all_close(&f64_column(&joint, "initial_margin"), &[10.0], 1e-9);
        assert_all_close(&f64_column(&joint, "maintenance_margin"), &[5.0], 1e-9);
        assert_all_close(&f64_column(&joint, "gross_margin"), &[30.0], 1e-9);
        assert_all_close(&f64_column(&joint, "cross_underlying_benefit"), &[20.0], 1e-9);
        assert_eq!(str_column(&joint, "worst_scenario"), vec![Some("ALL -10.0% vol +0%".to_owned())]);

        // Correlation 0.5 on two shocks: no joint move fits in the ellipse, so each underlying
        // moves alone with the other at its most favourable shock: A -10% (-20) with B +10 is 10.
        let rho = || Some(correlation(&["A", "B"], &[1.0, 0.5, 0.5, 1.0]));
        let corr = run("correlation", rho());
        assert_all_close(&f64_column(&corr, "initial_margin"), &[10.0], 1e-9);
        assert_all_close(&f64_column(&corr, "cross_underlying_benefit"), &[20.0], 1e-9);
        // On five shocks (x = -1 .. 1 by 0.5), (x_A, x_B) = (-1, -0.5) lies on the ellipse
        // (u = (-1, 0)) and loses 20 - 5 = 15; the continuous optimum is sqrt(400 + 100 - 200) = 17.3.
        let spec = grid_spec(&[-0.1, -0.05, 0.0, 0.05, 0.1], &[0.0], "correlation", 0.5, rho());
        let engine = two_underlyings().engine(&spec).expect("valid");
        let fine = engine
            .margin(pair_book().view("positions"), false, OnError::Raise)
            .expect("margined")
            .accounts_batch()
            .expect("a table");
        assert_all_close(&f64_column(&fine, "initial_margin"), &[15.0], 1e-9);
        assert_eq!(str_column(&fine, "worst_scenario"), vec![Some("A -10.0% vol +0%".to_owned())]);
    }

    #[test]
    fn by_underlying_and_the_scenario_matrix_of_the_pair() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 0.5, None)).expect("valid");
        let run = engine.margin(pair_book().view("positions"), false, crate::OnError::Raise).expect("margined");
        assert_eq!(run.n_accounts(), 1);
        let by = run.by_underlying_batch().expect("a table");
        assert_eq!(str_column(&by, "underlying"), vec![Some("A".to_owned()), Some("B".to_owned())]);
        assert_all_close(&f64_column(&by, "requirement"), &[20.0, 10.0], 1e-9);
        assert_eq!(opt_f64_column(&by, "worst_price_shock"), vec![Some(-0.1), Some(0.1)]);
        assert_eq!(
            str_column(&by, "worst_scenario"),
            vec![Some("A -10.0% vol +0%".to_owned()), Some("B +10.0% vol +0%".to_owned())]
        );
        let matrix = run.scenario_matrix_batch(0).expect("account 0");
        let names: Vec<String> = matrix.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["scenario", "price_shock", "vol_shock", "A", "B", "total"]);
        assert_all_close(&f64_column(&matrix, "A"), &[-20.0, 20.0], 1e-9);
        assert_all_close(&f64_column(&matrix, "B"), &[10.0, -10.0], 1e-9);
        assert_all_close(&f64_column(&matrix, "total"), &[-10.0, 10.0], 1e-9);
        let err = run.scenario_matrix_batch(1).expect_err("one account only");
        assert_eq!(err.to_string(), "positions.account_id: no account number 1");
    }

    #[test]
    fn account_ids_keep_their_type_and_first_seen_order_across_batches() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        let t = table(vec![
            ("account_id", Arc::new(Int64Array::from(vec![9, 5, 9, 7, 5])) as ArrayRef),
            ("instrument_id", strings(&["FA", "FA", "FB", "SA", "SA"])),
            ("quantity", floats(&[1.0, 2.0, 1.0, -1.0, 1.0])),
        ]);
        let t = rebatched(&t, 2);
        let run = engine.margin(t.view("positions"), false, crate::OnError::Raise).expect("margined");
        let accounts = run.accounts_batch().expect("a table");
        assert_eq!(accounts.schema().field(0).data_type(), &DataType::Int64);
        let ids: Vec<i64> = accounts.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(ids, vec![9, 5, 7]);
        // 9: long FA (10) and long FB (10): 20; 5: long 2 FA and long SA on A (30); 7: short SA (10).
        assert_all_close(&f64_column(&accounts, "initial_margin"), &[20.0, 30.0, 10.0], 1e-9);
        let by = run.by_underlying_batch().expect("a table");
        assert_eq!(by.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![9, 9, 5, 7]);
    }

    #[test]
    fn ids_come_out_as_utf8_or_int64_whatever_their_encoding() {
        use arrow_array::types::Int32Type;
        use arrow_array::{DictionaryArray, Int16Array, LargeStringArray, StringViewArray, UInt64Array};
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        let dict_strings: DictionaryArray<Int32Type> = vec!["y", "x", "y"].into_iter().collect();
        let ints: DictionaryArray<Int32Type> =
            DictionaryArray::try_new(Int32Array::from(vec![1, 0, 1]), Arc::new(Int16Array::from(vec![7, 9])))
                .expect("valid");
        let encodings: Vec<(ArrayRef, DataType)> = vec![
            (Arc::new(LargeStringArray::from(vec!["y", "x", "y"])), DataType::Utf8),
            (Arc::new(StringViewArray::from(vec!["y", "x", "y"])), DataType::Utf8),
            (Arc::new(dict_strings), DataType::Utf8),
            (Arc::new(Int16Array::from(vec![9, 7, 9])), DataType::Int64),
            (Arc::new(UInt64Array::from(vec![9, 7, 9])), DataType::Int64),
            (Arc::new(ints), DataType::Int64),
        ];
        for (ids, expected) in encodings {
            let t = table(vec![
                ("account_id", ids),
                ("instrument_id", strings(&["FA", "FA", "FB"])),
                ("quantity", floats(&[1.0, 2.0, 1.0])),
            ]);
            let run = engine.margin(t.view("positions"), false, OnError::Raise).expect("margined");
            let accounts = run.accounts_batch().expect("a table");
            assert_eq!(accounts.schema().field(0).data_type(), &expected);
            assert_eq!(run.by_underlying_batch().expect("a table").schema().field(0).data_type(), &expected);
            assert_eq!(accounts.num_rows(), 2);
        }
        let too_big = table(vec![
            ("account_id", Arc::new(UInt64Array::from(vec![1, u64::MAX])) as ArrayRef),
            ("instrument_id", strings(&["FA", "FA"])),
            ("quantity", floats(&[1.0, 2.0])),
        ]);
        let err = engine.margin(too_big.view("positions"), false, OnError::Raise).err().expect("above int64");
        assert_eq!(
            err.to_string(),
            "positions.account_id, row 1: 18446744073709551615 does not fit an int64 (integer account ids are int64 \
             in results)"
        );
    }

    #[test]
    fn an_empty_book_has_no_accounts() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        let run = engine.margin(positions(&[]).view("positions"), true, crate::OnError::Raise).expect("margined");
        let all = run.all_batches().expect("tables");
        assert_eq!((all.accounts.num_rows(), all.by_underlying.num_rows()), (0, 0));
        assert_eq!(all.accounts.schema().field(0).data_type(), &DataType::Utf8);
        let (by_position, explain) = all.attribution.expect("attributed");
        assert_eq!((by_position.num_rows(), explain.num_rows()), (0, 0));
    }

    #[test]
    fn all_batches_are_the_single_tables() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "joint", 0.5, None)).expect("valid");
        let run = engine.margin(pair_book().view("positions"), true, crate::OnError::Raise).expect("margined");
        let all = run.all_batches().expect("tables");
        assert_eq!(all.accounts, run.accounts_batch().expect("accounts"));
        assert_eq!(all.by_underlying, run.by_underlying_batch().expect("by underlying"));
        assert_eq!(all.attribution.expect("attributed"), run.attribution_batches().expect("attribution"));
        let plain = engine.margin(pair_book().view("positions"), false, crate::OnError::Raise).expect("margined");
        assert!(plain.all_batches().expect("tables").attribution.is_none());
        let err = plain.attribution_batches().expect_err("not attributed");
        assert_eq!(err.to_string(), "internal error: no attribution was computed for this run");
    }

    #[test]
    fn input_problems_are_raised_only_for_held_instruments() {
        let mut market: Market = two_underlyings();
        market.vols = vols(&[("CA", 0.2)]);
        let engine = market.engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 1.0, None)).expect("PB is not held yet");
        assert!(engine.margin(pair_book().view("positions"), false, crate::OnError::Raise).is_ok());
        let held = positions(&[("a", "FA", 1.0), ("b", "PB", 1.0)]);
        let err = engine.margin(held.view("positions"), false, crate::OnError::Raise).err().expect("PB has no vol");
        assert_eq!(
            err.to_string(),
            "instruments.instrument_id, row 4: option 'PB' has no implied vol in the vols table"
        );
        let err = engine.greeks_batches(held.view("positions")).expect_err("PB has no vol");
        assert!(err.to_string().starts_with("instruments.instrument_id, row 4"), "{err}");
        let err = engine.values_batch().expect_err("the first unpriceable instrument");
        assert!(err.to_string().starts_with("instruments.instrument_id, row 4"), "{err}");
        let unknown = positions(&[("a", "FA", 1.0), ("a", "XX", 1.0)]);
        let err =
            engine.margin(unknown.view("positions"), false, crate::OnError::Raise).err().expect("unknown instrument");
        assert_eq!(err.to_string(), "positions.instrument_id, row 1: unknown instrument 'XX'");
        let no_accounts = table(vec![("instrument_id", strings(&["FA"])), ("quantity", floats(&[1.0]))]);
        let err =
            engine.margin(no_accounts.view("positions"), false, crate::OnError::Raise).err().expect("no account_id");
        assert_eq!(err.to_string(), "positions.account_id: missing column");
    }

    #[test]
    fn values_are_per_unit_with_the_multiplier() {
        let engine = two_underlyings().engine(&grid_spec(&[0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        assert_eq!(engine.n_instruments(), 5);
        let values = engine.values_batch().expect("all priceable");
        let ids = str_column(&values, "instrument_id");
        assert_eq!(ids, ["FA", "FB", "SA", "CA", "PB"].map(|s| Some(s.to_owned())));
        // ATM at rate 0: C = S (2 N(sd / 2) - 1), N(0.1) = 0.539827837277029, N(0.15) = 0.559617692370242.
        let call = 100.0 * (2.0 * 0.539_827_837_277_029 - 1.0);
        let put = 50.0 * (2.0 * 0.559_617_692_370_242 - 1.0);
        assert_all_close(&f64_column(&values, "price"), &[100.0, 100.0, 100.0, call, put], 1e-9);
        assert_all_close(
            &f64_column(&values, "delta"),
            &[1.0, 2.0, 1.0, 0.539_827_837_277_029, -0.440_382_307_629_758],
            1e-12,
        );
        assert_eq!(f64_column(&values, "theta")[..3], [0.0, 0.0, 0.0]);
    }

    #[test]
    fn greeks_per_position_and_per_underlying() {
        let engine = two_underlyings().engine(&grid_spec(&[0.1], &[0.0], "sum", 1.0, None)).expect("valid");
        let book = positions(&[("a", "CA", 2.0), ("a", "FA", -1.0), ("b", "PB", 1.0), ("a", "CA", 1.0)]);
        let (by_position, by_underlying) = engine.greeks_batches(book.view("positions")).expect("tables");
        let call = vanilla(OptionType::Call, 100.0, 100.0, 1.0, 0.0, 0.2);
        let put = vanilla(OptionType::Put, 50.0, 50.0, 1.0, 0.0, 0.3);
        // Netted, in instrument-row order: a holds -1 FA (row 0) and 3 CA (row 3); b holds 1 PB.
        assert_eq!(f64_column(&by_position, "quantity"), vec![-1.0, 3.0, 1.0]);
        assert_all_close(&f64_column(&by_position, "value"), &[-100.0, 3.0 * call.price, put.price], 1e-9);
        assert_all_close(&f64_column(&by_position, "delta"), &[-1.0, 3.0 * call.delta, put.delta], 1e-12);
        assert_all_close(&f64_column(&by_position, "vega"), &[0.0, 3.0 * call.vega, put.vega], 1e-12);
        assert_eq!(str_column(&by_underlying, "underlying"), vec![Some("A".to_owned()), Some("B".to_owned())]);
        let delta_a = 3.0 * call.delta - 1.0;
        assert_all_close(&f64_column(&by_underlying, "delta"), &[delta_a, put.delta], 1e-12);
        assert_all_close(&f64_column(&by_underlying, "cash_delta"), &[100.0 * delta_a, 50.0 * put.delta], 1e-9);
        // 0.5 x gamma x (1% of spot)^2, and vega per vol point.
        let cash_gamma = [0.5 * 3.0 * call.gamma, 0.5 * put.gamma * 0.25];
        assert_all_close(&f64_column(&by_underlying, "cash_gamma"), &cash_gamma, 1e-12);
        assert_all_close(&f64_column(&by_underlying, "vega_1pct"), &[0.03 * call.vega, put.vega / 100.0], 1e-12);
        assert_eq!(
            by_position.column(0).as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("a"), Some("a"), Some("b")]
        );
        assert_close(f64_column(&by_underlying, "theta")[0], 3.0 * call.theta, 1e-9);
    }
}
