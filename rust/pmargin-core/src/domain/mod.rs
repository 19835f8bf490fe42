//! What is being margined: instruments (with their option terms), the market (spots, rates, vols,
//! correlations between underlyings), the netted book of positions, and the groups contracts
//! aggregate by.

pub mod book;
pub mod by_account;
pub mod correlation;
pub mod dense_ids;
pub mod exact_sum;
pub mod groups;
#[cfg(target_arch = "x86_64")]
pub mod id_digits_sse;
pub mod id_pattern;
pub mod instruments;
pub mod market;
pub mod option_terms;
