//! What the grid method finds per account: each underlying's requirement and worst scenario, the
//! initial margin under the cross rule, and the scenario that drives it.

use smallvec::SmallVec;

use super::ellipsoid::Ellipsoid;
use super::model::GridModel;
use crate::risk::arrays::RiskArrays;

#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingOutcome {
    /// Row in the underlyings table.
    pub underlying: u32,
    pub requirement: f64,
    /// Scenario of the worst loss; None when no scenario loses.
    pub worst: Option<u32>,
}

/// Which scenario drives an account's margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Driver {
    /// cross="sum": the worst scenario of the underlying with the largest requirement;
    /// cross="correlation": the scenario of the underlying losing most in the binding joint move.
    Underlying { underlying: u32, scenario: u32 },
    /// cross="joint": a scenario applied to every underlying at once.
    Joint { scenario: u32 },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountOutcome {
    pub initial: f64,
    pub gross: f64,
    /// Sum of the per-underlying requirements (each underlying alone).
    pub undiversified: f64,
    pub driver: Option<Driver>,
    /// First-seen order within the account (inline for up to two: no allocation per account
    /// in the usual books).
    pub underlyings: SmallVec<[UnderlyingOutcome; 2]>,
    /// cross="correlation": each underlying's scenario in the binding joint move (same order as
    /// `underlyings`); empty for the other rules.
    pub binding: SmallVec<[Option<u32>; 2]>,
    /// The add-ons, when the model has any (`initial` then includes them); boxed, so that an
    /// outcome without add-ons (the usual model) is a third smaller to write and read.
    pub addons: Option<Box<AddonOutcome>>,
}

/// Accounts per piece of [`UnderlyingRows`].
pub const PIECE_ACCOUNTS: usize = 4096;

/// Every account's per-underlying outcomes in flat arrays instead of one vector per account
/// (cross="sum" without add-ons, and every rule with attribution, where nothing else reads them
/// per account): the pieces cover consecutive ranges of accounts (`PIECE_ACCOUNTS` each under
/// cross="sum"), in account order. The pieces are the aggregation's parallel tasks, so nothing
/// is allocated per account or copied afterwards.
#[derive(Debug, Default, PartialEq)]
pub struct UnderlyingRows {
    pub pieces: Vec<RowPiece>,
}

/// One piece of [`UnderlyingRows`]: row `i` is `rows[i]` of account `account[i]`.
#[derive(Debug, Default, PartialEq)]
pub struct RowPiece {
    pub account: Vec<u32>,
    pub rows: Vec<UnderlyingOutcome>,
}

/// What grid aggregation needs besides the book.
pub struct GridContext<'a> {
    pub model: &'a GridModel,
    pub risk: &'a RiskArrays,
    pub underlying_of: &'a [u32],
    /// Index in the correlation matrix of each underlyings-table row (cross="correlation").
    pub correlation_index: &'a [Option<usize>],
    /// The joint moves of cross="correlation" (None for the other rules).
    pub ellipsoid: Option<&'a Ellipsoid>,
}

/// An account's add-ons: totals, and per underlying (its order in the outcome) the calendar
/// charge, delta shock and short option minimum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddonOutcome {
    pub scan: f64,
    pub calendar: f64,
    pub delta_shock: f64,
    pub short_option_minimum: f64,
    pub per_underlying: SmallVec<[[f64; 3]; 2]>,
}
