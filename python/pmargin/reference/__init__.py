"""Plain-Python reference implementation of pmargin's methods.

Readable code written straight from the definitions (the ``math`` module only; pyarrow only to
read the input columns into Python lists and to build the output tables). The native core must
give the same numbers: both evaluate every formula in the same order, so they agree to rounding
(about 1e-15 relative). Slow by design; use it to check, not to run books.

- :func:`margin`: the margins of any model (grid, historical, Monte Carlo), same arguments and
  result as :func:`pmargin.margin`.
- :func:`instrument_values`: base value of every instrument whose market data is complete.
- :func:`value` and :func:`greeks`: prices and Greeks per instrument, per position and per
  account and underlying, as :func:`pmargin.value` and :func:`pmargin.greeks`.
- ``margin(..., by_position=True)`` (grid models): each position's contribution, standalone and
  incremental margin and the driving scenario's P&L explain (:mod:`.methods.grid.attribution`).

The modules mirror the native core's stages and are named alike, each naming its counterpart in
a ``Mirrors:`` line: :mod:`.input` (column readers), :mod:`.domain` (instruments and their option
terms, market data, positions netted into books), :mod:`.pricing` (formulas: normal, Black-76,
Greeks, digital, barrier), :mod:`.valuation` (contracts, base values, Greeks per contract, market
problems), :mod:`.scenarios` (grid, historical, Monte Carlo), :mod:`.risk` (risk arrays, group P&L,
worst loss, tail measures), :mod:`.methods` (:mod:`.methods.grid` with its cross rules and
attribution, :mod:`.methods.var`: historical and Monte Carlo VaR / ES) and :mod:`.output` (Arrow
helpers, Greeks tables). This module ties them together as the core's engine does. The reference never
imports the native engine.

Mirrors: rust/pmargin-core/src/engine.rs
"""

from __future__ import annotations

from dataclasses import astuple

import pyarrow as pa

from ..errors import run_flags, wrong_argument
from ..io import to_table
from ..limits import Limits
from ..market import Market
from ..models import AnyModel, GridModel
from ..result import GreeksResult, MarginResult
from ..types import TableLike
from .domain.book import read_positions
from .domain.instruments import read_instruments
from .domain.market import read_underlyings, read_vols
from .methods import method_for
from .output.arrow import declared
from .output.greeks import greeks_tables, value_table
from .risk.arrays import check_scale, grid_value_problem
from .valuation import base_value, held_books, make_contract, market_problem, unit_greeks

__all__ = ["greeks", "instrument_values", "margin", "value"]

#: The one-scenario grid prices and Greeks are computed under (as the native valuation engine).
UNSHOCKED = GridModel(price_shocks=[0.0], vol_shocks=[0.0])


def margin(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    model: AnyModel | None = None,
    *,
    by_position: bool = False,
    limits: Limits | None = None,
    on_error: str = "raise",
) -> MarginResult:
    """Margins of every account in ``positions`` under ``model`` (default :class:`GridModel`).

    Validates every input first (raising :class:`~pmargin.errors.MarginInputError` at the first
    problem), then prices each held contract once per scenario and aggregates per account.
    ``by_position=True`` (grid models only) adds ``.by_position`` and ``.explain``. ``limits``
    (default :class:`~pmargin.Limits`) bounds implausible inputs, as in :func:`pmargin.margin`, and
    the memory a run may take (the estimate is the core's, :mod:`.risk.budget`).
    ``on_error="isolate"`` leaves out the accounts holding an unknown or unusable instrument and
    lists them in ``.failed`` (:func:`.valuation.held_books`).
    """
    by_position, on_error = run_flags(by_position, on_error)
    if not isinstance(market, Market):
        raise wrong_argument("market", "a pmargin.Market", market)
    model = GridModel() if model is None else model
    limits = checked_limits(limits)
    method = method_for(model)
    result: MarginResult = method.margin(
        to_table(positions, "positions"),
        to_table(instruments, "instruments"),
        market,
        model,
        by_position=by_position,
        limits=limits,
        on_error=on_error,
    )
    return declared_result(result)


