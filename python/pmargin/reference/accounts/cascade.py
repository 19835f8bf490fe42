"""The liquidation cascade of docs/accounts.md, written for clarity on the reference margin
engine (``pmargin.reference.margin`` and ``greeks``): the native ``pmargin.cascade`` must give
the same rounds, liquidations and shortfalls.

Mirrors: rust/pmargin-core/src/accounts/
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from ...accounts.cascade import CascadeResult
from ...accounts.collateral import read_assets, read_collateral, read_pnl
from ...io import to_table
from ...market import Market
from ...run_source import plain_ids
from ...types import AnyModel, TableLike


def _market_at(market: Market, factor: Mapping[str, float]) -> Market:
    """``market`` with every underlying's spot times its factor."""
    names = market.underlyings.column("underlying").to_pylist()
    spots = market.underlyings.column("spot").to_pylist()
    rates = (
        market.underlyings.column("rate").to_pylist()
        if "rate" in market.underlyings.column_names
        else [0.0] * len(names)
    )
    table = pa.table(
        {
            "underlying": names,
            "spot": [s * factor.get(n, 1.0) for n, s in zip(names, spots, strict=False)],
            "rate": rates,
        }
    )
    return Market(market.as_of, table, market.vols)


def _snapshot(positions: pa.Table, instruments: pa.Table, market: Market, model: AnyModel | None) -> dict[str, Any]:
    """Per account: initial and maintenance margin, book value, cash delta per underlying."""
    from .. import greeks, margin

    accounts = margin(positions, instruments, market, model).accounts.to_pylist()
    g = greeks(positions, instruments, market)
    value: dict[Any, float] = {row["account_id"]: 0.0 for row in accounts}
    for row in g.positions.to_pylist():
        value[row["account_id"]] += row["value"]
    delta: dict[Any, dict[str, float]] = {row["account_id"]: {} for row in accounts}
    for row in g.by_underlying.to_pylist():
        delta[row["account_id"]][row["underlying"]] = row["cash_delta"]
    return {
        "im": {row["account_id"]: row["initial_margin"] for row in accounts},
        "mm": {row["account_id"]: row["maintenance_margin"] for row in accounts},
        "value": value,
        "delta": delta,
    }


def cascade(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    model: AnyModel | None = None,
    collateral: TableLike | None = None,
    assets: Any = None,
    *,
    shock: float = -0.2,
    depth: Mapping[str, float],
    impact: str = "sqrt",
    coefficient: float = 0.1,
    max_rounds: int = 10,
    pnl: Any = None,
) -> CascadeResult:
    book = plain_ids(to_table(positions, "positions"))  # filter has no string_view kernel (Polars)
    inst = to_table(instruments, "instruments")
    asset_table = read_assets(assets)
    id_type = book.schema.field("account_id").type if "account_id" in book.column_names else None
    held = read_collateral(collateral, asset_table, id_type)
    unrealised = read_pnl(pnl, id_type)
    names = market.underlyings.column("underlying").to_pylist()
    spot0 = dict(zip(names, market.underlyings.column("spot").to_pylist(), strict=False))

    def equity(account: Any, snap: dict[str, Any], factor: Mapping[str, float]) -> float:
        cash = 0.0
        for asset, amount, _row in held.get(account, []):
            a = asset_table[asset]
            cash += amount * a.price * factor.get(asset, 1.0) * (1.0 - a.haircut)
        book_pnl: float = snap["value"][account] - base["value"][account]
        return cash + unrealised.get(account, 0.0) + book_pnl

    def rows_of(accounts: list[Any], keep: bool) -> pa.Table:
        wanted = set(accounts)
        return book.filter(pa.array([(a in wanted) == keep for a in book.column("account_id").to_pylist()]))

    base = _snapshot(book, inst, market, model)
    ids = list(base["im"])  # collateral of an account without positions is never read: it takes no part
    factor = {n: 1.0 + shock for n in names}
    liquidated: dict[Any, int] = {}
    final: dict[Any, float] = {}
    rounds = []
    for r in range(1, max_rounds + 1):
        alive = rows_of(list(liquidated), keep=False)
        snap = _snapshot(alive, inst, _market_at(market, factor), model)
        out = [a for a in ids if a not in liquidated and a in snap["im"] and equity(a, snap, factor) < snap["mm"][a]]
        if not out:
            break
        after = {}
        for n in names:
            sold = math.fsum(snap["delta"][a].get(n, 0.0) for a in out)
            move = 0.0
            if sold != 0.0:
                x = abs(sold) / depth[n]
                move = -math.copysign(coefficient * (math.sqrt(x) if impact == "sqrt" else x), sold)
                move = max(move, -0.99)  # a fall of 100% or more is capped at 99%
            after[n] = factor[n] * (1.0 + move)
            rounds.append((r, n, spot0[n] * factor[n], sold, after[n] / factor[n] - 1.0, spot0[n] * after[n], len(out)))
        closing = _snapshot(rows_of(out, keep=True), inst, _market_at(market, after), model)
        for a in out:
            liquidated[a] = r
            final[a] = equity(a, closing, after)
        factor = after
    survivors = [a for a in ids if a not in liquidated]
    last = _snapshot(rows_of(list(liquidated), keep=False), inst, _market_at(market, factor), model)
    for a in survivors:
        final[a] = equity(a, last, factor)
    shortfall = [max(0.0, -final[a]) for a in ids]
    id_type = book.schema.field("account_id").type
    columns: list[Sequence[Any]] = [list(c) for c in zip(*rounds, strict=True)] if rounds else [[] for _ in range(7)]
    return CascadeResult(
        pa.table(
            {
                "round": pa.array(columns[0], pa.int32()),
                "underlying": pa.array(columns[1], pa.string()),
                "price": pa.array(columns[2], pa.float64()),
                "notional_sold": pa.array(columns[3], pa.float64()),
                "impact": pa.array(columns[4], pa.float64()),
                "price_after": pa.array(columns[5], pa.float64()),
                "accounts_liquidated": pa.array(columns[6], pa.int64()),
            }
        ),
        pa.table(
            {
                "account_id": pa.array(ids, id_type),
                "liquidated_round": pa.array([liquidated.get(a) for a in ids], pa.int32()),
                "equity": pa.array([final[a] for a in ids], pa.float64()),
                "shortfall": pa.array(shortfall, pa.float64()),
            }
        ),
        math.fsum(shortfall),
    )
