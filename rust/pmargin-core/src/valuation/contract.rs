//! A priceable contract: an instrument joined with its market data at the valuation time.

use crate::domain::instruments::{Instrument, Kind, Payoff, Settlement};
use crate::domain::market::{Underlyings, Vols};
use crate::domain::option_terms::{BarrierType, OptionType};
use crate::error::{MarginError, Result};
use crate::float_text::{g, repr};
use crate::pricing::barrier::{self, BarrierParams};
use crate::pricing::black76::black76_sqrt;
use crate::pricing::digital;
use crate::pricing::greeks::{self, Greeks};

/// Seconds in the ACT/365 year: T = (expiry - as_of) / (365 x 86400 s).
const YEAR_NS: f64 = 31_536_000e9;

/// Plausible ranges (docs/methods.md, "Finite outputs"): outside them the closed forms lose all
/// meaning (a vol of 1e200 prices a call at 0) or overflow, so a held instrument outside them is
/// an input error naming the cell. A multiplier is at most 1e9.
pub const MAX_MULTIPLIER: f64 = 1e9;
/// An option's strike and a barrier lie within [1e-6, 1e6] x the underlying's spot.
pub const MIN_MONEYNESS: f64 = 1e-6;
pub const MAX_MONEYNESS: f64 = 1e6;
/// An option's total vol, implied vol x sqrt(T), is at most 100 (the bound holds without
/// `Limits::max_implied_vol`).
pub const MAX_TOTAL_VOL: f64 = 100.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// Row in the underlyings table.
    pub underlying: u32,
    pub kind: Kind,
    pub option_type: Option<OptionType>,
    pub strike: f64,
    /// Years to expiry (0 for spot and perpetuals).
    pub t: f64,
    pub multiplier: f64,
    pub spot: f64,
    pub rate: f64,
    /// Implied vol (options only).
    pub vol: f64,
    /// e^(rate T), e^(-rate T) and sqrt(T), computed once: every scenario reuses them.
    pub growth: f64,
    pub discount: f64,
    pub sqrt_t: f64,
    pub payoff: Payoff,
}

/// `x <= bound`, false for NaN.
fn at_most(x: f64, bound: f64) -> bool {
    x <= bound
}

/// The plausible ranges, checked in this order: multiplier, strike, barrier, total vol.
fn check_plausible(
    row: usize,
    id: &str,
    instrument: &Instrument,
    spot: f64,
    vol: f64,
    t: f64,
    vol_row: usize,
) -> Result<()> {
    let m = instrument.multiplier;
    if !at_most(m, MAX_MULTIPLIER) {
        return Err(MarginError::cell(
            "instruments",
            "multiplier",
            row,
            format!("'{id}' has a multiplier of {}, above the supported {}", repr(m), g(MAX_MULTIPLIER)),
        ));
    }
    let in_range = |x: f64| (MIN_MONEYNESS..=MAX_MONEYNESS).contains(&(x / spot));
    let range = format!("[{}, {}] x spot {}", g(MIN_MONEYNESS), g(MAX_MONEYNESS), repr(spot));
    if instrument.kind == Kind::Option && !in_range(instrument.strike) {
        return Err(MarginError::cell(
            "instruments",
            "strike",
            row,
            format!("'{id}' has a strike of {}, outside the supported {range}", repr(instrument.strike)),
        ));
    }
    if let Payoff::Barrier { barrier, .. } = instrument.payoff {
        if !in_range(barrier) {
            return Err(MarginError::cell(
                "instruments",
                "barrier",
                row,
                format!("'{id}' has a barrier at {}, outside the supported {range}", repr(barrier)),
            ));
        }
    }
    if instrument.kind == Kind::Option && !at_most(vol * t.sqrt(), MAX_TOTAL_VOL) {
        return Err(MarginError::cell(
            "vols",
            "implied_vol",
            vol_row,
            format!(
                "'{id}' has an implied vol of {} over {t:.6} years: a total vol (vol x sqrt(T)) above the supported \
                 {}",
                repr(vol),
                g(MAX_TOTAL_VOL)
            ),
        ));
    }
    Ok(())
}

