"""A realistic, seeded sample book: BTC and ETH spot, perpetuals, futures and options.

``book(n_accounts)`` returns the four input tables of a margin run (positions, instruments,
underlyings, vols) for a book of accounts trading typical crypto derivatives strategies: naked
perpetuals and options, covered calls, protective puts, long and short straddles and strangles,
vertical spreads, iron condors, calendars, basis trades (spot against perpetual or future),
BTC/ETH pairs and random multi-leg books. Everything is drawn from one
:class:`numpy.random.Generator` seeded with ``seed``, fully vectorised:
``book(100_000)`` (about a million positions) builds in under a second.

The market is fixed (it does not depend on the seed): BTC spot 60,000 (rate 4%), ETH spot 3,000
(rate 3%); dated futures and options on four expiries (7, 30, 91 and 182 days after ``as_of``);
11 strikes per expiry around the forward, spaced like an exchange lists them (wider for later
expiries); implied vols with a term structure and a put-skewed smile.

Instruments are laid out in a fixed order per underlying: spot, perpetual, the four futures,
then for each expiry and strike a call and a put. Ids look like ``BTC-SPOT``, ``BTC-PERP``,
``BTC-30D`` and ``BTC-30D-60000-C``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

if TYPE_CHECKING:
    from .market import Market

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Default valuation time of the sample book.
DEFAULT_AS_OF = dt.datetime(2026, 6, 30, 8, 0, tzinfo=dt.UTC)
#: Days from ``as_of`` to each listed expiry.
EXPIRY_DAYS: tuple[int, ...] = (7, 30, 91, 182)
#: Strikes listed per expiry (odd: the middle one is at the money).
N_STRIKES = 11
_ATM = N_STRIKES // 2
_YEAR_DAYS = 365.0


@dataclass(frozen=True)
class UnderlyingSpec:
    """Market data and trading conventions of one sample underlying."""

    name: str
    spot: float
    rate: float
    atm_vols: tuple[float, ...]  # one per expiry in EXPIRY_DAYS
    skew: float  # smile slope in standardised moneyness (negative: puts richer)
    curvature: float  # smile convexity in standardised moneyness
    strike_step_pct: tuple[float, ...]  # strike spacing per expiry, as a fraction of spot
    lots_per_unit: int  # quantities are whole lots of 1 / lots_per_unit
    median_lots: float  # typical strategy size, in lots
    max_lots: int  # largest strategy size, in lots


UNDERLYINGS: tuple[UnderlyingSpec, ...] = (
    UnderlyingSpec(
        "BTC", 60_000.0, 0.04, (0.50, 0.52, 0.55, 0.57), -0.06, 0.04, (0.02, 0.04, 0.06, 0.08), 10, 15.0, 200
    ),
    UnderlyingSpec("ETH", 3_000.0, 0.03, (0.62, 0.64, 0.67, 0.70), -0.05, 0.05, (0.02, 0.04, 0.06, 0.08), 1, 25.0, 300),
)

_N_EXP = len(EXPIRY_DAYS)
_SPOT, _PERP, _FUT0, _OPT0 = 0, 1, 2, 2 + _N_EXP
#: Instruments per underlying: spot, perpetual, futures, then a call and a put per expiry and strike.
N_PER_UNDERLYING = _OPT0 + 2 * _N_EXP * N_STRIKES
N_INSTRUMENTS = N_PER_UNDERLYING * len(UNDERLYINGS)
_CALL, _PUT = 0, 1


@dataclass(frozen=True, eq=False)
class SampleBook:
    """The inputs of a margin run: four Arrow tables and the valuation time."""

    positions: pa.Table
    instruments: pa.Table
    underlyings: pa.Table
    vols: pa.Table
    as_of: dt.datetime

    @property
    def market(self) -> Market:
        """The book's :class:`pmargin.Market` (valuation time, spots and rates, implied vols)."""
        from .market import Market

        return Market(self.as_of, self.underlyings, self.vols)


