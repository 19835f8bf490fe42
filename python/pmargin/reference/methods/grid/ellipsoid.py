"""The joint moves of ``cross="correlation"`` (``docs/methods.md``, "Correlation aggregation on the
grid"): one grid price shock per held underlying inside the correlation ellipsoid
``{x = L u : |u| <= 1}`` (``x`` = price shock / the grid's largest ``|shock|``, ``L`` the
semi-definite Cholesky factor of the held underlyings' correlations), plus moves where some
underlyings sit out (take their most favourable shock) because no shock of theirs completes the
others' move. They depend only on the held set and the grid. The correlation's names are split
once, from the matrix and the grid alone, into blocks whose enumeration fits :data:`MAX_NODES`
admissible prefixes (:func:`partition`); a held set is enumerated block by block, so a tiny
position never moves a block boundary.

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
    """Moves of held positions ``start .. start + len`` (rank order: :func:`partition`): tuples of price-shock
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
    matrix: tuple[tuple[float, ...], ...], members: tuple[int, ...], x: tuple[float, ...], start: int
) -> list[Block]:
    """The moves of a block's held ``members`` (matrix indices, block order), exact: part of a block
    enumerates within the block's budget. One member moves everywhere."""
    every = tuple((p,) for p in range(len(x)))
    if len(members) == 1:
        return [Block(start, 1, every)]
    moves = enumerate_moves(matrix, members, x)
    if moves is None:  # not reached; one block per member is the conservative bound regardless
        return [Block(start + j, 1, every) for j in range(len(members))]
    return [Block(start, len(members), tuple(moves))]


@lru_cache(maxsize=64)
def partition(
    names: tuple[str, ...], matrix: tuple[tuple[float, ...], ...], x: tuple[float, ...]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(order, block): the matrix indices in block order and the block of each place. Pairs by
    decreasing ``|rho|`` (ties by their names), two blocks merged when the union's enumeration
    (names sorted) fits the budget; names sorted within a block, blocks by their first name, so
    the order in which the matrix lists its names changes nothing."""
    n = len(names)
    pairs = [(i, j) if names[i] <= names[j] else (j, i) for i in range(n) for j in range(i + 1, n)]
    pairs.sort(key=lambda p: (-abs(matrix[p[0]][p[1]]), names[p[0]], names[p[1]]))
    blocks: list[list[int]] = [[i] for i in range(n)]
    ident = list(range(n))
    failed: set[tuple[int, int]] = set()  # blocks only grow: a pair that failed always would
    for i, j in pairs:
        a, b = min(ident[i], ident[j]), max(ident[i], ident[j])
        if a == b or (a, b) in failed:
            continue
        union = sorted(blocks[a] + blocks[b], key=lambda m: names[m])
        if enumerate_moves(matrix, tuple(union), x) is not None:
            for m in union:
                ident[m] = len(blocks)
            blocks[a], blocks[b] = [], []
            blocks.append(union)
        else:
            failed.add((a, b))
    ordered = sorted((bl for bl in blocks if bl), key=lambda bl: names[bl[0]])
    order = tuple(m for bl in ordered for m in bl)
    block = tuple(c for c, bl in enumerate(ordered) for _ in bl)
    return order, block


@lru_cache(maxsize=256)
def joint_moves(
    matrix: tuple[tuple[float, ...], ...],
    held: tuple[int, ...],
    x: tuple[float, ...],
    order: tuple[int, ...],
    block: tuple[int, ...],
) -> list[Block]:
    """The blocks of the held set ``held`` (sorted ranks: places in ``order``, :func:`partition`):
    each run of held ranks in one block enumerated exactly."""
    out: list[Block] = []
    start = 0
    while start < len(held):
        end = start
        while end < len(held) and block[held[end]] == block[held[start]]:
            end += 1
        out += _plan(matrix, tuple(order[r] for r in held[start:end]), x, start)
        start = end
    return out