impl Contract {
    /// Join instrument `row` with the market, or say why it cannot be priced. The checks run in
    /// a fixed order (underlying, vol, expiry) so both engines report the same problem.
    pub fn resolve(
        row: usize,
        id: &str,
        instrument: &Instrument,
        underlyings: &Underlyings,
        vols: &Vols,
        as_of_ns: i64,
    ) -> Result<Contract> {
        let u = underlyings.index_of(&instrument.underlying).ok_or_else(|| {
            let reason = if instrument.settlement == Settlement::Inverse {
                format!(
                    "inverse contract '{id}' settles in '{}', which has no USD index (no row in the underlyings table) \
                     to convert its coin P&L",
                    instrument.underlying
                )
            } else {
                format!("no market row for underlying '{}' in the underlyings table", instrument.underlying)
            };
            MarginError::cell("instruments", "underlying", row, reason)
        })?;
        let vol = if instrument.kind == Kind::Option {
            vols.get(id).ok_or_else(|| {
                MarginError::cell(
                    "instruments",
                    "instrument_id",
                    row,
                    format!("option '{id}' has no implied vol in the vols table"),
                )
            })?
        } else {
            0.0
        };
        let t = match instrument.expiry_ns {
            Some(expiry) => {
                let left = i128::from(expiry) - i128::from(as_of_ns);
                if left < 0 {
                    return Err(MarginError::cell(
                        "instruments",
                        "expiry",
                        row,
                        format!("'{id}' expired {:.6} days before as_of", -(left as f64) / 86_400e9),
                    ));
                }
                left as f64 / YEAR_NS
            }
            None => 0.0,
        };
        let spot = underlyings.spot[u as usize];
        if let Payoff::Barrier { barrier_type, barrier, .. } = instrument.payoff {
            if barrier::breached(barrier_type, spot, barrier) {
                let how = if barrier_type.is_knock_in() {
                    "it has knocked in: record it as a vanilla option (no barrier_type)"
                } else {
                    "it has knocked out: record its rebate as cash and remove the option"
                };
                return Err(MarginError::cell(
                    "instruments",
                    "barrier",
                    row,
                    format!(
                        "'{id}' has a {} barrier at {barrier} already breached by spot {spot}; {how}",
                        barrier_type.as_str()
                    ),
                ));
            }
        }
        let vol_row = vols.row_of(id).unwrap_or(0);
        check_plausible(row, id, instrument, spot, vol, t, vol_row)?;
        Ok(Contract {
            underlying: u,
            kind: instrument.kind,
            option_type: instrument.option_type,
            strike: instrument.strike,
            t,
            multiplier: instrument.multiplier,
            spot: underlyings.spot[u as usize],
            rate: underlyings.rate[u as usize],
            vol,
            growth: (underlyings.rate[u as usize] * t).exp(),
            discount: (-underlyings.rate[u as usize] * t).exp(),
            sqrt_t: t.sqrt(),
            payoff: instrument.payoff,
        })
    }

    /// Value per unit of quantity (multiplier included) at `spot` and `vol`.
    #[inline]
    pub fn value(&self, spot: f64, vol: f64) -> f64 {
        match self.kind {
            Kind::Spot | Kind::Perpetual => self.multiplier * spot,
            Kind::Future => self.multiplier * (spot * self.growth),
            Kind::Option => {
                let option_type = self.option_type.unwrap_or(OptionType::Call);
                let unit = match self.payoff {
                    Payoff::Vanilla => {
                        let forward = spot * self.growth;
                        black76_sqrt(option_type, forward, self.strike, self.t, self.sqrt_t, vol, self.discount)
                    }
                    Payoff::Digital => digital::price(option_type, spot, self.strike, self.t, self.rate, vol),
                    Payoff::Barrier { .. } => barrier::price(&self.barrier_params(spot, vol)),
                };
                self.multiplier * unit
            }
        }
    }

    pub fn base_value(&self) -> f64 {
        self.value(self.spot, self.vol)
    }

    fn barrier_params(&self, spot: f64, vol: f64) -> BarrierParams {
        let (barrier_type, barrier, rebate) = match self.payoff {
            Payoff::Barrier { barrier_type, barrier, rebate } => (barrier_type, barrier, rebate),
            _ => (BarrierType::DownOut, 0.0, 0.0),
        };
        BarrierParams {
            option_type: self.option_type.unwrap_or(OptionType::Call),
            barrier_type,
            spot,
            strike: self.strike,
            barrier,
            rebate,
            t: self.t,
            rate: self.rate,
            vol,
        }
    }

