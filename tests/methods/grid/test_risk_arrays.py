"""Barrier options in the grid's scenario P&L (the risk arrays), through the engines: beyond the
barrier a knock-out is worth its rebate and a knock-in the vanilla, so a knock-in plus a
knock-out (zero rebate) has the vanilla's scenario P&L and margin.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.models import GridModel
from tests.pricing import test_payoffs as qlt
from tests.pricing.native import QUICK, Terms, multipliers, native_one, native_values, one_market, option_table
from tests.strategies import grid_models


class InOutCase(NamedTuple):
    option: qlt.Option
    barrier_type: str
    barrier: float
    multiplier: float
    quantity: float
    model: GridModel


@st.composite
def in_out_cases(draw: st.DrawFn) -> InOutCase:
    """A knock-in / knock-out pair 1% to 14% from the spot, and a grid whose +/-15% moves (added
    when missing) cross the barrier."""
    o = draw(qlt.options())
    barrier_type = draw(st.sampled_from(tuple(qlt.IN_OUT)))
    distance = draw(st.floats(0.01, 0.14))
    level = o.spot * (1.0 - distance if barrier_type.startswith("down") else 1.0 + distance)
    base = draw(grid_models())
    model = GridModel(
        price_shocks=[*base.price_shocks, -0.15, 0.15],
        vol_shocks=base.vol_shocks,
        vol_shock=base.vol_shock,
        cross=base.cross,
    )
    quantity = draw(st.floats(0.1, 50.0)) * draw(st.sampled_from([1.0, -1.0]))
    return InOutCase(o, barrier_type, level, draw(multipliers), quantity, model)


@QUICK
@given(case=in_out_cases())
def test_knock_in_plus_knock_out_is_the_vanilla_in_margin(case: InOutCase) -> None:
    """Account "pair" holds q knock-ins and q knock-outs, account "vanilla" q vanillas: their
    scenario P&L agree everywhere (beyond the barrier the knock-out is worth its zero rebate and
    the knock-in is the vanilla), and so do their margins."""
    o, q, m = case.option, case.quantity, case.multiplier
    out_type = qlt.IN_OUT[case.barrier_type]
    terms = [
        Terms("IN", o.is_call, o.strike, o.t, None, case.barrier_type, case.barrier, 0.0, m),
        Terms("OUT", o.is_call, o.strike, o.t, "vanilla", out_type, case.barrier, None, m),
        Terms("V", o.is_call, o.strike, o.t, multiplier=m),
    ]
    positions = pa.table(
        {"account_id": ["pair", "pair", "vanilla"], "instrument_id": ["IN", "OUT", "V"], "quantity": [q, q, q]}
    )
    result = pmargin.margin(
        positions, option_table(terms), one_market(o.spot, o.rate, o.vol, ["IN", "OUT", "V"]), case.model
    )
    scale = 1e-12 * abs(q) * m * max(o.spot, o.strike)
    pair = result.scenarios("pair").column("X").to_pylist()
    vanilla = result.scenarios("vanilla").column("X").to_pylist()
    for s, (a, b) in enumerate(zip(pair, vanilla, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-10, abs_tol=scale), (s, a, b)
    margins = result.accounts.column("initial_margin").to_pylist()
    assert math.isclose(margins[0], margins[1], rel_tol=1e-10, abs_tol=scale)


def test_beyond_the_barrier_a_knock_out_is_its_rebate_and_a_knock_in_the_vanilla() -> None:
    """Spot 100, down barrier 90, rebate 3, multiplier 10: under -15% the knock-out is worth 10 x
    3 and the knock-in 10 x the vanilla at spot 85; above the barrier (-5%) the closed form."""
    terms = [
        Terms("KO", True, 100.0, 0.5, None, "down-and-out", 90.0, 3.0, 10.0),
        Terms("KI", True, 100.0, 0.5, None, "down-and-in", 90.0, 3.0, 10.0),
    ]
    market = one_market(100.0, 0.04, 0.3, ["KO", "KI"])
    positions = pa.table({"account_id": ["o", "i"], "instrument_id": ["KO", "KI"], "quantity": [1.0, 1.0]})
    model = GridModel(price_shocks=[-0.15, -0.05], vol_shocks=[0.0])
    base = native_values(terms, 100.0, 0.04, 0.3)
    vanilla_85 = native_one(Terms("V", True, 100.0, 0.5, multiplier=10.0), 85.0, 0.04, 0.3).price
    alive_95 = native_values(terms, 95.0, 0.04, 0.3)
    for engine in (pmargin.margin, reference.margin):
        result = engine(positions, option_table(terms), market, model)
        knock_out = result.scenarios("o").column("X").to_pylist()
        knock_in = result.scenarios("i").column("X").to_pylist()
        assert math.isclose(knock_out[0], 30.0 - base["KO"].price, rel_tol=1e-12)
        assert math.isclose(knock_in[0], vanilla_85 - base["KI"].price, rel_tol=1e-12)
        assert math.isclose(knock_out[1], alive_95["KO"].price - base["KO"].price, rel_tol=1e-12)
        assert math.isclose(knock_in[1], alive_95["KI"].price - base["KI"].price, rel_tol=1e-12)
    assert 0.0 < base["KO"].price < base["KI"].price + base["KO"].price
