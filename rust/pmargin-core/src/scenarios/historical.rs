//! Historical simulation: each scenario is one date's joint moves of every underlying, optionally
//! rescaled to today's volatility (filtered historical simulation, EWMA).

use hashbrown::HashMap;

use super::{ScenarioSet, VolShockMode};
use crate::domain::market::Underlyings;
use crate::error::{MarginError, Result};
use crate::input::table::{is_string_like, Table};

const DAY_NS: i64 = 86_400_000_000_000;

/// `YYYY-MM-DD` for midnight, else `YYYY-MM-DDTHH:MM:SS` (UTC), from epoch nanoseconds.
pub fn date_label(ns: i64) -> String {
    let days = ns.div_euclid(DAY_NS);
    let rest = ns.rem_euclid(DAY_NS) / 1_000_000_000;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if rest == 0 {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum DateKey<'a> {
    Time(i64),
    Text(&'a str),
}

impl DateKey<'_> {
    fn label(&self) -> String {
        match self {
            DateKey::Time(ns) => date_label(*ns),
            DateKey::Text(s) => (*s).to_owned(),
        }
    }
}

fn read_dates<'a>(table: Table<'a>) -> Result<Vec<DateKey<'a>>> {
    let is_text = table.schema().field_with_name("date").is_ok_and(|f| is_string_like(f.data_type()));
    if is_text {
        Ok(table.required_strings("date")?.into_iter().map(DateKey::Text).collect())
    } else {
        let times = table.times_ns("date")?;
        times
            .into_iter()
            .enumerate()
            .map(|(row, t)| {
                t.map(DateKey::Time).ok_or_else(|| MarginError::cell(table.name, "date", row, "null is not allowed"))
            })
            .collect()
    }
}

/// One underlying's move on one date, and the table row it came from.
#[derive(Debug, Clone, Copy)]
struct Move {
    ret: f64,
    vol_change: f64,
    row: usize,
}

/// Per underlying, the moves in date order (None where a date has no row).
struct Moves {
    labels: Vec<String>,
    returns: HashMap<String, Vec<Option<Move>>>,
}

fn read_moves(table: Table<'_>) -> Result<Moves> {
    let name = table.name;
    table.check_spelling(&["date", "underlying", "return", "vol_change"])?;
    let dates = read_dates(table)?;
    let underlyings = table.required_strings("underlying")?;
    let returns = table.required_finite("return")?;
    if let Some(row) = returns.iter().position(|r| *r <= -1.0) {
        return Err(MarginError::cell(
            name,
            "return",
            row,
            format!("{} is impossible: a return must be > -1", returns[row]),
        ));
    }
    let vol_changes =
        if table.has_column("vol_change") { table.required_finite("vol_change")? } else { vec![0.0; dates.len()] };

    let mut distinct: Vec<DateKey<'_>> = dates.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let date_index: HashMap<DateKey<'_>, usize> = distinct.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut seen: HashMap<(usize, &str), usize> = HashMap::with_capacity(dates.len());
    let mut by_underlying: HashMap<String, Vec<Option<Move>>> = HashMap::new();
    for row in 0..dates.len() {
        let d = date_index[&dates[row]];
        if let Some(first) = seen.insert((d, underlyings[row]), row) {
            return Err(MarginError::cell(
                name,
                "underlying",
                row,
                format!("duplicate move for '{}' on {} (first at row {first})", underlyings[row], dates[row].label()),
            ));
        }
        let slots = by_underlying.entry(underlyings[row].to_owned()).or_insert_with(|| vec![None; distinct.len()]);
        slots[d] = Some(Move { ret: returns[row], vol_change: vol_changes[row], row });
    }
    Ok(Moves { labels: distinct.iter().map(DateKey::label).collect(), returns: by_underlying })
}

