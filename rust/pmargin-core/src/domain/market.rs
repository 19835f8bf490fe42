//! Market data tables: spots and rates per underlying, implied vols per option.

use hashbrown::HashMap;

use crate::domain::instruments::{positive_cell, unique_index};
use crate::error::Result;
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

pub fn read_underlyings(table: Table<'_>) -> Result<Underlyings> {
    const T: &str = "underlyings";
    let names = table.required_strings("underlying")?;
    let index = unique_index(T, "underlying", &names)?;
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

pub fn read_vols(table: Table<'_>) -> Result<Vols> {
    const T: &str = "vols";
    let ids = table.required_strings("instrument_id")?;
    unique_index(T, "instrument_id", &ids)?;
    let vols = table
        .numbers("implied_vol")?
        .into_iter()
        .enumerate()
        .map(|(row, v)| positive_cell(T, "implied_vol", row, v, "an implied vol"))
        .collect::<Result<Vec<_>>>()?;
    let by_instrument = ids.iter().zip(vols).enumerate().map(|(row, (id, v))| ((*id).to_owned(), (v, row))).collect();
    Ok(Vols { by_instrument })
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
            "underlyings.spot, row 1: must be > 0, got 0"
        );
        assert_eq!(
            error(underlyings(&[("A", 100.0, 0.0), ("A", 1.0, 0.0)])),
            "underlyings.underlying, row 1: duplicate underlying 'A' (first at row 0)"
        );
        assert_eq!(
            error(underlyings(&[("A", 100.0, f64::INFINITY)])),
            "underlyings.rate, row 0: inf is not allowed: need a finite number"
        );
        let t = table(vec![("underlying", strings(&["A"])), ("spot", opt_floats(&[None]))]);
        assert_eq!(error(t), "underlyings.spot, row 0: null is not allowed for a spot");
        let t = table(vec![("underlying", strings(&["A"])), ("spot", strings(&["100"]))]);
        assert_eq!(error(t), "underlyings.spot: expected a number column, got Arrow type Utf8");
    }

    #[test]
    fn reads_vols_by_instrument() {
        let got = read_vols(vols(&[("C1", 0.5), ("C2", 0.25)]).view("vols")).expect("valid");
        assert_eq!((got.get("C1"), got.get("C2"), got.get("C3")), (Some(0.5), Some(0.25), None));
    }

    #[test]
    fn vol_errors_name_column_and_row() {
        let error = |t: crate::spec::OwnedTable| read_vols(t.view("vols")).expect_err("invalid").to_string();
        assert_eq!(error(vols(&[("C1", 0.5), ("C2", -0.1)])), "vols.implied_vol, row 1: must be > 0, got -0.1");
        assert_eq!(
            error(vols(&[("C1", 0.5), ("C1", 0.2)])),
            "vols.instrument_id, row 1: duplicate instrument_id 'C1' (first at row 0)"
        );
        let t = table(vec![("instrument_id", strings(&["C1"])), ("vol", floats(&[0.2]))]);
        assert_eq!(error(t), "vols.implied_vol: missing column");
    }
}
