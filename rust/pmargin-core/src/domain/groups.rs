//! Groups of contracts at the levels methods aggregate by: each contract's group number at a
//! level, and the groups' names. The grid and VaR methods group by underlying; venue and
//! sensitivity methods group by currency, product group, commodity, risk class or bucket (any
//! string column of the instruments table), and all of them reuse the same group-P&L kernels
//! (`risk::group_pnl`), which only ever see group numbers.

use hashbrown::HashMap;

use crate::domain::instruments::Instruments;
use crate::domain::market::Underlyings;
use crate::error::{MarginError, Result};
use crate::input::Table;

/// A level of grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// The instrument's underlying (rows of the underlyings table).
    Underlying,
    /// Any string column of the instruments table (`currency`, `product_group`, ...).
    Column(String),
}

/// Each contract's group at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub level: Level,
    /// Group names, numbered from 0.
    pub names: Vec<String>,
    /// Group of each instrument (table order); `None` when the instrument has none (an
    /// underlying with no market row), which makes the instrument unusable for that level.
    pub of_contract: Vec<Option<u32>>,
}

impl Grouping {
    /// By underlying: group numbers are rows of the underlyings table, so names line up with it.
    pub fn by_underlying(instruments: &Instruments, underlyings: &Underlyings) -> Grouping {
        let of_contract = instruments.rows.iter().map(|i| underlyings.index_of(&i.underlying)).collect();
        Grouping { level: Level::Underlying, names: underlyings.names.clone(), of_contract }
    }

    /// By a string column of the instruments table; groups numbered in first-seen order.
    pub fn by_column(table: Table<'_>, column: &str) -> Result<Grouping> {
        let values = table.strings(column)?;
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut names = Vec::new();
        let of_contract = values
            .iter()
            .enumerate()
            .map(|(row, v)| {
                let v = v.ok_or_else(|| MarginError::cell("instruments", column, row, "a group name is required"))?;
                Ok(Some(*index.entry(v).or_insert_with(|| {
                    names.push(v.to_owned());
                    (names.len() - 1) as u32
                })))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Grouping { level: Level::Column(column.to_owned()), names, of_contract })
    }

    /// Group of each contract with unusable ones at 0 (never read: they cannot be held).
    pub fn dense(&self) -> Vec<u32> {
        self.of_contract.iter().map(|g| g.unwrap_or(0)).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn column_groups_are_numbered_first_seen() {
        let schema = Arc::new(Schema::new(vec![Field::new("currency", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![Some("USD"), Some("BTC"), Some("USD")]))],
        )
        .expect("valid batch");
        let batches = [batch];
        let g = Grouping::by_column(Table::new("instruments", &schema, &batches), "currency").expect("groups");
        assert_eq!(g.names, vec!["USD", "BTC"]);
        assert_eq!(g.dense(), vec![0, 1, 0]);
        assert_eq!(g.level, Level::Column("currency".into()));
    }

    #[test]
    fn a_missing_group_name_names_the_cell() {
        let schema = Arc::new(Schema::new(vec![Field::new("currency", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec![Some("USD"), None]))])
            .expect("valid batch");
        let batches = [batch];
        let err = Grouping::by_column(Table::new("instruments", &schema, &batches), "currency").expect_err("null");
        assert_eq!(err.to_string(), "instruments.currency, row 1: a group name is required");
    }
}
