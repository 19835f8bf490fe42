"""SPAN result tables with the schema the native core produces.

Mirrors: rust/pmargin-core/src/methods/span/tables.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ....models.span import SpanModel
from ...output.arrow import F64, account_ids, benefit
from .aggregate import AccountOutcome
from .arrays import N, label

PARTS = (
    ("scanning_risk", "scan"),
    ("intra_charge", "intra"),
    ("delivery_charge", "delivery"),
    ("inter_credit", "credit"),
    ("short_option_minimum", "short_option_minimum"),
)


def accounts_table(outcomes: Sequence[AccountOutcome], ids: pa.ChunkedArray, model: SpanModel) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "account_id": account_ids(ids, [o.first_row for o in outcomes]),
        "initial_margin": pa.array([o.initial for o in outcomes], F64),
        "maintenance_margin": pa.array([o.maintenance for o in outcomes], F64),
        "gross_margin": pa.array([o.gross for o in outcomes], F64),
        "netting_benefit": pa.array([benefit(o.gross, o.initial) for o in outcomes], F64),
    }
    for column, name in PARTS:
        columns[column] = pa.array([o.sum(name) for o in outcomes], F64)
    columns["span_requirement"] = pa.array([o.span_requirement for o in outcomes], F64)
    columns["net_option_value"] = pa.array([o.net_option_value for o in outcomes], F64)
    columns["parameter_set"] = pa.array([str(model.parameter_set)] * len(outcomes), pa.string())
    return pa.table(columns).cast(schema(ids))


def schema(ids: pa.ChunkedArray) -> pa.Schema:
    fields = [pa.field("account_id", account_ids(ids, []).type, nullable=False)]
    fields += [
        pa.field(n, F64, nullable=False)
        for n in ("initial_margin", "maintenance_margin", "gross_margin", "netting_benefit")
    ]
    fields += [pa.field(c, F64, nullable=False) for c, _ in PARTS]
    fields += [pa.field(n, F64, nullable=False) for n in ("span_requirement", "net_option_value")]
    fields.append(pa.field("parameter_set", pa.string(), nullable=False))
    return pa.schema(fields)


def by_commodity_table(outcomes: Sequence[AccountOutcome], ids: pa.ChunkedArray, model: SpanModel) -> pa.Table:
    rows = [(o.first_row, c) for o in outcomes for c in o.commodities]
    f64 = {
        "scanning_risk": "scan",
        "time_risk": "time_risk",
        "volatility_risk": "volatility_risk",
        "price_risk": "price_risk",
        "net_delta": "net_delta",
        "intra_charge": "intra",
        "delivery_charge": "delivery",
        "inter_credit": "credit",
        "short_option_minimum": "short_option_minimum",
        "total": "total",
        "net_option_value": "net_option_value",
    }
    out: dict[str, pa.Array] = {
        "account_id": account_ids(ids, [r for r, _ in rows]),
        "combined_commodity": pa.array([model.commodities[c.commodity].name for _, c in rows], pa.string()),
        "active_scenario": pa.array([None if c.active is None else c.active + 1 for _, c in rows], pa.int32()),
    }
    for column, name in f64.items():
        out[column] = pa.array([getattr(c, name) for _, c in rows], F64)
    order = ["account_id", "combined_commodity", "scanning_risk", "active_scenario", "time_risk", "volatility_risk"]
    order += ["price_risk", "net_delta", "intra_charge", "delivery_charge", "inter_credit", "short_option_minimum"]
    order += ["total", "net_option_value"]
    table = pa.table({k: out[k] for k in order})
    nullable = {"active_scenario"}
    return table.cast(pa.schema([pa.field(f.name, f.type, nullable=f.name in nullable) for f in table.schema]))


def scenario_matrix(outcome: AccountOutcome, model: SpanModel) -> pa.Table:
    """One account's loss per combined commodity under each scenario (1-based, SPAN order)."""
    columns: dict[str, pa.Array] = {
        "scenario": pa.array(range(1, N + 1), pa.int32()),
        "label": pa.array([label(s) for s in range(N)], pa.string()),
    }
    total = [0.0] * N
    for c in outcome.commodities:
        columns[model.commodities[c.commodity].name] = pa.array(c.scenarios, F64)
        total = [t + x for t, x in zip(total, c.scenarios, strict=True)]
    columns["total"] = pa.array(total, F64)
    table = pa.table(columns)
    return table.cast(pa.schema([pa.field(f.name, f.type, nullable=False) for f in table.schema]))
