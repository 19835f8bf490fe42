"""A model or market argument of the wrong type is a MarginConfigError (also a ValueError) naming
the argument and what it must be, from both engines."""

from __future__ import annotations

from typing import Any

import pytest

import pmargin
from pmargin import reference
from tests.methods.models import sample_book

BOOK = sample_book()


@pytest.mark.parametrize("engine", [pmargin, reference])
@pytest.mark.parametrize(
    ("model", "got"),
    [
        ("grid", "str 'grid'"),
        (3, "int 3"),
        ({"type": "grid"}, "dict"),
        (pmargin.GridModel, "the class GridModel itself (an instance is GridModel(...))"),
    ],
)
def test_a_model_that_is_not_a_pmargin_model(engine: Any, model: object, got: str) -> None:
    with pytest.raises(pmargin.MarginConfigError) as info:
        engine.margin(BOOK.positions, BOOK.instruments, BOOK.market, model)
    assert isinstance(info.value, ValueError)
    assert (info.value.table, info.value.column, info.value.row) == ("model", None, None)
    assert info.value.reason == f"model must be a pmargin model such as GridModel(), got {got}"
    assert str(info.value) == f"model: model must be a pmargin model such as GridModel(), got {got}"


@pytest.mark.parametrize("engine", [pmargin, reference])
@pytest.mark.parametrize(
    ("market", "got"), [(None, "None"), ("market.toml", "str 'market.toml'"), (BOOK, "SampleBook")]
)
def test_a_market_that_is_not_a_pmargin_market(engine: Any, market: object, got: str) -> None:
    with pytest.raises(pmargin.MarginConfigError) as info:
        engine.margin(BOOK.positions, BOOK.instruments, market)
    assert (info.value.table, info.value.column, info.value.row) == ("market", None, None)
    assert info.value.reason == f"market must be a pmargin.Market, got {got}"


def test_the_engine_and_the_long_repr_of_a_wrong_argument() -> None:
    with pytest.raises(pmargin.MarginConfigError) as info:
        pmargin.MarginEngine(BOOK.instruments, BOOK.market, "x" * 100)  # type: ignore[arg-type]
    assert (
        info.value.reason
        == "model must be a pmargin model such as GridModel(), got str 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
    )
