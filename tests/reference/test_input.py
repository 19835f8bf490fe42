"""Where the pure-Python reference reports input errors (table, column, row), by hand and on random
books with one defect.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from pmargin.errors import MarginInputError
from pmargin.reference import margin
from tests.reference.test_grid import AS_OF, instrument, instruments_table, market, positions_table
from tests.strategies import BrokenBook, broken_books


def valid_inputs() -> dict[str, Any]:
    """A small valid book as Python rows, for tests that break one cell."""
    expiry = AS_OF + dt.timedelta(days=30)
    return {
        "instruments": [
            instrument("S", "BTC", "spot"),
            instrument("F", "BTC", "future", expiry=expiry),
            instrument("C", "BTC", "option", option_type="call", strike=60000.0, expiry=expiry),
            instrument("Q", "ETH", "option", option_type="put", strike=3000.0, expiry=expiry),
        ],
        "underlyings": {"BTC": (60000.0, 0.01), "ETH": (3000.0, 0.0)},
        "vols": {"C": 0.5, "Q": 0.7},
        "positions": [("a", "S", 1.0), ("a", "C", -1.0), ("b", "Q", 2.0), ("b", "F", 1.0)],
    }


def run(inputs: dict[str, Any]) -> float:
    result = margin(
        positions_table(inputs["positions"]),
        instruments_table(inputs["instruments"]),
        market(inputs["underlyings"], inputs["vols"]),
    )
    return result.total_initial_margin


def error_of(inputs: dict[str, Any]) -> tuple[str | None, str | None, int | None, str]:
    with pytest.raises(MarginInputError) as info:
        run(inputs)
    return info.value.table, info.value.column, info.value.row, info.value.reason


@pytest.mark.parametrize(
    ("edit", "where", "says"),
    [
        (lambda d: d["underlyings"].update(ETH=(0.0, 0.0)), ("underlyings", "spot", 1), "> 0"),
        (lambda d: d["underlyings"].update(ETH=(math.nan, 0.0)), ("underlyings", "spot", 1), "finite"),
        (lambda d: d["underlyings"].update(ETH=(3000.0, math.inf)), ("underlyings", "rate", 1), "finite"),
        (lambda d: d["vols"].update(Q=-0.1), ("vols", "implied_vol", 1), "> 0"),
        (
            lambda d: d["instruments"].append(instrument("S", "ETH", "spot")),
            ("instruments", "instrument_id", 4),
            "first at row 0",
        ),
        (lambda d: d["instruments"].append(instrument("Z", "ETH", "swap")), ("instruments", "kind", 4), "perpetual"),
        (lambda d: d["instruments"][3].update(option_type="straddle"), ("instruments", "option_type", 3), "call, put"),
        (lambda d: d["instruments"][2].update(strike=-1.0), ("instruments", "strike", 2), "> 0"),
        (lambda d: d["instruments"][1].update(expiry=None), ("instruments", "expiry", 1), "null"),
        (lambda d: d["instruments"][0].update(multiplier=0.0), ("instruments", "multiplier", 0), "> 0"),
        (lambda d: d["positions"].insert(3, ("b", "F", math.inf)), ("positions", "quantity", 3), "finite"),
        (lambda d: d["positions"].append(("c", "NOPE", 1.0)), ("positions", "instrument_id", 4), "unknown instrument"),
        (lambda d: d["vols"].pop("Q"), ("instruments", "instrument_id", 3), "vols"),
        (lambda d: d["underlyings"].pop("ETH"), ("instruments", "underlying", 3), "ETH"),
        (
            lambda d: d["instruments"][1].update(expiry=AS_OF - dt.timedelta(days=2, hours=3)),
            ("instruments", "expiry", 1),
            "2 days, 3:00:00 ago",
        ),
    ],
)
def test_input_errors_name_the_cell(edit: Any, where: tuple[str, str, int], says: str) -> None:
    inputs = valid_inputs()
    edit(inputs)
    table, column, row, reason = error_of(inputs)
    assert (table, column, row) == where
    assert says in reason


def test_first_held_problem_wins_and_unheld_instruments_are_not_checked() -> None:
    """Market checks follow the positions' row order and skip instruments nobody holds."""
    inputs = valid_inputs()
    inputs["instruments"].append(instrument("OLD", "BTC", "future", expiry=AS_OF - dt.timedelta(days=1)))
    inputs["instruments"].append(instrument("DOGE", "DOGE", "spot"))
    assert run(inputs) == pytest.approx(run(valid_inputs()), rel=1e-15)
    inputs["positions"].append(("z", "DOGE", 1.0))
    inputs["positions"].append(("z", "OLD", 1.0))
    assert error_of(inputs)[:3] == ("instruments", "underlying", 5)


@pytest.mark.parametrize(
    ("table", "column", "values", "says"),
    [
        ("positions", "quantity", pa.array(["1", "2", "3", "4"]), "expected numbers"),
        ("positions", "instrument_id", pa.array([1, 2, 3, 4]), "expected strings"),
        ("positions", "account_id", pa.array([1.0, 2.0, 3.0, 4.0]), "strings or integers"),
    ],
)
def test_wrong_column_types_are_named(table: str, column: str, values: pa.Array, says: str) -> None:
    inputs = valid_inputs()
    positions = positions_table(inputs["positions"])
    positions = positions.set_column(positions.column_names.index(column), column, values)
    with pytest.raises(MarginInputError) as info:
        margin(positions, instruments_table(inputs["instruments"]), market(inputs["underlyings"], inputs["vols"]))
    assert (info.value.table, info.value.column, info.value.row) == (table, column, None)
    assert says in info.value.reason


def test_missing_column_is_named() -> None:
    inputs = valid_inputs()
    inst = instruments_table(inputs["instruments"]).drop_columns(["strike"])
    with pytest.raises(MarginInputError) as info:
        margin(positions_table(inputs["positions"]), inst, market(inputs["underlyings"], inputs["vols"]))
    assert (info.value.table, info.value.column, info.value.row) == ("instruments", "strike", None)
    # Without options, strike and option_type are not needed.
    delta_one = [r for r in inputs["instruments"] if r["kind"] != "option"]
    held = [p for p in inputs["positions"] if p[1] in ("S", "F")]
    table = instruments_table(delta_one).drop_columns(["strike", "option_type", "multiplier"])
    result = margin(positions_table(held), table, market(inputs["underlyings"]))
    assert result.accounts.column("initial_margin").to_pylist() == pytest.approx(
        [60000.0 * 0.15, 0.15 * 60000.0 * math.exp(0.01 * 30 / 365)], rel=1e-13
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(broken=broken_books())
def test_one_defect_is_reported_at_its_cell(broken: BrokenBook) -> None:
    book = broken.book
    with pytest.raises(MarginInputError) as info:
        margin(book.positions, book.instruments, book.market())
    assert (info.value.table, info.value.column, info.value.row) == broken.where, (broken.defect, info.value.reason)
