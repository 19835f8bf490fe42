"""Deribit's result tables (``accounts``, ``by_underlying`` per risk vector, one account's risk
vectors), with the schema the native core produces.

Mirrors: rust/pmargin-core/src/methods/deribit/tables.rs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from ...output.arrow import F64, account_ids
from .aggregate import AccountOutcome, RawVector, Worst, adjusted, move_of
from .matrix import EXTENDED_MOVES, VOL_NAMES, Params, moves


def ascii_lower(text: str) -> str:
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in text)


def vector_name(underlying: str, inverse: bool) -> str:
    """``<underlying>_<settlement currency>``, lower case: ``btc_btc``, ``btc_usd``."""
    u = ascii_lower(underlying)
    return f"{u}_{u}" if inverse else f"{u}_usd"


def vol_name(worst: Worst) -> str:
    return "up" if worst.extended else VOL_NAMES[worst.index % 3]


def accounts_table(outcomes: Sequence[AccountOutcome], id_column: pa.ChunkedArray, parameter_set: str) -> pa.Table:
    return pa.table(
        {
            "account_id": account_ids(id_column, [o.first_row for o in outcomes]),
            "initial_margin": pa.array([o.initial for o in outcomes], F64),
            "maintenance_margin": pa.array([o.maintenance for o in outcomes], F64),
            "worst_case": pa.array([o.worst_case for o in outcomes], F64),
            "roll_shock": pa.array([o.roll_shock for o in outcomes], F64),
            "delta_shock": pa.array([o.delta_shock for o in outcomes], F64),
            "risk_matrix_margin": pa.array([o.initial for o in outcomes], F64),
            "parameter_set": pa.array([parameter_set] * len(outcomes), pa.string()),
        }
    )


def by_underlying_table(
    outcomes: Sequence[AccountOutcome], id_column: pa.ChunkedArray, params: Mapping[str, Params]
) -> pa.Table:
    rows = [(o.first_row, v) for o in outcomes for v in o.vectors]
    vs = [v for _, v in rows]
    worst = [v.worst for v in vs]
    return pa.table(
        {
            "account_id": account_ids(id_column, [r for r, _ in rows]),
            "underlying": pa.array([v.underlying for v in vs], pa.string()),
            "settlement": pa.array(["inverse" if v.inverse else "linear" for v in vs], pa.string()),
            "currency": pa.array([v.underlying if v.inverse else "USD" for v in vs], pa.string()),
            "risk_vector": pa.array([vector_name(v.underlying, v.inverse) for v in vs], pa.string()),
            "index_price": pa.array([v.index_price for v in vs], F64),
            "worst_case": pa.array([v.worst_case for v in vs], F64),
            "roll_shock": pa.array([v.roll_shock for v in vs], F64),
            "delta_shock": pa.array([v.delta_shock for v in vs], F64),
            "risk_matrix_margin": pa.array([v.risk_matrix_margin for v in vs], F64),
            "maintenance_margin": pa.array([v.maintenance for v in vs], F64),
            "initial_margin_usd": pa.array([v.margin_usd for v in vs], F64),
            "maintenance_margin_usd": pa.array([v.maintenance_usd for v in vs], F64),
            "net_delta": pa.array([v.net_delta for v in vs], F64),
            "worst_source": pa.array(
                [None if w is None else ("extended" if w.extended else "standard") for w in worst], pa.string()
            ),
            "worst_price_move": pa.array(
                [None if w is None else move_of(params[v.params], w) for v, w in zip(vs, worst, strict=True)], F64
            ),
            "worst_vol": pa.array([None if w is None else vol_name(w) for w in worst], pa.string()),
            "worst_index": pa.array([None if w is None else w.index for w in worst], pa.int32()),
            "requirement": pa.array([v.margin_usd for v in vs], F64),
        }
    )


def scenario_matrix(raws: Sequence[RawVector], params: Mapping[str, Params], spot: Mapping[str, float]) -> pa.Table:
    """One account's risk vectors, long: ``pnl`` before the dampener and offset (Deribit's
    ``pre_aggregated_risk_vectors``), ``adjusted_pnl`` after."""
    cols: dict[str, list[object]] = {k: [] for k in ("risk_vector", "source", "index", "price_move", "vol")}
    pnl: list[float] = []
    adj: list[float] = []
    for raw in raws:
        p = params[raw.params]
        standard = moves(p)
        entries = adjusted(raw, p, spot[raw.underlying])
        for j, (x, y) in enumerate(zip(raw.pnl, entries, strict=True)):
            extended = j >= 3 * len(standard)
            k = j - 3 * len(standard) if extended else j
            cols["risk_vector"].append(vector_name(raw.underlying, raw.inverse))
            cols["source"].append("extended" if extended else "standard")
            cols["index"].append(k)
            cols["price_move"].append(EXTENDED_MOVES[k] if extended else standard[k // 3])
            cols["vol"].append("up" if extended else VOL_NAMES[k % 3])
            pnl.append(x)
            adj.append(y)
    return pa.table(
        {
            "risk_vector": pa.array(cols["risk_vector"], pa.string()),
            "source": pa.array(cols["source"], pa.string()),
            "index": pa.array(cols["index"], pa.int32()),
            "price_move": pa.array(cols["price_move"], F64),
            "vol": pa.array(cols["vol"], pa.string()),
            "pnl": pa.array(pnl, F64),
            "adjusted_pnl": pa.array(adj, F64),
        }
    )
