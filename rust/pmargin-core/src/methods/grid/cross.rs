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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::grid::model::{Cross, GridModel};
    use crate::risk::arrays::RiskArrays;
    use crate::scenarios::VolShockMode;

    /// Scenario 0 is a fall of 10%, scenario 1 a rise of 10%.
    fn with_context<T>(f: impl FnOnce(&GridContext<'_>) -> T) -> T {
        let model = GridModel::new(vec![-0.1, 0.1], vec![0.0], VolShockMode::Relative, Cross::Sum, 1.0).expect("valid");
        let risk = RiskArrays::default();
        // Underlyings-table rows 0, 1, 2 sit at matrix indices 1, 0, 2.
        let ctx = GridContext {
            model: &model,
            risk: &risk,
            underlying_of: &[],
            correlation_index: &[Some(1), Some(0), Some(2)],
        };
        f(&ctx)
    }

    fn rho(r01: f64, r02: f64, r12: f64) -> CorrelationMatrix {
        let names = ["X", "Y", "Z"].map(str::to_owned).to_vec();
        CorrelationMatrix::new(names, vec![1.0, r01, r02, r01, 1.0, r12, r02, r12, 1.0]).expect("valid")
    }

    #[test]
    fn requirements_are_signed_by_their_worst_price_shock() {
        with_context(|ctx| {
            // Row 0 (index 1) loses 30 on a fall: +30; row 1 (index 0) loses 40 on a rise: -40.
            let groups = [(0, 30.0, Some(0)), (1, 40.0, Some(1))];
            // rho(index 0, index 1) = 0.5: 900 + 1600 - 2 x 0.5 x 1200 = 1300.
            let m = correlation_margin(&groups, 70.0, &rho(0.5, 0.0, 0.0), false, ctx);
            assert!((m - 1300f64.sqrt()).abs() < 1e-12, "{m}");
            // Both long: 900 + 1600 + 1200 = 3700, below the undiversified 70^2.
            let both_long = [(0, 30.0, Some(0)), (1, 40.0, Some(0))];
            let m = correlation_margin(&both_long, 70.0, &rho(0.5, 0.0, 0.0), false, ctx);
            assert!((m - 3700f64.sqrt()).abs() < 1e-12, "{m}");
            // A group that never loses (no worst scenario) counts as long.
            let idle = [(2, 0.0, None), (0, 30.0, Some(0))];
            let m = correlation_margin(&idle, 30.0, &rho(0.0, 0.5, 0.5), false, ctx);
            assert!((m - 30.0).abs() < 1e-12, "{m}");
        });
    }

    #[test]
    fn capped_by_the_sum_and_floored_at_the_largest_when_asked() {
        with_context(|ctx| {
            // Perfectly correlated, both long: sqrt((30 + 40)^2) = 70, capped by an undiversified 65.
            let groups = [(0, 30.0, Some(0)), (1, 40.0, Some(0))];
            assert_eq!(correlation_margin(&groups, 65.0, &rho(1.0, 0.0, 0.0), false, ctx), 65.0);
            // A perfect hedge: +40 and -40 at correlation 1 leave nothing, unless floored.
            let hedge = [(0, 40.0, Some(0)), (1, 40.0, Some(1))];
            assert_eq!(correlation_margin(&hedge, 80.0, &rho(1.0, 0.0, 0.0), false, ctx), 0.0);
            assert_eq!(correlation_margin(&hedge, 80.0, &rho(1.0, 0.0, 0.0), true, ctx), 40.0);
            let uneven = [(0, 10.0, Some(0)), (1, 40.0, Some(1))];
            assert!((correlation_margin(&uneven, 50.0, &rho(1.0, 0.0, 0.0), true, ctx) - 40.0).abs() < 1e-12);
        });
    }

    #[test]
    fn the_driver_is_the_first_largest_requirement() {
        let u = |underlying: u32, requirement: f64, worst: Option<u32>| UnderlyingOutcome {
            underlying,
            requirement,
            worst,
        };
        assert_eq!(
            largest_driver(&[u(3, 5.0, Some(1)), u(1, 8.0, Some(2)), u(2, 8.0, Some(0))]),
            Some(Driver::Underlying { underlying: 1, scenario: 2 })
        );
        assert_eq!(largest_driver(&[u(0, 0.0, None), u(1, 0.0, None)]), None);
        assert_eq!(largest_driver(&[]), None);
    }
}
