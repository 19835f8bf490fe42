//! Closed-form pricing of the supported contracts.

pub mod black76;
pub mod normal;
