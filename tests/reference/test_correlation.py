"""The pure-Python reference's correlation rule on the grid (``cross="correlation"``, the largest
loss over the joint moves inside the correlation ellipsoid): on linear books it is the hand
formula sqrt(a' rho a) up to the grid's resolution (exact where the optimum is a grid point),
perfectly correlated offsetting positions net to zero, and an underlying outside the matrix is
rejected. (The signed-requirement formula these tests used to check is gone: issue 11.)
"""

from __future__ import annotations

import math

import pytest

from pmargin.correlation import Correlation
from pmargin.models import GridModel
from pmargin.reference import margin
from tests.reference.test_var import BOOK, positions, row, spot_market, where

#: -10% .. +10% by 1%: x = price shock / 10% on a 0.1 step.
FINE = [round(-0.1 + 0.01 * i, 6) for i in range(21)]


def correlation_grid(
    names: list[str], matrix: list[list[float]], floor: bool = False, shocks: list[float] = FINE
) -> GridModel:
    return GridModel(
        price_shocks=shocks,
        vol_shocks=[0.0],
        cross="correlation",
        correlation=Correlation(names, matrix),
        floor_largest=floor,
        mm_ratio=1.0,
    )


def test_two_asset_grid_book_under_correlation() -> None:
    """Long 1 A (spot 100), short 1 B (80), x = shock / 10%: a move x loses 10 (-x_A) + 8 x_B,
    largest over the ellipse at x* = rho a / sqrt(a' rho a), a = (-10, 8), worth
    sqrt(164 - 160 rho). rho 0.8: x* = (-0.6, 0), a grid point on the ellipse: exactly 6.
    rho 0: x* = (-0.78, 0.62); the grid's best is (-0.8, 0.6), on the circle: 12.8 of 12.81.
    rho -0.5: (-0.9, 0.8) loses 15.4 of 15.62. rho -1: both lose at x = (-1, 1): 18."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0})
    book = positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.0)])
    for rho, expected, worst in [
        (0.8, 6.0, "A -6.0% vol +0%"),
        (0.0, 12.8, "A -8.0% vol +0%"),
        (-0.5, 15.4, "A -9.0% vol +0%"),
        (-1.0, 18.0, "A -10.0% vol +0%"),
    ]:
        result = margin(book, instruments, market, correlation_grid(["A", "B"], [[1, rho], [rho, 1]]))
        acc = row(result)
        assert acc["initial_margin"] == pytest.approx(expected, rel=1e-12), rho
        assert math.sqrt(164 - 160 * rho) * 0.98 <= acc["initial_margin"] <= math.sqrt(164 - 160 * rho) + 1e-12
        assert acc["cross_underlying_benefit"] == pytest.approx(18.0 - expected, rel=1e-12, abs=1e-12)
        assert acc["gross_margin"] == pytest.approx(18.0, rel=1e-12)
        # The underlying losing most in the binding move, at its own shock.
        assert acc["worst_scenario"] == worst
    floored = row(margin(book, instruments, market, correlation_grid(["B", "A"], [[1, 0.8], [0.8, 1]], floor=True)))
    assert floored["initial_margin"] == pytest.approx(10.0, rel=1e-12)
    both_long = positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", 1.0)])
    long_long = row(margin(both_long, instruments, market, correlation_grid(["A", "B"], [[1, 0.8], [0.8, 1]])))
    # sqrt(100 + 64 + 128) = 17.09 at x* = (-0.96, -0.94), not a grid point; the best grid move
    # is (-1, -0.8), on the ellipse: 10 + 6.4 = 16.4 (96%).
    assert long_long["initial_margin"] == pytest.approx(16.4, rel=1e-12)


def test_three_asset_grid_book_under_correlation() -> None:
    """Long A (R 10), short B (R 8), long C (R 5): sqrt(a' rho a) = sqrt(107) = 10.344; the grid's
    best joint move loses 10.3."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0, "C": 50.0})
    book = positions([("acct", "C-SPOT", 1.0), ("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.0)])
    rho = [[1.0, 0.8, 0.3], [0.8, 1.0, -0.2], [0.3, -0.2, 1.0]]
    result = margin(book, instruments, market, correlation_grid(["A", "B", "C"], rho))
    assert row(result)["initial_margin"] == pytest.approx(10.3, rel=1e-12)
    # Underlyings in canonical order (instrument rows A, B, C), not the rows' order.
    assert result.by_underlying.column("requirement").to_pylist() == pytest.approx([10.0, 8.0, 5.0], rel=1e-12)


def test_perfectly_correlated_offsets_net_to_zero_on_the_grid() -> None:
    """Long 1 A (R 10), short 1.25 B (R 1.25 x 8 = 10), rho = 1: the moves are joint, each total
    is 0 (shocks of +-10%, where the two legs round alike)."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0})
    book = positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.25)])
    model = correlation_grid(["A", "B"], [[1, 1], [1, 1]], shocks=[-0.1, 0.1])
    acc = row(margin(book, instruments, market, model))
    assert acc["initial_margin"] == 0.0
    assert acc["cross_underlying_benefit"] == pytest.approx(20.0, rel=1e-12)


def test_grid_underlying_outside_the_matrix() -> None:
    instruments, market = spot_market({"BTC": 100.0, "ETH": 50.0})
    model = correlation_grid(["BTC", "SOL"], [[1.0, 0.5], [0.5, 1.0]])
    table_, column, row_, reason = where(lambda: margin(BOOK, instruments, market, model))
    assert (table_, column, row_) == ("correlation", None, None) and "'ETH'" in reason
