"""The joint moves of ``cross="correlation"`` (``docs/methods.md``, "Correlation aggregation on the
grid"): one grid price shock per held underlying inside the correlation ellipsoid
``{x = L u : |u| <= 1}`` (``x`` = price shock / the grid's largest ``|shock|``, ``L`` the
semi-definite Cholesky factor of the held underlyings' correlations), plus moves where some
underlyings sit out (take their most favourable shock) because no shock of theirs completes the
others' move. They depend only on the held set and the grid; a held set whose enumeration passes
:data:`MAX_NODES` admissible prefixes is split into blocks in matrix order.

Mirrors: rust/pmargin-core/src/methods/grid/ellipsoid.rs
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ...scenarios.montecarlo import cholesky_lower

#: |u|^2 <= 1 + TOLERANCE, and a zero pivot's residual within TOLERANCE.
TOLERANCE = 1e-9
#: Admissible prefixes (partial and full, over every subset) one exact block may enumerate.
MAX_NODES = 100_000


@dataclass(frozen=True)
class Block:
    """Moves of held positions ``start .. start + len`` (matrix order): tuples of price-shock
    indices, ``free`` (the number of price shocks) for an underlying sitting out."""

    start: int
    len: int
    tuples: tuple[tuple[int, ...], ...]


class _OverBudget(Exception):
    pass


def scaled_shocks(price_shocks: Sequence[float]) -> tuple[float, ...]:
    """``price_shock / max |price_shock|`` (0 when every shock is 0)."""
    scale = 0.0
    for p in price_shocks:
        scale = max(scale, abs(p))
    return tuple(p / scale if scale > 0.0 else 0.0 for p in price_shocks)


def _factor(a: list[list[float]]) -> list[list[float]] | None:
    """The semi-definite lower factor, or None when a pivot is below -1e-9 (not PSD)."""
    lower = cholesky_lower(a)
    for j in range(len(a)):
        acc = 0.0
        for q in range(j):
            acc += lower[j][q] * lower[j][q]
        if a[j][j] - acc < -1e-9:
            return None
    return lower


def inside(lower: list[list[float]], x: Sequence[float], budget: list[int]) -> list[tuple[int, ...]]:
    """Grid tuples (lexicographic) inside the ellipsoid by forward substitution:
    ``u_k = (x_k - (0.0 + sum_{j<k} L_kj u_j)) / L_kk``, or 0 for a zero pivot whose residual is
    within the tolerance; a prefix with ``0.0 + u_1^2 + ...`` above ``1 + TOLERANCE`` is pruned.
    Every admissible prefix spends one unit of ``budget[0]``."""
    m = len(lower)
    out: list[tuple[int, ...]] = []
    prefix = [0] * m
    u = [0.0] * m

    def descend(k: int, norm: float) -> None:
        if k == m:
            out.append(tuple(prefix))
            return
        dot = 0.0
        for j in range(k):
            dot += lower[k][j] * u[j]
        pivot = lower[k][k]
        for p, xp in enumerate(x):
            residual = xp - dot
            if pivot > 0.0:
                uk = residual / pivot
            elif abs(residual) <= TOLERANCE:
                uk = 0.0
            else:
                continue
            reached = norm + uk * uk
            if reached > 1.0 + TOLERANCE:
                continue
            if budget[0] == 0:
                raise _OverBudget
            budget[0] -= 1
            prefix[k] = p
            u[k] = uk
            descend(k + 1, reached)

    descend(0, 0.0)
    return out


def enumerate_moves(
    matrix: tuple[tuple[float, ...], ...], held: tuple[int, ...], x: tuple[float, ...]
) -> list[tuple[int, ...]] | None:
    """Every move of ``held`` (full moves, then subsets by decreasing size, combinations in
    lexicographic order; a subset's move only when no shock of one more underlying completes
    it), or None over the budget."""
    n = len(held)
    free = len(x)
    budget = [MAX_NODES]
    out: list[tuple[int, ...]] = []
    extended: set[tuple[int, tuple[int, ...]]] = set()
    for size in range(n, 0, -1):
        projections: set[tuple[int, tuple[int, ...]]] = set()
        for members in itertools.combinations(range(n), size):
            sub = [[matrix[held[i]][held[j]] for j in members] for i in members]
            lower = _factor(sub)
            if lower is None:
                return None
            try:
                tuples = inside(lower, x, budget)
            except _OverBudget:
                return None
            mask = 0
            for i in members:
                mask |= 1 << i
            for t in tuples:
                if size < n and (mask, t) in extended:
                    continue
                full = [free] * n
                for i, p in zip(members, t, strict=True):
                    full[i] = p
                out.append(tuple(full))
            if size > 1:
                for drop in range(size):
                    for t in tuples:
                        projections.add((mask & ~(1 << members[drop]), t[:drop] + t[drop + 1 :]))
        extended = projections
    return out


def _plan(
    matrix: tuple[tuple[float, ...], ...], held: tuple[int, ...], x: tuple[float, ...], start: int
) -> list[Block]:
    n = len(held)
    if n == 0:
        return []
    if n == 1:
        return [Block(start, 1, tuple((p,) for p in range(len(x))))]
    moves = enumerate_moves(matrix, held, x)
    if moves is not None:
        return [Block(start, n, tuple(moves))]
    sizes = [1, 1] if n == 2 else [2, 1] if n == 3 else [min(3, n - i) for i in range(0, n, 3)]
    blocks: list[Block] = []
    at = 0
    for size in sizes:
        blocks += _plan(matrix, held[at : at + size], x, start + at)
        at += size
    return blocks


@lru_cache(maxsize=256)
def joint_moves(matrix: tuple[tuple[float, ...], ...], held: tuple[int, ...], x: tuple[float, ...]) -> list[Block]:
    """The blocks of the held set ``held`` (sorted matrix indices): exact when the enumeration
    fits the budget, else blocks of 3 in matrix order (3 -> 2 + 1, 2 -> 1 + 1), each planned the
    same way."""
    return _plan(matrix, held, x, 0)