/// Rescale returns to today's volatility (docs/methods.md, filtered historical simulation).
pub fn ewma_filter(returns: &[f64], lambda: f64) -> Vec<f64> {
    let n = returns.len();
    if n == 0 {
        return Vec::new();
    }
    let mut s2 = Vec::with_capacity(n + 1);
    s2.push(returns.iter().fold(0.0, |acc, r| acc + r * r) / n as f64);
    for (t, r) in returns.iter().enumerate() {
        s2.push(lambda * s2[t] + (1.0 - lambda) * r * r);
    }
    let today = s2[n];
    returns.iter().zip(&s2).map(|(r, s)| if *s == 0.0 { *r } else { r * (today / s).sqrt() }).collect()
}

/// Scenario set of a moves table over the rows of the underlyings table.
pub fn scenario_set(
    table: Table<'_>,
    underlyings: &Underlyings,
    vol_mode: VolShockMode,
    ewma_lambda: Option<f64>,
) -> Result<ScenarioSet> {
    if let Some(l) = ewma_lambda {
        if !(l > 0.0 && l < 1.0) {
            return Err(crate::spec::config_error("ewma_lambda", format!("must be in (0, 1), got {l}")));
        }
    }
    let moves = read_moves(table)?;
    let n = moves.labels.len();
    let rows = underlyings.names.len();
    let mut price_factor = vec![f64::NAN; rows * n];
    let mut vol_change = vec![0.0; rows * n];
    let mut missing = vec![None; rows];
    for (u, name) in underlyings.names.iter().enumerate() {
        let Some(slots) = moves.returns.get(name) else {
            missing[u] = Some(MarginError::column(
                table.name,
                "underlying",
                format!("the {} table has no moves for underlying '{name}'", table.name),
            ));
            continue;
        };
        if let Some(d) = slots.iter().position(Option::is_none) {
            missing[u] = Some(MarginError::column(
                table.name,
                "date",
                format!("date {} has no move for underlying '{name}'", moves.labels[d]),
            ));
            continue;
        }
        let series: Vec<Move> = slots.iter().flatten().copied().collect();
        let raw: Vec<f64> = series.iter().map(|m| m.ret).collect();
        let returns = match ewma_lambda {
            Some(l) => ewma_filter(&raw, l),
            None => raw,
        };
        // Filtering can scale a large fall below -100%: the underlying then has no usable scenarios.
        if let Some(d) = returns.iter().position(|r| *r <= -1.0) {
            missing[u] = Some(MarginError::cell(
                table.name,
                "return",
                series[d].row,
                format!(
                    "the EWMA-filtered return of '{name}' on {} is {}: a fall of 100% or more",
                    moves.labels[d], returns[d]
                ),
            ));
            continue;
        }
        let changes: Vec<f64> = series.iter().map(|m| m.vol_change).collect();
        for i in 0..n {
            price_factor[u * n + i] = 1.0 + returns[i];
            vol_change[u * n + i] = changes[i];
        }
    }
    Ok(ScenarioSet { n, price_factor, vol_change, vol_mode, missing, labels: moves.labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_dates() {
        assert_eq!(date_label(0), "1970-01-01");
        assert_eq!(date_label(19_723 * DAY_NS), "2024-01-01");
        assert_eq!(date_label(19_723 * DAY_NS + 3_600_000_000_000 * 13 + 61_000_000_000), "2024-01-01T13:01:01");
        assert_eq!(date_label(-DAY_NS), "1969-12-31");
    }

    #[test]
    fn ewma_by_hand() {
        // r = [0.1, -0.2]; s2_1 = 0.025; s2_2 = 0.5*0.025 + 0.5*0.01 = 0.0175;
        // s2_3 = 0.5*0.0175 + 0.5*0.04 = 0.02875.
        let out = ewma_filter(&[0.1, -0.2], 0.5);
        assert!((out[0] - 0.1 * (0.02875f64 / 0.025).sqrt()).abs() < 1e-15);
        assert!((out[1] + 0.2 * (0.02875f64 / 0.0175).sqrt()).abs() < 1e-15);
    }
}
