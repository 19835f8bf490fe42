"""The pure-Python reference's tail count (N = 1000, c = 0.99 gives k = 10) and tail order on exact
ties (docs/methods.md, "Tail count and risk measures").
"""

from __future__ import annotations

import pytest

from pmargin.errors import MarginConfigError
from pmargin.reference.risk.tail import measure_of, tail_count


@pytest.mark.parametrize(
    ("n", "c", "k"),
    [
        (1000, 0.99, 10),
        (1000, 0.975, 25),
        (250, 0.99, 3),
        (100, 0.99, 1),
        (40, 0.975, 1),
        (41, 0.975, 2),
        (8, 0.625, 3),
    ],
)
def test_tail_count(n: int, c: float, k: int) -> None:
    assert tail_count(n, c) == k


def test_1000_times_one_percent_is_not_quite_ten() -> None:
    """The reason for the snapping rule: the product is 10.000000000000009."""
    assert 1000 * (1 - 0.99) > 10
    assert tail_count(1000, 0.99) == 10


@pytest.mark.parametrize(("n", "c"), [(99, 0.99), (39, 0.975), (1, 0.5)])
def test_too_few_scenarios(n: int, c: float) -> None:
    with pytest.raises(MarginConfigError) as info:
        tail_count(n, c)
    assert (info.value.table, info.value.column, info.value.row) == ("model", "confidence", None)
    assert f"{n} scenarios are too few" in info.value.reason


def test_tail_order_breaks_ties_by_scenario() -> None:
    losses = [3.0, 5.0, 5.0, 1.0, -2.0, 0.0, -0.0]
    var = measure_of(losses, 2, "var")
    assert (var.value, var.tail, var.scenario("var")) == (5.0, [1, 2], 2)
    es = measure_of(losses, 3, "es")
    assert es.value == (5.0 + 5.0 + 3.0) / 3 and es.tail == [1, 2, 0] and es.scenario("es") == 1
    zeros = measure_of(losses, 6, "var")
    assert zeros.tail[-2:] == [5, 6] and zeros.margin == 0.0 and zeros.reported("var") == (None, [])
