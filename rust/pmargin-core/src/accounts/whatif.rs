//! Pre-trade what-if: the margin of one account before and after proposed trades, and each
//! trade's incremental margin alone and all together (docs/accounts.md).
//!
//! The books (before, before + each trade alone, after) are netted here and margined in one call
//! of the engine's method, so any method (grid, VaR, a venue's) gives its own numbers: there is
//! no approximation, only no Arrow input to build and validate.

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_buffer::ScalarBuffer;
use std::sync::Arc;

use crate::domain::book::Book;
use crate::engine::Engine;
use crate::error::{MarginError, Result};
use crate::float_text;
use crate::methods::RunView;
use crate::risk::arrays::MAX_PNL;

/// Initial and maintenance margin of one book.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Margins {
    pub initial: f64,
    pub maintenance: f64,
}

/// Margins of the account before and after every trade, and of the account with each trade alone.
#[derive(Clone, Debug, PartialEq)]
pub struct WhatIf {
    pub before: Margins,
    pub after: Margins,
    /// `alone[i]`: the account with only trade `i` added.
    pub alone: Vec<Margins>,
}

/// Net `(instrument, quantity)` pairs: summed per instrument, sorted by instrument row, zeros
/// dropped (the same netting as a positions table).
fn net(legs: &mut Vec<(u32, f64)>) {
    legs.sort_by_key(|l| l.0);
    let mut out: Vec<(u32, f64)> = Vec::with_capacity(legs.len());
    for &(i, q) in legs.iter() {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += q,
            _ => out.push((i, q)),
        }
    }
    out.retain(|l| l.1 != 0.0);
    *legs = out;
}

impl Engine {
    /// Instrument rows of `ids`, each within the P&L bound with its quantity and usable where the
    /// list holds it (nets to nonzero); else an input error naming `table`, the column and the row.
    fn legs(&self, table: &str, ids: &[String], quantities: &[f64]) -> Result<Vec<(u32, f64)>> {
        if ids.len() != quantities.len() {
            return Err(MarginError::column(
                table,
                "quantity",
                format!("{} quantities for {} instrument ids", quantities.len(), ids.len()),
            ));
        }
        let v = &self.valuation;
        let legs: Vec<(u32, f64)> = ids
            .iter()
            .zip(quantities)
            .enumerate()
            .map(|(row, (id, &q))| {
                let c = v.instruments.row_of(id).ok_or_else(|| {
                    MarginError::cell(table, "instrument_id", row, format!("unknown instrument '{id}'"))
                })?;
                if !q.is_finite() {
                    return Err(MarginError::cell(table, "quantity", row, format!("must be a finite number, got {q}")));
                }
                Ok((c, q))
            })
            .collect::<Result<_>>()?;
        // As in `margin`, an instrument whose legs net to exactly zero is not held: it is checked
        // only when it is (a zero row of an expired or unpriced contract is no error).
        let mut held = legs.clone();
        net(&mut held);
        for (row, (&(c, q), id)) in legs.iter().zip(ids).enumerate() {
            if held.binary_search_by_key(&c, |l| l.0).is_err() {
                continue;
            }
            v.check_usable(c).map_err(|e| {
                let reason = match e {
                    MarginError::Input { reason, .. } => reason,
                    other => other.to_string(),
                };
                MarginError::cell(table, "instrument_id", row, reason)
            })?;
            // Written as "not within" so that a NaN counts as over.
            let within = |x: f64| x <= MAX_PNL;
            if !within(q.abs() * self.method.pnl_scale(c)) {
                let max_pnl = float_text::g(MAX_PNL);
                return Err(MarginError::cell(
                    table,
                    "quantity",
                    row,
                    format!("the position in '{id}' moves by more than {max_pnl}: check the quantity"),
                ));
            }
        }
        Ok(legs)
    }

    /// Margin several small books at once (one account each), through the method's own
    /// aggregation: `initial_margin` and `maintenance_margin` of its accounts table.
    pub fn margin_small_books(&self, books: Vec<Vec<(u32, f64)>>) -> Result<Vec<Margins>> {
        let n = books.len();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut instrument = Vec::new();
        let mut quantity = Vec::new();
        offsets.push(0);
        for mut legs in books {
            net(&mut legs);
            for (i, q) in legs {
                instrument.push(i);
                quantity.push(q);
            }
            offsets.push(instrument.len());
        }
        let book = Book {
            first_row: (0..n).collect(),
            offsets,
            instrument: ScalarBuffer::from(instrument),
            quantity: ScalarBuffer::from(quantity),
            failed: Vec::new(),
        };
        let outcome = self.method.clone().margin(&self.valuation, &book, false)?;
        if let Some(margins) = outcome.margins() {
            return Ok(margins.into_iter().map(|(initial, maintenance)| Margins { initial, maintenance }).collect());
        }
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
        let accounts = outcome.accounts(&RunView { book: &book, account_ids: &ids })?;
        let initial = f64_col(&accounts, "initial_margin")?;
        let maintenance = f64_col(&accounts, "maintenance_margin")?;
        Ok(initial.iter().zip(maintenance).map(|(&initial, &maintenance)| Margins { initial, maintenance }).collect())
    }

