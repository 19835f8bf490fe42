"""The payoff columns of the instruments table: each bad case raises MarginInputError naming table,
column, row and reason, in both engines, through :func:`margin`, :func:`greeks` and :func:`value`
alike.

The payoff columns (``payoff``, ``barrier_type``, ``barrier``, ``rebate``) are checked after
``expiry`` and before ``multiplier``, each column's rows in order, on option rows only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.market import Market
from tests.inputs.test_errors import EXPIRY, base_tables, expect_error, run

Engine = Callable[..., Any]


def _greeks(engine: Callable[..., Any]) -> Engine:
    def call(positions: Any, instruments: Any, market: Market, model: Any = None) -> Any:
        return engine(positions, instruments, market)

    return call


def _value(engine: Callable[..., Any]) -> Engine:
    def call(positions: Any, instruments: Any, market: Market, model: Any = None) -> Any:
        return engine(instruments, market)

    return call


#: Every entry point that validates instruments, with the margin signature.
ENGINES: dict[str, Engine] = {
    "native-margin": pmargin.margin,
    "reference-margin": reference.margin,
    "native-greeks": _greeks(pmargin.greeks),
    "reference-greeks": _greeks(reference.greeks),
    "native-value": _value(pmargin.value),
    "reference-value": _value(reference.value),
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    return ENGINES[request.param]


def payoff_tables() -> dict[str, dict[str, list[Any]]]:
    """test_errors' base book (BTC spot 60000) plus a digital put, an up-and-out call (barrier
    70000, rebate 100) and a down-and-in put (barrier 50000), all held."""
    t = base_tables()
    ins = t["instruments"]
    ins["instrument_id"] += ["BTC-D", "BTC-UO", "BTC-DI"]
    ins["underlying"] += ["BTC"] * 3
    ins["kind"] += ["option"] * 3
    ins["option_type"] += ["put", "call", "put"]
    ins["strike"] += [55000.0, 62000.0, 58000.0]
    ins["expiry"] += [EXPIRY] * 3
    ins["multiplier"] += [1.0, 1.0, 1.0]
    ins["payoff"] = [None, "vanilla", None, "digital", "digital", None, "vanilla"]
    ins["barrier_type"] = [None, None, None, "down-and-out", None, "up-and-out", "down-and-in"]
    ins["barrier"] = [None, None, None, None, None, 70000.0, 50000.0]
    ins["rebate"] = [None, None, None, -5.0, None, 100.0, None]
    t["vols"]["instrument_id"] += ["BTC-D", "BTC-UO", "BTC-DI"]
    t["vols"]["implied_vol"] += [0.5, 0.5, 0.5]
    t["positions"]["account_id"] += ["c", "c", "c"]
    t["positions"]["instrument_id"] += ["BTC-D", "BTC-UO", "BTC-DI"]
    t["positions"]["quantity"] += [-1.0, 2.0, -3.0]
    return t


def primary(result: Any) -> pa.Table:
    """The main table of a result: accounts (margin), positions (greeks) or the value table."""
    if isinstance(result, pmargin.MarginResult):
        return result.accounts
    if isinstance(result, pmargin.GreeksResult):
        return result.positions
    assert isinstance(result, pa.Table)
    return result


#: Rows of :func:`primary` for the valid payoff book: 3 accounts, 7 positions, 7 instruments.
VALID_ROWS = {pa.Table: 7, pmargin.GreeksResult: 7, pmargin.MarginResult: 3}


def valid_rows(result: Any) -> int:
    return VALID_ROWS[type(result)]


def test_the_payoff_book_is_valid(engine: Engine) -> None:
    """Junk in the payoff columns of non-option rows (row 3, a future) is ignored."""
    result = run(engine, payoff_tables())
    assert primary(result).num_rows == valid_rows(result)


def test_the_payoff_book_margins_alike() -> None:
    native = run(pmargin.margin, payoff_tables())
    ref = run(reference.margin, payoff_tables())
    assert native.accounts.column("account_id").to_pylist() == ["a", "b", "c"]
    for a, b in zip(
        native.accounts.column("initial_margin").to_pylist(),
        ref.accounts.column("initial_margin").to_pylist(),
        strict=True,
    ):
        assert a > 0 and math.isclose(a, b, rel_tol=1e-9)


def test_unknown_payoff(engine: Engine) -> None:
    t = payoff_tables()
    t["instruments"]["payoff"][UP_OUT] = "american"
    expect_error(engine, t, "instruments", "payoff", UP_OUT, "american")


def test_unknown_barrier_type(engine: Engine) -> None:
    t = payoff_tables()
    t["instruments"]["barrier_type"][DOWN_IN] = "sideways-and-in"
    expect_error(engine, t, "instruments", "barrier_type", DOWN_IN, "sideways-and-in")


def test_a_digital_cannot_have_a_barrier(engine: Engine) -> None:
    t = payoff_tables()
    t["instruments"]["barrier_type"][DIGITAL] = "up-and-in"
    t["instruments"]["barrier"][DIGITAL] = 70000.0
    expect_error(engine, t, "instruments", "barrier_type", DIGITAL, "payoff 'vanilla'")


@pytest.mark.parametrize(("bad", "fragment"), [(None, "null"), (0.0, "> 0"), (-70000.0, "> 0"), (math.nan, "finite")])
def test_barrier_option_without_a_usable_barrier(engine: Engine, bad: float | None, fragment: str) -> None:
    t = payoff_tables()
    t["instruments"]["barrier"][DOWN_IN] = bad
    expect_error(engine, t, "instruments", "barrier", DOWN_IN, fragment)


def test_barrier_option_without_a_barrier_column(engine: Engine) -> None:
    t = payoff_tables()
    del t["instruments"]["barrier"]
    expect_error(engine, t, "instruments", "barrier", UP_OUT, "null")


@pytest.mark.parametrize(("bad", "fragment"), [(-1.0, ">= 0"), (-1e-300, ">= 0"), (math.inf, "finite")])
def test_bad_rebate(engine: Engine, bad: float, fragment: str) -> None:
    t = payoff_tables()
    t["instruments"]["rebate"][DOWN_IN] = bad
    expect_error(engine, t, "instruments", "rebate", DOWN_IN, fragment)


@pytest.mark.parametrize("bad", [0.0, -2.0])
def test_digital_with_a_non_positive_payout(engine: Engine, bad: float) -> None:
    t = payoff_tables()
    t["instruments"]["multiplier"][DIGITAL] = bad
    err = expect_error(engine, t, "instruments", "multiplier", DIGITAL, "payout must be > 0")
    assert "digital" in err.reason


def test_columns_are_checked_in_order(engine: Engine) -> None:
    """A bad multiplier (row 0) and a negative rebate (row 6) come after an unknown payoff (row
    5); the payoff column comes after expiry (row 2)."""
    t = payoff_tables()
    t["instruments"]["multiplier"][0] = -1.0
    t["instruments"]["rebate"][DOWN_IN] = -1.0
    t["instruments"]["payoff"][UP_OUT] = "asian"
    expect_error(engine, t, "instruments", "payoff", UP_OUT, "asian")
    t["instruments"]["expiry"][2] = None
    expect_error(engine, t, "instruments", "expiry", 2, "null")


def test_payoff_column_of_the_wrong_type(engine: Engine) -> None:
    t = payoff_tables()
    t["instruments"]["payoff"] = [1.0] * 7
    expect_error(engine, t, "instruments", "payoff", None, "string")


def test_non_option_rows_ignore_the_payoff_columns(engine: Engine) -> None:
    t = payoff_tables()
    t["instruments"]["payoff"][0] = "not-a-payoff"
    t["instruments"]["barrier_type"][0] = "not-a-barrier"
    t["instruments"]["barrier"][0] = -1.0
    t["instruments"]["rebate"][0] = math.nan
    result = run(engine, t)
    assert primary(result).num_rows == valid_rows(result)


@pytest.mark.parametrize("columns", ["absent", "null-typed"])
def test_payoff_columns_are_optional(columns: str) -> None:
    """Absent or all-null ``payoff``/``barrier_type``/``barrier``/``rebate``: every option is a
    vanilla, with the same prices as without the columns."""
    t = base_tables()
    plain: Any = run(ENGINES["native-value"], t)
    if columns == "null-typed":
        for name in ("payoff", "barrier_type", "barrier", "rebate"):
            t["instruments"][name] = pa.nulls(4)
    for name in ("native-value", "reference-value"):
        priced: Any = run(ENGINES[name], t)
        assert priced.column("price").to_pylist() == plain.column("price").to_pylist()


#: The instruments rows added to test_errors' base book (rows 4, 5, 6).
DIGITAL, UP_OUT, DOWN_IN = 4, 5, 6
