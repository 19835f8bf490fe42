//! The engine: validated instruments and market, every contract priced once per scenario, ready
//! to margin any number of books (pre-trade checks reuse one engine).

use arrow_array::{new_empty_array, Array, ArrayRef, RecordBatch};
use arrow_select::interleave::interleave;

use crate::aggregate::{aggregate, aggregate_attributed, scenario_matrix, AccountOutcome, GridContext};
use crate::attribution::{Attribution, AttributionInputs};
use crate::columns::Table;
use crate::contract::Contract;
use crate::error::{MarginError, Result};
use crate::instruments::{read_instruments, Instruments};
use crate::labels::scenario_label;
use crate::market::{read_underlyings, read_vols, Underlyings};
use crate::measure::{tail_count, Measure};
use crate::output;
use crate::positions::{read_book, Book};
use crate::pricing::greeks::Greeks;
use crate::revalue::RiskArrays;
use crate::scenarios::montecarlo::MonteCarloSpec;
use crate::scenarios::{historical, Cross, GridModel, ScenarioSet, VolShockMode};
use crate::sensitivities;
use crate::tail_aggregate::{plans, window_outcomes, UnitTails, WindowOutcome};

/// Every result table of a run.
pub struct ResultBatches {
    pub accounts: RecordBatch,
    pub by_underlying: RecordBatch,
    /// (by_position, explain) of a run made with `by_position`.
    pub attribution: Option<(RecordBatch, RecordBatch)>,
}

/// Which model to build, with its inputs.
pub enum ModelSpec<'a> {
    Grid(GridModel),
    Historical {
        moves: Table<'a>,
        stressed: Option<Table<'a>>,
        vol_mode: VolShockMode,
        ewma_lambda: Option<f64>,
        tail: TailSpec,
    },
    MonteCarlo {
        spec: MonteCarloSpec,
        tail: TailSpec,
    },
}

/// VaR / ES settings shared by the historical and Monte Carlo models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailSpec {
    pub measure: Measure,
    pub confidence: f64,
    pub mm_ratio: f64,
}

pub struct GridMethod {
    pub model: GridModel,
    set: ScenarioSet,
    risk: RiskArrays,
    /// `(n_underlyings + 1) x S` labels; the last block is for joint scenarios.
    labels: Vec<String>,
    correlation_index: Vec<Option<usize>>,
}

/// One scenario window of a VaR / ES model (the normal one, or a stressed period).
pub struct Window {
    pub name: &'static str,
    pub risk: RiskArrays,
    pub k: usize,
    pub labels: Vec<String>,
}

pub struct MeasureMethod {
    pub measure: Measure,
    pub windows: Vec<Window>,
}

pub enum Method {
    Grid(Box<GridMethod>),
    Measure(MeasureMethod),
}

pub struct Engine {
    pub instruments: Instruments,
    pub underlyings: Underlyings,
    pub mm_ratio: f64,
    pub method: Method,
    /// Why an instrument cannot be margined (no market row, no vol, expired, no scenarios for
    /// its underlying); None when it can.
    problems: Vec<Option<MarginError>>,
    /// Underlyings-table row of each instrument (0 for unusable ones, never read).
    underlying_of: Vec<u32>,
    /// Value per unit of each instrument at the current market (0 for unusable ones).
    base_values: Vec<f64>,
    /// Price and Greeks per unit of each instrument (zero for unusable ones).
    greeks: Vec<Greeks>,
    /// Spot of each instrument's underlying and its implied vol (0 for unusable ones).
    spot_of: Vec<f64>,
    vol_of: Vec<f64>,
}

fn check_mm_ratio(mm_ratio: f64) -> Result<()> {
    if mm_ratio.is_finite() && mm_ratio > 0.0 && mm_ratio <= 1.0 {
        Ok(())
    } else {
        Err(MarginError::column("model", "mm_ratio", format!("must be a number in (0, 1], got {mm_ratio}")))
    }
}

