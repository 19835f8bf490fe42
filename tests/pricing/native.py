"""The native engine as a pricer, for the tests of :func:`pmargin.value` and of payoffs through
the engines: option rows of an instruments table (:class:`Terms`), one-underlying markets,
:func:`pmargin.value` read back as :class:`~pmargin.reference.pricing.greeks.Greeks`, the adapter
:data:`NATIVE` with :mod:`tests.pricing.test_payoffs`' pricing signatures, and the shared
hypothesis settings.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import NamedTuple

import pyarrow as pa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import pmargin
from pmargin.market import Market
from pmargin.reference.pricing.barrier import BarrierParams
from pmargin.reference.pricing.greeks import Greeks
from tests.pricing import test_payoffs as qlt

SLOW = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


QUICK = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)

AS_OF_NS = Market(AS_OF, {"underlying": ["X"], "spot": [1.0]}).as_of_ns

YEAR_NS = 365 * 86_400 * 10**9


class Terms(NamedTuple):
    """One option row of an instruments table (``t`` in years; payoff columns as in the table)."""

    instrument_id: str
    is_call: bool
    strike: float
    t: float
    payoff: str | None = None
    barrier_type: str | None = None
    barrier: float | None = None
    rebate: float | None = None
    multiplier: float = 1.0


def expiry_ns(t: float) -> int:
    """The expiry whose year fraction the engine computes as ``t`` (to the nanosecond)."""
    return AS_OF_NS + round(Fraction(t) * YEAR_NS)


def option_table(terms: list[Terms]) -> pa.Table:
    return pa.table(
        {
            "instrument_id": [x.instrument_id for x in terms],
            "underlying": ["X"] * len(terms),
            "kind": ["option"] * len(terms),
            "option_type": ["call" if x.is_call else "put" for x in terms],
            "strike": pa.array([x.strike for x in terms], pa.float64()),
            "expiry": pa.array([expiry_ns(x.t) for x in terms], pa.timestamp("ns", tz="UTC")),
            "payoff": pa.array([x.payoff for x in terms], pa.string()),
            "barrier_type": pa.array([x.barrier_type for x in terms], pa.string()),
            "barrier": pa.array([x.barrier for x in terms], pa.float64()),
            "rebate": pa.array([x.rebate for x in terms], pa.float64()),
            "multiplier": pa.array([x.multiplier for x in terms], pa.float64()),
        }
    )


def one_market(spot: float, rate: float, vol: float, ids: list[str]) -> Market:
    return Market(
        AS_OF,
        pa.table({"underlying": ["X"], "spot": [spot], "rate": [rate]}),
        pa.table({"instrument_id": ids, "implied_vol": [vol] * len(ids)}),
    )


def native_values(terms: list[Terms], spot: float, rate: float, vol: float) -> dict[str, Greeks]:
    """:func:`pmargin.value` of every option in ``terms`` on one underlying, as :class:`Greeks`."""
    table = pmargin.value(option_table(terms), one_market(spot, rate, vol, [x.instrument_id for x in terms]))
    return {
        row["instrument_id"]: Greeks(row["price"], row["delta"], row["gamma"], row["vega"], row["theta"])
        for row in table.to_pylist()
    }


def native_one(terms: Terms, spot: float, rate: float, vol: float) -> Greeks:
    return native_values([terms], spot, rate, vol)[terms.instrument_id]


def barrier_terms(p: BarrierParams, instrument_id: str = "B") -> Terms:
    return Terms(instrument_id, p.is_call, p.strike, p.t, None, p.barrier_type, p.barrier, p.rebate)


def _vanilla(is_call: bool, spot: float, strike: float, t: float, rate: float, vol: float) -> Greeks:
    return native_one(Terms("V", is_call, strike, t), spot, rate, vol)


def _digital(is_call: bool, spot: float, strike: float, t: float, rate: float, vol: float) -> Greeks:
    return native_one(Terms("D", is_call, strike, t, "digital"), spot, rate, vol)


def _barrier(p: BarrierParams) -> Greeks:
    return native_one(barrier_terms(p), p.spot, p.rate, p.vol)


#: The native engine behind the reference's pricing signatures (multiplier 1, one unit).
NATIVE = qlt.Pricer(
    "native",
    lambda *a: _vanilla(*a).price,
    _vanilla,
    lambda *a: _digital(*a).price,
    _digital,
    lambda p: _barrier(p).price,
    _barrier,
)


multipliers = st.one_of(st.just(1.0), st.floats(0.01, 100.0))
