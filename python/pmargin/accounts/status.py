"""Account status: equity against margins, state, and the distance to a margin call and to
liquidation found by a root search on the engine (docs/accounts.md, "Status")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import pyarrow as pa

from ..account_state import STATES, margin_ratio, state_of
from ..errors import MarginInputError
from ..run_source import RunSource, plain_column, source_of
from ..types import TableLike
from .collateral import (
    Asset,
    Holding,
    account_equity,
    accounts_without_positions,
    collateral_value,
    read_assets,
    read_collateral,
    read_pnl,
)
from .moves import account_rows, held_instruments, moved_market, value_accounts, value_one

ALL = "ALL"
#: Default search: a 1% scan up to 95%, then bisection to 1e-4 (0.01% of spot).
DEFAULT_MAX_MOVE, DEFAULT_STEP, DEFAULT_TOLERANCE = 0.95, 0.01, 1e-4


class StatusResult(NamedTuple):
    """``accounts``: one row per account of the result, then one per account with collateral or
    P&L rows but no positions (sorted by id; margins 0). ``distances``: per account, direction
    (an underlying or ``ALL``, ``down`` or ``up``) the smallest move to each state."""

    accounts: pa.Table
    distances: pa.Table


class _Books:
    """Equity and margins of accounts under moved markets."""

    def __init__(
        self,
        src: RunSource,
        collateral: dict[Any, list[Holding]],
        assets: dict[str, Asset],
        pnl: dict[Any, float],
    ):
        self.src, self.collateral, self.assets, self.pnl = src, collateral, assets, pnl
        base = value_accounts(src.engine, src.positions, src.instruments, src.market, src.model, src.limits)
        self.base_value = base.value
        self.base = base
        self._small: dict[Any, tuple[pa.Table, pa.Table]] = {}
        self._base_one: dict[Any, float] = {}

    def equity(self, account: Any, moves: Mapping[str, float], value: float) -> float:
        rows = self.collateral.get(account, [])
        pnl_move = value - self.base_value.get(account, 0.0)
        return account_equity(account, collateral_value(rows, self.assets, moves), self.pnl.get(account, 0.0), pnl_move)

    def rank_all(self, moves: Mapping[str, float]) -> dict[Any, int]:
        """State rank (0 ok, 1 call, 2 liquidation) of every account under ``moves``."""
        v = value_accounts(
            self.src.engine,
            self.src.positions,
            self.src.instruments,
            moved_market(self.src.market, moves),
            self.src.model,
            self.src.limits,
        )
        return {
            a: STATES.index(state_of(self.equity(a, moves, v.value[a]), v.initial[a], v.maintenance[a]))
            for a in v.initial
        }

    def rank_one(self, account: Any, moves: Mapping[str, float]) -> int:
        if account not in self._small:
            rows = account_rows(self.src.positions, account)
            self._small[account] = (rows, held_instruments(self.src.instruments, rows))
            self._base_one[account] = self._value_one(account, {})[2]
        initial, maintenance, value = self._value_one(account, moves)
        # The P&L of the move, from the same valuation path at both ends.
        equity = self.equity(account, moves, self.base_value.get(account, 0.0) + value - self._base_one[account])
        return STATES.index(state_of(equity, initial, maintenance))

    def _value_one(self, account: Any, moves: Mapping[str, float]) -> tuple[float, float, float]:
        rows, instruments = self._small[account]
        ids = rows.column("instrument_id").to_pylist()
        quantities = rows.column("quantity").to_pylist()
        market = moved_market(self.src.market, moves)
        return value_one(self.src.engine, ids, quantities, instruments, market, self.src.model, self.src.limits)


def _moves(underlyings: list[str], which: str, signed: float) -> dict[str, float]:
    return dict.fromkeys(underlyings if which == ALL else [which], signed)


def _check_search(max_move: float, step: float, tolerance: float) -> None:
    for name, x in (("max_move", max_move), ("step", step), ("tolerance", tolerance)):
        if not (isinstance(x, int | float) and math.isfinite(x) and x > 0):
            raise MarginInputError(f"must be a positive number, got {x!r}", table="status", column=name)
    if max_move >= 1.0:
        raise MarginInputError(
            f"must be below 1 (a fall of 100% or more), got {max_move}", table="status", column="max_move"
        )


def status(
    result: Any,
    collateral: TableLike | None = None,
    assets: TableLike | Mapping[str, tuple[float, float]] | None = None,
    *,
    pnl: TableLike | Mapping[Any, float] | None = None,
    distances: bool = True,
    max_move: float = DEFAULT_MAX_MOVE,
    step: float = DEFAULT_STEP,
    tolerance: float = DEFAULT_TOLERANCE,
) -> StatusResult:
    """Per account ``equity``, ``initial_margin``, ``maintenance_margin``, ``excess`` (equity -
    IM), ``margin_ratio`` (MM / equity; null when equity <= 0), ``state`` (``ok``,
    ``margin_call``, ``liquidation``), and with ``distances`` ``distance_to_call`` /
    ``distance_to_liquidation`` (the smallest move, as a fraction of spot, of one underlying or
    of all together, up or down, that puts the account into that state or worse: 0 when it is
    there already, null when no move up to ``max_move`` does) with ``call_move`` /
    ``liquidation_move`` naming it (``"BTC down"``, ``"ALL up"``).

    The search scans moves of ``step`` up to ``max_move`` re-margining the whole book under each
    moved market, then bisects the first bracket where the state is reached until it is narrower
    than ``tolerance``: the distance returned is the bracket's upper end (the state is reached
    there) and the true first crossing lies within ``tolerance`` below it. A state entered and
    left again between two scan points is not seen.

    An account with collateral or P&L rows but no positions (a cash-only or flat account of a
    balances file) is not an error: it follows the margined accounts (sorted by id) with both
    margins 0, ``equity`` its collateral + P&L, ``excess`` = equity, the state by the same rule
    (``liquidation`` when equity < 0, else ``ok``) and the margin ratio by the same rule (0 when
    equity > 0, else null). It has no margin to move, so it is not searched: its distances are 0
    for a state it is in, else null (even when its collateral is named like an underlying).
    """
    _check_search(max_move, step, tolerance)
    src = source_of(result)
    failed = getattr(result, "failed", None)
    if failed is not None and failed.num_rows:
        # A run with on_error="isolate": only the accounts it margined.
        import dataclasses

        import pyarrow.compute as pc

        failed_ids = plain_column(failed.column("account_id"))
        kept = pc.invert(pc.is_in(src.positions.column("account_id"), value_set=failed_ids))
        src = dataclasses.replace(src, positions=src.positions.filter(kept))
    accounts = result.accounts
    ids = accounts.column("account_id").to_pylist()
    id_type = accounts.schema.field("account_id").type
    asset_table = read_assets(assets)
    held, unrealised = read_collateral(collateral, asset_table, id_type), read_pnl(pnl, id_type)
    # Accounts without positions follow, margins 0; isolated accounts (on_error="isolate") have no status.
    flat = accounts_without_positions(
        held, unrealised, {*ids, *(failed.column("account_id").to_pylist() if failed is not None else [])}
    )
    books = _Books(src, held, asset_table, unrealised)
    margined = len(ids)
    im = accounts.column("initial_margin").to_pylist() + [0.0] * len(flat)
    mm = accounts.column("maintenance_margin").to_pylist() + [0.0] * len(flat)
    ids = ids + flat
    equity = [books.equity(a, {}, books.base_value.get(a, 0.0)) for a in ids]
    states = [state_of(e, i, m) for e, i, m in zip(equity, im, mm, strict=True)]
    id_column = accounts.column("account_id")
    if flat:
        id_column = pa.chunked_array([*id_column.chunks, pa.array(flat, id_type)], id_type)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "account_id": id_column,
        "equity": pa.array(equity, pa.float64()),
        "initial_margin": pa.array(im, pa.float64()),
        "maintenance_margin": pa.array(mm, pa.float64()),
        "excess": pa.array([e - i for e, i in zip(equity, im, strict=True)], pa.float64()),
        "margin_ratio": pa.array([margin_ratio(e, m) for e, m in zip(equity, mm, strict=True)], pa.float64()),
        "state": pa.array(states, pa.string()),
    }
    detail = _distance_rows(books, ids, margined, states, max_move, step, tolerance) if distances else []
    if distances:
        for name in ("call", "liquidation"):
            best: dict[Any, tuple[float, str]] = {}
            for row in detail:
                d = row[f"to_{name}"]
                if d is not None and (row["account_id"] not in best or d < best[row["account_id"]][0]):
                    best[row["account_id"]] = (d, f"{row['underlying']} {row['direction']}")
            columns[f"distance_to_{name}"] = pa.array([best.get(a, (None, None))[0] for a in ids], pa.float64())
            columns[f"{name}_move"] = pa.array([best.get(a, (None, None))[1] for a in ids], pa.string())
    distance_table = pa.table(
        {
            "account_id": pa.array([r["account_id"] for r in detail], id_type),
            "underlying": pa.array([r["underlying"] for r in detail], pa.string()),
            "direction": pa.array([r["direction"] for r in detail], pa.string()),
            "to_call": pa.array([r["to_call"] for r in detail], pa.float64()),
            "to_liquidation": pa.array([r["to_liquidation"] for r in detail], pa.float64()),
        }
    )
    return StatusResult(pa.table(columns), distance_table)


def _distance_rows(
    books: _Books, ids: list[Any], margined: int, states: list[str], max_move: float, step: float, tolerance: float
) -> list[dict[str, Any]]:
    """Distance rows of ``ids``; only the first ``margined`` (those with positions) are searched,
    the others have 0 for a state they are in and null otherwise."""
    underlyings = [u for u in books.src.market.underlyings.column("underlying").to_pylist() if u is not None]
    n = max(1, math.ceil(max_move / step - 1e-12))
    grid = [min(max_move, k * step) for k in range(1, n + 1)]
    now = {a: STATES.index(s) for a, s in zip(ids, states, strict=True)}
    rows = []
    for which in [*underlyings, ALL]:
        for direction, sign in (("down", -1.0), ("up", 1.0)):
            # First scan point where each account reaches each state (1 call, 2 liquidation).
            first: dict[tuple[Any, int], int] = {}
            for k, m in enumerate(grid):
                pending = [(a, t) for a in ids[:margined] for t in (1, 2) if now[a] < t and (a, t) not in first]
                if not pending:
                    break
                ranks = books.rank_all(_moves(underlyings, which, sign * m))
                for a, t in pending:
                    if ranks[a] >= t:
                        first[(a, t)] = k
            for a in ids:
                found: dict[int, float | None] = {}
                for t in (1, 2):
                    if now[a] >= t:
                        found[t] = 0.0
                    elif (a, t) not in first:
                        found[t] = None
                    else:
                        k = first[(a, t)]
                        lo, hi = (grid[k - 1] if k else 0.0), grid[k]
                        while hi - lo > tolerance:
                            mid = 0.5 * (lo + hi)
                            if books.rank_one(a, _moves(underlyings, which, sign * mid)) >= t:
                                hi = mid
                            else:
                                lo = mid
                        found[t] = hi
                rows.append(
                    {
                        "account_id": a,
                        "underlying": which,
                        "direction": direction,
                        "to_call": found[1],
                        "to_liquidation": found[2],
                    }
                )
    return rows
