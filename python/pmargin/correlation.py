"""Correlation matrices between underlyings: validation, eigenvalues and PSD repair in plain Python.

A :class:`Correlation` is validated once, when it is built, so both engines receive a matrix that
is square, finite, symmetric (to 1e-12), has a unit diagonal (to 1e-12; stored as exactly 1.0),
off-diagonal entries in [-1, 1] and no eigenvalue below -1e-10. Cells are checked row by row, and
within a cell in the order: finite, unit diagonal (diagonal cells) or in [-1, 1] (the others),
symmetric. Off-diagonal entries are kept as given. Every problem is a
:class:`~pmargin.errors.MarginInputError` with ``table="correlation"``, ``column`` the name of the
offending column and ``row`` its 0-based row.

``repair=True`` replaces a matrix that is not positive semi-definite by the nearest PSD
correlation matrix in the usual sense of eigenvalue clipping: ``C = V diag(max(lambda, 0)) V'``,
rescaled to a unit diagonal (``C_ij / sqrt(C_ii C_jj)``) and made exactly symmetric.

The eigenvalues come from a cyclic Jacobi iteration: accurate to a few ulps of the matrix norm
for the small matrices (tens of names) a correlation between underlyings has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from .errors import MarginInputError
from .io import TableLike, to_table

#: Tolerance of the symmetry and unit-diagonal checks.
ENTRY_TOLERANCE = 1e-12
#: Smallest eigenvalue allowed (a matrix above it is taken as positive semi-definite).
EIGENVALUE_TOLERANCE = -1e-10

TABLE = "correlation"
Matrix = list[list[float]]


def _fail(reason: str, column: str | None = None, row: int | None = None) -> MarginInputError:
    return MarginInputError(reason, table=TABLE, column=column, row=row)


# --- linear algebra ---------------------------------------------------------------------------


def symmetric_eigen(a: Sequence[Sequence[float]], sweeps: int = 100) -> tuple[list[float], Matrix]:
    """Eigenvalues and eigenvectors (the columns of ``V``) of a symmetric matrix, by cyclic Jacobi
    rotations: ``a = V diag(values) V'``. Values are returned in the diagonal's order (unsorted)."""
    n = len(a)
    m = [[float(x) for x in row] for row in a]
    v = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    scale = sum(x * x for row in m for x in row)
    for _ in range(sweeps):
        off = sum(m[p][q] * m[p][q] for p in range(n) for q in range(p + 1, n))
        if off <= 1e-32 * scale or off == 0.0:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = m[p][q]
                if apq == 0.0:
                    continue
                theta = (m[q][q] - m[p][p]) / (2.0 * apq)
                t = math.copysign(1.0, theta) / (abs(theta) + math.hypot(theta, 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):
                    mkp, mkq = m[k][p], m[k][q]
                    m[k][p] = c * mkp - s * mkq
                    m[k][q] = s * mkp + c * mkq
                for k in range(n):
                    mpk, mqk = m[p][k], m[q][k]
                    m[p][k] = c * mpk - s * mqk
                    m[q][k] = s * mpk + c * mqk
                m[p][q] = m[q][p] = 0.0
                for k in range(n):
                    vkp, vkq = v[k][p], v[k][q]
                    v[k][p] = c * vkp - s * vkq
                    v[k][q] = s * vkp + c * vkq
    return [m[i][i] for i in range(n)], v


def smallest_eigenvalue(a: Sequence[Sequence[float]]) -> float:
    """The smallest eigenvalue of a symmetric matrix (0.0 for an empty one)."""
    values, _ = symmetric_eigen(a)
    return min(values, default=0.0)


def clip_to_psd(a: Sequence[Sequence[float]]) -> Matrix:
    """Nearest PSD correlation matrix by eigenvalue clipping at 0, rescaling to a unit diagonal
    and exact symmetrisation (the upper triangle is copied to the lower; entries clamped to
    [-1, 1])."""
    n = len(a)
    values, v = symmetric_eigen(a)
    clipped = [max(0.0, x) for x in values]
    b = [[sum(v[i][k] * clipped[k] * v[j][k] for k in range(n)) for j in range(n)] for i in range(n)]
    out = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            denominator = math.sqrt(b[i][i] * b[j][j])
            x = b[i][j] / denominator if denominator > 0.0 else 0.0
            out[i][j] = out[j][i] = min(1.0, max(-1.0, x))
    return out


# --- validation -------------------------------------------------------------------------------


def _read_names(names: Any) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise _fail(f"names must be a sequence of strings, got {type(names).__name__}")
    out: list[str] = []
    for i, name in enumerate(names.tolist() if hasattr(names, "tolist") else names):
        if not isinstance(name, str):
            raise _fail(f"name {i} must be a string, got {name!r}", row=i)
        if name in out:
            raise _fail(f"duplicate name {name!r} (first at row {out.index(name)})", column=name, row=i)
        out.append(name)
    if not out:
        raise _fail("a correlation matrix needs at least one name")
    return tuple(out)


def _number(x: Any, column: str, row: int) -> float:
    """A real number (int, float, NumPy scalar, ...); strings, booleans and None are refused."""
    if isinstance(x, (bool, str, bytes)) or not hasattr(x, "__float__"):
        raise _fail(f"not a number: {x!r}", column=column, row=row)
    return float(x)


def _read_matrix(matrix: Any, names: tuple[str, ...]) -> Matrix:
    """Nested rows of numbers, square and as large as ``names`` (finiteness is checked later)."""
    d = len(names)
    if hasattr(matrix, "tolist"):
        matrix = matrix.tolist()
    if isinstance(matrix, (str, bytes)) or not isinstance(matrix, Iterable):
        raise _fail(f"the matrix must be a square array of numbers, got {type(matrix).__name__}")
    rows = list(matrix)
    if len(rows) != d:
        raise _fail(f"the matrix has {len(rows)} rows; {d} names need {d}")
    out: Matrix = []
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            raise _fail(f"row {i} must be a sequence of numbers, got {type(row).__name__}", row=i)
        cells = list(row)
        if len(cells) != d:
            raise _fail(f"row {i} has {len(cells)} entries; {d} names need {d}", row=i)
        out.append([_number(x, names[j], i) for j, x in enumerate(cells)])
    return out


def _check_cells(a: Matrix, names: tuple[str, ...]) -> None:
    d = len(names)
    for i in range(d):
        for j in range(d):
            x = a[i][j]
            if not math.isfinite(x):
                raise _fail(f"{x} is not a finite number", column=names[j], row=i)
            if i == j and abs(x - 1.0) > ENTRY_TOLERANCE:
                raise _fail(f"diagonal entry is {x}, not 1", column=names[j], row=i)
            if i != j and not -1.0 <= x <= 1.0:
                raise _fail(f"{x} is outside [-1, 1]", column=names[j], row=i)
            if abs(x - a[j][i]) > ENTRY_TOLERANCE:
                raise _fail(
                    f"not symmetric: {x} here, {a[j][i]} at row {j}, column {names[i]!r}", column=names[j], row=i
                )


def _psd_failure(a: Matrix, names: tuple[str, ...]) -> MarginInputError | None:
    """None when the smallest eigenvalue is >= -1e-10; else the error, naming the first name j
    whose leading (j + 1) x (j + 1) block has an eigenvalue below -1e-10."""
    lowest = smallest_eigenvalue(a)
    if lowest >= EIGENVALUE_TOLERANCE:
        return None
    # The smallest eigenvalue of the leading j x j block never rises with j (Cauchy interlacing),
    # so the first failing block is found by bisection.
    lo, at = 0, len(names) - 1
    while lo < at:
        mid = (lo + at) // 2
        if smallest_eigenvalue([row[: mid + 1] for row in a[: mid + 1]]) < EIGENVALUE_TOLERANCE:
            at = mid
        else:
            lo = mid + 1
    return _fail(
        f"not positive semi-definite: smallest eigenvalue {lowest:.6g} (it fails from name {names[at]!r} on: "
        f"the leading {at + 1} x {at + 1} block is not PSD); Correlation(..., repair=True) replaces it by the "
        "nearest PSD correlation matrix",
        column=names[at],
        row=at,
    )


class Correlation:
    """A validated correlation matrix between named underlyings.

    ``Correlation(names, matrix, repair=False)``: ``names`` unique strings, ``matrix`` a square
    array-like (nested sequences, a NumPy array) in the order of ``names``. See the module
    docstring for the checks. With ``repair=True`` a matrix that is not positive semi-definite is
    replaced by the nearest PSD correlation matrix; :attr:`repaired` says whether that happened
    and :attr:`repair_max_change` by how much (the largest absolute change of an entry).
    """

    names: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    repaired: bool
    repair_max_change: float

    def __init__(self, names: Iterable[str], matrix: Any, repair: bool = False) -> None:
        if not isinstance(repair, bool):
            raise _fail(f"repair must be True or False, got {repair!r}")
        self.names = _read_names(names)
        a = _read_matrix(matrix, self.names)
        _check_cells(a, self.names)
        for i in range(len(a)):
            a[i][i] = 1.0
        failure = _psd_failure(a, self.names)
        self.repaired = False
        self.repair_max_change = 0.0
        if failure is not None:
            if not repair:
                raise failure
            fixed = clip_to_psd(a)
            for _ in range(10):
                if _psd_failure(fixed, self.names) is None:
                    break
                fixed = clip_to_psd(fixed)
            else:
                raise failure
            self.repaired = True
            self.repair_max_change = max(abs(fixed[i][j] - a[i][j]) for i in range(len(a)) for j in range(len(a)))
            a = fixed
        self.matrix = tuple(tuple(row) for row in a)
        self._index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_table(cls, table: TableLike, repair: bool = False) -> Correlation:
        """From a table with an ``underlying`` column and one number column per name; rows in any
        order. The matrix follows the order of the ``underlying`` column, whose names must be
        exactly the other columns."""
        from .columns import read_ids, read_numbers

        t = to_table(table, TABLE)
        names = read_ids(t, TABLE, "underlying")
        columns = [c for c in t.column_names if c != "underlying"]
        for c in columns:
            if t.column_names.count(c) > 1:
                raise _fail(f"column {c!r} appears {t.column_names.count(c)} times", column=c)
        for row, name in enumerate(names):
            if name not in columns:
                raise _fail(f"underlying {name!r} has no column of its own", column=name, row=row)
        for c in columns:
            if c not in names:
                raise _fail(f"column {c!r} is not a name in the underlying column", column=c)
        by_name = {c: read_numbers(t.column(c), TABLE, c) for c in names}
        matrix = [[by_name[c][row] for c in names] for row in range(len(names))]
        return cls(names, matrix, repair=repair)

    def index(self, name: str) -> int:
        """Position of ``name`` in :attr:`names` (``KeyError`` when absent)."""
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self.names)

    def get(self, i: int, j: int) -> float:
        return self.matrix[i][j]

    def to_table(self) -> pa.Table:
        """``underlying`` then one float64 column per name (the :meth:`from_table` layout)."""
        columns: dict[str, pa.Array] = {"underlying": pa.array(self.names, pa.string())}
        for j, name in enumerate(self.names):
            columns[name] = pa.array([row[j] for row in self.matrix], pa.float64())
        return pa.table(columns)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "matrix": [list(row) for row in self.matrix]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Correlation):
            return NotImplemented
        return self.names == other.names and self.matrix == other.matrix

    def __hash__(self) -> int:
        return hash((self.names, self.matrix))

    def __repr__(self) -> str:
        repaired = f", repaired (max change {self.repair_max_change:.3g})" if self.repaired else ""
        return f"Correlation({list(self.names)}{repaired})"