    /// Price and Greeks per unit of quantity (multiplier included) at the current market.
    pub fn greeks(&self) -> Greeks {
        let (s, t, r, vol, k) = (self.spot, self.t, self.rate, self.vol, self.strike);
        let option_type = self.option_type.unwrap_or(OptionType::Call);
        let unit = match (self.kind, self.payoff) {
            (Kind::Spot | Kind::Perpetual, _) => greeks::spot(s),
            (Kind::Future, _) => greeks::future(s, t, r),
            (Kind::Option, Payoff::Vanilla) => greeks::vanilla(option_type, s, k, t, r, vol),
            (Kind::Option, Payoff::Digital) => digital::greeks(option_type, s, k, t, r, vol),
            (Kind::Option, Payoff::Barrier { .. }) => barrier::greeks(&self.barrier_params(s, vol)),
        };
        unit.scaled(self.multiplier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::read_instruments;
    use crate::domain::market::{read_underlyings, read_vols};
    use crate::pricing::barrier::BarrierParams;
    use crate::test_support::{assert_close, instruments, underlyings, vols, Inst, AS_OF};

    /// Resolve every row of `rows` against A (spot 100, rate `rate`) with vols `vol_rows`.
    fn resolve_all(rows: &[Inst], rate: f64, vol_rows: &[(&str, f64)]) -> Vec<Result<Contract>> {
        let table = instruments(rows);
        let instruments = read_instruments(table.view("instruments")).expect("valid instruments");
        let u = read_underlyings(underlyings(&[("A", 100.0, rate)]).view("underlyings")).expect("valid");
        let v = read_vols(vols(vol_rows).view("vols"), f64::INFINITY).expect("valid");
        (0..instruments.len())
            .map(|row| Contract::resolve(row, &instruments.ids()[row], &instruments.rows[row], &u, &v, AS_OF))
            .collect()
    }

    fn resolve_one(row: Inst, rate: f64, vol: f64) -> Contract {
        let vol_rows: &[(&str, f64)] = if vol > 0.0 { &[(row.id, vol)] } else { &[] };
        resolve_all(&[row], rate, vol_rows).remove(0).expect("priceable")
    }

    #[test]
    fn years_are_act_365_and_linear_values_are_the_multiplier_times_the_forward() {
        let future = resolve_one(Inst::future("F", "A", 365).times(3.0), 0.05, 0.0);
        assert_eq!((future.t, future.sqrt_t, future.underlying), (1.0, 1.0, 0));
        assert_eq!((future.growth, future.discount), (0.05f64.exp(), (-0.05f64).exp()));
        assert_close(future.base_value(), 3.0 * 100.0 * 0.05f64.exp(), 1e-12);
        assert_close(future.value(110.0, 0.0), 3.0 * 110.0 * 0.05f64.exp(), 1e-12);
        // Expiring at as_of is not expired: T = 0.
        let now = resolve_all(&[Inst::future("H", "A", 0)], 0.0, &[]).remove(0).expect("expires now");
        assert_eq!((now.t, now.growth), (0.0, 1.0));
        let spot = resolve_one(Inst::spot("S", "A").times(2.0), 0.05, 0.0);
        assert_eq!((spot.t, spot.base_value(), spot.value(90.0, 0.3)), (0.0, 200.0, 180.0));
        let perpetual = resolve_one(Inst { kind: "perpetual", ..Inst::spot("P", "A") }, 0.05, 0.0);
        assert_eq!(perpetual.value(120.0, 0.0), 120.0);
    }

    #[test]
    fn a_vanilla_is_black_76_on_the_forward() {
        // At the money, rate 0, vol 0.2, one year: C = P = S (2 N(0.1) - 1), N(0.1) = 0.539827837277029.
        let hand = 100.0 * (2.0 * 0.539_827_837_277_029 - 1.0);
        let call = resolve_one(Inst::option("C", "A", "call", 100.0, 365).times(10.0), 0.0, 0.2);
        assert_close(call.base_value(), 10.0 * hand, 1e-11);
        let put = resolve_one(Inst::option("P", "A", "put", 100.0, 365), 0.0, 0.2);
        assert_close(put.base_value(), hand, 1e-12);
        // Greeks scale with the multiplier: the call's delta is 10 N(d1).
        let g = call.greeks();
        assert_close(g.price, 10.0 * hand, 1e-11);
        assert_close(g.delta, 10.0 * 0.539_827_837_277_029, 1e-12);
        // At expiry an option is its intrinsic value.
        let expiring = resolve_one(Inst::option("E", "A", "call", 90.0, 0).times(2.0), 0.0, 0.2);
        assert_eq!(expiring.base_value(), 20.0);
        assert_eq!(expiring.value(80.0, 0.2), 0.0);
    }

    #[test]
    fn a_digital_pays_its_multiplier() {
        // At the money, rate 0, vol 0.2, one year: N(d2) = N(-0.1) = 0.460172162722971.
        let digital = resolve_one(
            Inst { payoff: Some("digital"), ..Inst::option("D", "A", "call", 100.0, 365) }.times(50.0),
            0.0,
            0.2,
        );
        assert_close(digital.base_value(), 50.0 * 0.460_172_162_722_971, 1e-12);
        assert_eq!(digital.greeks(), digital::greeks(OptionType::Call, 100.0, 100.0, 1.0, 0.0, 0.2).scaled(50.0));
    }

    #[test]
    fn a_barrier_is_priced_from_the_spot() {
        let row = Inst {
            barrier_type: Some("down-and-out"),
            barrier: Some(80.0),
            rebate: Some(1.5),
            ..Inst::option("B", "A", "call", 100.0, 365)
        };
        let contract = resolve_one(row.times(4.0), 0.03, 0.25);
        let params = |spot: f64, vol: f64| BarrierParams {
            option_type: OptionType::Call,
            barrier_type: BarrierType::DownOut,
            spot,
            strike: 100.0,
            barrier: 80.0,
            rebate: 1.5,
            t: 1.0,
            rate: 0.03,
            vol,
        };
        assert_eq!(contract.base_value(), 4.0 * barrier::price(&params(100.0, 0.25)));
        assert_eq!(contract.value(90.0, 0.3), 4.0 * barrier::price(&params(90.0, 0.3)));
        assert_eq!(contract.greeks(), barrier::greeks(&params(100.0, 0.25)).scaled(4.0));
        // A shocked spot through the barrier pays the rebate.
        assert_eq!(contract.value(79.0, 0.25), 4.0 * 1.5);
        // A barrier far below the spot is never hit: the vanilla value.
        let far = resolve_one(Inst { barrier: Some(1e-3), rebate: None, ..row }, 0.0, 0.2);
        assert_close(far.base_value(), 100.0 * (2.0 * 0.539_827_837_277_029 - 1.0), 1e-9);
    }

    #[test]
    fn cannot_price_names_the_reason_in_a_fixed_order() {
        let rows = [
            // No market row, no vol and expired: the underlying is reported first.
            Inst::option("X", "Z", "call", 100.0, -1),
            Inst::option("C", "A", "call", 100.0, 30),
            Inst::future("F", "A", -2),
            Inst { barrier_type: Some("up-and-out"), barrier: Some(100.0), ..Inst::option("U", "A", "call", 90.0, 30) },
            Inst { barrier_type: Some("down-and-in"), barrier: Some(120.0), ..Inst::option("K", "A", "put", 90.0, 30) },
        ];
        let got: Vec<String> = resolve_all(&rows, 0.0, &[("U", 0.2), ("K", 0.2)])
            .into_iter()
            .map(|r| r.expect_err("cannot be priced").to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                "instruments.underlying, row 0: no market row for underlying 'Z' in the underlyings table",
                "instruments.instrument_id, row 1: option 'C' has no implied vol in the vols table",
                "instruments.expiry, row 2: 'F' expired 2.000000 days before as_of",
                "instruments.barrier, row 3: 'U' has a up-and-out barrier at 100 already breached by spot 100; it has \
                 knocked out: record its rebate as cash and remove the option",
                "instruments.barrier, row 4: 'K' has a down-and-in barrier at 120 already breached by spot 100; it \
                 has knocked in: record it as a vanilla option (no barrier_type)",
            ]
        );
    }

    #[test]
    fn implausible_terms_name_their_cell_in_a_fixed_order() {
        let digital = Inst { payoff: Some("digital"), ..Inst::option("D", "A", "call", 5e-324, 365) };
        let barrier =
            Inst { barrier_type: Some("up-and-out"), barrier: Some(1e300), ..Inst::option("B", "A", "call", 90.0, 30) };
        let rows = [
            Inst::future("M", "A", 30).times(1e308),
            digital,
            barrier,
            Inst::option("V", "A", "call", 100.0, 365),
            // Both a huge multiplier and a huge vol: the multiplier is reported.
            Inst::option("W", "A", "call", 100.0, 365).times(1e10),
        ];
        let got: Vec<String> = resolve_all(&rows, 0.0, &[("D", 0.2), ("B", 0.2), ("V", 1e200), ("W", 1e200)])
            .into_iter()
            .map(|r| r.expect_err("implausible").to_string())
            .collect();
        assert!(got[0].starts_with("instruments.multiplier, row 0: 'M' has a multiplier of 1"), "{}", got[0]);
        assert!(got[1].starts_with("instruments.strike, row 1: 'D' has a strike of 5e-324, outside"), "{}", got[1]);
        assert!(got[2].starts_with("instruments.barrier, row 2: 'B' has a barrier at 1"), "{}", got[2]);
        assert!(got[3].starts_with("vols.implied_vol, row 2: 'V' has an implied vol of 1"), "{}", got[3]);
        assert!(got[4].starts_with("instruments.multiplier, row 4"), "{}", got[4]);
        // At the edges of the ranges a contract is fine.
        let edge = [
            Inst::option("K", "A", "put", 100.0 * MIN_MONEYNESS, 365).times(MAX_MULTIPLIER),
            Inst::option("L", "A", "call", 100.0 * MAX_MONEYNESS, 365),
        ];
        for r in resolve_all(&edge, 0.0, &[("K", MAX_TOTAL_VOL), ("L", 0.2)]) {
            assert!(r.is_ok(), "{r:?}");
        }
    }
}
