"""The historical model: argument validation (each error naming ``model.<argument>``),
``HistoricalModel.from_prices`` arithmetic, EWMA filtering on a hand example, the scenario table
and its labels, and margins that do not depend on how the positions are batched.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import pmargin
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.models import HistoricalModel
from tests.methods.models import SMALL_MOVES, config_error, historical_moves, moves, sample_book

HISTORICAL_BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("measure", {"measure": "cvar"}, "measure", "'es'"),
    ("confidence 0", {"confidence": 0.0}, "confidence", "(0, 1)"),
    ("confidence 1", {"confidence": 1.0}, "confidence", "(0, 1)"),
    ("confidence nan", {"confidence": math.nan}, "confidence", "(0, 1)"),
    ("confidence string", {"confidence": "0.99"}, "confidence", "(0, 1)"),
    ("ewma 0", {"ewma_lambda": 0.0}, "ewma_lambda", "(0, 1)"),
    ("ewma 1", {"ewma_lambda": 1.0}, "ewma_lambda", "(0, 1)"),
    ("mm_ratio 0", {"mm_ratio": 0.0}, "mm_ratio", "(0, 1]"),
    ("mm_ratio above 1", {"mm_ratio": 1.5}, "mm_ratio", "(0, 1]"),
    ("vol_shock", {"vol_shock": "percent"}, "vol_shock", "'relative' or 'absolute'"),
]


@pytest.mark.parametrize(
    ("kwargs", "column", "reason"), [c[1:] for c in HISTORICAL_BAD], ids=[c[0] for c in HISTORICAL_BAD]
)
def test_historical_arguments_are_checked(kwargs: dict[str, Any], column: str, reason: str) -> None:
    err = config_error(lambda: HistoricalModel(SMALL_MOVES, **kwargs))
    assert err.column == column
    assert reason in err.reason


def test_historical_defaults_and_tables() -> None:
    model = HistoricalModel(pl.from_arrow(SMALL_MOVES), stressed=dict(SMALL_MOVES.to_pydict()))
    assert (model.measure, model.confidence, model.vol_shock, model.mm_ratio) == ("es", 0.975, "relative", 0.75)
    assert model.ewma_lambda is None and model.type == "historical"
    assert isinstance(model.moves, pa.Table) and isinstance(model.stressed, pa.Table)
    assert model.moves.column("return").to_pylist() == [0.01, -0.02, 0.03, 0.0]
    assert model.stressed.column("return").to_pylist() == [0.01, -0.02, 0.03, 0.0]
    same = HistoricalModel(SMALL_MOVES, stressed=SMALL_MOVES)
    assert same == HistoricalModel(SMALL_MOVES, stressed=SMALL_MOVES)
    assert same != HistoricalModel(SMALL_MOVES)
    assert same != HistoricalModel(SMALL_MOVES, stressed=SMALL_MOVES, measure="var")


def test_moves_must_be_a_table() -> None:
    with pytest.raises(MarginInputError) as info:
        HistoricalModel(3.0)
    assert info.value.table == "moves"


def test_from_prices_builds_overlapping_returns() -> None:
    """Rows shuffled; per underlying (first-seen order), dates ascending, p_{t+h} / p_t - 1 at date_t."""
    day = [dt.date(2024, 3, d) for d in (1, 2, 3, 4)]
    prices = pa.table(
        {
            "date": [day[2], day[0], day[1], day[3], day[0], day[1], day[2]],
            "underlying": ["ETH", "ETH", "BTC", "ETH", "BTC", "ETH", "BTC"],
            "price": [110.0, 100.0, 60.0, 99.0, 50.0, 120.0, 45.0],
        }
    )
    one = HistoricalModel.from_prices(prices, measure="var", confidence=0.5)
    assert one.measure == "var" and one.confidence == 0.5
    assert one.moves.column_names == ["date", "underlying", "return"]
    assert one.moves.schema.field("date").type == pa.date32()
    assert one.moves.column("underlying").to_pylist() == ["ETH", "ETH", "ETH", "BTC", "BTC"]
    assert one.moves.column("date").to_pylist() == [day[0], day[1], day[2], day[0], day[1]]
    assert one.moves.column("return").to_pylist() == [
        120.0 / 100.0 - 1.0,
        110.0 / 120.0 - 1.0,
        99.0 / 110.0 - 1.0,
        60.0 / 50.0 - 1.0,
        45.0 / 60.0 - 1.0,
    ]
    two = HistoricalModel.from_prices(prices, horizon_days=2)
    assert two.moves.column("underlying").to_pylist() == ["ETH", "ETH", "BTC"]
    assert two.moves.column("return").to_pylist() == [110.0 / 100.0 - 1.0, 99.0 / 120.0 - 1.0, 45.0 / 50.0 - 1.0]
    assert HistoricalModel.from_prices(prices, horizon_days=3).moves.column("underlying").to_pylist() == ["ETH"]


@pytest.mark.parametrize(
    ("prices", "location"),
    [
        ({"date": ["2024-01-01", "2024-01-02"], "underlying": ["A", "A"], "price": [1.0, 0.0]}, ("prices", "price", 1)),
        (
            {"date": ["2024-01-01", "2024-01-01"], "underlying": ["A", "A"], "price": [1.0, 2.0]},
            ("prices", "underlying", 1),
        ),
        ({"date": ["2024-01-01", None], "underlying": ["A", "A"], "price": [1.0, 2.0]}, ("prices", "date", 1)),
    ],
    ids=["zero price", "duplicate date", "null date"],
)
def test_from_prices_errors(prices: dict[str, list[Any]], location: tuple[str, str, int]) -> None:
    with pytest.raises(MarginInputError) as info:
        HistoricalModel.from_prices(pa.table(prices))
    assert (info.value.table, info.value.column, info.value.row) == location


def test_from_prices_horizon_must_be_a_positive_integer() -> None:
    prices = pa.table({"date": ["2024-01-01"], "underlying": ["A"], "price": [1.0]})
    for bad in (0, 1.5, True):
        assert (
            config_error(lambda bad=bad: HistoricalModel.from_prices(prices, horizon_days=bad)).column == "horizon_days"
        )


def test_ewma_filter_on_four_dates() -> None:
    """lambda = 0.5, r = [0.02, -0.04, 0.01, 0.03] (rows shuffled):
    s2_1 = 0.003 / 4 = 0.00075, s2_2 = 0.000575, s2_3 = 0.0010875, s2_4 = 0.00059375,
    s2_5 = 0.000746875; r_t' = r_t sqrt(s2_5 / s2_t). vol_change is not rescaled."""
    table = moves(
        ["2024-01-03", "2024-01-01", "2024-01-04", "2024-01-02"],
        ["X", "X", "X", "X"],
        [0.01, 0.02, 0.03, -0.04],
        vol_change=[0.3, 0.1, 0.4, 0.2],
    )
    s2 = [0.00075, 0.000575, 0.0010875, 0.00059375]
    today = 0.000746875
    expected = [r * math.sqrt(today / s) for r, s in zip([0.02, -0.04, 0.01, 0.03], s2, strict=True)]
    model = HistoricalModel(table, ewma_lambda=0.5, confidence=0.5, stressed=table)
    got = model.scenarios()
    assert got.column("date").to_pylist() == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    assert got.column("return").to_pylist() == pytest.approx(expected, rel=1e-13)
    assert got.column("return").to_pylist()[0] == pytest.approx(0.01995829, rel=1e-7)
    assert got.column("vol_change").to_pylist() == [0.1, 0.2, 0.3, 0.4]
    # The stressed window is never filtered.
    assert model.scenarios("stressed").column("return").to_pylist() == [0.02, -0.04, 0.01, 0.03]
    assert HistoricalModel(table).scenarios().column("return").to_pylist() == [0.02, -0.04, 0.01, 0.03]


