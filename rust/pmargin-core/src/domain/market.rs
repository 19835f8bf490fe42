//! Market data tables: spots and rates per underlying, implied vols per option.

use hashbrown::HashMap;

use crate::domain::instruments::{positive_cell, unique_index};
use crate::error::{MarginError, Result};
use crate::float_text::repr;
use crate::input::table::Table;

/// The underlyings table, in table order.
#[derive(Debug, Default)]
pub struct Underlyings {
    pub names: Vec<String>,
    pub spot: Vec<f64>,
    pub rate: Vec<f64>,
    index: HashMap<String, u32>,
}

impl Underlyings {
    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }
}

/// Names an underlying cannot have: they name the other columns of a scenario matrix
/// (`result.scenarios(i)`), whose per-underlying columns are named after the underlyings.
pub const RESERVED_NAMES: [&str; 5] = ["scenario", "label", "price_shock", "vol_shock", "total"];

pub fn read_underlyings(table: Table<'_>) -> Result<Underlyings> {
    const T: &str = "underlyings";
    table.check_spelling(&["underlying", "spot", "rate"])?;
    let names = table.required_strings("underlying")?;
    let index = unique_index(T, "underlying", &names)?;
    if let Some(row) = names.iter().position(|n| RESERVED_NAMES.contains(n)) {
        return Err(MarginError::cell(
            T,
            "underlying",
            row,
            format!(
                "'{}' is reserved: it names a column of the scenario matrix (result.scenarios); rename the underlying",
                names[row]
            ),
        ));
    }
    let spot = table
        .numbers("spot")?
        .into_iter()
        .enumerate()
        .map(|(row, v)| positive_cell(T, "spot", row, v, "a spot"))
        .collect::<Result<Vec<_>>>()?;
    let rate = if table.has_column("rate") { table.required_finite("rate")? } else { vec![0.0; names.len()] };
    Ok(Underlyings { names: names.iter().map(|s| (*s).to_owned()).collect(), spot, rate, index })
}

/// Implied vol per instrument id.
#[derive(Debug, Default)]
pub struct Vols {
    /// Implied vol and vols-table row of each option.
    by_instrument: HashMap<String, (f64, usize)>,
}

impl Vols {
    pub fn get(&self, instrument_id: &str) -> Option<f64> {
        self.by_instrument.get(instrument_id).map(|v| v.0)
    }

    /// The vols-table row of an option's implied vol.
    pub fn row_of(&self, instrument_id: &str) -> Option<usize> {
        self.by_instrument.get(instrument_id).map(|v| v.1)
    }
}

/// The vols table; an implied vol above `max_vol` (`Limits::max_implied_vol`) is an error, most
/// often a vol given in percent.
pub fn read_vols(table: Table<'_>, max_vol: f64) -> Result<Vols> {
    const T: &str = "vols";
    table.check_spelling(&["instrument_id", "implied_vol"])?;
    let ids = table.required_strings("instrument_id")?;
    unique_index(T, "instrument_id", &ids)?;
    let vols = table
        .numbers("implied_vol")?
        .into_iter()
        .enumerate()
        .map(|(row, v)| {
            let vol = positive_cell(T, "implied_vol", row, v, "an implied vol")?;
            if vol > max_vol {
                return Err(MarginError::cell(T, "implied_vol", row, implausible_vol(vol, max_vol)));
            }
            Ok(vol)
        })
        .collect::<Result<Vec<_>>>()?;
    let by_instrument = ids.iter().zip(vols).enumerate().map(|(row, (id, v))| ((*id).to_owned(), (v, row))).collect();
    Ok(Vols { by_instrument })
}

