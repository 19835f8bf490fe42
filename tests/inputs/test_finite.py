"""Finite outputs (docs/methods.md, "Finite outputs"): finite but absurd inputs either give
finite numbers everywhere or an input error naming the cell that caused them, the same cell in
both engines, through margin, value and greeks alike.

The plausible ranges (valuation/contract.rs, reference/valuation.py): multiplier <= 1e9; an
option's strike and a barrier within [1e-6, 1e6] x spot; total vol, implied vol x sqrt(T), at
most 100 (without the implied-vol bound of Limits); a netted position's P&L under any scenario at
most 1e100 (risk/arrays.rs MAX_PNL), else the quantity cell of its first row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.errors import MarginInputError
from pmargin.market import Market
from tests.inputs.test_errors import AS_OF, EXPIRY, base_tables
from tests.methods.models import mc_model

#: The vol bound of Limits is off: the total-vol range must hold without it.
NO_VOL_BOUND = pmargin.Limits(max_implied_vol=None)

Tables = dict[str, dict[str, list[Any]]]


def inputs(tables: Tables) -> tuple[pa.Table, pa.Table, Market]:
    ins = dict(tables["instruments"])
    ins["expiry"] = pa.array(ins["expiry"], pa.timestamp("us", tz="UTC"))
    market = Market(AS_OF, pa.table(tables["underlyings"]), pa.table(tables["vols"]))
    return pa.table(tables["positions"]), pa.table(ins), market


def margin_native(tables: Tables, model: Any = None) -> Any:
    positions, instruments, market = inputs(tables)
    return pmargin.margin(positions, instruments, market, model, limits=NO_VOL_BOUND)


def margin_reference(tables: Tables, model: Any = None) -> Any:
    positions, instruments, market = inputs(tables)
    return reference.margin(positions, instruments, market, model, limits=NO_VOL_BOUND)


def value_native(tables: Tables, model: Any = None) -> Any:
    _, instruments, market = inputs(tables)
    return pmargin.value(instruments, market, limits=NO_VOL_BOUND)


def value_reference(tables: Tables, model: Any = None) -> Any:
    _, instruments, market = inputs(tables)
    return reference.value(instruments, market, limits=NO_VOL_BOUND)


def greeks_native(tables: Tables, model: Any = None) -> Any:
    return pmargin.greeks(*inputs(tables), limits=NO_VOL_BOUND)


def greeks_reference(tables: Tables, model: Any = None) -> Any:
    return reference.greeks(*inputs(tables), limits=NO_VOL_BOUND)


MARGIN = [margin_native, margin_reference]
EVERY_ENTRY = [*MARGIN, value_native, value_reference, greeks_native, greeks_reference]


def same_error(runs: list[Callable[..., Any]], tables: Tables, where: tuple[str, str, int], model: Any = None) -> None:
    """Every run raises a MarginInputError at ``where`` (table, column, row), worded alike (floats
    as Python writes them, from either engine)."""
    messages = set()
    for run in runs:
        with pytest.raises(MarginInputError) as info:
            run(tables, model)
        err = info.value
        assert (err.table, err.column, err.row) == where, f"{run.__name__}: {err}"
        messages.add(str(err))
    assert len(messages) == 1, messages


def all_finite(table: pa.Table) -> bool:
    return all(
        math.isfinite(x)
        for name in table.column_names
        if pa.types.is_floating(table.schema.field(name).type)
        for x in table.column(name).to_pylist()
        if x is not None
    )


def with_instrument(**cells: Any) -> Tables:
    """The base book (BTC spot 60000) plus one held instrument ``X`` on BTC with ``cells``."""
    t = base_tables()
    ins = t["instruments"]
    row = {
        "instrument_id": "X",
        "underlying": "BTC",
        "kind": "option",
        "option_type": "call",
        "strike": 60000.0,
        "expiry": EXPIRY,
        "multiplier": 1.0,
        **cells,
    }
    extra = [c for c in row if c not in ins]
    for c in extra:
        ins[c] = [None] * len(ins["instrument_id"])
    for c in ins:
        ins[c].append(row.get(c))
    t["vols"] = {"instrument_id": [*t["vols"]["instrument_id"], "X"], "implied_vol": [*t["vols"]["implied_vol"], 0.5]}
    t["positions"] = {k: [*v, x] for (k, v), x in zip(t["positions"].items(), ("b", "X", 1.0), strict=True)}
    return t


@pytest.mark.parametrize("model", [None, mc_model(200)], ids=["grid", "montecarlo"])
def test_a_huge_quantity_names_its_quantity_cell(model: Any) -> None:
    t = base_tables()
    t["positions"]["quantity"][2] = 1e305  # ETH-F, row 2
    same_error(MARGIN, t, ("positions", "quantity", 2), model)


def test_a_huge_long_against_a_huge_short() -> None:
    """Native gave inf and the reference 0.0: now both name the first row."""
    t = base_tables()
    t["positions"] = {
        "account_id": ["a", "a", "b"],
        "instrument_id": ["BTC-PERP", "BTC-C", "BTC-PERP"],
        "quantity": [1.0, -2.0, 1.0],
    }
    t["positions"]["account_id"] += ["c", "c"]
    t["positions"]["instrument_id"] += ["BTC-PERP", "BTC-C"]
    t["positions"]["quantity"] += [1e305, -0.9e305]
    same_error(MARGIN, t, ("positions", "quantity", 3))
    # The same instrument long and short nets to 1e304: still far beyond any real book.
    t["positions"]["instrument_id"][4] = "BTC-PERP"
    same_error(MARGIN, t, ("positions", "quantity", 3))
    # A quantity that moves less than 1e100 is fine and every number finite.
    t["positions"]["quantity"][3:] = [1e90, -0.9e90]
    for run in MARGIN:
        result = run(t)
        assert all_finite(result.accounts) and all_finite(result.by_underlying), run.__name__
        assert result.accounts.column("initial_margin").to_pylist()[2] > 1e90


def test_a_digital_with_a_denormal_strike() -> None:
    """value() gave NaN gamma, vega and theta: now the strike cell is named everywhere."""
    t = with_instrument(payoff="digital", strike=5e-324)
    same_error(EVERY_ENTRY, t, ("instruments", "strike", 4))


def test_a_barrier_of_1e300() -> None:
    t = with_instrument(barrier_type="up-and-out", barrier=1e300, rebate=0.0)
    same_error(EVERY_ENTRY, t, ("instruments", "barrier", 4))


def test_a_vol_of_1e200_is_caught_without_the_vol_bound() -> None:
    """A call with vol 1e200 was priced 0.0."""
    t = with_instrument()
    t["vols"]["implied_vol"][2] = 1e200
    same_error(EVERY_ENTRY, t, ("vols", "implied_vol", 2))


def test_a_multiplier_of_1e308() -> None:
    """Native rejected it, the reference returned 0.0 initial margin: both name the cell now."""
    t = with_instrument(kind="future", option_type=None, strike=None, multiplier=1e308)
    same_error(EVERY_ENTRY, t, ("instruments", "multiplier", 4))


@settings(max_examples=25, deadline=None)
@given(
    multiplier=st.floats(min_value=1e9, exclude_min=True, allow_nan=False),
    strike=st.floats(min_value=5e-324, max_value=0.06, exclude_max=True),
)
def test_out_of_range_terms_read_alike_in_both_engines(multiplier: float, strike: float) -> None:
    """The value and the bound are written as Python writes them (1e+09, 0.0001, 5e-324), in
    every entry of both engines."""
    t = with_instrument(kind="future", option_type=None, strike=None, multiplier=multiplier)
    same_error(EVERY_ENTRY, t, ("instruments", "multiplier", 4))
    t = with_instrument(strike=strike)
    same_error(EVERY_ENTRY, t, ("instruments", "strike", 4))


def test_bounds_are_written_as_python_writes_them() -> None:
    t = with_instrument(kind="future", option_type=None, strike=None, multiplier=1.5e20)
    with pytest.raises(MarginInputError, match=r"multiplier of 1\.5e\+20, above the supported 1e\+09$"):
        margin_native(t)
    t = with_instrument(strike=1e-5)
    with pytest.raises(
        MarginInputError, match=r"strike of 1e-05, outside the supported \[1e-06, 1e\+06\] x spot 60000\.0"
    ):
        margin_native(t)


def test_the_order_of_the_checks() -> None:
    """Multiplier, then strike, then barrier, then total vol."""
    t = with_instrument(multiplier=1e10, strike=1e-20, barrier_type="up-and-out", barrier=1e300, rebate=0.0)
    t["vols"]["implied_vol"][2] = 1e200
    same_error(MARGIN, t, ("instruments", "multiplier", 4))
    t["instruments"]["multiplier"][4] = 1.0
    same_error(MARGIN, t, ("instruments", "strike", 4))
    t["instruments"]["strike"][4] = 60000.0
    same_error(MARGIN, t, ("instruments", "barrier", 4))
    t["instruments"]["barrier"][4] = 70000.0
    same_error(MARGIN, t, ("vols", "implied_vol", 2))


def test_an_implausible_instrument_nobody_holds_does_not_stop_a_margin_run() -> None:
    t = with_instrument(strike=1e-20)
    t["positions"] = {k: v[:-1] for k, v in t["positions"].items()}
    for run in MARGIN:
        assert run(t).accounts.num_rows == 2
    same_error([value_native, value_reference], t, ("instruments", "strike", 4))


@pytest.mark.parametrize(
    "cells",
    [
        {"strike": 60000.0 * 1e-6},
        {"strike": 60000.0 * 1e6, "option_type": "put"},
        {"payoff": "digital", "strike": 0.07},
        {"barrier_type": "down-and-out", "barrier": 0.06, "rebate": 5.0},
        {"barrier_type": "up-and-in", "barrier": 6e10, "strike": 50000.0},
        {"multiplier": 1e9},
    ],
)
def test_extreme_but_plausible_instruments_give_finite_numbers(cells: dict[str, Any]) -> None:
    t = with_instrument(**cells)
    t["vols"]["implied_vol"][2] = 100.0 / math.sqrt(30 / 365)  # a total vol of 100
    natives = (margin_native(t), value_native(t), greeks_native(t))
    refs = (margin_reference(t), value_reference(t), greeks_reference(t))
    for result in (natives[0], refs[0]):
        assert all_finite(result.accounts) and all_finite(result.by_underlying)
    for table in (natives[1], refs[1], natives[2].positions, refs[2].positions):
        assert all_finite(table)
    for a, b in zip(natives[1].column("price").to_pylist(), refs[1].column("price").to_pylist(), strict=True):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_greeks_of_a_huge_quantity_name_its_quantity_cell() -> None:
    t = base_tables()
    t["positions"]["quantity"][3] = -1e305  # BTC-P, row 3: 1e305 x a price of thousands
    same_error([greeks_native, greeks_reference], t, ("positions", "quantity", 3))
    t["positions"]["quantity"][3] = -1e90
    for run in (greeks_native, greeks_reference):
        result = run(t)
        assert all_finite(result.positions) and all_finite(result.by_underlying), run.__name__
