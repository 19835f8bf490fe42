//! A priceable contract: an instrument joined with its market data at the valuation time.

use crate::domain::instruments::{Instrument, Kind, Payoff};
use crate::domain::market::{Underlyings, Vols};
use crate::domain::option_terms::{BarrierType, OptionType};
use crate::error::{MarginError, Result};
use crate::pricing::barrier::{self, BarrierParams};
use crate::pricing::black76::black76_sqrt;
use crate::pricing::digital;
use crate::pricing::greeks::{self, Greeks};

/// Seconds in the ACT/365 year: T = (expiry - as_of) / (365 x 86400 s).
const YEAR_NS: f64 = 31_536_000e9;

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
            MarginError::cell(
                "instruments",
                "underlying",
                row,
                format!("no market row for underlying '{}' in the underlyings table", instrument.underlying),
            )
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