/// Why `vol` is rejected, with the likely fix: vols are fractions (0.55 is 55%), so a vol that is
/// plausible once divided by 100 was probably written as a percent.
pub fn implausible_vol(vol: f64, max_vol: f64) -> String {
    let (shown, max_shown) = (repr(vol), repr(max_vol));
    let head =
        format!("{shown} is above the maximum implied vol {max_shown} (vols are annualised fractions: 0.55 is 55%)");
    if vol / 100.0 <= max_vol {
        format!(
            "{head}: {shown} looks like a percent: give {}, or raise pmargin.Limits(max_implied_vol=...)",
            repr(vol / 100.0)
        )
    } else {
        format!("{head}: check its units, or raise pmargin.Limits(max_implied_vol=...)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{floats, ints, opt_floats, strings, table, underlyings, vols};

    #[test]
    fn reads_underlyings_in_table_order() {
        let got = read_underlyings(underlyings(&[("B", 50.0, 0.01), ("A", 100.0, -0.02)]).view("underlyings"))
            .expect("valid");
        assert_eq!(got.names, vec!["B", "A"]);
        assert_eq!((got.index_of("A"), got.index_of("B"), got.index_of("C")), (Some(1), Some(0), None));
        assert_eq!((got.spot, got.rate), (vec![50.0, 100.0], vec![0.01, -0.02]));
    }

    #[test]
    fn rates_default_to_zero_and_spots_may_be_integers() {
        let t = table(vec![("underlying", strings(&["A", "B"])), ("spot", ints(&[100, 7]))]);
        let got = read_underlyings(t.view("underlyings")).expect("valid");
        assert_eq!((got.spot, got.rate), (vec![100.0, 7.0], vec![0.0, 0.0]));
    }

    #[test]
    fn underlying_errors_name_column_and_row() {
        let error =
            |t: crate::spec::OwnedTable| read_underlyings(t.view("underlyings")).expect_err("invalid").to_string();
        assert_eq!(
            error(underlyings(&[("A", 100.0, 0.0), ("B", 0.0, 0.0)])),
            "underlyings.spot, row 1: must be > 0, got 0.0"
        );
        assert_eq!(
            error(underlyings(&[("A", 100.0, 0.0), ("A", 1.0, 0.0)])),
            "underlyings.underlying, row 1: duplicate underlying 'A' (first at row 0)"
        );
        assert_eq!(
            error(underlyings(&[("A", 100.0, f64::INFINITY)])),
            "underlyings.rate, row 0: not a finite number: inf"
        );
        let t = table(vec![("underlying", strings(&["A"])), ("spot", opt_floats(&[None]))]);
        assert_eq!(error(t), "underlyings.spot, row 0: null is not allowed for a spot");
        let t = table(vec![("underlying", strings(&["A"])), ("spot", strings(&["100"]))]);
        assert_eq!(error(t), "underlyings.spot: expected a number column, got Arrow type Utf8");
    }

    #[test]
    fn reads_vols_by_instrument() {
        let got = read_vols(vols(&[("C1", 0.5), ("C2", 0.25)]).view("vols"), 5.0).expect("valid");
        assert_eq!((got.get("C1"), got.get("C2"), got.get("C3")), (Some(0.5), Some(0.25), None));
    }

    #[test]
    fn vol_errors_name_column_and_row() {
        let error = |t: crate::spec::OwnedTable| read_vols(t.view("vols"), 5.0).expect_err("invalid").to_string();
        assert_eq!(error(vols(&[("C1", 0.5), ("C2", -0.1)])), "vols.implied_vol, row 1: must be > 0, got -0.1");
        assert_eq!(
            error(vols(&[("C1", 0.5), ("C1", 0.2)])),
            "vols.instrument_id, row 1: duplicate instrument_id 'C1' (first at row 0)"
        );
        let t = table(vec![("instrument_id", strings(&["C1"])), ("vol", floats(&[0.2]))]);
        assert_eq!(error(t), "vols.implied_vol: missing column");
        assert_eq!(
            error(vols(&[("C1", 0.5), ("C2", 55.0), ("C3", -1.0)])),
            "vols.implied_vol, row 1: 55.0 is above the maximum implied vol 5.0 (vols are annualised fractions: \
             0.55 is 55%): 55.0 looks like a percent: give 0.55, or raise pmargin.Limits(max_implied_vol=...)"
        );
        assert!(read_vols(vols(&[("C1", 55.0)]).view("vols"), f64::INFINITY).is_ok());
        let t = table(vec![("instrument_id", strings(&["C1"])), ("Implied_Vol", floats(&[0.2]))]);
        assert!(error(t).starts_with("vols.Implied_Vol: unknown column 'Implied_Vol' looks like a misspelling"));
    }

    #[test]
    fn reserved_and_misspelled_underlying_columns() {
        let error =
            |t: crate::spec::OwnedTable| read_underlyings(t.view("underlyings")).expect_err("invalid").to_string();
        for name in RESERVED_NAMES {
            let t = underlyings(&[("A", 1.0, 0.0), (name, 1.0, 0.0)]);
            assert_eq!(
                error(t),
                format!(
                    "underlyings.underlying, row 1: '{name}' is reserved: it names a column of the scenario matrix \
                     (result.scenarios); rename the underlying"
                )
            );
        }
        for column in ["rates", "RATE", "Rate"] {
            let t = table(vec![("underlying", strings(&["A"])), ("spot", floats(&[1.0])), (column, floats(&[0.1]))]);
            assert!(error(t).starts_with(&format!("underlyings.{column}: unknown column '{column}'")));
        }
    }
}