def book(n_accounts: int = 2000, seed: int = 7, as_of: dt.datetime = DEFAULT_AS_OF) -> SampleBook:
    """Build a seeded sample book of ``n_accounts`` accounts (about 10 positions each).

    Positions are grouped by account (``acct-000001``, ``acct-000002``, ... in that order). The
    legs of an account's strategies are netted into one row per instrument, as a position file
    shows them (a net of zero stays as a closed position with quantity 0); then about 0.5% of
    positions are split over two adjacent rows, so the engine's netting is exercised. The same
    ``seed`` always gives identical tables.
    """
    if isinstance(n_accounts, bool) or not isinstance(n_accounts, int) or n_accounts < 0:
        raise ValueError(f"n_accounts must be a non-negative integer, got {n_accounts!r}")
    as_of = _utc(as_of)
    catalogue = _catalogue()
    rng = np.random.default_rng(seed)
    return SampleBook(
        positions=_positions(rng, n_accounts, catalogue),
        instruments=_instruments_table(catalogue, as_of),
        underlyings=_underlyings_table(),
        vols=_vols_table(catalogue),
        as_of=as_of,
    )


def _utc(when: dt.datetime) -> dt.datetime:
    """``when`` as an aware UTC datetime (a naive one is taken as UTC)."""
    if not isinstance(when, dt.datetime):
        raise TypeError(f"as_of must be a datetime, got {type(when).__name__}")
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


# --------------------------------------------------------------------------------------------
# Market and instrument catalogue


class Listing(NamedTuple):
    """One listed instrument (a row of the instruments table, plus its implied vol for options)."""

    instrument_id: str
    underlying: str
    kind: str
    option_type: str | None
    strike: float | None
    expiry_days: int | None
    implied_vol: float | None


def nice_step(x: float) -> float:
    """Round a strike spacing to the nearest (in ratio) 1, 2, 2.5 or 5 times a power of ten."""
    power = 10.0 ** math.floor(math.log10(x))
    candidates = [m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0)]
    return min(candidates, key=lambda c: abs(math.log(c / x)))


def strikes(spec: UnderlyingSpec, expiry: int) -> list[float]:
    """The listed strikes of one expiry: centred on the forward, spaced by a rounded step."""
    step = nice_step(spec.spot * spec.strike_step_pct[expiry])
    forward = spec.spot * math.exp(spec.rate * EXPIRY_DAYS[expiry] / _YEAR_DAYS)
    centre = round(forward / step) * step
    return [centre + (k - _ATM) * step for k in range(N_STRIKES)]


def smile_vol(spec: UnderlyingSpec, expiry: int, strike: float) -> float:
    """Implied vol at a strike: ATM term structure times a quadratic smile, to 4 decimals.

    The smile is in standardised moneyness ``x = ln(K / F) / (atm * sqrt(T))``, clipped to ±3.
    """
    t = EXPIRY_DAYS[expiry] / _YEAR_DAYS
    atm = spec.atm_vols[expiry]
    forward = spec.spot * math.exp(spec.rate * t)
    x = max(-3.0, min(3.0, math.log(strike / forward) / (atm * math.sqrt(t))))
    return round(atm * (1.0 + spec.skew * x + spec.curvature * x * x), 4)


def _strike_label(strike: float) -> str:
    return str(int(strike)) if strike.is_integer() else repr(strike)


def _catalogue() -> list[Listing]:
    """Every instrument of every sample underlying, in index order."""
    listings: list[Listing] = []
    for spec in UNDERLYINGS:
        listings.append(Listing(f"{spec.name}-SPOT", spec.name, "spot", None, None, None, None))
        listings.append(Listing(f"{spec.name}-PERP", spec.name, "perpetual", None, None, None, None))
        listings.extend(
            Listing(f"{spec.name}-{days}D", spec.name, "future", None, None, days, None) for days in EXPIRY_DAYS
        )
        for e, days in enumerate(EXPIRY_DAYS):
            for k in strikes(spec, e):
                vol = smile_vol(spec, e, k)
                for cp, letter in (("call", "C"), ("put", "P")):
                    iid = f"{spec.name}-{days}D-{_strike_label(k)}-{letter}"
                    listings.append(Listing(iid, spec.name, "option", cp, k, days, vol))
    return listings


def _instruments_table(cat: list[Listing], as_of: dt.datetime) -> pa.Table:
    expiry = [None if x.expiry_days is None else as_of + dt.timedelta(days=x.expiry_days) for x in cat]
    return pa.table(
        {
            "instrument_id": pa.array([x.instrument_id for x in cat], pa.string()),
            "underlying": pa.array([x.underlying for x in cat], pa.string()),
            "kind": pa.array([x.kind for x in cat], pa.string()),
            "option_type": pa.array([x.option_type for x in cat], pa.string()),
            "strike": pa.array([x.strike for x in cat], pa.float64()),
            "expiry": pa.array(expiry, pa.timestamp("ns", tz="UTC")),
            "multiplier": pa.array([1.0] * len(cat), pa.float64()),
        }
    )


