"""The joint moves of ``cross="correlation"`` (``docs/methods.md``, "Correlation aggregation on the
grid"): one grid price shock per held underlying inside the correlation ellipsoid
``{x = L u : |u| <= 1}`` (``x`` = price shock / the grid's largest ``|shock|``, ``L`` the
semi-definite Cholesky factor of the held underlyings' correlations), plus moves where some
underlyings sit out (take their most favourable shock) because no shock of theirs completes the
others' move. They depend only on the held set and the grid. A held set whose enumeration fits
:data:`MAX_NODES` admissible prefixes is exact; over it, the held set is enumerated block by block,
the blocks being the correlation's names split once, from the matrix and the grid alone
(:func:`partition`), so which names an account holds never moves a block boundary.

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
    """Moves of some of a held set's underlyings: ``members`` are places in the held set (name
    order); tuples of price-shock indices, ``free`` (the number of price shocks) for an underlying
    sitting out."""

    members: tuple[int, ...]
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


@lru_cache(maxsize=64)
def partition(names: tuple[str, ...], matrix: tuple[tuple[float, ...], ...], x: tuple[float, ...]) -> tuple[int, ...]:
    """The block of each matrix index, blocks numbered by their first name. Pairs by decreasing
    ``|rho|`` (ties by their names), two blocks merged when the union's enumeration (names sorted)
    fits the budget: from the matrix and the grid alone, whatever the order the matrix lists its
    names in."""
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
    of = [0] * n
    for c, bl in enumerate(sorted((bl for bl in blocks if bl), key=lambda bl: names[bl[0]])):
        for m in bl:
            of[m] = c
    return tuple(of)


@lru_cache(maxsize=256)
def joint_moves(
    names: tuple[str, ...], matrix: tuple[tuple[float, ...], ...], held: tuple[int, ...], x: tuple[float, ...]
) -> list[Block]:
    """The blocks of the held set ``held`` (matrix indices in name order): one exact block when its
    enumeration fits the budget, else one per :func:`partition` block it holds names of, in block
    order (part of a block visits part of the block's prefixes, so it fits; one block per member
    would be the conservative bound regardless)."""
    every = tuple((p,) for p in range(len(x)))
    n = len(held)
    if n == 1:
        return [Block((0,), every)]
    moves = enumerate_moves(matrix, held, x)
    if moves is not None:
        return [Block(tuple(range(n)), tuple(moves))]
    of = partition(names, matrix, x)
    out: list[Block] = []
    for c in sorted({of[i] for i in held}):
        members = tuple(j for j in range(n) if of[held[j]] == c)
        sub = enumerate_moves(matrix, tuple(held[j] for j in members), x) if len(members) > 1 else None
        if len(members) == 1:
            out.append(Block(members, every))
        elif sub is None:
            out += [Block((j,), every) for j in members]
        else:
            out.append(Block(members, tuple(sub)))
    return out
