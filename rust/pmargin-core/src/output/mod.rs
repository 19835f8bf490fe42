//! Result tables out: Arrow builders shared by every method's tables, and the Greeks tables.
//! Nothing here imports a method or the engine.

pub mod arrow;
pub mod greeks;