def declared_result(result: MarginResult) -> MarginResult:
    """Every table of ``result`` (its scenario matrices too) with the native engine's schema
    (:func:`.output.arrow.declared`)."""
    result.accounts = declared(result.accounts)
    result.by_underlying = declared(result.by_underlying)
    result.failed = declared(result.failed)
    if result.by_position is not None:
        result.by_position = declared(result.by_position)
    if result.explain is not None:
        result.explain = declared(result.explain)
    matrix = result._scenario_matrix
    result._scenario_matrix = lambda account: declared(matrix(account), frozenset())
    return result


def checked_limits(limits: Limits | None) -> Limits:
    """``limits``, or the defaults; anything else is a TypeError, as in the native engine."""
    if limits is None:
        return Limits()
    if not isinstance(limits, Limits):
        raise wrong_argument("limits", "a pmargin.Limits", limits)
    return limits


def instrument_values(instruments: TableLike, market: Market, *, limits: Limits | None = None) -> pa.Table:
    """``instrument_id`` and ``price`` (one unit, multiplier included, unshocked market) of every
    instrument whose market data is complete and which has not expired; others are skipped."""
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, checked_limits(limits).max_implied_vol)
    rows = read_instruments(to_table(instruments, "instruments"))
    ids: list[str] = []
    prices: list[float] = []
    for inst in rows.values():
        if market_problem(inst, underlyings, vols, market.as_of_ns) is not None:
            continue
        ids.append(inst.instrument_id)
        prices.append(base_value(make_contract(inst, underlyings, vols, market.as_of_ns)))
    return declared(pa.table({"instrument_id": pa.array(ids, pa.string()), "price": pa.array(prices, pa.float64())}))


def value(instruments: TableLike, market: Market, *, limits: Limits | None = None) -> pa.Table:
    """As :func:`pmargin.value`: per instrument and per unit (multiplier included) ``price`` (the
    base value), ``delta``, ``gamma``, ``vega``, ``theta``. Every instrument must be priceable:
    the first one that is not (table order) raises its market problem."""
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, checked_limits(limits).max_implied_vol)
    rows = read_instruments(to_table(instruments, "instruments"))
    value_problem = grid_value_problem(underlyings, vols, market.as_of_ns, UNSHOCKED)
    for inst in rows.values():
        problem = market_problem(inst, underlyings, vols, market.as_of_ns) or value_problem(inst)
        if problem is not None:
            raise problem
    contracts = [make_contract(inst, underlyings, vols, market.as_of_ns) for inst in rows.values()]
    return declared(value_table(list(rows), [base_value(c) for c in contracts], [unit_greeks(c) for c in contracts]))


def greeks(
    positions: TableLike, instruments: TableLike, market: Market, *, limits: Limits | None = None
) -> GreeksResult:
    """As :func:`pmargin.greeks`: the Greeks of every netted position and their sums per account
    and underlying (:mod:`.output.greeks`)."""
    positions_table = to_table(positions, "positions")
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, checked_limits(limits).max_implied_vol)
    instrument_rows = read_instruments(to_table(instruments, "instruments"))
    position_rows = read_positions(positions_table)
    value_problem = grid_value_problem(underlyings, vols, market.as_of_ns, UNSHOCKED)
    books, _ = held_books(
        position_rows, instrument_rows, underlyings, vols, market.as_of_ns, None, "raise", value_problem
    )
    unit = {
        pos.instrument_id: unit_greeks(
            make_contract(instrument_rows[pos.instrument_id], underlyings, vols, market.as_of_ns)
        )
        for book in books
        for pos in book.positions
    }
    # Greeks of a netted position stay within MAX_PNL, as its P&L does when margined.
    check_scale(position_rows, books, {iid: max(abs(x) for x in astuple(g)) for iid, g in unit.items()})
    by_position, by_underlying = greeks_tables(
        books, positions_table.column("account_id"), instrument_rows, underlyings, unit
    )
    return GreeksResult(declared(by_position), declared(by_underlying))
