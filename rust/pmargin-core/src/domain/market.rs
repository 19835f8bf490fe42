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
    by_instrument: HashMap<String, f64>,
}

impl Vols {
    pub fn get(&self, instrument_id: &str) -> Option<f64> {
        self.by_instrument.get(instrument_id).copied()
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
    let by_instrument = ids.iter().zip(vols).map(|(id, v)| ((*id).to_owned(), v)).collect();
    Ok(Vols { by_instrument })
}
