"""A model, market, by_position or on_error argument of the wrong type is a MarginConfigError
(also a ValueError) naming the argument and what it must be, from both engines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pmargin
from pmargin import reference
from pmargin.batch import margin_in_chunks
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


FLAGS = [
    ({"on_error": None}, "on_error must be 'raise' or 'isolate', got None"),
    ({"on_error": "skip"}, "on_error must be 'raise' or 'isolate', got str 'skip'"),
    ({"on_error": b"isolate"}, "on_error must be 'raise' or 'isolate', got bytes"),
    ({"on_error": ["isolate"]}, "on_error must be 'raise' or 'isolate', got list"),
    ({"on_error": 1}, "on_error must be 'raise' or 'isolate', got int 1"),
    ({"by_position": None}, "by_position must be True or False, got None"),
    ({"by_position": "yes"}, "by_position must be True or False, got str 'yes'"),
    ({"by_position": 1}, "by_position must be True or False, got int 1"),
]


@pytest.mark.parametrize("engine", [pmargin, reference])
@pytest.mark.parametrize(("flag", "reason"), FLAGS)
def test_engine_margin_flags_of_the_wrong_type(engine: Any, flag: dict[str, object], reason: str) -> None:
    with pytest.raises(pmargin.MarginConfigError) as info:
        engine.margin(BOOK.positions, BOOK.instruments, BOOK.market, **flag)
    assert (info.value.table, info.value.column, info.value.row) == (next(iter(flag)), None, None)
    assert info.value.reason == reason


@pytest.mark.parametrize(("flag", "reason"), FLAGS)
def test_engine_margin_engine_stream_and_chunks_check_the_flags_alike(flag: dict[str, object], reason: str) -> None:
    engine = pmargin.MarginEngine(BOOK.instruments, BOOK.market)
    runs = [
        lambda: engine.margin(BOOK.positions, **flag),
        lambda: pmargin.margin_stream(BOOK.positions, engine, **flag).read_all(),
        lambda: margin_in_chunks(engine, BOOK.positions, 100, **flag),
    ]
    for run in runs:
        with pytest.raises(pmargin.MarginConfigError) as info:
            run()
        assert (info.value.table, info.value.reason) == (next(iter(flag)), reason)


@pytest.mark.parametrize("engine", [pmargin, reference])
def test_engine_margin_takes_a_numpy_bool(engine: Any) -> None:
    positions = BOOK.positions.slice(0, 20)
    result = engine.margin(positions, BOOK.instruments, BOOK.market, by_position=np.True_)
    plain = engine.margin(positions, BOOK.instruments, BOOK.market, by_position=True)
    assert result.by_position is not None
    assert result.by_position.equals(plain.by_position)
    assert result.accounts.equals(plain.accounts)
