//! Result tables out: Arrow builders shared by every method's tables, the Greeks tables and
//! the failed-accounts table.
//! Nothing here imports a method or the engine.

pub mod arrow;
pub mod failed;
pub mod gather;
pub mod greeks;
pub mod id_parts;
pub mod text_parts;
