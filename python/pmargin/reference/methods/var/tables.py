"""The result tables of a VaR / ES model (``accounts``, ``by_underlying``, the normal window's
scenario matrix), with the schema the native core produces.

Mirrors: rust/pmargin-core/src/methods/var/tables.rs
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from ...output.arrow import F64, account_ids, benefit
from ...scenarios import Window
from .aggregate import MeasureAccount, MeasureModel


def measure_accounts_table(
    accounts: Sequence[MeasureAccount], id_column: pa.ChunkedArray, windows: Sequence[Window], model: MeasureModel
) -> pa.Table:
    """``accounts`` of a VaR / ES model (see :class:`~pmargin.result.MarginResult`)."""
    initial: list[float] = []
    undiversified: list[float] = []
    scenario: list[int | None] = []
    label: list[str | None] = []
    tails: list[list[int]] = []
    binding: list[str | None] = []
    for acc in accounts:
        margin, w = acc.binding()
        initial.append(margin)
        undiversified.append(acc.undiversified())
        s, tail = acc.windows[w].total.reported(model.measure)
        scenario.append(s)
        label.append(None if s is None else windows[w].labels[s])
        tails.append(tail if model.measure == "var" else tail[: _cap(model.tail_scenarios)])
        binding.append(windows[w].name if len(windows) > 1 else None)
    gross = [a.gross for a in accounts]
    columns = {
        "account_id": account_ids(id_column, [a.first_row for a in accounts]),
        "initial_margin": pa.array(initial, F64),
        "maintenance_margin": pa.array([model.mm_ratio * m for m in initial], F64),
        "gross_margin": pa.array(gross, F64),
        "undiversified_margin": pa.array(undiversified, F64),
        "netting_benefit": pa.array([benefit(g, m) for g, m in zip(gross, initial, strict=True)], F64),
        "cross_underlying_benefit": pa.array([benefit(u, m) for u, m in zip(undiversified, initial, strict=True)], F64),
        "measure_scenario": pa.array(scenario, pa.int32()),
        "measure_scenario_label": pa.array(label, pa.string()),
    }
    if model.tail_scenarios is not False:
        columns["tail_scenarios"] = pa.array(tails, pa.list_(pa.int32()))
    columns["binding_window"] = pa.array(binding, pa.string())
    return pa.table(columns)


def _cap(tail_scenarios: bool | int) -> int | None:
    """How many of an ES tail the ``tail_scenarios`` column lists (None: all)."""
    return None if tail_scenarios is True or tail_scenarios is False else tail_scenarios


def measure_by_underlying_table(
    accounts: Sequence[MeasureAccount], id_column: pa.ChunkedArray, windows: Sequence[Window], measure: str
) -> pa.Table:
    """``by_underlying`` of a VaR / ES model: per account and underlying held (first-seen)."""
    rows: list[int] = []
    names: list[str] = []
    requirement: list[float] = []
    scenario: list[int | None] = []
    label: list[str | None] = []
    for acc in accounts:
        for k, u in enumerate(acc.underlyings):
            margin, w = acc.underlying_binding(k)
            s, _ = acc.windows[w].per_underlying[k].reported(measure)
            rows.append(acc.first_row)
            names.append(u)
            requirement.append(margin)
            scenario.append(s)
            label.append(None if s is None else windows[w].labels[s])
    return pa.table(
        {
            "account_id": account_ids(id_column, rows),
            "underlying": pa.array(names, pa.string()),
            "requirement": pa.array(requirement, F64),
            "measure_scenario": pa.array(scenario, pa.int32()),
            "measure_scenario_label": pa.array(label, pa.string()),
        }
    )


def scenario_matrix_of(accounts: Sequence[MeasureAccount], window: Window) -> Callable[[int], pa.Table]:
    """The drill-down of the normal window: ``scenario``, ``label``, one P&L column per
    underlying held (first-seen) and ``total``."""

    def matrix(index: int) -> pa.Table:
        acc = accounts[index]
        table = pa.table(
            {
                "scenario": pa.array(range(window.n), pa.int32()),
                "label": pa.array(window.labels, pa.string()),
            }
        )
        for u, pnl in zip(acc.underlyings, acc.pnl, strict=True):
            table = table.append_column(pa.field(u, F64), pa.array(pnl, F64))
        return table.append_column(pa.field("total", F64), pa.array(acc.total, F64))

    return matrix