    /// The what-if of `trades` on the account holding `positions` (ids and quantities each).
    pub fn what_if(
        &self,
        position_ids: &[String],
        position_quantities: &[f64],
        trade_ids: &[String],
        trade_quantities: &[f64],
    ) -> Result<WhatIf> {
        let held = self.legs("positions", position_ids, position_quantities)?;
        let trades = self.legs("trades", trade_ids, trade_quantities)?;
        let mut books = Vec::with_capacity(trades.len() + 2);
        books.push(held.clone());
        let mut all = held.clone();
        all.extend_from_slice(&trades);
        books.push(all);
        // With one trade, "alone" is "after": margin it once.
        if trades.len() > 1 {
            for t in &trades {
                let mut one = held.clone();
                one.push(*t);
                books.push(one);
            }
        }
        let margins = self.margin_small_books(books)?;
        let alone = match trades.len() {
            0 => Vec::new(),
            1 => vec![margins[1]],
            _ => margins[2..].to_vec(),
        };
        Ok(WhatIf { before: margins[0], after: margins[1], alone })
    }
}

fn f64_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a [f64]> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Float64Type>())
        .map(|c| c.values().as_ref())
        .ok_or_else(|| MarginError::Internal(format!("the method's accounts table has no float column '{name}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{grid_spec, positions, two_underlyings};
    use crate::OnError;

    fn ids(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn what_if_equals_margining_the_book_with_the_trade() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 0.5, None)).expect("valid");
        let w = engine.what_if(&ids(&["FA"]), &[2.0], &ids(&["FB", "FA"]), &[-1.0, -2.0]).expect("a what-if");
        // Long 2 FA: 20 (mm 10). After: FB -1 only (FA nets to 0): 10. FB alone: 30; FA -2 alone: 0.
        let close = |m: Margins, im: f64, mm: f64| (m.initial - im).abs() < 1e-9 && (m.maintenance - mm).abs() < 1e-9;
        assert!(close(w.before, 20.0, 10.0), "{:?}", w.before);
        assert!(close(w.after, 10.0, 5.0), "{:?}", w.after);
        assert_eq!(w.alone.len(), 2);
        assert!((w.alone[0].initial - 30.0).abs() < 1e-9);
        assert_eq!(w.alone[1].initial, 0.0);
        let run = engine
            .margin(positions(&[("a", "FA", 2.0), ("a", "FB", -1.0)]).view("positions"), false, OnError::Raise)
            .expect("margined");
        let table = run.accounts_batch().expect("a table");
        assert_eq!(f64_col(&table, "initial_margin").expect("im")[0], w.alone[0].initial);
        let one = engine.what_if(&ids(&["FA"]), &[2.0], &ids(&["FB"]), &[-1.0]).expect("a what-if");
        assert_eq!(one.alone, vec![one.after]);
        let none = engine.what_if(&ids(&["FA"]), &[2.0], &[], &[]).expect("no trade");
        assert_eq!((none.before, none.after, none.alone.len()), (w.before, w.before, 0));
    }

    #[test]
    fn the_fast_margins_equal_the_accounts_table_for_every_method() {
        use crate::test_support::{historical_spec, moves};
        let historical = historical_spec(
            moves(&[(0, "A", 0.01), (0, "B", -0.02), (1, "A", -0.03), (1, "B", 0.01), (2, "A", 0.02), (2, "B", 0.03)]),
            None,
            "es",
            0.5,
            0.8,
        );
        for spec in [grid_spec(&[-0.1, 0.05, 0.1], &[0.0], "joint", 0.7, None), historical] {
            let engine = two_underlyings().engine(&spec).expect("valid");
            let book = positions(&[("a", "FA", 2.0), ("a", "FB", -1.0), ("b", "PB", 3.0), ("b", "CA", -1.0)]);
            let table =
                engine.margin(book.view("positions"), false, OnError::Raise).expect("margined").accounts_batch();
            let table = table.expect("a table");
            let fast = engine
                .margin_small_books(vec![vec![(0, 2.0), (1, -1.0)], vec![(4, 3.0), (3, -1.0)]])
                .expect("margined");
            for (k, m) in fast.iter().enumerate() {
                assert_eq!(m.initial, f64_col(&table, "initial_margin").expect("im")[k]);
                assert_eq!(m.maintenance, f64_col(&table, "maintenance_margin").expect("mm")[k]);
            }
        }
    }

    #[test]
    fn errors_name_the_table_column_and_row() {
        let engine = two_underlyings().engine(&grid_spec(&[-0.1, 0.1], &[0.0], "sum", 0.5, None)).expect("valid");
        let err = engine.what_if(&ids(&["FA"]), &[1.0], &ids(&["FA", "NOPE"]), &[1.0, 1.0]).unwrap_err();
        assert_eq!(err.to_string(), "trades.instrument_id, row 1: unknown instrument 'NOPE'");
        let err = engine.what_if(&ids(&["FA"]), &[f64::NAN], &ids(&[]), &[]).unwrap_err();
        assert!(err.to_string().starts_with("positions.quantity, row 0: must be a finite"), "{err}");
        let err = engine.what_if(&ids(&["FA"]), &[1.0, 2.0], &ids(&[]), &[]).unwrap_err();
        assert!(err.to_string().starts_with("positions.quantity: 2 quantities"), "{err}");
    }
}