def _underlyings_table() -> pa.Table:
    return pa.table(
        {
            "underlying": pa.array([s.name for s in UNDERLYINGS], pa.string()),
            "spot": pa.array([s.spot for s in UNDERLYINGS], pa.float64()),
            "rate": pa.array([s.rate for s in UNDERLYINGS], pa.float64()),
        }
    )


def _vols_table(cat: list[Listing]) -> pa.Table:
    options = [x for x in cat if x.implied_vol is not None]
    return pa.table(
        {
            "instrument_id": pa.array([x.instrument_id for x in options], pa.string()),
            "implied_vol": pa.array([x.implied_vol for x in options], pa.float64()),
        }
    )


# --------------------------------------------------------------------------------------------
# Instrument indices (vectorised)


def spot(u: IntArray) -> IntArray:
    return u * N_PER_UNDERLYING + _SPOT


def perp(u: IntArray) -> IntArray:
    return u * N_PER_UNDERLYING + _PERP


def future(u: IntArray, e: IntArray) -> IntArray:
    return u * N_PER_UNDERLYING + _FUT0 + e


def option(u: IntArray, e: IntArray, k: IntArray, cp: IntArray | int) -> IntArray:
    """Index of the option on underlying ``u``, expiry ``e``, strike ``k`` (0..10), call/put ``cp``."""
    index: IntArray = u * N_PER_UNDERLYING + _OPT0 + (e * N_STRIKES + k) * 2 + np.asarray(cp, np.int64)
    return index


# --------------------------------------------------------------------------------------------
# Strategies


class Draws(NamedTuple):
    """Per-strategy random draws shared by every template (arrays of one length ``m``)."""

    rng: np.random.Generator
    u: IntArray  # underlying index
    e: IntArray  # expiry index
    side: IntArray  # +1 long / -1 short
    lots: IntArray  # size in lots of the underlying (> 0)


class Legs(NamedTuple):
    """Legs of ``m`` strategies with ``L`` legs each: instrument index and signed lots, (m, L)."""

    instrument: IntArray
    lots: IntArray


def _stack(*columns: IntArray) -> IntArray:
    return np.stack(columns, axis=1)


def naked_perp(d: Draws) -> Legs:
    return Legs(_stack(perp(d.u)), _stack(d.side * d.lots))


def naked_option(d: Draws) -> Legs:
    k = d.rng.integers(_ATM - 3, _ATM + 4, d.u.size)
    cp = d.rng.integers(0, 2, d.u.size)
    return Legs(_stack(option(d.u, d.e, k, cp)), _stack(d.side * d.lots))


def covered_call(d: Draws) -> Legs:
    k = _ATM + d.rng.integers(1, 4, d.u.size)
    return Legs(_stack(spot(d.u), option(d.u, d.e, k, _CALL)), _stack(d.lots, -d.lots))


def protective_put(d: Draws) -> Legs:
    k = _ATM - d.rng.integers(1, 4, d.u.size)
    hold = np.where(d.rng.random(d.u.size) < 0.7, spot(d.u), perp(d.u))
    return Legs(_stack(hold, option(d.u, d.e, k, _PUT)), _stack(d.lots, d.lots))


def straddle(d: Draws) -> Legs:
    atm = np.full(d.u.size, _ATM)
    q = d.side * d.lots
    return Legs(_stack(option(d.u, d.e, atm, _CALL), option(d.u, d.e, atm, _PUT)), _stack(q, q))


def strangle(d: Draws) -> Legs:
    w = d.rng.integers(1, 4, d.u.size)
    q = d.side * d.lots
    return Legs(_stack(option(d.u, d.e, _ATM + w, _CALL), option(d.u, d.e, _ATM - w, _PUT)), _stack(q, q))


def vertical(d: Draws) -> Legs:
    """Bull or bear spread: long one strike, short another of the same type and expiry."""
    k1 = d.rng.integers(_ATM - 3, _ATM + 2, d.u.size)
    k2 = k1 + d.rng.integers(1, 4, d.u.size)
    cp = d.rng.integers(0, 2, d.u.size)
    q = d.side * d.lots
    return Legs(_stack(option(d.u, d.e, k1, cp), option(d.u, d.e, k2, cp)), _stack(q, -q))


