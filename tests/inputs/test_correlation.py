"""``pmargin.Correlation``: validation (each failure naming table, column and row), the Jacobi
eigenvalues against NumPy, PSD repair against an independent NumPy implementation of eigenvalue
clipping, and the table layout (``from_table`` / ``to_table``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pmargin.correlation import EIGENVALUE_TOLERANCE, Correlation, smallest_eigenvalue, symmetric_eigen
from pmargin.errors import MarginInputError

NAMES = ["A", "B", "C"]

VALID = [[1.0, 0.5, -0.2], [0.5, 1.0, 0.3], [-0.2, 0.3, 1.0]]

#: Eigenvalues -0.8, 1.9, 1.9: not PSD; its PSD repair is the same pattern with 0.5 (see below).
NOT_PSD = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]


def where(exc: MarginInputError) -> tuple[str | None, str | None, int | None]:
    return exc.table, exc.column, exc.row


def numpy_repair(a: list[list[float]]) -> np.ndarray:
    """Eigenvalue clipping at 0 and rescaling to a unit diagonal, with NumPy's eigh."""
    values, vectors = np.linalg.eigh(np.array(a))
    b = vectors @ np.diag(np.clip(values, 0.0, None)) @ vectors.T
    d = np.sqrt(np.diag(b))
    out: np.ndarray = b / np.outer(d, d)
    return out


def test_a_valid_matrix_keeps_its_names_and_values() -> None:
    c = Correlation(NAMES, VALID)
    assert c.names == ("A", "B", "C")
    assert c.matrix == ((1.0, 0.5, -0.2), (0.5, 1.0, 0.3), (-0.2, 0.3, 1.0))
    assert len(c) == 3
    assert [c.index(n) for n in ("C", "A", "B")] == [2, 0, 1]
    assert "B" in c and "Z" not in c
    assert c.repaired is False and c.repair_max_change == 0.0
    with pytest.raises(KeyError):
        c.index("Z")


@pytest.mark.parametrize(
    "matrix",
    [np.array(VALID), tuple(tuple(r) for r in VALID), [np.array(r) for r in VALID], [[1, 0], [0, 1]]],
    ids=["numpy", "tuples", "rows of arrays", "integers"],
)
def test_array_likes_are_accepted(matrix: Any) -> None:
    names = NAMES if len(matrix) == 3 else ["A", "B"]
    c = Correlation(names, matrix)
    assert all(isinstance(x, float) for row in c.matrix for x in row)
    assert c.matrix == tuple(tuple(float(x) for x in row) for row in np.asarray(matrix).tolist())


