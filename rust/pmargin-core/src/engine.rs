//! The grid engine: validated instruments and market, contracts priced once per scenario, ready
//! to margin any number of books (pre-trade checks reuse one engine).

use arrow_array::{new_empty_array, Array, ArrayRef, RecordBatch};
use arrow_select::interleave::interleave;

use crate::aggregate::{aggregate, scenario_matrix, AccountOutcome};
use crate::columns::Table;
use crate::contract::Contract;
use crate::error::{MarginError, Result};
use crate::instruments::{read_instruments, Instruments};
use crate::labels::scenario_label;
use crate::market::{read_underlyings, read_vols, Underlyings};
use crate::model::GridModel;
use crate::output;
use crate::positions::{read_book, Book};
use crate::revalue::RiskArrays;

pub struct GridEngine {
    pub model: GridModel,
    pub instruments: Instruments,
    pub underlyings: Underlyings,
    /// Why an instrument cannot be priced (no market row, no vol, expired); None when it can.
    problems: Vec<Option<MarginError>>,
    /// Underlyings-table row of each instrument (0 for unusable ones, never read).
    underlying_of: Vec<u32>,
    risk: RiskArrays,
    /// Value per unit of each instrument at the current market (0 for unusable ones).
    base_values: Vec<f64>,
    /// `(n_underlyings + 1) x S` labels; the last block is for joint scenarios.
    labels: Vec<String>,
}

impl GridEngine {
    /// Validate the tables (underlyings, vols, instruments, in that order) and build risk arrays.
    pub fn new(
        instruments: Table<'_>,
        underlyings: Table<'_>,
        vols: Table<'_>,
        as_of_ns: i64,
        model: GridModel,
    ) -> Result<GridEngine> {
        let underlyings = read_underlyings(underlyings)?;
        let vols = read_vols(vols)?;
        let instruments = read_instruments(instruments)?;
        let resolved: Vec<Result<Contract>> = (0..instruments.len())
            .map(|row| {
                Contract::resolve(
                    row,
                    &instruments.ids[row],
                    &instruments.rows[row],
                    &underlyings,
                    &vols,
                    as_of_ns,
                )
            })
            .collect();
        let underlying_of = resolved
            .iter()
            .map(|c| c.as_ref().map_or(0, |c| c.underlying))
            .collect();
        let (contracts, problems): (Vec<Option<Contract>>, Vec<Option<MarginError>>) = resolved
            .into_iter()
            .map(|r| match r {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            })
            .unzip();
        let risk = RiskArrays::build(&contracts, &model);
        let base_values = contracts.iter().map(|c| c.as_ref().map_or(0.0, Contract::base_value)).collect();
        let labels = scenario_labels(&underlyings, &model);
        Ok(GridEngine {
            model,
            instruments,
            underlyings,
            problems,
            underlying_of,
            risk,
            base_values,
            labels,
        })
    }

    pub fn label(&self, underlying: Option<u32>, scenario: u32) -> &str {
        let block = underlying.map_or(self.underlyings.names.len(), |u| u as usize);
        &self.labels[block * self.model.n_scenarios() + scenario as usize]
    }

    /// Margin every account of a positions table.
    pub fn margin(&self, positions: Table<'_>) -> Result<MarginRun> {
        let book = read_book(positions, &self.instruments, |row| {
            match &self.problems[row as usize] {
                Some(problem) => Err(problem.clone()),
                None => Ok(()),
            }
        })?;
        let outcomes = aggregate(&book, &self.underlying_of, &self.risk, self.model.cross);
        let account_ids = first_account_ids(positions, &book.first_row)?;
        Ok(MarginRun {
            book,
            outcomes,
            account_ids,
        })
    }

    pub fn accounts_batch(&self, run: &MarginRun) -> Result<RecordBatch> {
        output::accounts_batch(self, &run.account_ids, &run.outcomes)
    }

    pub fn by_underlying_batch(&self, run: &MarginRun) -> Result<RecordBatch> {
        output::by_underlying_batch(self, &run.account_ids, &run.outcomes)
    }

    /// Price per unit of quantity (multiplier included) of every instrument; the first
    /// instrument that cannot be priced (in table order) is an error.
    pub fn values_batch(&self) -> Result<RecordBatch> {
        if let Some(problem) = self.problems.iter().flatten().next() {
            return Err(problem.clone());
        }
        output::values_batch(&self.instruments.ids, &self.base_values)
    }

    /// The risk matrix of account `account` (its index in the accounts table).
    pub fn scenario_matrix_batch(&self, run: &MarginRun, account: usize) -> Result<RecordBatch> {
        if account >= run.book.n_accounts() {
            return Err(MarginError::input(
                "positions",
                Some("account_id"),
                None,
                format!("no account number {account}"),
            ));
        }
        let matrix = scenario_matrix(&run.book, account, &self.underlying_of, &self.risk);
        output::scenario_matrix_batch(self, &matrix)
    }
}

/// The outcome of margining one positions table.
pub struct MarginRun {
    pub book: Book,
    pub outcomes: Vec<AccountOutcome>,
    /// `account_id` of each account, in the input's own Arrow type.
    pub account_ids: ArrayRef,
}

fn scenario_labels(underlyings: &Underlyings, model: &GridModel) -> Vec<String> {
    let names = underlyings
        .names
        .iter()
        .map(|n| Some(n.as_str()))
        .chain(std::iter::once(None));
    names
        .flat_map(|name| {
            (0..model.n_scenarios()).map(move |s| {
                let (p, v) = model.scenario(s);
                scenario_label(name, p, v, model.vol_mode)
            })
        })
        .collect()
}

/// Gather the account_id cell of each account's first row, keeping the input's Arrow type.
fn first_account_ids(positions: Table<'_>, first_rows: &[usize]) -> Result<ArrayRef> {
    let index = positions
        .schema()
        .index_of("account_id")
        .map_err(|_| MarginError::column("positions", "account_id", "missing column"))?;
    let dtype = positions.schema().field(index).data_type().clone();
    let columns: Vec<&dyn Array> = positions
        .batches()
        .iter()
        .map(|b| b.column(index).as_ref())
        .collect();
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
    interleave(&columns, &picks)
        .map_err(|e| MarginError::Internal(format!("gathering account ids: {e}")))
}