def iron_condor(d: Draws) -> Legs:
    """Short (or long) the inner strangle, long (short) the wings."""
    inner = d.rng.integers(1, 3, d.u.size)
    wing = inner + d.rng.integers(1, 3, d.u.size)
    q = d.side * d.lots
    legs = _stack(
        option(d.u, d.e, _ATM - wing, _PUT),
        option(d.u, d.e, _ATM - inner, _PUT),
        option(d.u, d.e, _ATM + inner, _CALL),
        option(d.u, d.e, _ATM + wing, _CALL),
    )
    return Legs(legs, _stack(q, -q, -q, q))


def calendar(d: Draws) -> Legs:
    """Long one expiry, short a later one: futures (half the time) or same-strike options."""
    near = d.rng.integers(0, _N_EXP - 1, d.u.size)
    far = near + 1 + (d.rng.random(d.u.size) * (_N_EXP - 1 - near)).astype(np.int64)
    k = _ATM + d.rng.integers(-1, 2, d.u.size)
    cp = d.rng.integers(0, 2, d.u.size)
    use_futures = d.rng.random(d.u.size) < 0.5
    first = np.where(use_futures, future(d.u, near), option(d.u, near, k, cp))
    second = np.where(use_futures, future(d.u, far), option(d.u, far, k, cp))
    q = d.side * d.lots
    return Legs(_stack(first, second), _stack(q, -q))


def basis(d: Draws) -> Legs:
    """Cash and carry: long spot, short the perpetual (60%) or a dated future of the same size."""
    short = np.where(d.rng.random(d.u.size) < 0.6, perp(d.u), future(d.u, d.e))
    return Legs(_stack(spot(d.u), short), _stack(d.lots, -d.lots))


def pair(d: Draws) -> Legs:
    """Long BTC perpetual against short ETH perpetual (or the reverse), about dollar neutral."""
    btc, eth = UNDERLYINGS
    btc_lots = np.minimum(d.lots, 150)
    ratio = btc.spot / eth.spot * d.rng.uniform(0.8, 1.2, d.u.size)
    eth_units = btc_lots / btc.lots_per_unit * ratio
    eth_lots = np.clip(np.rint(eth_units * eth.lots_per_unit), 1, eth.max_lots).astype(np.int64)
    zeros = np.zeros(d.u.size, np.int64)
    return Legs(_stack(perp(zeros), perp(zeros + 1)), _stack(d.side * btc_lots, -d.side * eth_lots))


def multi_leg(d: Draws) -> Legs:
    """Three to six random legs on one underlying, each its own sign and size (unused legs have 0 lots)."""
    m, width = d.u.size, 6
    inst = d.u[:, None] * N_PER_UNDERLYING + d.rng.integers(0, N_PER_UNDERLYING, (m, width))
    sign = np.where(d.rng.random((m, width)) < 0.5, -1, 1)
    scale = d.rng.uniform(0.2, 1.5, (m, width))
    cap = np.array([s.max_lots for s in UNDERLYINGS])[d.u][:, None]
    lots = np.clip(np.rint(d.lots[:, None] * scale), 1, cap).astype(np.int64) * sign
    used = np.arange(width)[None, :] < d.rng.integers(3, width + 1, m)[:, None]
    return Legs(inst, np.where(used, lots, 0))


Template = Callable[[Draws], Legs]

#: Strategy templates and how often each is drawn.
STRATEGIES: tuple[tuple[str, Template, float], ...] = (
    ("naked_perp", naked_perp, 0.16),
    ("naked_option", naked_option, 0.08),
    ("covered_call", covered_call, 0.09),
    ("protective_put", protective_put, 0.07),
    ("straddle", straddle, 0.07),
    ("strangle", strangle, 0.07),
    ("vertical", vertical, 0.10),
    ("iron_condor", iron_condor, 0.05),
    ("calendar", calendar, 0.07),
    ("basis", basis, 0.08),
    ("pair", pair, 0.05),
    ("multi_leg", multi_leg, 0.11),
)

#: Strategies per account: 1 + negative binomial (mean 1 + 4.3), so a few accounts are large.
_NB_N, _NB_P = 2, 2.0 / 6.3
#: Share of positions split over two rows of the same account and instrument.
_SPLIT_SHARE = 0.005
#: Expiry chosen by a strategy (near expiries trade most).
_EXPIRY_WEIGHTS = (0.30, 0.35, 0.20, 0.15)
#: Share of strategies on BTC (the rest on ETH).
_BTC_SHARE = 0.6


