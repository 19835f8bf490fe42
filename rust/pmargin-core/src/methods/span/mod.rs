//! CME SPAN: 16 risk scenarios per contract (computed from the scan ranges or supplied as
//! published), scanning risk per combined commodity, intra-commodity spread charges by tier, the
//! delivery-month charge, inter-commodity credits, the short option minimum and the net option
//! value (docs/span.md).
//!
//! - [`spec`]: the parameter set and its parser;
//! - [`arrays`]: the scenarios and each contract's risk array and composite delta;
//! - [`aggregate`]: each account's requirement, commodity by commodity;
//! - [`tables`]: the result tables.

pub mod aggregate;
pub mod arrays;
pub mod spec;
pub mod tables;

use std::sync::Arc;

use arrow_array::RecordBatch;

use self::aggregate::AccountOutcome;
use self::arrays::SpanArrays;
use self::spec::SpanModel;
use super::{Method, MethodConfig, Outcome, RunView};
use crate::domain::book::Book;
use crate::error::Result;
use crate::spec::Fields;
use crate::valuation::Valuation;

/// A SPAN parameter set built against a market.
pub struct SpanMethod {
    pub model: SpanModel,
    arrays: SpanArrays,
}

impl MethodConfig for SpanModel {
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self> {
        spec::parse(fields)
    }

    fn build(self, valuation: &mut Valuation) -> Result<Arc<dyn Method>> {
        let arrays = arrays::build(&self, valuation)?;
        Ok(Arc::new(SpanMethod { model: self, arrays }))
    }
}

impl Method for SpanMethod {
    fn margin(self: Arc<Self>, valuation: &Arc<Valuation>, book: &Book, by_position: bool) -> Result<Box<dyn Outcome>> {
        super::reject_by_position(
            by_position,
            "SPAN results are per combined commodity; by-position attribution is not defined for it",
        )?;
        let accounts = aggregate::aggregate(&self.model, &self.arrays, &valuation.base_values, book);
        Ok(Box::new(SpanOutcome { method: self.clone(), accounts }))
    }

    fn pnl_scale(&self, contract: u32) -> f64 {
        self.arrays.loss[contract as usize].iter().fold(0.0, |m: f64, x| m.max(x.abs()))
    }

    fn scenario_matrix(&self, _valuation: &Valuation, book: &Book, account: usize) -> Result<RecordBatch> {
        let outcome = aggregate::aggregate_one(&self.model, &self.arrays, &_valuation.base_values, book, account);
        tables::scenario_matrix_batch(self, &outcome)
    }
}

/// The SPAN requirements of one book.
pub struct SpanOutcome {
    method: Arc<SpanMethod>,
    accounts: Vec<AccountOutcome>,
}

impl Outcome for SpanOutcome {
    fn accounts(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::accounts_batch(&self.method.model, run.account_ids, &self.accounts)
    }

    fn by_underlying(&self, run: &RunView<'_>) -> Result<RecordBatch> {
        tables::by_commodity_batch(&self.method.model, run.account_ids, &self.accounts)
    }

    fn attribution(&self, _run: &RunView<'_>) -> Option<Result<(RecordBatch, RecordBatch)>> {
        None
    }
}
