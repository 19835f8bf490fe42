"""Held contracts that cannot be valued: a barrier breached by the current spot is a market
problem of a held instrument (checked after its underlying, vol and expiry), raised as
MarginInputError naming the barrier cell, whose message says how to record the option instead; in
both engines, through :func:`margin`, :func:`greeks` and :func:`value` alike (the payoff book of
:mod:`tests.inputs.test_instruments`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import pmargin
from tests.inputs.test_errors import AS_OF, expect_error, run
from tests.inputs.test_instruments import DOWN_IN, ENGINES, UP_OUT, Engine, payoff_tables


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    return ENGINES[request.param]


@pytest.mark.parametrize(
    ("barrier_type", "option_type", "barrier", "how"),
    [
        ("down-and-out", "put", 60000.0, "knocked out: record its rebate as cash"),
        ("down-and-in", "put", 61000.0, "knocked in: record it as a vanilla option"),
        ("up-and-out", "call", 59000.0, "knocked out: record its rebate as cash"),
        ("up-and-in", "call", 60000.0, "knocked in: record it as a vanilla option"),
    ],
)
def test_breached_barrier(engine: Engine, barrier_type: str, option_type: str, barrier: float, how: str) -> None:
    """Spot 60000 at or beyond the barrier (touching is a hit): the error names the barrier cell
    and says how to record the option."""
    t = payoff_tables()
    t["instruments"]["barrier_type"][UP_OUT] = barrier_type
    t["instruments"]["option_type"][UP_OUT] = option_type
    t["instruments"]["barrier"][UP_OUT] = barrier
    err = expect_error(engine, t, "instruments", "barrier", UP_OUT, how)
    assert barrier_type in err.reason


def test_breached_barrier_is_checked_after_expiry(engine: Engine) -> None:
    t = payoff_tables()
    t["instruments"]["barrier"][UP_OUT] = 50000.0
    t["instruments"]["expiry"][UP_OUT] = AS_OF - dt.timedelta(days=1)
    expect_error(engine, t, "instruments", "expiry", UP_OUT, "expired")


@pytest.mark.parametrize("name", ["native-margin", "reference-margin", "native-greeks", "reference-greeks"])
def test_an_unheld_breached_barrier_is_not_an_error(name: str) -> None:
    """Only held instruments are checked against the market (``value`` prices every instrument,
    so there it is an error, as :func:`test_breached_barrier` shows)."""
    t = payoff_tables()
    t["instruments"]["barrier"][UP_OUT] = 50000.0
    keep = [i for i, iid in enumerate(t["positions"]["instrument_id"]) if iid != "BTC-UO"]
    t["positions"] = {k: [v[i] for i in keep] for k, v in t["positions"].items()}
    result: Any = run(ENGINES[name], t)
    if name.endswith("margin"):
        assert result.accounts.column("account_id").to_pylist() == ["a", "b", "c"]
    else:
        ids = result.positions.column("instrument_id").to_pylist()
        assert len(ids) == 6 and "BTC-UO" not in ids


def test_breached_barrier_messages_agree() -> None:
    t = payoff_tables()
    t["instruments"]["barrier"][DOWN_IN] = 60000.0
    reasons = set()
    for name in ("native-margin", "reference-margin"):
        with pytest.raises(pmargin.MarginInputError) as info:
            run(ENGINES[name], t)
        assert (info.value.table, info.value.column, info.value.row) == ("instruments", "barrier", DOWN_IN)
        reasons.add(info.value.reason.split(";")[1].strip())
    assert reasons == {"it has knocked in: record it as a vanilla option (no barrier_type)"}