impl Engine {
    /// Validate the tables (underlyings, vols, instruments, then the model's own) and build risk
    /// arrays for every scenario window.
    pub fn new(
        instruments: Table<'_>,
        underlyings: Table<'_>,
        vols: Table<'_>,
        as_of_ns: i64,
        spec: ModelSpec<'_>,
    ) -> Result<Engine> {
        let underlyings = read_underlyings(underlyings)?;
        let vols = read_vols(vols)?;
        let instruments = read_instruments(instruments)?;
        let resolved: Vec<Result<Contract>> = (0..instruments.len())
            .map(|row| {
                Contract::resolve(row, &instruments.ids()[row], &instruments.rows[row], &underlyings, &vols, as_of_ns)
            })
            .collect();
        let underlying_of: Vec<u32> = resolved.iter().map(|c| c.as_ref().map_or(0, |c| c.underlying)).collect();
        let (mut contracts, mut problems): (Vec<Option<Contract>>, Vec<Option<MarginError>>) = resolved
            .into_iter()
            .map(|r| match r {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            })
            .unzip();
        let base_values: Vec<f64> = contracts.iter().map(|c| c.as_ref().map_or(0.0, Contract::base_value)).collect();
        let greeks: Vec<Greeks> =
            contracts.iter().map(|c| c.as_ref().map(Contract::greeks).unwrap_or_default()).collect();
        let spot_of = contracts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.spot)).collect();
        let vol_of = contracts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.vol)).collect();

        let (mut sets, mm_ratio, kind) = scenario_sets(spec, &underlyings)?;
        check_mm_ratio(mm_ratio)?;
        // A contract whose underlying lacks scenarios in any window cannot be margined.
        for (c, problem) in contracts.iter_mut().zip(problems.iter_mut()) {
            if let Some(contract) = c {
                if let Some(missing) = sets.iter().find_map(|(_, s)| s.missing[contract.underlying as usize].clone()) {
                    *problem = Some(missing);
                    *c = None;
                }
            }
        }
        let method = match kind {
            MethodKind::Grid(model) => {
                let risk = RiskArrays::build(&contracts, &base_values, &sets[0].1)?;
                mark_non_finite(&mut problems, &risk);
                let correlation_index = match &model.cross {
                    Cross::Correlation { matrix, .. } => {
                        mark_uncorrelated(&mut problems, &contracts, &underlyings, matrix);
                        underlyings.names.iter().map(|n| matrix.index_of(n)).collect()
                    }
                    _ => vec![None; underlyings.names.len()],
                };
                let labels = grid_labels(&underlyings, &model);
                Method::Grid(Box::new(GridMethod {
                    model,
                    set: sets.swap_remove(0).1,
                    risk,
                    labels,
                    correlation_index,
                }))
            }
            MethodKind::Measure(tail) => {
                let windows = sets
                    .into_iter()
                    .map(|(name, set)| {
                        let k = tail_count(set.n, tail.confidence)?;
                        let risk = RiskArrays::build(&contracts, &base_values, &set)?;
                        Ok(Window { name, risk, k, labels: set.labels })
                    })
                    .collect::<Result<Vec<_>>>()?;
                for w in &windows {
                    mark_non_finite(&mut problems, &w.risk);
                }
                Method::Measure(MeasureMethod { measure: tail.measure, windows })
            }
        };
        Ok(Engine {
            instruments,
            underlyings,
            mm_ratio,
            method,
            problems,
            underlying_of,
            base_values,
            greeks,
            spot_of,
            vol_of,
        })
    }

    /// Grid label of a scenario for one underlying, or for all at once (`None`).
    pub fn grid_label<'g>(&self, grid: &'g GridMethod, underlying: Option<u32>, scenario: u32) -> &'g str {
        let block = underlying.map_or(self.underlyings.names.len(), |u| u as usize);
        &grid.labels[block * grid.model.n_scenarios() + scenario as usize]
    }

    /// Margin every account of a positions table; with `by_position`, also attribute each
    /// account's margin to its positions and explain its driving scenarios.
    pub fn margin(&self, positions: Table<'_>, by_position: bool) -> Result<MarginRun> {
        let book = read_book(positions, &self.instruments, |row| match &self.problems[row as usize] {
            Some(problem) => Err(problem.clone()),
            None => Ok(()),
        })?;
        let mut attribution = None;
        let outcome = match &self.method {
            Method::Grid(grid) => {
                let ctx = GridContext {
                    model: &grid.model,
                    risk: &grid.risk,
                    underlying_of: &self.underlying_of,
                    correlation_index: &grid.correlation_index,
                };
                if by_position {
                    let inputs = AttributionInputs {
                        set: &grid.set,
                        greeks: &self.greeks,
                        spot: &self.spot_of,
                        vol: &self.vol_of,
                    };
                    let (outcomes, attributed) = aggregate_attributed(&book, &ctx, &inputs);
                    attribution = Some(attributed);
                    Outcome::Grid(outcomes)
                } else {
                    Outcome::Grid(aggregate(&book, &ctx))
                }
            }
            Method::Measure(m) => {
                if by_position {
                    return Err(MarginError::column(
                        "model",
                        "by_position",
                        "by_position is available for the grid model only (historical and Monte Carlo report their tail scenarios instead)",
                    ));
                }
                Outcome::Measure(self.measure_accounts(&book, m))
            }
        };
        let account_ids = first_account_ids(positions, &book.first_row)?;
        Ok(MarginRun { book, outcome, account_ids, attribution })
    }

    fn measure_accounts(&self, book: &Book, m: &MeasureMethod) -> Vec<MeasureAccount> {
        let plans = plans(book, &self.underlying_of);
        let n_contracts = self.instruments.len();
        let units: Vec<UnitTails> =
            m.windows.iter().map(|w| UnitTails::new(book, &w.risk, n_contracts, w.k, m.measure)).collect();
        let per_window: Vec<Vec<WindowOutcome>> = m
            .windows
            .iter()
            .zip(&units)
            .map(|(w, u)| window_outcomes(book, &plans, &w.risk, u, w.k, m.measure))
            .collect();
        let mut per_window: Vec<std::vec::IntoIter<WindowOutcome>> =
            per_window.into_iter().map(Vec::into_iter).collect();
        plans
            .into_iter()
            .enumerate()
            .map(|(a, plan)| {
                let windows = per_window.iter_mut().filter_map(Iterator::next).collect();
                // A position alone pays the largest of its window margins.
                let gross = book.positions(a).fold(0.0, |acc, p| {
                    let (c, q) = (book.instrument[p], book.quantity[p]);
                    acc + units.iter().fold(0.0f64, |best, u| best.max(u.margin(c, q)))
                });
                MeasureAccount { underlyings: plan.underlyings, windows, gross }
            })
            .collect()
    }

    pub fn accounts_batch(&self, run: &MarginRun) -> Result<RecordBatch> {
        match (&self.method, &run.outcome) {
            (Method::Grid(g), Outcome::Grid(o)) => output::grid_accounts_batch(self, g, &run.account_ids, o),
            (Method::Measure(m), Outcome::Measure(o)) => output::measure_accounts_batch(self, m, &run.account_ids, o),
            _ => Err(MarginError::Internal("run and engine disagree on the model".into())),
        }
    }

    /// The accounts and by-underlying tables, built in parallel.
    pub fn result_batches(&self, run: &MarginRun) -> Result<(RecordBatch, RecordBatch)> {
        let (accounts, by_underlying) = rayon::join(|| self.accounts_batch(run), || self.by_underlying_batch(run));
        Ok((accounts?, by_underlying?))
    }

    /// The accounts and by-underlying tables and, when the run has them, the attribution tables
    /// (by_position, explain), all built in parallel.
    pub fn all_batches(&self, run: &MarginRun) -> Result<ResultBatches> {
        let (main, attribution) = rayon::join(
            || self.result_batches(run),
            || run.attribution.as_ref().map(|_| self.attribution_batches(run)).transpose(),
        );
        let (accounts, by_underlying) = main?;
        Ok(ResultBatches { accounts, by_underlying, attribution: attribution? })
    }

    pub fn by_underlying_batch(&self, run: &MarginRun) -> Result<RecordBatch> {
        match (&self.method, &run.outcome) {
            (Method::Grid(g), Outcome::Grid(o)) => output::grid_by_underlying_batch(self, g, &run.account_ids, o),
            (Method::Measure(m), Outcome::Measure(o)) => {
                output::measure_by_underlying_batch(self, m, &run.account_ids, o)
            }
            _ => Err(MarginError::Internal("run and engine disagree on the model".into())),
        }
    }

    /// `account_id`, `instrument_id`, `quantity`, `contribution`, `standalone_margin`,
    /// `incremental_margin` per netted position, and the explain table per account and underlying.
    pub fn attribution_batches(&self, run: &MarginRun) -> Result<(RecordBatch, RecordBatch)> {
        let (Method::Grid(grid), Some(attribution)) = (&self.method, &run.attribution) else {
            return Err(MarginError::Internal("no attribution was computed for this run".into()));
        };
        let (by_position, explain) = rayon::join(
            || output::by_position_batch(self, &run.book, &run.account_ids, attribution),
            || output::explain_batch(self, grid, &run.account_ids, attribution),
        );
        Ok((by_position?, explain?))
    }

    /// Price per unit of quantity (multiplier included) of every instrument; the first
    /// instrument that cannot be priced (in table order) is an error.
    pub fn values_batch(&self) -> Result<RecordBatch> {
        if let Some(problem) = self.problems.iter().flatten().next() {
            return Err(problem.clone());
        }
        sensitivities::instrument_table(self.instruments.ids(), &self.base_values, &self.greeks)
    }

    /// Greeks per netted position and per account and underlying.
    pub fn greeks_batches(&self, positions: Table<'_>) -> Result<(RecordBatch, RecordBatch)> {
        let book = read_book(positions, &self.instruments, |row| match &self.problems[row as usize] {
            Some(problem) => Err(problem.clone()),
            None => Ok(()),
        })?;
        let ids = first_account_ids(positions, &book.first_row)?;
        let by_position = sensitivities::position_table(&book, &ids, self.instruments.ids(), &self.greeks)?;
        let by_underlying = sensitivities::underlying_table(
            &book,
            &ids,
            &self.underlying_of,
            &self.underlyings.names,
            &self.underlyings.spot,
            &self.greeks,
        )?;
        Ok((by_position, by_underlying))
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
        match &self.method {
            Method::Grid(g) => {
                let matrix = scenario_matrix(&run.book, account, &self.underlying_of, &g.risk);
                output::grid_scenario_matrix_batch(self, g, &matrix)
            }
            Method::Measure(m) => {
                let window = &m.windows[0];
                let matrix = scenario_matrix(&run.book, account, &self.underlying_of, &window.risk);
                output::measure_scenario_matrix_batch(self, window, &matrix)
            }
        }
    }
}