def test_historical_scenario_table_and_labels() -> None:
    """Timestamps label as dates at midnight UTC, with the time otherwise; string dates verbatim;
    scenario-major, underlyings first-seen, only the moves the table has."""
    t = [dt.datetime(2024, 5, 2, tzinfo=dt.UTC), dt.datetime(2024, 5, 1, 16, 30, 5, tzinfo=dt.UTC)]
    table = moves(pa.array([t[0], t[1], t[0]], pa.timestamp("ns", tz="UTC")), ["ETH", "BTC", "BTC"], [0.1, -0.2, 0.3])
    got = HistoricalModel(table).scenarios()
    assert got.schema.names == ["scenario", "date", "underlying", "return", "vol_change"]
    assert got.schema.field("scenario").type == pa.int32()
    assert got.to_pylist() == [
        {"scenario": 0, "date": "2024-05-01T16:30:05", "underlying": "BTC", "return": -0.2, "vol_change": 0.0},
        {"scenario": 1, "date": "2024-05-02", "underlying": "ETH", "return": 0.1, "vol_change": 0.0},
        {"scenario": 1, "date": "2024-05-02", "underlying": "BTC", "return": 0.3, "vol_change": 0.0},
    ]
    tokyo = pa.array(
        [dt.datetime(2024, 5, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))], pa.timestamp("s", tz="Asia/Tokyo")
    )
    assert HistoricalModel(moves(tokyo, ["A"], [0.0])).scenarios().column("date").to_pylist() == ["2024-05-02"]
    texts = moves(["d2", "d10", "d1"], ["A", "A", "A"], [0.1, 0.2, 0.3])
    assert HistoricalModel(texts).scenarios().column("date").to_pylist() == ["d1", "d10", "d2"]
    with pytest.raises(MarginConfigError):
        HistoricalModel(table).scenarios("stressed")


def test_historical_is_identical_across_batches() -> None:
    book = sample_book()
    model = pmargin.HistoricalModel(historical_moves(), measure="var", confidence=0.95)
    one = pmargin.margin(book.positions, book.instruments, book.market, model)
    many = pmargin.margin(
        pa.Table.from_batches(book.positions.to_batches(max_chunksize=11)), book.instruments, book.market, model
    )
    assert one.accounts.equals(many.accounts)