def _draws(rng: np.random.Generator, m: int) -> Draws:
    """Underlying, expiry, side and size of ``m`` strategies."""
    u = (rng.random(m) >= _BTC_SHARE).astype(np.int64)
    e = rng.choice(_N_EXP, size=m, p=_EXPIRY_WEIGHTS).astype(np.int64)
    side = np.where(rng.random(m) < 0.5, -1, 1).astype(np.int64)
    median = np.array([s.median_lots for s in UNDERLYINGS])[u]
    cap = np.array([s.max_lots for s in UNDERLYINGS])[u]
    lots = np.clip(np.rint(median * np.exp(rng.normal(0.0, 1.0, m))), 1, cap).astype(np.int64)
    return Draws(rng, u, e, side, lots)


class Rows(NamedTuple):
    """Position rows before formatting: account index, instrument index, signed lots."""

    account: IntArray
    instrument: IntArray
    lots: IntArray


def _strategy_rows(rng: np.random.Generator, n_accounts: int) -> Rows:
    """Draw every account's strategies and return their legs grouped by account, in order."""
    n_strategies = 1 + rng.negative_binomial(_NB_N, _NB_P, n_accounts)
    account_of = np.repeat(np.arange(n_accounts, dtype=np.int64), n_strategies)
    weights = np.array([w for _, _, w in STRATEGIES])
    kind = rng.choice(len(STRATEGIES), size=account_of.size, p=weights / weights.sum())
    strategy_ids: list[IntArray] = []
    leg_ids: list[IntArray] = []
    legs: list[Legs] = []
    for t, (_, template, _) in enumerate(STRATEGIES):
        ids = np.flatnonzero(kind == t)
        got = template(_draws(rng, ids.size))
        width = got.instrument.shape[1]
        strategy_ids.append(np.repeat(ids, width))
        leg_ids.append(np.tile(np.arange(width), ids.size))
        legs.append(got)
    strategy = np.concatenate(strategy_ids)
    leg = np.concatenate(leg_ids)
    instrument = np.concatenate([g.instrument.ravel() for g in legs])
    lots = np.concatenate([g.lots.ravel() for g in legs])
    order = np.lexsort((leg, strategy))
    keep = order[lots[order] != 0]
    return Rows(account_of[strategy[keep]], instrument[keep], lots[keep])


def _net(rows: Rows) -> Rows:
    """One row per account and instrument (lots summed), in first-seen order within each account.

    A net of zero lots is kept as a closed position (quantity 0), as a position file shows it.
    """
    key = rows.account * N_INSTRUMENTS + rows.instrument
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    lots = np.bincount(inverse, weights=rows.lots, minlength=unique.size).astype(np.int64)
    order = np.argsort(first, kind="stable")
    return Rows(rows.account[first[order]], rows.instrument[first[order]], lots[order])


def _split_some(rng: np.random.Generator, rows: Rows) -> Rows:
    """Split a few positions into two adjacent rows of the same account and instrument (netting input)."""
    split = (rng.random(rows.lots.size) < _SPLIT_SHARE) & (np.abs(rows.lots) >= 2)
    counts = 1 + split.astype(np.int64)
    src = np.repeat(np.arange(rows.lots.size), counts)
    first = np.cumsum(counts) - counts
    second = (np.arange(src.size) - np.repeat(first, counts)) == 1
    half = np.sign(rows.lots) * (np.abs(rows.lots) // 2)  # the second row takes the remainder
    lots = np.where(split[src], np.where(second, rows.lots[src] - half[src], half[src]), rows.lots[src])
    return Rows(rows.account[src], rows.instrument[src], lots)


def account_ids(n_accounts: int) -> pa.Array:
    """``acct-000001``, ``acct-000002``, ... (at least six digits)."""
    width = max(6, len(str(n_accounts)))
    return pa.array([f"acct-{i:0{width}d}" for i in range(1, n_accounts + 1)], pa.string())


def _positions(rng: np.random.Generator, n_accounts: int, cat: list[Listing]) -> pa.Table:
    rows = _split_some(rng, _net(_strategy_rows(rng, n_accounts)))
    lots_per_unit = np.array([s.lots_per_unit for s in UNDERLYINGS], np.float64)
    quantity: FloatArray = rows.lots / lots_per_unit[rows.instrument // N_PER_UNDERLYING]
    ids = pa.array([x.instrument_id for x in cat], pa.string())
    return pa.table(
        {
            "account_id": account_ids(n_accounts).take(pa.array(rows.account)),
            "instrument_id": ids.take(pa.array(rows.instrument)),
            "quantity": pa.array(quantity, pa.float64()),
        }
    )
