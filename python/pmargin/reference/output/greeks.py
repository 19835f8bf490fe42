"""Prices and Greeks of instruments, positions and accounts, written from the definitions.

- Per unit of an instrument (multiplier included): spot and perpetual ``price = spot``, ``delta =
  1``; a future the Greeks of ``F = spot * exp(rate * T)``; an option those of its payoff
  (:mod:`pmargin.reference.pricing`: vanilla, digital or barrier), each times the multiplier
  (:func:`pmargin.reference.valuation.unit_greeks`). The ``price`` column of :func:`value_table`
  is the contract's base value (:func:`pmargin.reference.valuation.base_value`), the value
  every risk array starts from.
- Per netted position (:func:`greeks_tables`): ``quantity`` times the unit's price (``value``)
  and Greeks.
- Per account and underlying (first-seen order): the positions' Greeks summed in netted-position
  order from 0.0, ``cash_delta = delta * spot``, ``cash_gamma = 0.5 * gamma * (0.01 * spot) *
  (0.01 * spot)`` (the gamma P&L of a 1% move) and ``vega_1pct = vega / 100`` (per vol point).

Mirrors: rust/pmargin-core/src/output/greeks.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ..domain.book import Book
from ..domain.instruments import Instrument
from ..domain.market import Underlying
from ..pricing.greeks import Greeks
from ..risk.group_pnl import underlying_order
from .arrow import F64, account_ids

GREEK_COLUMNS = ("delta", "gamma", "vega", "theta")


def value_table(ids: Sequence[str], prices: Sequence[float], greeks: Sequence[Greeks]) -> pa.Table:
    """``instrument_id``, ``price``, ``delta``, ``gamma``, ``vega``, ``theta`` per instrument."""
    columns: dict[str, pa.Array] = {
        "instrument_id": pa.array(list(ids), pa.string()),
        "price": pa.array(list(prices), F64),
    }
    for name in GREEK_COLUMNS:
        columns[name] = pa.array([getattr(g, name) for g in greeks], F64)
    return pa.table(columns)


def greeks_tables(
    books: Sequence[Book],
    id_column: pa.ChunkedArray,
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    unit: dict[str, Greeks],
) -> tuple[pa.Table, pa.Table]:
    """The per-position and per-(account, underlying) Greeks tables (module docstring);
    ``unit`` holds each held instrument's :func:`unit_greeks`."""
    position_rows: list[int] = []
    position_ids: list[str] = []
    quantities: list[float] = []
    scaled: list[Greeks] = []
    underlying_rows: list[int] = []
    names: list[str] = []
    sums: list[tuple[list[float], float]] = []
    for book in books:
        for pos in book.positions:
            position_rows.append(book.first_row)
            position_ids.append(pos.instrument_id)
            quantities.append(pos.quantity)
            scaled.append(unit[pos.instrument_id].scaled(pos.quantity))
        for u in underlying_order(book, instruments):
            total = [0.0, 0.0, 0.0, 0.0]
            for pos in book.positions:
                if instruments[pos.instrument_id].underlying != u:
                    continue
                g = unit[pos.instrument_id].scaled(pos.quantity)
                total[0] += g.delta
                total[1] += g.gamma
                total[2] += g.vega
                total[3] += g.theta
            underlying_rows.append(book.first_row)
            names.append(u)
            sums.append((total, underlyings[u].spot))

    positions: dict[str, pa.Array] = {
        "account_id": account_ids(id_column, position_rows),
        "instrument_id": pa.array(position_ids, pa.string()),
        "quantity": pa.array(quantities, F64),
        "value": pa.array([g.price for g in scaled], F64),
    }
    for name in GREEK_COLUMNS:
        positions[name] = pa.array([getattr(g, name) for g in scaled], F64)

    per_underlying: dict[str, pa.Array] = {
        "account_id": account_ids(id_column, underlying_rows),
        "underlying": pa.array(names, pa.string()),
    }
    for i, name in enumerate(GREEK_COLUMNS):
        per_underlying[name] = pa.array([total[i] for total, _ in sums], F64)
    per_underlying["cash_delta"] = pa.array([total[0] * spot for total, spot in sums], F64)
    per_underlying["cash_gamma"] = pa.array(
        [0.5 * total[1] * (0.01 * spot) * (0.01 * spot) for total, spot in sums], F64
    )
    per_underlying["vega_1pct"] = pa.array([total[2] / 100.0 for total, _ in sums], F64)
    return pa.table(positions), pa.table(per_underlying)
