"""Bad input: each case raises the package's MarginInputError naming table, column, row and reason,
in both engines, and nothing partial comes back.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import pmargin
import pmargin.reference
from pmargin import GridModel, MarginConfigError, MarginError, MarginInputError, Market

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)

EXPIRY = dt.datetime(2026, 7, 30, 8, tzinfo=dt.UTC)


ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {
    "native": pmargin.margin,
    "reference": pmargin.reference.margin,
}


def base_tables() -> dict[str, dict[str, list[Any]]]:
    """A small valid book as plain columns, so each test can break one cell."""
    return {
        "positions": {
            "account_id": ["a", "a", "b", "b"],
            "instrument_id": ["BTC-PERP", "BTC-C", "ETH-F", "BTC-P"],
            "quantity": [1.0, -2.0, 3.0, 1.0],
        },
        "instruments": {
            "instrument_id": ["BTC-PERP", "BTC-C", "BTC-P", "ETH-F"],
            "underlying": ["BTC", "BTC", "BTC", "ETH"],
            "kind": ["perpetual", "option", "option", "future"],
            "option_type": [None, "call", "put", None],
            "strike": [None, 60000.0, 55000.0, None],
            "expiry": [None, EXPIRY, EXPIRY, EXPIRY],
            "multiplier": [1.0, 1.0, 1.0, 1.0],
        },
        "underlyings": {"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0], "rate": [0.04, 0.0]},
        "vols": {"instrument_id": ["BTC-C", "BTC-P"], "implied_vol": [0.55, 0.6]},
    }


def run(
    engine: Callable[..., pmargin.MarginResult], tables: dict[str, dict[str, list[Any]]], model: GridModel | None = None
) -> pmargin.MarginResult:
    ins = dict(tables["instruments"])
    if "expiry" in ins:
        ins["expiry"] = pa.array(ins["expiry"], pa.timestamp("us", tz="UTC"))
    market = Market(AS_OF, pa.table(tables["underlyings"]), pa.table(tables["vols"]))
    return engine(pa.table(tables["positions"]), pa.table(ins), market, model)


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Callable[..., pmargin.MarginResult]:
    return ENGINES[request.param]


def expect_error(
    engine: Callable[..., pmargin.MarginResult],
    tables: dict[str, Any],
    table: str,
    column: str,
    row: int | None,
    fragment: str,
) -> MarginInputError:
    with pytest.raises(MarginInputError) as info:
        run(engine, tables)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, MarginError)
    assert (err.table, err.column, err.row) == (table, column, row), str(err)
    assert fragment in err.reason, err.reason
    where = f"{table}.{column}" + (f", row {row}" if row is not None else "")
    assert str(err).startswith(where + ": "), str(err)
    return err


def test_the_base_book_is_valid(engine: Callable[..., pmargin.MarginResult]) -> None:
    result = run(engine, base_tables())
    assert result.accounts.column("account_id").to_pylist() == ["a", "b"]
    assert all(m > 0 for m in result.accounts.column("initial_margin").to_pylist())


def test_missing_column(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    del t["positions"]["quantity"]
    expect_error(engine, t, "positions", "quantity", None, "missing")


def test_wrong_type(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["positions"]["quantity"] = ["1", "2", "3", "4"]
    expect_error(engine, t, "positions", "quantity", None, "number")


def test_wrong_type_for_a_string_column(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["instruments"]["underlying"] = [1.0, 2.0, 3.0, 4.0]
    expect_error(engine, t, "instruments", "underlying", None, "string")


def test_null_in_a_required_field(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["positions"]["instrument_id"][2] = None
    expect_error(engine, t, "positions", "instrument_id", 2, "null")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_quantity(engine: Callable[..., pmargin.MarginResult], bad: float) -> None:
    t = base_tables()
    t["positions"]["quantity"][3] = bad
    expect_error(engine, t, "positions", "quantity", 3, "finite")


@pytest.mark.parametrize("bad", [0.0, -100.0, math.nan])
def test_non_positive_spot(engine: Callable[..., pmargin.MarginResult], bad: float) -> None:
    t = base_tables()
    t["underlyings"]["spot"][1] = bad
    expect_error(engine, t, "underlyings", "spot", 1, "finite" if math.isnan(bad) else "> 0")


def test_non_positive_strike(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["instruments"]["strike"][2] = -5.0
    expect_error(engine, t, "instruments", "strike", 2, "> 0")


def test_non_positive_vol(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["vols"]["implied_vol"][1] = 0.0
    expect_error(engine, t, "vols", "implied_vol", 1, "> 0")


def test_unknown_kind(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["instruments"]["kind"][0] = "swap"
    expect_error(engine, t, "instruments", "kind", 0, "swap")


def test_unknown_option_type(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["instruments"]["option_type"][1] = "straddle"
    expect_error(engine, t, "instruments", "option_type", 1, "straddle")


def test_unknown_instrument(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["positions"]["instrument_id"][1] = "DOGE-PERP"
    expect_error(engine, t, "positions", "instrument_id", 1, "DOGE-PERP")


def test_option_without_vol(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["vols"] = {"instrument_id": ["BTC-C"], "implied_vol": [0.55]}
    expect_error(engine, t, "instruments", "instrument_id", 2, "vol")


def test_underlying_without_market_row(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["underlyings"] = {"underlying": ["BTC"], "spot": [60000.0], "rate": [0.04]}
    expect_error(engine, t, "instruments", "underlying", 3, "ETH")


def test_unheld_instrument_may_lack_market_data(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["positions"] = {"account_id": ["a"], "instrument_id": ["BTC-PERP"], "quantity": [1.0]}
    t["underlyings"] = {"underlying": ["BTC"], "spot": [60000.0], "rate": [0.04]}
    t["vols"] = {"instrument_id": ["BTC-C"], "implied_vol": [0.55]}
    result = run(engine, t, GridModel(price_shocks=[-0.1, 0.1], vol_shocks=[0.0]))
    assert result.accounts.column("initial_margin").to_pylist() == [pytest.approx(6000.0, rel=1e-12)]


def test_duplicate_instrument(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["instruments"]["instrument_id"][3] = "BTC-C"
    err = expect_error(engine, t, "instruments", "instrument_id", 3, "duplicate")
    assert "row 1" in err.reason


def test_expired_option(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["instruments"]["expiry"][1] = AS_OF - dt.timedelta(days=1)
    expect_error(engine, t, "instruments", "expiry", 1, "expired")


def test_option_expiring_now_is_worth_intrinsic(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["positions"] = {"account_id": ["a"], "instrument_id": ["BTC-C"], "quantity": [-1.0]}
    t["instruments"]["expiry"][1] = AS_OF
    result = run(engine, t, GridModel(price_shocks=[0.1], vol_shocks=[0.0]))
    # Call struck at the money: shocked intrinsic 6000, current 0; short one loses 6000.
    assert result.accounts.column("initial_margin").to_pylist() == [pytest.approx(6000.0, rel=1e-12)]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"price_shocks": []}, "price_shocks"),
        ({"vol_shocks": []}, "vol_shocks"),
        ({"price_shocks": [-1.0, 0.1]}, "price_shocks"),
        ({"price_shocks": [-1.5]}, "price_shocks"),
        ({"vol_shocks": [-1.0], "vol_shock": "relative"}, "vol_shocks"),
        ({"price_shocks": [math.nan]}, "price_shocks"),
        ({"cross": "max"}, "cross"),
    ],
)
def test_bad_model(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(MarginConfigError) as info:
        GridModel(**kwargs)
    assert isinstance(info.value, ValueError)
    assert (info.value.table, info.value.column) == ("model", key)


def test_native_core_validates_the_model_too() -> None:
    """A model that bypasses GridModel's checks still cannot reach the kernel."""
    t = base_tables()
    with pytest.raises(MarginConfigError) as info:
        pmargin._core.Engine(
            pa.table(t["instruments"] | {"expiry": pa.array(t["instruments"]["expiry"], pa.timestamp("us", tz="UTC"))}),
            pa.table(t["underlyings"]),
            pa.table(t["vols"]),
            0,
            {
                "type": "grid",
                "price_shocks": [-1.0],
                "vol_shocks": [0.0],
                "vol_shock": "relative",
                "cross": "sum",
                "mm_ratio": 0.75,
            },
        )
    assert info.value.column == "price_shocks"


