"""Cross-underlying rules of the grid that need more than a sum: the account's driving underlying
(the largest requirement) and the correlation aggregate of the requirements
(``cross="correlation"``).

Signed requirements ``r_u = -R_u`` when the worst scenario's price shock is > 0, else ``R_u``;
``T = 0.0``, then ``T += rho[i][j] * r_i * r_j`` (left to right) for i over the account's
underlyings (first-seen), j within; ``IM = min(sqrt(max(0, T)), undiversified)`` and, with
``floor_largest``, ``IM = max(IM, R_u)`` over the underlyings in order.

Mirrors: rust/pmargin-core/src/methods/grid/cross.rs
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ....models import GridModel
from .outcome import UnderlyingRisk


def largest_requirement(risks: Sequence[UnderlyingRisk]) -> UnderlyingRisk | None:
    """The underlying with the largest requirement, the first on ties; None when none is positive."""
    largest: UnderlyingRisk | None = None
    for risk in risks:
        if risk.requirement > (largest.requirement if largest is not None else 0.0):
            largest = risk
    return largest


def correlation_cross(risks: Sequence[UnderlyingRisk], model: GridModel, alone: float) -> float:
    """``cross="correlation"``: the signed requirements aggregated with the correlation matrix
    (module docstring), capped at the undiversified margin ``alone``, floored at the largest
    requirement when ``model.floor_largest``."""
    rho = model.correlation
    assert rho is not None, "cross='correlation' comes with a correlation matrix"
    shocks = model.scenario_shocks()
    signed: list[tuple[int, float]] = []
    for risk in risks:
        short = risk.worst is not None and shocks[risk.worst][0] > 0.0
        signed.append((rho.index(risk.underlying), -risk.requirement if short else risk.requirement))
    t = 0.0
    for i, ri in signed:
        for j, rj in signed:
            t += rho.matrix[i][j] * ri * rj
    initial = min(math.sqrt(max(0.0, t)), alone)
    if model.floor_largest:
        for risk in risks:
            initial = max(initial, risk.requirement)
    return initial
