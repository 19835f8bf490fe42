"""Account status of docs/accounts.md written for clarity on the reference engine: equity,
state, and the distance to a margin call and to liquidation by the same scan and bisection as
``pmargin.status``, which must give the same numbers.

Mirrors: rust/pmargin-core/src/accounts/
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from ...account_state import STATES, state_of
from ...accounts.collateral import read_assets, read_collateral, read_pnl
from ...io import to_table
from ...market import Market
from ...run_source import plain_ids
from ...types import AnyModel, TableLike
from .cascade import _market_at, _snapshot


def status(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    model: AnyModel | None,
    collateral: TableLike | None,
    assets: Any,
    *,
    pnl: Any = None,
    max_move: float = 0.95,
    step: float = 0.01,
    tolerance: float = 1e-4,
) -> list[dict[str, Any]]:
    """One dict per account (first-seen order): ``account_id``, ``equity``, ``state``,
    ``distances`` {(underlying or "ALL", "down" / "up"): (to_call, to_liquidation)}. Then one per
    account with collateral or P&L but no positions, sorted by id: margins 0, so its state is
    ``liquidation`` when its equity is below 0, else ``ok``; not searched (no margin to move):
    each distance 0 when it is in that state, else None."""
    book = plain_ids(to_table(positions, "positions"))  # filter has no string_view kernel (Polars)
    inst = to_table(instruments, "instruments")
    asset_table = read_assets(assets)
    id_type = book.schema.field("account_id").type if "account_id" in book.column_names else None
    held = read_collateral(collateral, asset_table, id_type)
    unrealised = read_pnl(pnl, id_type)
    names = market.underlyings.column("underlying").to_pylist()
    base = _snapshot(book, inst, market, model)

    def rank(account: Any, factor: dict[str, float]) -> int:
        """State of ``account`` (0 ok, 1 call, 2 liquidation) with every spot times its factor."""
        rows = book.filter(pa.array([a == account for a in book.column("account_id").to_pylist()]))
        snap = _snapshot(rows, inst, _market_at(market, factor), model)
        cash = 0.0
        for asset, amount, _row in held.get(account, []):
            a = asset_table[asset]
            cash += amount * a.price * factor.get(asset, 1.0) * (1.0 - a.haircut)
        equity = cash + unrealised.get(account, 0.0) + snap["value"][account] - base["value"][account]
        return STATES.index(state_of(equity, snap["im"][account], snap["mm"][account]))

    n = max(1, math.ceil(max_move / step - 1e-12))
    grid = [min(max_move, k * step) for k in range(1, n + 1)]
    out = []
    for account in base["im"]:
        cash = 0.0
        for asset, amount, _row in held.get(account, []):
            a = asset_table[asset]
            cash += amount * a.price * (1.0 - a.haircut)
        equity = cash + unrealised.get(account, 0.0)
        now = STATES.index(state_of(equity, base["im"][account], base["mm"][account]))
        distances = {}
        for which in [*names, "ALL"]:
            for direction, sign in (("down", -1.0), ("up", 1.0)):

                def factor(m: float, which: str = which, sign: float = sign) -> dict[str, float]:
                    return {u: 1.0 + sign * m for u in (names if which == "ALL" else [which])}

                found: list[float | None] = []
                for target in (1, 2):
                    if now >= target:
                        found.append(0.0)
                        continue
                    k = next((k for k, m in enumerate(grid) if rank(account, factor(m)) >= target), None)
                    if k is None:
                        found.append(None)
                        continue
                    lo, hi = (grid[k - 1] if k else 0.0), grid[k]
                    while hi - lo > tolerance:
                        mid = 0.5 * (lo + hi)
                        if rank(account, factor(mid)) >= target:
                            hi = mid
                        else:
                            lo = mid
                    found.append(hi)
                distances[(which, direction)] = (found[0], found[1])
        out.append({"account_id": account, "equity": equity, "state": STATES[now], "distances": distances})
    flat = {*held, *unrealised} - set(base["im"])
    for account in sorted(flat, key=lambda a: (type(a).__name__, a)):
        cash = 0.0
        for asset, amount, _row in held.get(account, []):
            a = asset_table[asset]
            cash += amount * a.price * (1.0 - a.haircut)
        equity = cash + unrealised.get(account, 0.0)
        now = STATES.index(state_of(equity, 0.0, 0.0))
        fixed = (0.0 if now >= 1 else None, 0.0 if now >= 2 else None)
        distances = {(which, direction): fixed for which in [*names, "ALL"] for direction in ("down", "up")}
        out.append({"account_id": account, "equity": equity, "state": STATES[now], "distances": distances})
    return out
