"""The pure-Python reference's correlation aggregation on the grid (``cross="correlation"``): a two-
and a three-asset linear book equal the hand formula, perfectly correlated offsetting positions
net to zero, and an underlying outside the matrix is rejected.
"""

from __future__ import annotations

import math

import pytest

from pmargin.correlation import Correlation
from pmargin.models import GridModel
from pmargin.reference import margin
from tests.reference.test_var import BOOK, positions, row, spot_market, where


def correlation_grid(names: list[str], matrix: list[list[float]], floor: bool = False) -> GridModel:
    return GridModel(
        price_shocks=[-0.1, 0.1],
        vol_shocks=[0.0],
        cross="correlation",
        correlation=Correlation(names, matrix),
        floor_largest=floor,
        mm_ratio=1.0,
    )


def test_two_asset_grid_book_under_correlation() -> None:
    """Long 1 A (spot 100: R = 10, worst -10%, sign +), short 1 B (80: R = 8, worst +10%,
    sign -): IM = sqrt(10^2 + 8^2 - 2 rho 10 8)."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0})
    book = positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.0)])
    for rho, expected in [(0.8, 6.0), (0.0, math.sqrt(164.0)), (-0.5, math.sqrt(244.0)), (-1.0, 18.0)]:
        result = margin(book, instruments, market, correlation_grid(["A", "B"], [[1, rho], [rho, 1]]))
        acc = row(result)
        assert acc["initial_margin"] == pytest.approx(expected, rel=1e-12), rho
        assert acc["diversification_benefit"] == pytest.approx(18.0 - expected, rel=1e-12, abs=1e-12)
        assert acc["gross_margin"] == pytest.approx(18.0, rel=1e-12)
        assert acc["worst_scenario"] == "A -10.0% vol +0%"
    floored = row(margin(book, instruments, market, correlation_grid(["B", "A"], [[1, 0.8], [0.8, 1]], floor=True)))
    assert floored["initial_margin"] == pytest.approx(10.0, rel=1e-12)
    both_long = positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", 1.0)])
    long_long = row(margin(both_long, instruments, market, correlation_grid(["A", "B"], [[1, 0.8], [0.8, 1]])))
    assert long_long["initial_margin"] == pytest.approx(math.sqrt(100 + 64 + 128), rel=1e-12)


def test_three_asset_grid_book_under_correlation() -> None:
    """Signed R = (10, -8, 5): T = 100 + 64 + 25 + 2 (0.8 x 10 x -8 + 0.3 x 10 x 5 - 0.2 x -8 x 5) = 107."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0, "C": 50.0})
    book = positions([("acct", "C-SPOT", 1.0), ("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.0)])
    rho = [[1.0, 0.8, 0.3], [0.8, 1.0, -0.2], [0.3, -0.2, 1.0]]
    result = margin(book, instruments, market, correlation_grid(["A", "B", "C"], rho))
    assert row(result)["initial_margin"] == pytest.approx(math.sqrt(107.0), rel=1e-12)
    # Underlyings in canonical order (instrument rows A, B, C), not the rows' order.
    assert result.by_underlying.column("requirement").to_pylist() == pytest.approx([10.0, 8.0, 5.0], rel=1e-12)


def test_perfectly_correlated_offsets_net_to_zero_on_the_grid() -> None:
    """Long 1 A (R 10, +), short 1.25 B (R 1.25 x 8 = 10, -), rho = 1: T = 100 + 100 - 200 = 0."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0})
    book = positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.25)])
    acc = row(margin(book, instruments, market, correlation_grid(["A", "B"], [[1, 1], [1, 1]])))
    assert acc["initial_margin"] == 0.0
    assert acc["diversification_benefit"] == pytest.approx(20.0, rel=1e-12)


def test_grid_underlying_outside_the_matrix() -> None:
    instruments, market = spot_market({"BTC": 100.0, "ETH": 50.0})
    model = correlation_grid(["BTC", "SOL"], [[1.0, 0.5], [0.5, 1.0]])
    table_, column, row_, reason = where(lambda: margin(BOOK, instruments, market, model))
    assert (table_, column, row_) == ("correlation", None, None) and "'ETH'" in reason
