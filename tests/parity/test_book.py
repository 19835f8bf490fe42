"""The netted book in both engines (docs/methods.md, "Canonical order", "Zero rows", "Isolation"):
positions netting to exactly zero are not held; ``on_error="isolate"`` margins every account it
can and lists the others in ``result.failed``; the default stays strict.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.models import GridModel, HistoricalModel
from tests.methods.models import historical_moves

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)
ENGINES = {"native": pmargin.margin, "reference": reference.margin}


def market_and_instruments() -> tuple[pa.Table, pmargin.Market]:
    """BTC futures live and expired, an option with no vol, a contract on an underlying with no
    market row, and ETH spot."""
    ts = pa.timestamp("us", tz="UTC")
    instruments = pa.table(
        {
            "instrument_id": ["BTC-F", "BTC-OLD", "BTC-C-NOVOL", "XRP-F", "ETH-S"],
            "underlying": ["BTC", "BTC", "BTC", "XRP", "ETH"],
            "kind": ["future", "future", "option", "future", "spot"],
            "option_type": [None, None, "call", None, None],
            "strike": [None, None, 60000.0, None, None],
            "expiry": pa.array([AS_OF + dt.timedelta(days=d) for d in (30, -2, 30, 9)] + [None], ts),
        }
    )
    market = pmargin.Market(
        AS_OF,
        pa.table({"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0]}),
        pa.table({"instrument_id": ["NONE"], "implied_vol": [0.5]}),
    )
    return instruments, market


def positions(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


ZERO_ROWS = [
    ("a", "BTC-F", 2.0),
    ("a", "BTC-OLD", 0.0),  # expired, zero
    ("a", "BTC-C-NOVOL", 5.0),
    ("a", "BTC-C-NOVOL", -5.0),  # no vol, nets to zero
    ("a", "XRP-F", 1.5),
    ("a", "XRP-F", -1.5),  # no market row, nets to zero
    ("a", "ETH-S", 0.0),  # a zero position on a usable instrument: no ETH row either
    ("flat", "BTC-F", 1.0),
    ("flat", "BTC-F", -1.0),
]


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
@pytest.mark.parametrize("model", [GridModel(), GridModel(cross="joint"), HistoricalModel(historical_moves())])
def test_positions_netting_to_zero_are_not_held(engine: Any, model: Any) -> None:
    instruments, market = market_and_instruments()
    by_position = isinstance(model, GridModel)
    result = engine(positions(ZERO_ROWS), instruments, market, model, by_position=by_position)
    accounts = {r["account_id"]: r for r in result.accounts.to_pylist()}
    assert list(accounts) == ["a", "flat"]
    # The flat account keeps its row with zero margin and no scenario.
    assert accounts["flat"]["initial_margin"] == 0.0
    assert accounts["flat"]["gross_margin"] == 0.0
    assert accounts["a"]["initial_margin"] > 0.0
    assert result.by_underlying.column("account_id").to_pylist() == ["a"]
    assert result.by_underlying.column("underlying").to_pylist() == ["BTC"]
    if by_position:
        assert result.by_position is not None and result.explain is not None
        assert result.by_position.column("instrument_id").to_pylist() == ["BTC-F"]
        assert result.explain.column("account_id").to_pylist() == ["a"]
    assert result.failed.num_rows == 0


def test_greeks_skip_positions_netting_to_zero() -> None:
    instruments, market = market_and_instruments()
    for run in (pmargin.greeks, reference.greeks):
        greeks = run(positions(ZERO_ROWS), instruments, market)
        assert greeks.positions.column("instrument_id").to_pylist() == ["BTC-F"]
        assert greeks.by_underlying.column("underlying").to_pylist() == ["BTC"]


BAD_ROWS = [
    ("ok", "BTC-F", 1.0),
    ("expired", "BTC-F", 1.0),
    ("expired", "BTC-OLD", 3.0),
    ("novol", "BTC-C-NOVOL", -1.0),
    ("ok", "ETH-S", -2.0),
    ("unknown", "NO-SUCH", 0.0),  # unknown ids fail their account whatever the quantity
    ("nomarket", "XRP-F", 1.0),
    ("expired", "NO-SUCH-EITHER", 1.0),  # after the account's first problem: not reported
    ("zero", "BTC-OLD", 1.0),
    ("zero", "BTC-OLD", -1.0),
]


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_strict_runs_raise_the_first_problem_in_row_order(engine: Any) -> None:
    instruments, market = market_and_instruments()
    with pytest.raises(MarginInputError) as info:
        engine(positions(BAD_ROWS), instruments, market)
    assert (info.value.table, info.value.column, info.value.row) == ("instruments", "expiry", 1)
    with pytest.raises(MarginConfigError) as config:
        engine(positions(BAD_ROWS), instruments, market, on_error="skip")
    assert (config.value.table, config.value.column) == ("on_error", None)
    assert config.value.reason == "on_error must be 'raise' or 'isolate', got str 'skip'"


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
@pytest.mark.parametrize("model", [GridModel(), HistoricalModel(historical_moves())], ids=["grid", "historical"])
def test_isolated_accounts_are_listed_with_their_first_problem(engine: Any, model: Any) -> None:
    instruments, market = market_and_instruments()
    result = engine(positions(BAD_ROWS), instruments, market, model, on_error="isolate")
    assert result.accounts.column("account_id").to_pylist() == ["ok", "zero"]
    alone = engine(positions([r for r in BAD_ROWS if r[0] in ("ok", "zero")]), instruments, market, model)
    assert result.accounts.to_pylist() == alone.accounts.to_pylist()
    failed = result.failed.to_pylist()
    assert [(f["account_id"], f["table"], f["column"], f["row"]) for f in failed] == [
        ("expired", "instruments", "expiry", 1),
        ("novol", "instruments", "instrument_id", 2),
        ("unknown", "positions", "instrument_id", 5),
        ("nomarket", "instruments", "underlying", 3),
    ]
    assert failed[2]["reason"] == "unknown instrument 'NO-SUCH'"
    assert result.failed.schema.field("row").type == pa.int64()


def test_isolated_reasons_agree_between_engines_and_nothing_failed_is_an_empty_table() -> None:
    instruments, market = market_and_instruments()
    native = pmargin.margin(positions(BAD_ROWS), instruments, market, on_error="isolate")
    ref = reference.margin(positions(BAD_ROWS), instruments, market, on_error="isolate")
    # The same cells (reasons are worded by each engine, as for raised errors).
    assert native.failed.drop_columns(["reason"]).to_pylist() == ref.failed.drop_columns(["reason"]).to_pylist()
    clean = pmargin.margin(positions(BAD_ROWS[:2]), instruments, market, on_error="isolate")
    assert clean.failed.num_rows == 0
    assert clean.failed.column_names == ["account_id", "table", "column", "row", "reason"]
    assert pmargin.margin(positions(BAD_ROWS[:2]), instruments, market).failed.num_rows == 0


def test_whole_table_errors_still_raise_when_isolating() -> None:
    instruments, market = market_and_instruments()
    no_quantity = positions(BAD_ROWS).drop_columns(["quantity"])
    for engine in ENGINES.values():
        with pytest.raises(MarginInputError) as info:
            engine(no_quantity, instruments, market, on_error="isolate")
        assert (info.value.table, info.value.column, info.value.row) == ("positions", "quantity", None)


def test_chunked_isolation_reports_rows_of_the_whole_table() -> None:
    from pmargin.batch import margin_in_chunks

    instruments, market = market_and_instruments()
    engine = pmargin.MarginEngine(instruments, market)
    whole = engine.margin(positions(BAD_ROWS), on_error="isolate")
    chunked = margin_in_chunks(engine, positions(BAD_ROWS), 2, on_error="isolate")
    assert chunked.failed.to_pylist() == whole.failed.to_pylist()
    assert chunked.accounts.to_pylist() == whole.accounts.to_pylist()
