//! Arrow tables in: typed, validated column readers (any string, number and time encoding) and
//! the fast index from instrument id to row.

pub mod id_index;
pub mod table;

pub use table::Table;
