"""Liquidation cascade (docs/accounts.md, "Cascade"): a market-wide shock, liquidation of the
accounts below maintenance, market impact of their forced sales, and the revaluation of every
other account, round after round."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MarginInputError, shown
from ..io import to_table
from ..limits import Limits
from ..market import Market
from ..run_source import plain_ids
from ..types import AnyModel, TableLike
from .collateral import (
    Asset,
    Holding,
    account_equity,
    collateral_value,
    is_real,
    read_assets,
    read_collateral,
    read_pnl,
)
from .moves import moved_market

IMPACTS = ("sqrt", "linear")
#: The relative price move of selling ``depth`` notional of an underlying at once.
DEFAULT_IMPACT_COEFFICIENT = 0.1
#: The largest fall one round's sales can cause (prices stay positive).
MAX_FALL = 0.99


class CascadeResult(NamedTuple):
    """``rounds``: per round and underlying ``round``, ``underlying``, ``price`` (at the round's
    start), ``notional_sold`` (delta notional the round's liquidations sell; negative: buy),
    ``impact`` (relative price move it causes), ``price_after``, ``accounts_liquidated`` (count).
    ``accounts``: per account ``account_id``, ``liquidated_round`` (null when it survives),
    ``equity`` (final: at its liquidation prices, or at the final prices), ``shortfall``
    (max(0, -equity): bad debt). ``total_shortfall``: their sum."""

    rounds: pa.Table
    accounts: pa.Table
    total_shortfall: float


class Snapshot(NamedTuple):
    """Per account under one market: margins, the book's value and cash delta per underlying."""

    initial: dict[Any, float]
    maintenance: dict[Any, float]
    value: dict[Any, float]
    cash_delta: dict[Any, dict[str, float]]


Valuer = Callable[[pa.Table, Market], Snapshot]


def impact_move(notional: float, depth: float, impact: str, coefficient: float) -> float:
    """Relative price move of selling ``notional`` (negative: buying) into ``depth``:
    ``-sign(notional) x coefficient x f(|notional| / depth)``, f = sqrt or identity, a fall
    capped at ``MAX_FALL``."""
    if notional == 0.0:
        return 0.0
    x = abs(notional) / depth
    f = math.sqrt(x) if impact == "sqrt" else x
    # A price cannot fall by 100% or more in one round: the fall is capped at MAX_FALL.
    return max(-MAX_FALL, -math.copysign(coefficient * f, notional))


def native_valuer(instruments: pa.Table, model: AnyModel | None, limits: Limits | None) -> Valuer:
    from ..engine import MarginEngine

    def value(positions: pa.Table, market: Market) -> Snapshot:
        engine = MarginEngine(instruments, market, model, limits=limits)
        accounts = engine.margin(positions).accounts
        ids = accounts.column("account_id").to_pylist()
        greeks = engine.greeks(positions)
        by = greeks.positions.group_by("account_id").aggregate([("value", "sum")])
        values = dict.fromkeys(ids, 0.0)
        values.update(zip(by.column("account_id").to_pylist(), by.column("value_sum").to_pylist(), strict=True))
        deltas: dict[Any, dict[str, float]] = {a: {} for a in ids}
        u = greeks.by_underlying
        for a, name, cd in zip(
            *(u.column(c).to_pylist() for c in ("account_id", "underlying", "cash_delta")), strict=True
        ):
            deltas[a][name] = cd
        return Snapshot(
            dict(zip(ids, accounts.column("initial_margin").to_pylist(), strict=True)),
            dict(zip(ids, accounts.column("maintenance_margin").to_pylist(), strict=True)),
            values,
            deltas,
        )

    return value


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {shown(value)}"


def _per_underlying(value: Any, argument: str, names: list[str]) -> dict[Any, Any]:
    """One number for every underlying, or a mapping ``{underlying: number}``."""
    if is_real(value):
        return dict.fromkeys(names, value)
    if isinstance(value, Mapping):
        return dict(value)
    raise MarginInputError(
        f"must be a number or a mapping {{underlying: number}}, got {_shown(value)}", table="cascade", column=argument
    )


def check_cascade_args(
    shock: float | Mapping[str, float],
    depth: float | Mapping[str, float],
    impact: str,
    max_rounds: int,
    coefficient: float,
    names: list[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """The shock and the depth per underlying, as floats; errors name the argument and value.
    Numbers may be Python or NumPy reals (np.float32 included), not bools or text."""
    shocks = _per_underlying(shock, "shock", names)
    for name, s in shocks.items():
        if not (is_real(s) and math.isfinite(float(s)) and float(s) > -1.0):
            raise MarginInputError(f"must be a number above -1, got {_shown(s)}", table="cascade", column="shock")
        if name not in names:
            raise MarginInputError(f"unknown underlying {name!r}", table="cascade", column="shock")
    depths = _per_underlying(depth, "depth", names)
    for name in names:
        d = depths.get(name)
        if not (is_real(d) and math.isfinite(float(d)) and float(d) > 0):
            raise MarginInputError(
                f"underlying {name!r} needs a positive depth, got {'nothing' if d is None else _shown(d)}",
                table="cascade",
                column="depth",
            )
    if not (isinstance(impact, str) and impact in IMPACTS):
        raise MarginInputError(f"must be 'sqrt' or 'linear', got {impact!r}", table="cascade", column="impact")
    if not (isinstance(max_rounds, numbers.Integral) and not isinstance(max_rounds, bool) and max_rounds >= 1):
        raise MarginInputError(f"must be an integer >= 1, got {max_rounds!r}", table="cascade", column="max_rounds")
    if not (is_real(coefficient) and math.isfinite(float(coefficient)) and 0 < float(coefficient) < 1):
        raise MarginInputError(f"must be in (0, 1), got {coefficient!r}", table="cascade", column="coefficient")
    return {n: float(shocks.get(n, 0.0)) for n in names}, {n: float(depths[n]) for n in names}


def run_cascade(
    positions: pa.Table,
    market: Market,
    valuer: Valuer,
    collateral: dict[Any, list[Holding]],
    assets: dict[str, Asset],
    pnl: dict[Any, float],
    shocks: dict[str, float],
    depth: Mapping[str, float],
    impact: str,
    max_rounds: int,
    coefficient: float,
) -> CascadeResult:
    """The cascade loop, shared by every valuer (docs/accounts.md)."""
    names = list(shocks)
    spot0 = dict(
        zip(
            market.underlyings.column("underlying").to_pylist(),
            market.underlyings.column("spot").to_pylist(),
            strict=True,
        )
    )
    base = valuer(positions, market)
    # Collateral and P&L rows of accounts without positions are not read: such an account keeps
    # its collateral and takes no part in the cascade (docs/accounts.md).
    ids = list(base.initial)
    factor = {n: 1.0 + shocks[n] for n in names}  # price / base spot

    def equity(a: Any, snap: Snapshot, f: Mapping[str, float]) -> float:
        moves = {n: f[n] - 1.0 for n in names}
        held = collateral_value(collateral.get(a, []), assets, moves)
        return account_equity(a, held, pnl.get(a, 0.0), snap.value[a] - base.value[a])

    liquidated: dict[Any, int] = {}
    final_equity: dict[Any, float] = {}
    rows: list[dict[str, Any]] = []
    alive = positions
    for r in range(1, max_rounds + 1):
        snap = valuer(alive, moved_market(market, {n: factor[n] - 1.0 for n in names}))
        out = [
            a
            for a in ids
            if a not in liquidated and a in snap.initial and equity(a, snap, factor) < snap.maintenance[a]
        ]
        if not out:
            break
        sold = {n: math.fsum(snap.cash_delta[a].get(n, 0.0) for a in out) for n in names}
        after = {n: factor[n] * (1.0 + impact_move(sold[n], depth[n], impact, coefficient)) for n in names}
        # The liquidated books close at the impacted prices.
        closing = valuer(
            alive.filter(
                pc.is_in(alive.column("account_id"), value_set=pa.array(out, alive.schema.field("account_id").type))
            ),
            moved_market(market, {n: after[n] - 1.0 for n in names}),
        )
        for a in out:
            liquidated[a] = r
            final_equity[a] = equity(a, closing, after)
        for n in names:
            rows.append(
                {
                    "round": r,
                    "underlying": n,
                    "price": spot0[n] * factor[n],
                    "notional_sold": sold[n],
                    "impact": after[n] / factor[n] - 1.0,
                    "price_after": spot0[n] * after[n],
                    "accounts_liquidated": len(out),
                }
            )
        factor = after
        alive = alive.filter(
            pc.invert(
                pc.is_in(alive.column("account_id"), value_set=pa.array(out, alive.schema.field("account_id").type))
            )
        )
    last = valuer(alive, moved_market(market, {n: factor[n] - 1.0 for n in names}))
    for a in ids:
        if a not in liquidated:
            final_equity[a] = equity(a, last, factor) if a in last.value else equity(a, base, factor)
    id_type = positions.schema.field("account_id").type
    shortfall = [max(0.0, -final_equity[a]) for a in ids]
    return CascadeResult(
        pa.table(
            {
                "round": pa.array([x["round"] for x in rows], pa.int32()),
                "underlying": pa.array([x["underlying"] for x in rows], pa.string()),
                "price": pa.array([x["price"] for x in rows], pa.float64()),
                "notional_sold": pa.array([x["notional_sold"] for x in rows], pa.float64()),
                "impact": pa.array([x["impact"] for x in rows], pa.float64()),
                "price_after": pa.array([x["price_after"] for x in rows], pa.float64()),
                "accounts_liquidated": pa.array([x["accounts_liquidated"] for x in rows], pa.int64()),
            }
        ),
        pa.table(
            {
                "account_id": pa.array(ids, id_type),
                "liquidated_round": pa.array([liquidated.get(a) for a in ids], pa.int32()),
                "equity": pa.array([final_equity[a] for a in ids], pa.float64()),
                "shortfall": pa.array(shortfall, pa.float64()),
            }
        ),
        math.fsum(shortfall),
    )


def cascade(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    model: AnyModel | None = None,
    collateral: TableLike | None = None,
    assets: TableLike | Mapping[str, tuple[float, float]] | None = None,
    *,
    shock: float | Mapping[str, float] = -0.2,
    depth: float | Mapping[str, float],
    impact: str = "sqrt",
    coefficient: float = DEFAULT_IMPACT_COEFFICIENT,
    max_rounds: int = 10,
    pnl: TableLike | Mapping[Any, float] | None = None,
    limits: Limits | None = None,
) -> CascadeResult:
    """Shock every underlying by ``shock`` (or per underlying), then repeat until no account is
    newly below maintenance or ``max_rounds``: liquidate the accounts with equity < maintenance
    margin (re-margined under the round's prices), sell their delta notional per underlying,
    move each price by ``-sign x coefficient x f(|notional sold| / depth)`` (``impact="sqrt"``:
    f = square root; ``"linear"``: f = identity), close their books at the moved prices and
    revalue everyone else there. ``depth`` per underlying (a mapping, or one number for all) is
    the notional whose sale moves the price by ``coefficient`` (10% by default). Numbers may be
    Python or NumPy reals. Deterministic: accounts in first-seen order, sums correctly rounded.
    Collateral and P&L ids are matched to the positions' (docs/accounts.md). An account with
    collateral or P&L rows but no positions is not an error: it keeps its collateral, is never
    liquidated (no margin, no book to close) and sells nothing, so it is not in ``accounts``."""
    # Id columns as plain strings: pyarrow's is_in and filter have no string_view kernel (Polars).
    table = plain_ids(to_table(positions, "positions"))
    instrument_table = to_table(instruments, "instruments")
    names = [u for u in market.underlyings.column("underlying").to_pylist() if u is not None]
    shocks, depths = check_cascade_args(shock, depth, impact, max_rounds, coefficient, names)
    max_rounds, coefficient = int(max_rounds), float(coefficient)  # NumPy scalars as Python numbers
    asset_table = read_assets(assets)
    # Other tables' ids are matched to the positions' (the engine's accounts have their type).
    id_type = table.schema.field("account_id").type if "account_id" in table.column_names else None
    return run_cascade(
        table,
        market,
        native_valuer(instrument_table, model, limits),
        read_collateral(collateral, asset_table, id_type),
        asset_table,
        read_pnl(pnl, id_type),
        shocks,
        depths,
        impact,
        max_rounds,
        coefficient,
    )
