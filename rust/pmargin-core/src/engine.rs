//! The engine: a valuation (validated instruments and market, every contract priced once) and a
//! method built on it (its scenarios and risk arrays), ready to margin any number of books
//! (pre-trade checks reuse one engine). It only dispatches: every number comes from a stage.

use std::sync::Arc;

use arrow_array::{new_empty_array, Array, ArrayRef, RecordBatch};
use arrow_select::interleave::interleave;

use crate::domain::book::{read_book, Book};
use crate::error::{MarginError, Result};
use crate::input::Table;
use crate::methods::{Method, MethodSpec, Outcome, RunView};
use crate::output::greeks;
use crate::valuation::Valuation;

/// Every result table of a run.
pub struct ResultBatches {
    pub accounts: RecordBatch,
    pub by_underlying: RecordBatch,
    /// (by_position, explain) of a run made with `by_position`.
    pub attribution: Option<(RecordBatch, RecordBatch)>,
}

pub struct Engine {
    pub valuation: Arc<Valuation>,
    method: Arc<dyn Method>,
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
    ) -> Result<Engine> {
        let mut valuation = Valuation::new(instruments, underlyings, vols, as_of_ns)?;
        let method = spec.build(&mut valuation)?;
        Ok(Engine { valuation: Arc::new(valuation), method })
    }

    pub fn n_instruments(&self) -> usize {
        self.valuation.instruments.len()
    }

    fn book(&self, positions: Table<'_>) -> Result<Book> {
        read_book(positions, &self.valuation.instruments, |row| self.valuation.check_usable(row))
    }

    /// Margin every account of a positions table; with `by_position`, also attribute each
    /// account's margin to its positions and explain its driving scenarios.
    pub fn margin(&self, positions: Table<'_>, by_position: bool) -> Result<MarginRun> {
        let book = self.book(positions)?;
        let outcome = self.method.clone().margin(&self.valuation, &book, by_position)?;
        let account_ids = first_account_ids(positions, &book.first_row)?;
        Ok(MarginRun { book, outcome, account_ids, method: self.method.clone(), valuation: self.valuation.clone() })
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
        let book = self.book(positions)?;
        let ids = first_account_ids(positions, &book.first_row)?;
        let v = &self.valuation;
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
    /// `account_id` of each account, in the input's own Arrow type.
    pub account_ids: ArrayRef,
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
        let view = self.view();
        let ((accounts, by_underlying), attribution) = rayon::join(
            || rayon::join(|| self.outcome.accounts(&view), || self.outcome.by_underlying(&view)),
            || self.outcome.attribution(&view).transpose(),
        );
        Ok(ResultBatches { accounts: accounts?, by_underlying: by_underlying?, attribution: attribution? })
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

/// Gather the account_id cell of each account's first row, keeping the input's Arrow type.
fn first_account_ids(positions: Table<'_>, first_rows: &[usize]) -> Result<ArrayRef> {
    let index = positions
        .schema()
        .index_of("account_id")
        .map_err(|_| MarginError::column("positions", "account_id", "missing column"))?;
    let dtype = positions.schema().field(index).data_type().clone();
    let columns: Vec<&dyn Array> = positions.batches().iter().map(|b| b.column(index).as_ref()).collect();
    if first_rows.is_empty() || columns.is_empty() {
        return Ok(new_empty_array(&dtype));
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
    interleave(&columns, &picks).map_err(|e| MarginError::Internal(format!("gathering account ids: {e}")))
}
