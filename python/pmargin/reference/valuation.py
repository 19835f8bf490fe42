"""Contracts: an instrument joined with its market data at the valuation time, its value in any
market and its Greeks, written from the definitions.

Every formula is evaluated in the order the native core uses, so the two agree to rounding:

- ``T = (expiry_ns - as_of_ns) / 31_536_000e9`` (an integer difference, then one division);
- spot and perpetual: ``multiplier * spot``; future: ``multiplier * F``, ``F = spot * exp(rate *
  T)``; vanilla option: ``multiplier * black76(...)`` (:mod:`.pricing.black76`; at ``T == 0`` its
  intrinsic value);
- digital option: ``multiplier * digital_price(spot, K, T, rate, vol)`` and barrier option:
  ``multiplier * barrier_price(...)`` (:mod:`.pricing.digital`, :mod:`.pricing.barrier`; a
  barrier breached by a shocked spot is worth its rebate when it knocks out, the vanilla when it
  knocks in);
- Greeks per unit (multiplier included, :func:`unit_greeks`): spot and perpetual ``price = spot``,
  ``delta = 1``; a future the Greeks of ``F``; an option those of its payoff (:mod:`.pricing`),
  each times the multiplier.

A held instrument is valued only when its references resolve (:func:`held_problems`, one pass
over the positions in row order): an unknown instrument (any quantity), or a held instrument (a
non-zero net) whose market data is missing, which has expired, or whose barrier the current spot
has already breached, is an input error (:func:`market_problem`).

Mirrors: rust/pmargin-core/src/valuation/
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import MarginInputError, run_flags
from .domain.book import AccountId, Book, Position, net_positions
from .domain.instruments import Instrument
from .domain.market import Underlying
from .domain.option_terms import is_knock_in
from .pricing.barrier import BarrierParams, barrier_greeks, barrier_price, breached
from .pricing.black76 import black76, forward
from .pricing.digital import digital_greeks, digital_price
from .pricing.greeks import Greeks, future_greeks, spot_greeks, vanilla_greeks

#: Nanoseconds in a 365-day year.
YEAR_NS = 31_536_000e9

#: Plausible ranges (docs/methods.md, "Finite outputs"); a held instrument outside them is an
#: input error naming the cell: multiplier <= 1e9; an option's strike and a barrier within
#: [1e-6, 1e6] x spot; an option's total vol, implied vol x sqrt(T), at most 100.
MAX_MULTIPLIER = 1e9
MIN_MONEYNESS = 1e-6
MAX_MONEYNESS = 1e6
MAX_TOTAL_VOL = 100.0


def year_fraction(expiry_ns: int, as_of_ns: int) -> float:
    """``T``: years (of 365 days) from ``as_of`` to ``expiry``."""
    return (expiry_ns - as_of_ns) / YEAR_NS


@dataclass(frozen=True)
class Contract:
    """Everything needed to value one instrument in any scenario: its terms and its base market.

    ``t`` is the year fraction to expiry (0.0 for spot and perpetual, where it is unused);
    ``vol`` is the base implied vol (options only). An option's ``payoff`` is ``"vanilla"`` or
    ``"digital"``; a vanilla with a ``barrier_type`` is a barrier option (``barrier``,
    ``rebate`` per unit).
    """

    kind: str
    is_call: bool
    strike: float
    multiplier: float
    spot: float
    rate: float
    t: float
    vol: float | None
    payoff: str = "vanilla"
    barrier_type: str | None = None
    barrier: float = 0.0
    rebate: float = 0.0


def contract_value(c: Contract, spot: float, vol: float | None) -> float:
    """Value of one unit of ``c`` (multiplier included) at the given spot and vol; rate and ``T``
    are the contract's own. Where Python's ``math`` raises on a result IEEE arithmetic would make
    infinite or NaN (an overflowing ``exp``, a log of a non-positive number), the value is NaN:
    the core computes in IEEE doubles, and a value that is not finite is an input error in both
    engines (:func:`pmargin.reference.risk.arrays.non_finite_error`)."""
    try:
        return _contract_value(c, spot, vol)
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.nan


def _contract_value(c: Contract, spot: float, vol: float | None) -> float:
    if c.kind in ("spot", "perpetual"):
        return c.multiplier * spot
    fwd = forward(spot, c.rate, c.t)
    if c.kind == "future":
        return c.multiplier * fwd
    assert vol is not None, "an option needs a vol"
    if c.payoff == "digital" or c.barrier_type is not None:
        if c.barrier_type is None:
            return c.multiplier * digital_price(c.is_call, spot, c.strike, c.t, c.rate, vol)
        params = BarrierParams(c.is_call, c.barrier_type, spot, c.strike, c.barrier, c.rebate, c.t, c.rate, vol)
        return c.multiplier * barrier_price(params)
    return c.multiplier * black76(c.is_call, fwd, c.strike, vol, c.t, c.rate)


def base_value(c: Contract) -> float:
    """Value of one unit of ``c`` in the unshocked market."""
    return contract_value(c, c.spot, c.vol)


def make_contract(
    inst: Instrument, underlyings: dict[str, Underlying], vols: dict[str, float], as_of_ns: int
) -> Contract:
    """The pricing inputs of a held instrument (its market data already checked)."""
    market = underlyings[inst.underlying]
    t = 0.0 if inst.expiry_ns is None else year_fraction(inst.expiry_ns, as_of_ns)
    return Contract(
        kind=inst.kind,
        is_call=inst.option_type == "call",
        strike=inst.strike if inst.strike is not None else 0.0,
        multiplier=inst.multiplier,
        spot=market.spot,
        rate=market.rate,
        t=t,
        vol=vols[inst.instrument_id] if inst.kind == "option" else None,
        payoff=inst.payoff,
        barrier_type=inst.barrier_type,
        barrier=inst.barrier if inst.barrier is not None else 0.0,
        rebate=inst.rebate,
    )


def unit_greeks(c: Contract) -> Greeks:
    """Price and Greeks of one unit of ``c`` at its base market, multiplier included."""
    if c.kind in ("spot", "perpetual"):
        unit = spot_greeks(c.spot)
    elif c.kind == "future":
        unit = future_greeks(c.spot, c.t, c.rate)
    else:
        assert c.vol is not None, "an option needs a vol"
        if c.barrier_type is not None:
            params = BarrierParams(c.is_call, c.barrier_type, c.spot, c.strike, c.barrier, c.rebate, c.t, c.rate, c.vol)
            unit = barrier_greeks(params)
        elif c.payoff == "digital":
            unit = digital_greeks(c.is_call, c.spot, c.strike, c.t, c.rate, c.vol)
        else:
            unit = vanilla_greeks(c.is_call, c.spot, c.strike, c.t, c.rate, c.vol)
    return unit.scaled(c.multiplier)


# --- references between tables ----------------------------------------------------------------


def market_problem(
    inst: Instrument, underlyings: dict[str, Underlying], vols: dict[str, float], as_of_ns: int
) -> MarginInputError | None:
    """Why ``inst`` cannot be valued at ``as_of_ns`` (None when it can), naming its instruments row:
    no market row for its underlying, an option without a vol, an expiry before ``as_of``, or a
    barrier already breached by the current spot, a term outside the plausible ranges
    (:func:`implausible`), or a value or Greek that is not finite (checked in that order)."""
    if inst.underlying not in underlyings:
        reason = f"underlying {inst.underlying!r} has no row in the market's underlyings table"
        if inst.settlement == "inverse":
            reason = (
                f"inverse contract {inst.instrument_id!r} settles in {inst.underlying!r}, which has no USD index "
                "(no row in the underlyings table) to convert its coin P&L"
            )
        return MarginInputError(
            reason,
            table="instruments",
            column="underlying",
            row=inst.row,
        )
    if inst.kind == "option" and inst.instrument_id not in vols:
        return MarginInputError(
            f"option {inst.instrument_id!r} has no implied_vol in the market's vols table",
            table="instruments",
            column="instrument_id",
            row=inst.row,
        )
    if inst.expiry_ns is not None and inst.expiry_ns < as_of_ns:
        ago = dt.timedelta(microseconds=(as_of_ns - inst.expiry_ns) // 1000)
        return MarginInputError(
            f"{inst.kind} {inst.instrument_id!r} expired {ago} ago (its expiry is before the market's as_of)",
            table="instruments",
            column="expiry",
            row=inst.row,
        )
    problem = breached_barrier(inst, underlyings[inst.underlying].spot)
    if problem is None:
        problem = implausible(inst, underlyings, vols, as_of_ns)
    if problem is None:
        problem = not_finite(make_contract(inst, underlyings, vols, as_of_ns), inst)
    return problem


def implausible(
    inst: Instrument, underlyings: dict[str, Underlying], vols: dict[str, float], as_of_ns: int
) -> MarginInputError | None:
    """The first term outside its plausible range: multiplier, strike, barrier, total vol."""
    spot = underlyings[inst.underlying].spot
    if not inst.multiplier <= MAX_MULTIPLIER:
        return MarginInputError(
            f"{inst.instrument_id!r} has a multiplier of {inst.multiplier!r}, above the supported {MAX_MULTIPLIER:g}",
            table="instruments",
            column="multiplier",
            row=inst.row,
        )
    where = f"outside the supported [{MIN_MONEYNESS:g}, {MAX_MONEYNESS:g}] x spot {spot!r}"
    strike = inst.strike if inst.strike is not None else 0.0
    if inst.kind == "option" and not MIN_MONEYNESS <= strike / spot <= MAX_MONEYNESS:
        return MarginInputError(
            f"{inst.instrument_id!r} has a strike of {strike!r}, {where}",
            table="instruments",
            column="strike",
            row=inst.row,
        )
    barrier = inst.barrier
    if inst.barrier_type is not None and barrier is not None and not MIN_MONEYNESS <= barrier / spot <= MAX_MONEYNESS:
        return MarginInputError(
            f"{inst.instrument_id!r} has a barrier at {barrier!r}, {where}",
            table="instruments",
            column="barrier",
            row=inst.row,
        )
    if inst.kind == "option":
        vol = vols[inst.instrument_id]
        t = 0.0 if inst.expiry_ns is None else year_fraction(inst.expiry_ns, as_of_ns)
        if not vol * math.sqrt(t) <= MAX_TOTAL_VOL:
            return MarginInputError(
                f"{inst.instrument_id!r} has an implied vol of {vol!r} over {t:.6f} years: a total vol (vol x sqrt(T)) "
                f"above the supported {MAX_TOTAL_VOL:g}",
                table="vols",
                column="implied_vol",
                row=list(vols).index(inst.instrument_id),
            )
    return None


def not_finite(c: Contract, inst: Instrument) -> MarginInputError | None:
    """A value or Greek of ``c`` that is not finite at the current market (or whose formula
    overflows in Python where IEEE arithmetic would give inf or NaN)."""
    try:
        g = unit_greeks(c)
        values = (base_value(c), g.price, g.delta, g.gamma, g.vega, g.theta)
        finite = all(math.isfinite(x) for x in values)
    except (OverflowError, ZeroDivisionError, ValueError):
        finite = False
    if finite:
        return None
    return MarginInputError(
        f"{inst.instrument_id!r}: its value or Greeks are not finite at the current market (an input outside what "
        "the closed forms can represent)",
        table="instruments",
        column="instrument_id",
        row=inst.row,
    )


def breached_barrier(inst: Instrument, spot: float) -> MarginInputError | None:
    """A barrier option whose barrier the current ``spot`` has already reached (down: ``spot <=
    barrier``, up: ``spot >= barrier``) is not a barrier option any more: the error says how to
    record it (knocked in: a vanilla; knocked out: its rebate as cash)."""
    if inst.barrier_type is None or inst.barrier is None or not breached(inst.barrier_type, spot, inst.barrier):
        return None
    if is_knock_in(inst.barrier_type):
        how = "it has knocked in: record it as a vanilla option (no barrier_type)"
    else:
        how = "it has knocked out: record its rebate as cash and remove the option"
    return MarginInputError(
        f"{inst.instrument_id!r} has a {inst.barrier_type} barrier at {inst.barrier!r} already breached by spot "
        f"{spot!r}; {how}",
        table="instruments",
        column="barrier",
        row=inst.row,
    )


def held_problems(
    positions: Sequence[Position],
    books: Sequence[Book],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    scenario_problem: Callable[[str], MarginInputError | None] | None = None,
    value_problem: Callable[[Instrument], MarginInputError | None] | None = None,
) -> dict[AccountId, tuple[int, MarginInputError]]:
    """The first problem of each account, in row order, with its row: an unknown instrument (any
    quantity), or a held instrument (a non-zero net in ``books``) with a market problem. A
    position that nets to zero is not held, and instruments nobody holds are not checked.

    ``scenario_problem(underlying)``: why the model cannot move a held instrument's underlying
    (no moves, no Monte Carlo vol, not in the correlation matrix), checked after its market;
    ``value_problem(instrument)``: a value that is not finite under some scenario, checked last."""
    held = {book.account_id: {p.instrument_id for p in book.positions} for book in books}
    found: dict[AccountId, tuple[int, MarginInputError]] = {}
    of_instrument: dict[str, MarginInputError | None] = {}
    for pos in positions:
        if pos.account_id in found:
            continue
        inst = instruments.get(pos.instrument_id)
        problem: MarginInputError | None = None
        if inst is None:
            problem = MarginInputError(
                f"unknown instrument '{pos.instrument_id}'", table="positions", column="instrument_id", row=pos.row
            )
        elif pos.instrument_id in held[pos.account_id]:
            # Once per instrument: many positions hold the same one.
            if pos.instrument_id not in of_instrument:
                found_here = market_problem(inst, underlyings, vols, as_of_ns)
                if found_here is None and scenario_problem is not None:
                    found_here = scenario_problem(inst.underlying)
                if found_here is None and value_problem is not None:
                    found_here = value_problem(inst)
                of_instrument[pos.instrument_id] = found_here
            problem = of_instrument[pos.instrument_id]
        if problem is not None:
            found[pos.account_id] = (pos.row, problem)
    return found


def held_books(
    positions: Sequence[Position],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    scenario_problem: Callable[[str], MarginInputError | None] | None = None,
    on_error: str = "raise",
    value_problem: Callable[[Instrument], MarginInputError | None] | None = None,
) -> tuple[list[Book], list[tuple[int, MarginInputError]]]:
    """The netted books (:func:`~.domain.book.net_positions`) and the accounts left out: with
    ``on_error="raise"`` the first problem in row order (:func:`held_problems`) is raised; with
    ``"isolate"`` each account with a problem is left out and returned as (its first row, its
    first problem), in order of the first rows (the core's ``read_book``)."""
    run_flags(False, on_error)
    books = net_positions(positions, {iid: inst.row for iid, inst in instruments.items()})
    found = held_problems(positions, books, instruments, underlyings, vols, as_of_ns, scenario_problem, value_problem)
    if not found:
        return books, []
    if on_error == "raise":
        raise min(found.values(), key=lambda f: f[0])[1]
    failed = [(book.first_row, found[book.account_id][1]) for book in books if book.account_id in found]
    return [book for book in books if book.account_id not in found], failed
