"""TIMS result tables with the schema the native core produces.

Mirrors: rust/pmargin-core/src/methods/tims/tables.rs
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ....models.tims import TimsModel
from ...output.arrow import F64, account_ids, benefit
from .aggregate import AccountOutcome, N, point


def _non_null(table: pa.Table, nullable: tuple[str, ...] = ()) -> pa.Table:
    return table.cast(pa.schema([pa.field(f.name, f.type, nullable=f.name in nullable) for f in table.schema]))


def _sum(values: Sequence[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def accounts_table(outcomes: Sequence[AccountOutcome], ids: pa.ChunkedArray, model: TimsModel) -> pa.Table:
    return _non_null(
        pa.table(
            {
                "account_id": account_ids(ids, [o.first_row for o in outcomes]),
                "initial_margin": pa.array([o.requirement for o in outcomes], F64),
                "maintenance_margin": pa.array([o.requirement for o in outcomes], F64),
                "gross_margin": pa.array([o.gross for o in outcomes], F64),
                "netting_benefit": pa.array([benefit(o.gross, o.requirement) for o in outcomes], F64),
                "risk": pa.array([_sum([p.risk for p in o.products]) for o in outcomes], F64),
                "minimum": pa.array([_sum([p.minimum for p in o.products]) for o in outcomes], F64),
                "class_group_risk": pa.array([_sum([c.risk for c in o.classes]) for o in outcomes], F64),
                "parameter_set": pa.array([str(model.parameter_set)] * len(outcomes), pa.string()),
            }
        )
    )


def by_class_group_table(outcomes: Sequence[AccountOutcome], ids: pa.ChunkedArray, model: TimsModel) -> pa.Table:
    groups = model.class_groups()
    names = model.product_group_names()
    rows = []
    for o in outcomes:
        for c in o.classes:
            g = groups[c.class_group]
            p = next(x for x in o.products if names[x.product_group] == g.product_group)
            rows.append((o.first_row, c, p, g))
    return _non_null(
        pa.table(
            {
                "account_id": account_ids(ids, [r[0] for r in rows]),
                "underlying": pa.array([r[3].underlying for r in rows], pa.string()),
                "product_group": pa.array([r[3].product_group for r in rows], pa.string()),
                "class_group_risk": pa.array([r[1].risk for r in rows], F64),
                "worst_move": pa.array(
                    [None if r[1].worst is None else point(r[1].worst, r[3].down, r[3].up) for r in rows], F64
                ),
                "product_group_risk": pa.array([r[2].risk for r in rows], F64),
                "product_group_minimum": pa.array([r[2].minimum for r in rows], F64),
                "product_group_requirement": pa.array([r[2].requirement for r in rows], F64),
            }
        ),
        ("worst_move",),
    )


def scenario_matrix(outcome: AccountOutcome, model: TimsModel) -> pa.Table:
    groups = model.class_groups()
    columns: dict[str, pa.Array] = {"point": pa.array(range(1, N + 1), pa.int32())}
    total = [0.0] * N
    for c in outcome.classes:
        columns[groups[c.class_group].underlying] = pa.array(c.pnl, F64)
        total = [t + x for t, x in zip(total, c.pnl, strict=True)]
    columns["total"] = pa.array(total, F64)
    return _non_null(pa.table(columns))
