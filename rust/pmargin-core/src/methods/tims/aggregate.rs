//! Each account's TIMS requirement: P&L per class group at the ten points, class groups combined
//! point by point within their product group (losses in full, gains at the group's offset), the
//! worst loss per product group floored at its options' minimum, summed over product groups.

use rayon::prelude::*;
use smallvec::SmallVec;

use super::{TimsMethod, N};
use crate::domain::book::Book;

#[derive(Debug, Clone, PartialEq)]
pub struct ClassOutcome {
    pub class_group: u32,
    pub pnl: [f64; N],
    /// Worst loss of the class group alone (>= 0) and its point (None when nothing loses).
    pub risk: f64,
    pub worst: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductOutcome {
    pub product_group: u32,
    /// Worst loss after offsets, the minimum of its options, and the larger.
    pub risk: f64,
    pub minimum: f64,
    pub requirement: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountOutcome {
    /// In parameter-set order.
    pub classes: Vec<ClassOutcome>,
    pub products: Vec<ProductOutcome>,
    pub requirement: f64,
    /// Sum of each netted position's requirement alone ([`standalone`]).
    pub gross: f64,
}

/// Largest loss of a P&L vector (>= 0) and its first point.
pub fn worst(pnl: &[f64; N]) -> (f64, Option<u32>) {
    let mut loss = 0.0;
    let mut at = None;
    for (k, &x) in pnl.iter().enumerate() {
        if -x > loss {
            loss = -x;
            at = Some(k as u32);
        }
    }
    (loss, at)
}

/// The minimum of `|q|` units of option `c` (0 for other contracts); a long option's per-unit
/// minimum is at most its value.
fn minimum_of(method: &TimsMethod, c: u32, q: f64) -> f64 {
    let per_unit = method.minimum[c as usize];
    if per_unit <= 0.0 {
        return 0.0;
    }
    let floor = if q > 0.0 { per_unit.min(method.value[c as usize].max(0.0)) } else { per_unit };
    q.abs() * floor
}

/// Requirement of one netted position alone: its worst loss (one class group, whatever the
/// offset), at least its minimum.
pub fn standalone(method: &TimsMethod, c: u32, q: f64) -> f64 {
    let loss = method.row(c).iter().fold(0.0, |m: f64, x| m.max(-(q * x)));
    loss.max(minimum_of(method, c, q))
}

pub fn account(method: &TimsMethod, book: &Book, a: usize) -> AccountOutcome {
    let model = &method.model;
    let mut classes: Vec<ClassOutcome> = Vec::with_capacity(2);
    let mut minimum: SmallVec<[f64; 4]> = SmallVec::from_elem(0.0, model.product_groups.len());
    let mut gross = 0.0;
    for k in book.positions(a) {
        let c = book.instrument[k];
        let q = book.quantity[k];
        gross += standalone(method, c, q);
        let g = method.class_of[c as usize];
        let i = match classes.iter().position(|x| x.class_group == g) {
            Some(i) => i,
            None => {
                classes.push(ClassOutcome { class_group: g, pnl: [0.0; N], risk: 0.0, worst: None });
                classes.len() - 1
            }
        };
        for (p, x) in classes[i].pnl.iter_mut().zip(method.row(c).iter()) {
            *p += q * x;
        }
        if method.minimum[c as usize] > 0.0 {
            minimum[model.class_groups[g as usize].product_group] += minimum_of(method, c, q);
        }
    }
    classes.sort_by_key(|x| x.class_group);
    for class in &mut classes {
        (class.risk, class.worst) = worst(&class.pnl);
    }
    let mut products: Vec<ProductOutcome> = Vec::new();
    for (p, group) in model.product_groups.iter().enumerate() {
        let members = || classes.iter().filter(|x| model.class_groups[x.class_group as usize].product_group == p);
        if members().next().is_none() {
            continue;
        }
        let mut combined = [0.0; N];
        for (k, slot) in combined.iter_mut().enumerate() {
            let (mut losses, mut gains) = (0.0, 0.0);
            for m in members() {
                let x = m.pnl[k];
                if x < 0.0 {
                    losses += x;
                } else {
                    gains += x;
                }
            }
            *slot = losses + group.offset * gains;
        }
        let (risk, _) = worst(&combined);
        let requirement = risk.max(minimum[p]);
        products.push(ProductOutcome { product_group: p as u32, risk, minimum: minimum[p], requirement });
    }
    let requirement = products.iter().fold(0.0, |acc, p| acc + p.requirement);
    AccountOutcome { classes, products, requirement, gross }
}

pub fn aggregate(method: &TimsMethod, book: &Book) -> Vec<AccountOutcome> {
    (0..book.n_accounts()).into_par_iter().with_min_len(64).map(|a| account(method, book, a)).collect()
}
