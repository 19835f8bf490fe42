"""Cross-underlying rules of the grid that need more than a sum: the account's driving underlying
(the largest requirement) and ``cross="correlation"``, the largest total loss over the joint moves
of :mod:`.ellipsoid`.

Per held underlying k (account order) and vol shock v, its row is its P&L per grid scenario
followed by its largest P&L over the price shocks at v (first such shock: where it sits out).
Per block, the least of ``0.0 + row_k[p_k * nv + v]`` summed over the block's members in the
account's order, over its moves (in order) and vol shocks (inner), the first on ties; the blocks'
leasts added from 0.0 in block order (:func:`.ellipsoid.partition`) give ``least``. ``IM = min(max(0, -least), undiversified)``
and, with ``floor_largest``, ``IM = max(IM, R_u)`` over the underlyings in order.

Mirrors: rust/pmargin-core/src/methods/grid/cross.rs
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ....models import GridModel
from .ellipsoid import joint_moves, scaled_shocks
from .outcome import UnderlyingRisk


@dataclass(frozen=True)
class CorrelationOutcome:
    """Initial margin, the driving (underlying, scenario), and each underlying's scenario in the
    binding joint move (None when the margin is 0, and for all but the largest when the floor
    binds)."""

    initial: float
    worst_underlying: str | None
    worst: int | None
    binding: tuple[int | None, ...]


def largest_requirement(risks: Sequence[UnderlyingRisk]) -> UnderlyingRisk | None:
    """The underlying with the largest requirement, the first on ties; None when none is positive."""
    largest: UnderlyingRisk | None = None
    for risk in risks:
        if risk.requirement > (largest.requirement if largest is not None else 0.0):
            largest = risk
    return largest


def correlation_cross(risks: Sequence[UnderlyingRisk], model: GridModel, alone: float) -> CorrelationOutcome:
    """``cross="correlation"`` (module docstring); ``alone`` is the undiversified margin."""
    rho = model.correlation
    assert rho is not None, "cross='correlation' comes with a correlation matrix"
    nv = len(model.vol_shocks)
    n_prices = len(model.price_shocks)
    if not risks:
        return CorrelationOutcome(0.0, None, None, ())
    matrix = tuple(tuple(float(x) for x in row) for row in rho.matrix)
    names = tuple(rho.names)
    # Held underlyings in name order (their matrix index second): the listing order changes nothing.
    held = sorted((names[rho.index(r.underlying)], rho.index(r.underlying), k) for k, r in enumerate(risks))
    blocks = joint_moves(names, matrix, tuple(h[1] for h in held), scaled_shocks(model.price_shocks))
    rows: list[list[float]] = []
    favourable: list[list[int]] = []
    for r in risks:
        row = list(r.pnl)
        fav: list[int] = []
        for v in range(nv):
            best, at = row[v], 0
            for p in range(1, n_prices):
                if row[p * nv + v] > best:
                    best, at = row[p * nv + v], p
            row.append(best)
            fav.append(at)
        rows.append(row)
        favourable.append(fav)

    least_total = 0.0
    found: list[tuple[int, int] | None] = []
    for block in blocks:
        order = sorted((held[i][2], j) for j, i in enumerate(block.members))
        least, where = math.inf, None
        for t, move in enumerate(block.tuples):
            for v in range(nv):
                total = 0.0
                for k, j in order:
                    total += rows[k][move[j] * nv + v]
                if total < least:
                    least, where = total, (t, v)
        least_total += least if where is not None else 0.0
        found.append(where)

    loss = -least_total
    initial = min(loss if loss > 0.0 else 0.0, alone)
    binding: list[int | None] = [None] * len(risks)
    worst_underlying: str | None = None
    worst: int | None = None
    if initial > 0.0:
        place = {k: i for i, (_, _, k) in enumerate(held)}
        most = 0.0
        for k, r in enumerate(risks):
            i = place[k]
            b = next(c for c, bl in enumerate(blocks) if i in bl.members)
            where = found[b]
            if where is None:
                continue
            t, v = where
            p = blocks[b].tuples[t][blocks[b].members.index(i)]
            p = favourable[k][v] if p == n_prices else p
            s = p * nv + v
            binding[k] = s
            if worst is None or -r.pnl[s] > most:
                most, worst_underlying, worst = -r.pnl[s], r.underlying, s
    if model.floor_largest:
        largest = 0.0
        for r in risks:
            largest = max(largest, r.requirement)
        if largest > initial:
            initial = largest
            top = largest_requirement(risks)
            worst_underlying = top.underlying if top is not None else None
            worst = top.worst if top is not None else None
            binding = [r.worst if top is not None and r is top else None for r in risks]
    return CorrelationOutcome(initial, worst_underlying, worst, tuple(binding))