@pytest.mark.parametrize(
    ("spec", "column", "reason"),
    [
        (
            {"type": "prisma"},
            "type",
            "unknown model type 'prisma'; expected one of: grid, historical, montecarlo, span, tims",
        ),
        ({"type": "grid", "price_shocks": "x"}, "price_shocks", "must be a list, got a string"),
        (
            {
                "type": "grid",
                "price_shocks": [0.1],
                "vol_shocks": [0.0],
                "vol_shock": "relative",
                "cross": "sum",
                "mm_ratio": 0.75,
                "mm_ration": 0.5,
            },
            "mm_ration",
            "unknown key",
        ),
        (
            {
                "type": "grid",
                "price_shocks": [0.1],
                "vol_shocks": [0.0],
                "vol_shock": "relative",
                "cross": "sum",
                "mm_ratio": 0.75,
                "floor_largest": 1,
            },
            "floor_largest",
            "must be true or false, got an integer",
        ),
        (
            {
                "type": "grid",
                "price_shocks": [0.1],
                "vol_shocks": [0.0],
                "vol_shock": object(),
                "cross": "sum",
                "mm_ratio": 0.75,
            },
            "vol_shock",
            "cannot be a object",
        ),
        ({"type": "montecarlo", "seed": 2**64}, "correlation", "a Monte Carlo model needs a correlation matrix"),
    ],
)
def test_native_spec_errors_name_the_field(spec: dict[str, object], column: str, reason: str) -> None:
    """The core parses a spec dict itself: bad keys, types and values are config errors naming the key."""
    t = base_tables()
    with pytest.raises(MarginConfigError) as info:
        pmargin._core.Engine(
            pa.table(t["instruments"] | {"expiry": pa.array(t["instruments"]["expiry"], pa.timestamp("us", tz="UTC"))}),
            pa.table(t["underlyings"]),
            pa.table(t["vols"]),
            0,
            spec,
        )
    assert (info.value.table, info.value.column) == ("model", column)
    assert info.value.reason.startswith(reason), info.value.reason


def test_empty_positions_give_an_empty_result(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    t["positions"] = {
        "account_id": pa.array([], pa.string()),
        "instrument_id": pa.array([], pa.string()),
        "quantity": pa.array([], pa.float64()),
    }
    result = run(engine, t)
    assert result.accounts.num_rows == 0 and result.by_underlying.num_rows == 0
    assert result.accounts.schema.names[:4] == ["account_id", "initial_margin", "maintenance_margin", "gross_margin"]
    assert result.accounts.schema.field("account_id").type == pa.string()


def test_error_messages_match_between_engines() -> None:
    t = base_tables()
    t["positions"]["quantity"][3] = math.nan
    messages = set()
    for engine in ENGINES.values():
        with pytest.raises(MarginInputError) as info:
            run(engine, t)
        messages.add((info.value.table, info.value.column, info.value.row))
    assert messages == {("positions", "quantity", 3)}
