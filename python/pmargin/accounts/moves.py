"""Revaluing books under a moved market: every underlying's spot times ``1 + move`` (vols,
rates and time unchanged: sticky strike), through any model's engine (docs/accounts.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..limits import Limits
from ..market import Market
from ..run_source import plain_column, plain_ids
from ..types import AnyModel


def moved_market(market: Market, moves: Mapping[str, float]) -> Market:
    """``market`` with each underlying in ``moves`` at ``spot x (1 + move)``."""
    if not moves:
        return market
    table = market.underlyings
    names = table.column("underlying").to_pylist()
    spots = table.column("spot").to_pylist()
    new = [s * (1.0 + moves.get(n, 0.0)) if s is not None else None for n, s in zip(names, spots, strict=True)]
    index = table.column_names.index("spot")
    moved = table.set_column(index, "spot", pa.array(new, pa.float64()))
    out = Market.__new__(Market)
    out.as_of_ns, out.underlyings, out.vols = market.as_of_ns, moved, market.vols
    return out


@dataclass(frozen=True)
class Valued:
    """Per account under one market: initial and maintenance margin and the book's value."""

    initial: dict[Any, float]
    maintenance: dict[Any, float]
    value: dict[Any, float]


def value_accounts(
    engine_type: Any,
    positions: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: AnyModel,
    limits: Limits | None = None,
) -> Valued:
    """Margins and mark-to-market value (sum of quantity x unit price) of every account, by an
    engine of ``engine_type`` (``pmargin.MarginEngine``)."""
    engine = engine_type(instruments, market, model, limits=limits)
    accounts = engine.margin(positions).accounts
    ids = accounts.column("account_id").to_pylist()
    initial = dict(zip(ids, accounts.column("initial_margin").to_pylist(), strict=True))
    maintenance = dict(zip(ids, accounts.column("maintenance_margin").to_pylist(), strict=True))
    value = dict.fromkeys(ids, 0.0)
    if positions.num_rows:
        by = engine.greeks(positions).positions.group_by("account_id").aggregate([("value", "sum")])
        value.update(zip(by.column("account_id").to_pylist(), by.column("value_sum").to_pylist(), strict=True))
    return Valued(initial, maintenance, value)


def value_one(
    engine_type: Any,
    ids: list[str],
    quantities: list[float],
    instruments: pa.Table,
    market: Market,
    model: AnyModel,
    limits: Limits | None = None,
) -> tuple[float, float, float]:
    """``(initial, maintenance, book value)`` of one account's positions: the engine's small-book
    fast path (as the what-if), and quantity x unit price summed over its instruments."""
    engine = engine_type(instruments, market, model, limits=limits)
    (initial, maintenance), _, _ = engine._native.what_if(ids, quantities, [], [])
    prices = engine._native.values()
    price = dict(zip(prices.column("instrument_id").to_pylist(), prices.column("price").to_pylist(), strict=True))
    return initial, maintenance, math.fsum(q * price[i] for i, q in zip(ids, quantities, strict=True))


def account_rows(positions: pa.Table, account: Any) -> pa.Table:
    """The positions of one account (a Polars book's string_view columns as plain strings)."""
    positions = plain_ids(positions)
    return positions.filter(
        pc.equal(positions.column("account_id"), pa.scalar(account, positions.schema.field("account_id").type))
    )


def held_instruments(instruments: pa.Table, positions: pa.Table) -> pa.Table:
    """The instrument rows held in ``positions`` (a small engine builds in a fraction of the time)."""
    instruments = plain_ids(instruments)
    held = plain_column(positions.column("instrument_id")).unique()
    return instruments.filter(pc.is_in(instruments.column("instrument_id"), value_set=held))