enum MethodKind {
    Grid(GridModel),
    Measure(TailSpec),
}

type NamedSets = Vec<(&'static str, ScenarioSet)>;

fn scenario_sets(spec: ModelSpec<'_>, underlyings: &Underlyings) -> Result<(NamedSets, f64, MethodKind)> {
    let n_u = underlyings.names.len();
    Ok(match spec {
        ModelSpec::Grid(model) => {
            let set = model.scenario_set(n_u);
            let mm = model.mm_ratio;
            (vec![("normal", set)], mm, MethodKind::Grid(model))
        }
        ModelSpec::Historical { moves, stressed, vol_mode, ewma_lambda, tail } => {
            let mut sets = vec![("normal", historical::scenario_set(moves, underlyings, vol_mode, ewma_lambda)?)];
            if let Some(stressed) = stressed {
                sets.push(("stressed", historical::scenario_set(stressed, underlyings, vol_mode, None)?));
            }
            (sets, tail.mm_ratio, MethodKind::Measure(tail))
        }
        ModelSpec::MonteCarlo { spec, tail } => {
            (vec![("normal", spec.scenario_set(underlyings)?)], tail.mm_ratio, MethodKind::Measure(tail))
        }
    })
}

/// A contract with a non-finite value under some scenario cannot be margined (an error if held).
fn mark_non_finite(problems: &mut [Option<MarginError>], risk: &RiskArrays) {
    for (c, e) in &risk.non_finite {
        if problems[*c].is_none() {
            problems[*c] = Some(e.clone());
        }
    }
}

/// Under cross="correlation", a held underlying missing from the matrix is an input error.
fn mark_uncorrelated(
    problems: &mut [Option<MarginError>],
    contracts: &[Option<Contract>],
    underlyings: &Underlyings,
    matrix: &crate::correlation::CorrelationMatrix,
) {
    for (c, problem) in contracts.iter().zip(problems.iter_mut()) {
        if let Some(contract) = c {
            let name = &underlyings.names[contract.underlying as usize];
            if matrix.index_of(name).is_none() {
                *problem = Some(MarginError::input(
                    "correlation",
                    None,
                    None,
                    format!("underlying '{name}' is held but is not in the correlation matrix"),
                ));
            }
        }
    }
}

/// The outcome of margining one positions table.
pub struct MarginRun {
    pub book: Book,
    pub outcome: Outcome,
    /// `account_id` of each account, in the input's own Arrow type.
    pub account_ids: ArrayRef,
    /// Per account: its positions' attribution and its explain rows (when asked for).
    pub attribution: Option<Attribution>,
}

pub enum Outcome {
    Grid(Vec<AccountOutcome>),
    Measure(Vec<MeasureAccount>),
}

/// A VaR / ES account: its tails in each window.
pub struct MeasureAccount {
    pub underlyings: Vec<u32>,
    pub windows: Vec<WindowOutcome>,
    pub gross: f64,
}

impl MeasureAccount {
    /// (initial margin, binding window): the largest margin over windows, the first on ties.
    pub fn binding(&self) -> (f64, usize) {
        let mut best = (self.windows[0].total.margin(), 0);
        for (w, outcome) in self.windows.iter().enumerate().skip(1) {
            if outcome.total.margin() > best.0 {
                best = (outcome.total.margin(), w);
            }
        }
        best
    }

    /// Margin of underlying slot `k` alone and its binding window.
    pub fn underlying_binding(&self, k: usize) -> (f64, usize) {
        let mut best = (self.windows[0].per_underlying[k].margin(), 0);
        for (w, outcome) in self.windows.iter().enumerate().skip(1) {
            if outcome.per_underlying[k].margin() > best.0 {
                best = (outcome.per_underlying[k].margin(), w);
            }
        }
        best
    }
}

fn grid_labels(underlyings: &Underlyings, model: &GridModel) -> Vec<String> {
    let names = underlyings.names.iter().map(|n| Some(n.as_str())).chain(std::iter::once(None));
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
