//! Cross-underlying rules of the grid that need more than a sum: the correlation aggregate of
//! per-underlying requirements, and the account's driving underlying.

use super::outcome::{Driver, GridContext, UnderlyingOutcome};
use crate::domain::correlation::CorrelationMatrix;

/// Initial margin under cross="correlation" from each underlying's (row, requirement, worst
/// scenario), in the account's order (docs/methods.md): the requirement is signed short when its
/// worst price shock is up; sqrt of the quadratic form, capped by the undiversified sum and, with
/// `floor_largest`, floored at the largest requirement.
pub fn correlation_margin(
    groups: &[(u32, f64, Option<u32>)],
    undiversified: f64,
    matrix: &CorrelationMatrix,
    floor_largest: bool,
    ctx: &GridContext<'_>,
) -> f64 {
    let signed: Vec<(usize, f64)> = groups
        .iter()
        .map(|&(u, r, worst)| {
            let short = worst.is_some_and(|s| ctx.model.scenario(s as usize).0 > 0.0);
            (ctx.correlation_index[u as usize].unwrap_or(0), if short { -r } else { r })
        })
        .collect();
    let mut t = 0.0;
    for &(i, ri) in &signed {
        for &(j, rj) in &signed {
            t += matrix.get(i, j) * ri * rj;
        }
    }
    let mut margin = t.max(0.0).sqrt().min(undiversified);
    if floor_largest {
        margin = groups.iter().fold(margin, |acc, g| acc.max(g.1));
    }
    margin
}

/// The largest requirement (first on ties) with a worst scenario, as the account's driver.
pub(super) fn largest_driver(underlyings: &[UnderlyingOutcome]) -> Option<Driver> {
    let mut largest: Option<&UnderlyingOutcome> = None;
    for u in underlyings {
        if u.requirement > largest.map_or(0.0, |l| l.requirement) {
            largest = Some(u);
        }
    }
    largest.and_then(|u| u.worst.map(|s| Driver::Underlying { underlying: u.underlying, scenario: s }))
}
