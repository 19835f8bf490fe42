//! Misspelled column names. Optional columns are read only under their exact names, so a
//! `multipler` or `PAYOFF` column would silently price every contract with the default; an
//! unknown column that resembles a known column the table lacks is an error instead
//! (docs/methods.md, "Inputs").

use crate::error::{MarginError, Result};

/// Levenshtein distance of two short names (characters, not bytes).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// How far `name` is from `known`, compared without case; None when it is too far to be a
/// misspelling (more than 2 edits).
fn closeness(name: &str, known: &str) -> Option<usize> {
    let d = distance(&name.to_lowercase(), &known.to_lowercase());
    (d <= 2).then_some(d)
}

/// The first column of `columns` (in order) that is not in `known` but resembles a known column
/// that is not in `columns`: an error naming `table`, that column and the closest known one
/// (the first in `known` order among equally close ones).
pub fn check_spelling<'a>(table: &str, columns: impl Iterator<Item = &'a str> + Clone, known: &[&str]) -> Result<()> {
    let absent: Vec<&str> = known.iter().copied().filter(|k| !columns.clone().any(|c| c == *k)).collect();
    for column in columns {
        if known.contains(&column) {
            continue;
        }
        let closest = absent.iter().filter_map(|k| closeness(column, k).map(|d| (d, *k))).min_by_key(|(d, _)| *d);
        if let Some((_, known)) = closest {
            return Err(MarginError::column(
                table,
                column,
                format!(
                    "unknown column '{column}' looks like a misspelling of '{known}' (columns are read only under \
                     their exact names): rename it to '{known}', or drop it"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTRUMENTS: [&str; 5] = ["instrument_id", "kind", "multiplier", "payoff", "barrier_type"];

    fn check(columns: &[&str], known: &[&str]) -> Result<()> {
        check_spelling("t", columns.iter().copied(), known)
    }

    #[test]
    fn distance_counts_edits() {
        let cases = [("rate", "rate", 0), ("rates", "rate", 1), ("multipler", "multiplier", 1), ("", "ab", 2)];
        for (a, b, d) in cases {
            assert_eq!(distance(a, b), d, "{a} {b}");
        }
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("é", "e"), 1);
    }

    #[test]
    fn misspellings_of_absent_columns_are_errors() {
        for (column, known) in
            [("multipler", "multiplier"), ("PAYOFF", "payoff"), ("Barrier_Type", "barrier_type"), ("kinds", "kind")]
        {
            let err = check(&["instrument_id", column], &INSTRUMENTS).expect_err(column);
            assert_eq!(
                err,
                MarginError::column(
                    "t",
                    column,
                    format!(
                        "unknown column '{column}' looks like a misspelling of '{known}' (columns are read only \
                         under their exact names): rename it to '{known}', or drop it"
                    )
                )
            );
        }
    }

    #[test]
    fn other_columns_are_ignored() {
        // Far from every known name, or close only to a column that is present.
        assert!(check(&["instrument_id", "venue", "tick_size"], &INSTRUMENTS).is_ok());
        assert!(check(&["kind", "kinds"], &INSTRUMENTS).is_ok());
        assert!(check(&["underlying", "spot", "rate", "rates"], &["underlying", "spot", "rate"]).is_ok());
    }

    #[test]
    fn the_closest_known_column_is_named() {
        let err = check(&["rates"], &["rebate", "rate"]).expect_err("close to both");
        assert!(err.to_string().contains("misspelling of 'rate'"), "{err}");
    }
}
