//! Errors of the core. Every input problem names the table, the column, the first offending row
//! and the reason, so the bindings can raise one structured Python exception.

/// Result alias used across the core.
pub type Result<T, E = MarginError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarginError {
    /// Bad input data: a table or a column value.
    #[error("{}{reason}", location(table, column.as_deref(), *row))]
    Input {
        table: String,
        column: Option<String>,
        /// 0-based row number across all batches of the table.
        row: Option<usize>,
        reason: String,
    },
    /// A bad model parameter (a field of a method's spec).
    #[error("model.{field}: {reason}")]
    Config { field: String, reason: String },
    /// A bug: the input was fine but the engine could not finish.
    #[error("internal error: {0}")]
    Internal(String),
}

impl MarginError {
    pub fn input(table: &str, column: Option<&str>, row: Option<usize>, reason: impl Into<String>) -> Self {
        MarginError::Input { table: table.to_owned(), column: column.map(str::to_owned), row, reason: reason.into() }
    }

    /// An error about one cell of a table.
    pub fn cell(table: &str, column: &str, row: usize, reason: impl Into<String>) -> Self {
        Self::input(table, Some(column), Some(row), reason)
    }

    /// An error about a whole column (missing, wrong type).
    pub fn column(table: &str, column: &str, reason: impl Into<String>) -> Self {
        Self::input(table, Some(column), None, reason)
    }
}

/// `"positions.quantity, row 3: "`, the same prefix the Python exception prints.
fn location(table: &str, column: Option<&str>, row: Option<usize>) -> String {
    let mut out = table.to_owned();
    if let Some(c) = column {
        out.push('.');
        out.push_str(c);
    }
    if let Some(r) = row {
        out.push_str(&format!(", row {r}"));
    }
    out.push_str(": ");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_table_column_and_row() {
        let e = MarginError::cell("positions", "quantity", 3, "NaN is not allowed");
        assert_eq!(e.to_string(), "positions.quantity, row 3: NaN is not allowed");
        let e = MarginError::Config { field: "mm_ratio".into(), reason: "must be in (0, 1]".into() };
        assert_eq!(e.to_string(), "model.mm_ratio: must be in (0, 1]");
        let e = MarginError::column("instruments", "kind", "missing column");
        assert_eq!(e.to_string(), "instruments.kind: missing column");
    }
}
