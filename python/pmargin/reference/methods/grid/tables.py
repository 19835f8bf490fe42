"""The grid's result tables (``accounts``, ``by_underlying``, one account's scenario matrix), with
the schema the native core produces.

Mirrors: rust/pmargin-core/src/methods/grid/tables.rs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from ....models import GridModel, scenario_label
from ...output.arrow import F64, account_ids, benefit
from .outcome import AccountRisk

#: ``(price, vol)`` scale of an underlying (per-product scan ranges, :mod:`.ranges`).
Scale = tuple[float, float]


def worst_fields(
    model: GridModel, underlying: str | None, worst: int | None, scales: Mapping[str, Scale] | None = None
) -> tuple[str | None, float | None, float | None]:
    """Label, price shock and vol shock of scenario ``worst`` (all None when there is none); an
    underlying's own shocks under per-product ``scales``."""
    if worst is None:
        return None, None, None
    p, v = model.scenario_shocks()[worst]
    if underlying is not None and scales is not None:
        a, b = scales[underlying]
        p, v = p * a, v * b
    return scenario_label(underlying, p, v, model.vol_shock), p, v


def accounts_table(
    risks: Sequence[AccountRisk],
    id_column: pa.ChunkedArray,
    model: GridModel,
    scales: Mapping[str, Scale] | None = None,
) -> pa.Table:
    """``accounts``: one row per account, first-seen order."""
    worst = [worst_fields(model, r.worst_underlying, r.worst, scales) for r in risks]
    table = pa.table(
        {
            "account_id": account_ids(id_column, [r.first_row for r in risks]),
            "initial_margin": pa.array([r.initial for r in risks], F64),
            "maintenance_margin": pa.array([r.maintenance for r in risks], F64),
            "gross_margin": pa.array([r.gross for r in risks], F64),
            "worst_scenario": pa.array([w[0] for w in worst], pa.string()),
            "worst_price_shock": pa.array([w[1] for w in worst], F64),
            "worst_vol_shock": pa.array([w[2] for w in worst], F64),
            "netting_benefit": pa.array([benefit(r.gross, r.initial) for r in risks], F64),
            "cross_underlying_benefit": pa.array([benefit(r.undiversified, r.initial) for r in risks], F64),
        }
    )
    if model.has_addons:
        for name, part in (
            ("scan_margin", "scan"),
            ("calendar_charge", "calendar"),
            ("delta_shock", "delta_shock"),
            ("short_option_minimum", "short_option_minimum"),
        ):
            table = table.append_column(
                pa.field(name, F64), pa.array([getattr(r.addons, part) if r.addons else 0.0 for r in risks], F64)
            )
    return table


def by_underlying_table(
    risks: Sequence[AccountRisk],
    id_column: pa.ChunkedArray,
    model: GridModel,
    scales: Mapping[str, Scale] | None = None,
) -> pa.Table:
    """``by_underlying``: one row per (account, underlying held), accounts in order, underlyings
    first-seen within each."""
    rows = [(r.first_row, u) for r in risks for u in r.underlyings]
    worst = [worst_fields(model, u.underlying, u.worst, scales) for _, u in rows]
    table = pa.table(
        {
            "account_id": account_ids(id_column, [row for row, _ in rows]),
            "underlying": pa.array([u.underlying for _, u in rows], pa.string()),
            "requirement": pa.array([u.requirement for _, u in rows], F64),
            "worst_price_shock": pa.array([w[1] for w in worst], F64),
            "worst_vol_shock": pa.array([w[2] for w in worst], F64),
            "worst_scenario": pa.array([w[0] for w in worst], pa.string()),
        }
    )
    if model.has_addons:
        for i, name in enumerate(("calendar_charge", "delta_shock", "short_option_minimum")):
            values = [
                r.addons.per_underlying[k][i] if r.addons else 0.0 for r in risks for k in range(len(r.underlyings))
            ]
            table = table.append_column(pa.field(name, F64), pa.array(values, F64))
    return table


def scenario_matrix(risk: AccountRisk, model: GridModel) -> pa.Table:
    """One account's P&L per scenario: ``scenario``, ``price_shock``, ``vol_shock``, one column
    per underlying held (first-seen order) and ``total``."""
    table = model.scenarios()
    for u in risk.underlyings:
        table = table.append_column(pa.field(u.underlying, F64), pa.array(u.pnl, F64))
    return table.append_column(pa.field("total", F64), pa.array(risk.total, F64))
