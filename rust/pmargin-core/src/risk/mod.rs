//! Risk: every contract's value under every scenario (risk arrays), the dense kernels that sum
//! quantity x risk-array rows, each account's P&L per group, the worst loss, tail measures (VaR,
//! ES) and their streaming aggregation. Nothing here knows a method.

pub mod addons;
pub mod alloc;
pub mod arrays;
pub mod budget;
pub mod group_pnl;
pub mod kernels;
pub mod tail;
pub mod tail_stream;
pub mod worst_loss;