def test_semi_definite_matrices_are_valid() -> None:
    """Perfect correlation and anticorrelation have a zero eigenvalue: PSD, accepted as given."""
    c = Correlation(["A", "B", "C"], [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    assert c.repaired is False
    assert smallest_eigenvalue(c.matrix) == pytest.approx(0.0, abs=1e-14)


def test_tolerances_of_symmetry_and_diagonal() -> None:
    """Within 1e-12 is accepted (off-diagonal entries kept as given, the diagonal stored as
    exactly 1); beyond it is not."""
    c = Correlation(["A", "B"], [[1.0 + 5e-13, 0.5], [0.5 + 5e-13, 1.0 - 5e-13]])
    assert c.matrix == ((1.0, 0.5), (0.5 + 5e-13, 1.0))
    with pytest.raises(MarginInputError, match="not symmetric"):
        Correlation(["A", "B"], [[1.0, 0.5], [0.5 + 1e-11, 1.0]])
    with pytest.raises(MarginInputError, match="diagonal"):
        Correlation(["A", "B"], [[1.0, 0.5], [0.5, 1.0 - 1e-11]])


def test_equality_and_hash() -> None:
    assert Correlation(NAMES, VALID) == Correlation(NAMES, np.array(VALID))
    assert hash(Correlation(NAMES, VALID)) == hash(Correlation(NAMES, np.array(VALID)))
    assert Correlation(NAMES, VALID) != Correlation(["A", "C", "B"], VALID)


BAD: list[tuple[str, list[Any], Any, str, tuple[str, str | None, int | None]]] = [
    ("asymmetric", ["A", "B"], [[1.0, 0.5], [0.4, 1.0]], "not symmetric", ("correlation", "B", 0)),
    (
        "asymmetric lower",
        ["A", "B", "C"],
        [[1, 0, 0], [0, 1, 0.2], [0, 0.3, 1]],
        "not symmetric",
        ("correlation", "C", 1),
    ),
    ("diagonal not 1", ["A", "B"], [[1.0, 0.2], [0.2, 0.9]], "diagonal entry is 0.9", ("correlation", "B", 1)),
    ("above 1", ["A", "B"], [[1.0, 1.5], [1.5, 1.0]], "outside [-1, 1]", ("correlation", "B", 0)),
    (
        "below -1",
        ["A", "B", "C"],
        [[1, 0, 0], [0, 1, -1.01], [0, -1.01, 1]],
        "outside [-1, 1]",
        ("correlation", "C", 1),
    ),
    ("nan", ["A", "B"], [[1.0, math.nan], [math.nan, 1.0]], "not a finite number", ("correlation", "B", 0)),
    ("infinite diagonal", ["A", "B"], [[math.inf, 0.0], [0.0, 1.0]], "not a finite number", ("correlation", "A", 0)),
    ("not a number", ["A", "B"], [[1.0, "x"], [0.0, 1.0]], "not a number", ("correlation", "B", 0)),
    ("none", ["A", "B"], [[1.0, 0.0], [None, 1.0]], "not a number", ("correlation", "A", 1)),
    ("short row", ["A", "B"], [[1.0, 0.0], [0.0]], "row 1 has 1 entries", ("correlation", None, 1)),
    ("too few rows", ["A", "B", "C"], [[1.0, 0.0, 0.0]], "has 1 rows; 3 names need 3", ("correlation", None, None)),
    ("duplicate name", ["A", "B", "A"], VALID, "duplicate name 'A'", ("correlation", "A", 2)),
    ("name not a string", ["A", 7], [[1, 0], [0, 1]], "must be a string", ("correlation", None, 1)),
    ("no names", [], [], "at least one name", ("correlation", None, None)),
    ("not psd", NAMES, NOT_PSD, "smallest eigenvalue -0.8", ("correlation", "C", 2)),
]


@pytest.mark.parametrize(("names", "matrix", "reason", "location"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_matrices_name_table_column_and_row(
    names: list[Any], matrix: Any, reason: str, location: tuple[str, str | None, int | None]
) -> None:
    with pytest.raises(MarginInputError) as info:
        Correlation(names, matrix)
    assert where(info.value) == location
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


def test_not_psd_names_the_first_name_where_it_fails() -> None:
    """The first three names are fine (identity block); the fourth makes it indefinite."""
    m = np.eye(4)
    m[3, :3] = m[:3, 3] = [0.8, 0.8, 0.0]
    lowest = float(np.linalg.eigvalsh(m)[0])
    assert lowest < -0.1
    with pytest.raises(MarginInputError) as info:
        Correlation(["W", "X", "Y", "Z"], m)
    assert where(info.value) == ("correlation", "Z", 3)
    assert f"smallest eigenvalue {lowest:.6g}" in info.value.reason
    assert "repair=True" in info.value.reason


def test_repair_does_not_fix_other_defects() -> None:
    with pytest.raises(MarginInputError, match="not symmetric"):
        Correlation(["A", "B"], [[1.0, 0.5], [0.4, 1.0]], repair=True)


def test_repair_of_a_hand_example() -> None:
    """Clipping -0.8 to 0 leaves V diag(0, 1.9, 1.9) V' = 0.95 x [[1, .5, -.5], [.5, 1, .5], [-.5, .5, 1]],
    whose unit-diagonal rescaling moves every off-diagonal entry by exactly 0.4."""
    c = Correlation(NAMES, NOT_PSD, repair=True)
    assert c.repaired is True
    assert c.repair_max_change == pytest.approx(0.4, abs=1e-12)
    expected = [[1.0, 0.5, -0.5], [0.5, 1.0, 0.5], [-0.5, 0.5, 1.0]]
    for i in range(3):
        assert c.matrix[i][i] == 1.0
        for j in range(3):
            assert c.matrix[i][j] == pytest.approx(expected[i][j], abs=1e-12)
            assert c.matrix[i][j] == c.matrix[j][i]
    assert float(np.linalg.eigvalsh(np.array(c.matrix))[0]) >= -1e-12


def test_repair_leaves_a_valid_matrix_alone() -> None:
    c = Correlation(NAMES, VALID, repair=True)
    assert c.repaired is False and c.repair_max_change == 0.0
    assert c.matrix == Correlation(NAMES, VALID).matrix


@st.composite
def indefinite_matrices(draw: st.DrawFn) -> list[list[float]]:
    """Symmetric, unit diagonal, entries in [-1, 1], at least one eigenvalue below -1e-6."""
    d = draw(st.integers(3, 7))
    m = [[1.0] * d for _ in range(d)]
    for i in range(d):
        for j in range(i + 1, d):
            m[i][j] = m[j][i] = draw(st.floats(-1.0, 1.0))
    return m


@settings(max_examples=60, deadline=None)
@given(m=indefinite_matrices())
@example(m=[[1.0, 0.0, 1.0], [0.0, 1.0, 6.103515625e-05], [1.0, 6.103515625e-05, 1.0]])  # lowest -1.9e-9
def test_repair_gives_the_clipped_psd_unit_diagonal_matrix(m: list[list[float]]) -> None:
    lowest = float(np.linalg.eigvalsh(np.array(m))[0])
    names = [f"U{i}" for i in range(len(m))]
    if lowest >= EIGENVALUE_TOLERANCE + 1e-12:
        Correlation(names, m)  # valid as it is
        return
    if lowest > EIGENVALUE_TOLERANCE - 1e-12:
        return  # within a few ulps of the tolerance: NumPy's and Jacobi's eigenvalues may differ
    with pytest.raises(MarginInputError, match="smallest eigenvalue"):
        Correlation(names, m)
    c = Correlation(names, m, repair=True)
    got = np.array(c.matrix)
    assert c.repaired
    assert np.all(np.diag(got) == 1.0)
    assert np.array_equal(got, got.T)
    assert float(np.linalg.eigvalsh(got)[0]) >= -1e-10
    assert np.all(np.abs(got) <= 1.0)
    expected = numpy_repair(m)
    assert np.max(np.abs(got - expected)) < 1e-9
    assert c.repair_max_change == pytest.approx(float(np.max(np.abs(got - np.array(m)))), abs=1e-15)
    assert c.repair_max_change > 0.0


@pytest.mark.parametrize("d", [1, 2, 3, 6, 12, 25])
def test_jacobi_eigenvalues_match_numpy(d: int) -> None:
    rng = np.random.default_rng(d)
    for _ in range(3):
        a = rng.normal(size=(d, d))
        a = (a + a.T) / 2
        values, vectors = symmetric_eigen(a.tolist())
        assert np.allclose(np.sort(values), np.linalg.eigvalsh(a), rtol=0, atol=1e-12)
        v = np.array(vectors)
        assert np.allclose(v @ np.diag(values) @ v.T, a, rtol=0, atol=1e-12)
        assert np.allclose(v.T @ v, np.eye(d), rtol=0, atol=1e-12)


def test_from_table_follows_the_underlying_column_order() -> None:
    """Rows in any order, columns in any order: the matrix follows the ``underlying`` column."""
    table = pa.table(
        {
            "B": [0.5, 0.3, 1.0],
            "underlying": ["A", "C", "B"],
            "C": [-0.2, 1.0, 0.3],
            "A": [1.0, -0.2, 0.5],
        }
    )
    c = Correlation.from_table(table)
    assert c.names == ("A", "C", "B")
    assert c.matrix == ((1.0, -0.2, 0.5), (-0.2, 1.0, 0.3), (0.5, 0.3, 1.0))
    assert Correlation.from_table(pl.from_arrow(table)) == c
    assert Correlation.from_table(c.to_table()) == c


def test_to_table_layout() -> None:
    t = Correlation(NAMES, VALID).to_table()
    assert t.column_names == ["underlying", "A", "B", "C"]
    assert t.column("underlying").to_pylist() == NAMES
    assert t.column("C").to_pylist() == [-0.2, 0.3, 1.0]
    assert t.schema.field("A").type == pa.float64()


def test_from_table_can_repair() -> None:
    table = pa.table({"underlying": NAMES, **{n: [row[j] for row in NOT_PSD] for j, n in enumerate(NAMES)}})
    with pytest.raises(MarginInputError, match="smallest eigenvalue"):
        Correlation.from_table(table)
    assert Correlation.from_table(table, repair=True).repair_max_change == pytest.approx(0.4, abs=1e-12)


BAD_TABLES: list[tuple[str, dict[str, list[Any]], tuple[str, str | None, int | None]]] = [
    ("missing column", {"underlying": ["A", "B"], "A": [1.0, 0.0]}, ("correlation", "B", 1)),
    ("extra column", {"underlying": ["A"], "A": [1.0], "B": [0.0]}, ("correlation", "B", None)),
    ("null entry", {"underlying": ["A", "B"], "A": [1.0, None], "B": [0.0, 1.0]}, ("correlation", "A", 1)),
    ("duplicate underlying", {"underlying": ["A", "A"], "A": [1.0, 1.0]}, ("correlation", "underlying", 1)),
    ("null underlying", {"underlying": ["A", None], "A": [1.0, 0.0]}, ("correlation", "underlying", 1)),
    ("no underlying column", {"A": [1.0]}, ("correlation", "underlying", None)),
    ("asymmetric", {"underlying": ["B", "A"], "A": [0.4, 1.0], "B": [1.0, 0.5]}, ("correlation", "A", 0)),
]


@pytest.mark.parametrize(("columns", "location"), [b[1:] for b in BAD_TABLES], ids=[b[0] for b in BAD_TABLES])
def test_bad_tables_name_column_and_row(
    columns: dict[str, list[Any]], location: tuple[str, str | None, int | None]
) -> None:
    with pytest.raises(MarginInputError) as info:
        Correlation.from_table(pa.table(columns))
    assert where(info.value) == location
