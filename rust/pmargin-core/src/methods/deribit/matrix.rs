//! Deribit's risk matrix per contract: the P&L of one unit under each standard move x vol
//! scenario and each extended move (vol up, scaled), in the contract's settlement currency
//! (docs/methods.md, "Deribit portfolio margin"). Computed once per contract; an account's
//! risk vector is `0.0 + q1 x row1 + q2 x row2 + ...`.

use super::params::DeribitParams;
use crate::domain::instruments::Kind;
use crate::scenarios::VOL_FLOOR;
use crate::valuation::contract::Contract;

/// The extended table's moves (vol-up scenario only).
pub const EXTENDED_MOVES: [f64; 8] = [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0];

/// Vol scenarios of a standard bucket, in vector order.
pub const VOL_NAMES: [&str; 3] = ["down", "none", "up"];

/// The standard table's moves: `(i - n) x R / n`, i = 0..2n (so -R, ..., 0, ..., R exactly).
pub fn moves(p: &DeribitParams) -> Vec<f64> {
    let (r, n) = (p.price_range, p.buckets_count as f64);
    (0..=2 * p.buckets_count).map(|i| (i as f64 - n) * r / n).collect()
}

/// Standard entries (3 per move) plus the extended ones.
pub fn row_len(p: &DeribitParams) -> usize {
    3 * (2 * p.buckets_count + 1) + EXTENDED_MOVES.len()
}

/// The vega term structure's multiplier at `t` years: `(30 / max(DTE, floor))^power`, the
/// short-term power below 30 days.
pub fn vol_multiplier(p: &DeribitParams, t: f64) -> f64 {
    let dte = t * 365.0;
    let power = if dte < 30.0 { p.short_term_vega_power } else { p.long_term_vega_power };
    let floored = if dte > p.dte_floor_days { dte } else { p.dte_floor_days };
    (30.0 / floored).powf(power)
}

/// `[down, none, up]` shocked vols of an option with vol `vol` and `t` years to expiry.
pub fn shocked_vols(p: &DeribitParams, vol: f64, t: f64) -> [f64; 3] {
    let mult = vol_multiplier(p, t);
    let up = vol * (1.0 + p.volatility_range_up * mult);
    let up = if up > p.min_volatility_for_shock_up { up } else { p.min_volatility_for_shock_up };
    let factor = 1.0 - p.volatility_range_down * mult;
    let down = vol * if factor > 0.0 { factor } else { 0.0 };
    let down = if down > VOL_FLOOR { down } else { VOL_FLOOR };
    [down, vol, up]
}

/// P&L of one unit at move `m` and vol `vol`: USD for a linear contract; coin for an inverse
/// one, `V'/F' - V/F` for an option and `(V' - V) / F'` for a future or perpetual (F the
/// contract's own forward, spot for a perpetual).
pub fn unit_pnl(c: &Contract, base: f64, inverse: bool, m: f64, vol: f64) -> f64 {
    let spot = c.spot * (1.0 + m);
    let value = c.value(spot, vol);
    if !inverse {
        return value - base;
    }
    let settle = spot * c.growth;
    if c.kind == Kind::Option {
        value / settle - base / (c.spot * c.growth)
    } else {
        (value - base) / settle
    }
}

/// Weight of extended move `e`: `ETF x R / |e|`, times `(1 + e) / (1 + sign(e) R)` for coin
/// P&L (which re-expresses it at the standard table's edge price).
pub fn extended_weight(p: &DeribitParams, e: f64, inverse: bool) -> f64 {
    let r = p.price_range;
    let w = p.extended_table_factor * (r / e.abs());
    if inverse {
        let sign = if e < 0.0 { -1.0 } else { 1.0 };
        w * (1.0 + e) / (1.0 + sign * r)
    } else {
        w
    }
}

/// The row of one contract: standard entries move-major (vols down, none, up), then the
/// weighted extended entries.
pub fn contract_row(p: &DeribitParams, c: &Contract, base: f64, inverse: bool) -> Vec<f64> {
    let vols = if c.kind == Kind::Option { shocked_vols(p, c.vol, c.t) } else { [c.vol; 3] };
    let mut row = Vec::with_capacity(row_len(p));
    for m in moves(p) {
        for v in vols {
            row.push(unit_pnl(c, base, inverse, m, v));
        }
    }
    for e in EXTENDED_MOVES {
        row.push(unit_pnl(c, base, inverse, e, vols[2]) * extended_weight(p, e, inverse));
    }
    row
}

/// Forward delta per unit (multiplier included): dV/dF; spot and perpetuals dV/dS.
pub fn forward_delta(c: &Contract, spot_delta: f64) -> f64 {
    match c.kind {
        Kind::Spot | Kind::Perpetual | Kind::Future => c.multiplier,
        Kind::Option => spot_delta / c.growth,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn btc() -> DeribitParams {
        DeribitParams {
            price_range: 0.16,
            buckets_count: 4,
            volatility_range_up: 0.5,
            volatility_range_down: 0.275,
            short_term_vega_power: 0.3,
            long_term_vega_power: 0.13,
            min_volatility_for_shock_up: 0.45,
            dte_floor_days: 1.0,
            extended_table_factor: 1.0,
            extended_dampener_coin: 100_000.0,
            extended_dampener_usd: 25_000.0,
            pnl_offset_coin: 0.0,
            pnl_offset_usd: 0.0,
            max_offsetable_pnl: 0.0,
            annualised_move_risk_coin: 0.075,
            annualised_move_risk_usd: 0.1,
            min_annualised_move_coin: 0.01,
            min_annualised_move_usd: 0.01,
            delta_total_liq_shock_threshold: 20_000_000.0,
            max_delta_shock: 0.1,
            m_inc: 0.00005,
            mm_factor: 0.8,
        }
    }

    #[test]
    fn moves_span_the_range_in_n_steps() {
        assert_eq!(moves(&btc()), [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16]);
        assert_eq!(row_len(&btc()), 35);
    }

    #[test]
    fn vol_shocks_follow_derive_test_12() {
        // AC-D5: 794852 s to expiry, vol 0.453803924321583.
        let t = 794_852e9 / 31_536_000e9;
        let [down, none, up] = shocked_vols(&btc(), 0.453_803_924_321_583, t);
        assert!((up - 0.777_280_524_018_492_5).abs() < 1e-12, "{up}");
        assert!((down - 0.275_891_794_488_282_8).abs() < 1e-12, "{down}");
        assert_eq!(none, 0.453_803_924_321_583);
    }

    #[test]
    fn extended_weights_match_paradex_for_linear() {
        let w: Vec<f64> = EXTENDED_MOVES.iter().map(|&e| extended_weight(&btc(), e, false)).collect();
        assert!((w[0] - 0.16 / 0.66).abs() < 1e-15 && (w[7] - 0.032).abs() < 1e-15);
    }
}
