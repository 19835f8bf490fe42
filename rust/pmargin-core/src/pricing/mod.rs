//! Closed-form pricing of the supported contracts.

pub mod barrier;
pub mod black76;
pub mod digital;
pub mod greeks;
pub mod normal;
