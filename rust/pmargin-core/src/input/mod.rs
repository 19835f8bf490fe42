//! Arrow tables in: typed, validated column readers (any string, number and time encoding),
//! UTF-8 validation of string columns, misspelled column names, and the fast index from
//! instrument id to row.

pub mod id_index;
pub mod id_table;
pub mod parts;
pub mod prefetch;
pub mod spelling;
pub mod table;
pub mod utf8;

pub use table::Table;
