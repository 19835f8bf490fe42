//! Deribit portfolio margin (docs/methods.md, "Deribit portfolio margin"): per underlying and
//! settlement currency, a risk matrix of simulated price moves x vol shocks (the vega term
//! structure), an extended table of far moves with the dampener, `pnl_offset` for gains, a roll
//! shock per expiry (no netting across expiries) and a delta shock; maintenance = `mm_factor` x
//! risk-matrix margin. Inverse (coin-settled) contracts give coin P&L, reported in coin and USD.
//!
//! - [`params`]: the spec (published `model_params` per underlying);
//! - [`matrix`]: each contract's row of P&L per unit;
//! - [`aggregate`]: accounts in parallel, risk vectors and their charges;
//! - [`tables`]: the result tables.

pub mod aggregate;
pub mod matrix;
pub mod params;
pub mod tables;

use std::sync::Arc;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use self::aggregate::{AccountOutcome, Context, ContractRisk};
use self::params::{DeribitModel, DeribitParams};
use super::{Method, MethodConfig, Outcome, RunView};
use crate::domain::book::Book;
use crate::domain::instruments::{Kind, Settlement};
use crate::error::{MarginError, Result};
use crate::spec::Fields;
use crate::valuation::Valuation;

/// One contract built: its risk and row, or why it cannot be margined (or neither: unusable).
type Built = (Option<(ContractRisk, Vec<f64>)>, Option<MarginError>);

/// Why a contract whose roll rate overflows cannot be margined (`set`: its parameter set).
pub fn roll_overflow(set: &str) -> String {
    format!(
        "its roll rate exp(annualised_move_risk x T) - 1 is not finite: params.{set}.annualised_move_risk is too \
         large for an expiry this far out"
    )
}

/// A Deribit model built against a market: each contract's risk row.
pub struct DeribitMethod {
    pub model: DeribitModel,
    /// Parameter sets in use: `model.params` order, then the default.
    params: Vec<DeribitParams>,
    risk: Vec<Option<ContractRisk>>,
    /// Every contract's row, back to back (`ContractRisk::start`, `len`).
    rows: Vec<f64>,
    /// The most one unit of each contract adds to a charge: its row's largest |entry|, or its
    /// roll and delta shocks at most (0 for unusable ones).
    scale: Vec<f64>,
    spot: Vec<f64>,
    names: Vec<String>,
}

impl DeribitMethod {
    fn context(&self) -> Context<'_> {
        Context { params: &self.params, risk: &self.risk, rows: &self.rows, spot: &self.spot }
    }
}

impl MethodConfig for DeribitModel {
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self> {
        params::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let mut params: Vec<DeribitParams> = self.model_params().cloned().collect();
        if let Some(d) = &self.default {
            params.push(d.clone());
        }
        let names = valuation.underlyings.names.clone();
        let index_of = |name: &str| {
            self.params.iter().position(|(n, _)| n == name).or(self.default.as_ref().map(|_| self.params.len()))
        };
        let param_of: Vec<Option<usize>> = names.iter().map(|n| index_of(n)).collect();
        let risk: Vec<Built> = valuation
            .contracts
            .par_iter()
            .enumerate()
            .map(|(c, contract)| {
                let Some(contract) = contract else { return (None, None) };
                let Some(k) = param_of[contract.underlying as usize] else {
                    let name = &names[contract.underlying as usize];
                    let problem = MarginError::cell(
                        "instruments",
                        "underlying",
                        c,
                        format!("underlying '{name}' has no Deribit parameters (the model's params have no '{name}' and no '*')"),
                    );
                    return (None, Some(problem));
                };
                let p = &params[k];
                let inverse = valuation.instruments.rows[c].settlement == Settlement::Inverse;
                let row = matrix::contract_row(p, contract, valuation.base_values[c], inverse);
                if let Some(s) = row.iter().position(|x| !x.is_finite()) {
                    let problem = MarginError::cell(
                        "instruments",
                        "instrument_id",
                        c,
                        format!("its value is not finite under scenario {s}: the scenario's moves are too extreme"),
                    );
                    return (None, Some(problem));
                }
                let roll_key = match contract.kind {
                    Kind::Spot => None,
                    Kind::Perpetual => Some(aggregate::PERPETUAL),
                    Kind::Future | Kind::Option => valuation.instruments.rows[c].expiry_ns,
                };
                let risk = ContractRisk {
                    params: k as u32,
                    underlying: contract.underlying,
                    inverse,
                    forward_delta: matrix::forward_delta(contract, valuation.greeks[c].delta),
                    start: 0,
                    len: row.len(),
                    roll_key,
                    t: contract.t,
                };
                if !aggregate::contract_roll_rate(&risk, p).is_finite() {
                    let set = self.params.get(k).map_or("*", |(n, _)| n.as_str());
                    let problem = MarginError::cell("instruments", "expiry", c, roll_overflow(set));
                    return (None, Some(problem));
                }
                (Some((risk, row)), None)
            })
            .collect();
        let mut contracts = Vec::with_capacity(risk.len());
        let mut rows = Vec::new();
        for (c, (r, problem)) in risk.into_iter().enumerate() {
            if let Some(problem) = problem {
                valuation.mark_problem(c, problem);
            }
            contracts.push(r.map(|(mut risk, row)| {
                risk.start = rows.len();
                rows.extend_from_slice(&row);
                risk
            }));
        }
        let spot = valuation.underlyings.spot.clone();
        let scale = contracts
            .iter()
            .map(|r| {
                r.as_ref().map_or(0.0, |r| {
                    let largest = rows[r.start..r.start + r.len].iter().fold(0.0, |m: f64, x| m.max(x.abs()));
                    let addons =
                        aggregate::contract_addon_scale(r, &params[r.params as usize], spot[r.underlying as usize]);
                    if largest >= addons {
                        largest
                    } else {
                        addons
                    }
                })
            })
            .collect();
        Ok(Arc::new(DeribitMethod { model: self, params, risk: contracts, rows, scale, spot, names }))
    }
}

impl DeribitModel {
    fn model_params(&self) -> impl Iterator<Item = &DeribitParams> {
        self.params.iter().map(|(_, p)| p)
    }
}

impl Method for DeribitMethod {
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>> {
        super::reject_by_position(
            by_position,
            "the deribit model has no per-position attribution; margin without by_position",
        )?;
        let _ = valuation;
        let accounts = aggregate::aggregate(book, &self.context());
        Ok(Box::new(DeribitOutcome { method: self.clone(), accounts }))
    }

    fn pnl_scale(&self, contract: u32) -> f64 {
        self.scale[contract as usize]
    }

    fn scenario_matrix(&self, _valuation: &Valuation, book: &Book, account: usize) -> Result<RecordBatch> {
        tables::scenario_matrix_batch(self, book, account)
    }
}

/// The Deribit margins of one book.
pub struct DeribitOutcome {
    method: Arc<DeribitMethod>,
    accounts: Vec<AccountOutcome>,
}

impl Outcome for DeribitOutcome {
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::accounts_batch(&self.method, run.account_ids, &self.accounts)
    }

    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::by_underlying_batch(&self.method, run.account_ids, &self.accounts)
    }

    fn attribution(&self, _run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>> {
        None
    }
}
