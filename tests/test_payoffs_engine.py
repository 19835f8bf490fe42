"""Digital and barrier options, Greeks and the margin breakdown, through the engines.

- **Native == reference** on random books whose options mix every payoff
  (:func:`strategies.payoff_books`): margins (``accounts``, ``by_underlying``, risk matrices),
  ``by_position`` and ``explain``, :func:`pmargin.value` and :func:`pmargin.greeks`. Tolerance:
  1e-9 relative, with absolute floors: 1e-9 x (account gross margin + 1) for margins (as in
  test_parity), 1e-9 x :func:`pnl_scales` for the incremental margin and the sums of
  contributions (the engines round P&L sums in different orders there), 1e-12 x the natural
  scale of each Greek (:func:`unit_scales`).
- **QuantLib through the native engine**: :func:`pmargin.value` prices and Greeks of vanilla and
  digital options against ``AnalyticEuropeanEngine``, barrier prices against
  ``AnalyticBarrierEngine`` (QuantLib's normal-CDF error taken out as in
  ``test_pricing_quantlib``) and barrier Greeks against central differences of QuantLib prices,
  with that file's strategies, tolerances and helpers, via the adapter :data:`NATIVE`.
- **Invariants through the engine**: knock-in + knock-out == vanilla (zero rebate) in prices,
  Greeks and scenario P&L; digital call + put == multiplier x exp(-rT); contributions add up to
  the requirement; incremental margin == margin minus the margin of the book without the
  position; delta == a central difference of the engine's own prices; a long call's theta <= 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, NamedTuple

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
import test_pricing_quantlib as qlt
from pmargin import reference
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.market import Market
from pmargin.models import GridModel, HistoricalModel, scenario_label
from pmargin.reference.grid import held_risk_arrays, make_contract, net_positions
from pmargin.reference.payoffs import BARRIER_TYPES, BarrierParams, Greeks
from pmargin.reference.pricing import Contract
from pmargin.reference.tables import read_instruments, read_positions, read_underlyings, read_vols
from strategies import Book, correlation_grid_models, grid_models, payoff_books
from test_parity import (
    account_scales,
    assert_same_numbers,
    assert_same_result,
    assert_same_schema,
    assert_same_values,
)

REL = 1e-9
#: Absolute floor of Greek parity, times the Greek's natural scale (:func:`unit_scales`).
GREEK_FLOOR = 1e-12
GREEKS = ("price", "delta", "gamma", "vega", "theta")
SLOW = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
QUICK = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
AS_OF_NS = Market(AS_OF, {"underlying": ["X"], "spot": [1.0]}).as_of_ns
YEAR_NS = 365 * 86_400 * 10**9


# --- the native engine as a pricer ---------------------------------------------------------------


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


# --- QuantLib parity through pmargin.value ---------------------------------------------------


@qlt.PROPERTIES
@given(o=qlt.options())
def test_native_vanilla_matches_quantlib(o: qlt.Option) -> None:
    expected = qlt.ql_greeks(qlt.ql_european(o, digital=False))
    actual = qlt.as_tuple(NATIVE.vanilla_greeks(*o.args()))
    assert math.isclose(actual[0], expected[0], rel_tol=1e-10, abs_tol=1e-13 * o.spot)
    qlt.assert_all_close(actual, expected, qlt.vanilla_scales(o.spot, o.strike, o.t, o.rate, o.vol), 1e-8, 1e-13)


@qlt.PROPERTIES
@given(o=qlt.options())
def test_native_digital_matches_quantlib(o: qlt.Option) -> None:
    expected = qlt.ql_greeks(qlt.ql_european(o, digital=True))
    actual = qlt.as_tuple(NATIVE.digital_greeks(*o.args()))
    assert math.isclose(actual[0], expected[0], rel_tol=1e-9, abs_tol=1e-13)
    qlt.assert_all_close(actual, expected, qlt.digital_scales(o.spot, o.t, o.rate, o.vol), 1e-8, 1e-13)


@qlt.PROPERTIES
@given(b=qlt.barriers())
def test_native_barrier_prices_match_quantlib(b: qlt.Barrier) -> None:
    p = b.params
    quantlib = qlt.ql_barrier_price(p, b.days)
    cdf_error = qlt.quantlib_cdf_error(p)
    assert abs(cdf_error) <= 5e-8 * p.spot
    actual = NATIVE.barrier_price(p)
    assert math.isclose(actual, quantlib - cdf_error, rel_tol=1e-9, abs_tol=1e-12 * p.spot), (
        f"{actual!r} vs QuantLib {quantlib!r} (its CDF error {cdf_error:.3e})"
    )


@pytest.mark.parametrize("barrier_type", BARRIER_TYPES)
@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("rebate", [0.0, 4.0])
@pytest.mark.parametrize("strike", [80.0, 100.0, 125.0])
def test_every_native_barrier_branch_matches_quantlib(
    barrier_type: str, is_call: bool, rebate: float, strike: float
) -> None:
    barrier = 90.0 if barrier_type.startswith("down") else 115.0
    p = BarrierParams(is_call, barrier_type, 100.0, strike, barrier, rebate, 219 / 365.0, 0.03, 0.3)
    assert math.isclose(NATIVE.barrier_price(p), qlt.ql_barrier_price(p, 219), rel_tol=1e-12, abs_tol=1e-13)


@SLOW
@given(b=qlt.barriers())
def test_native_barrier_greeks_match_quantlib_differences(b: qlt.Barrier) -> None:
    p = b.params
    expected = qlt.differences(lambda q: qlt.ql_barrier_price_exact_cdf(q, b.days), p)
    actual = qlt.as_tuple(NATIVE.barrier_greeks(p))
    qlt.assert_all_close(actual, expected, qlt.vanilla_scales(p.spot, p.strike, p.t, p.rate, p.vol), 1e-6, 1e-7)


# --- invariants through the engine -------------------------------------------------------------

multipliers = st.one_of(st.just(1.0), st.floats(0.01, 100.0))


@QUICK
@given(b=qlt.barriers(barrier_types=tuple(qlt.IN_OUT), rebate=False), m=multipliers)
def test_knock_in_plus_knock_out_is_the_vanilla_in_value(b: qlt.Barrier, m: float) -> None:
    p = b.params
    knock_in = barrier_terms(p, "IN")._replace(multiplier=m)
    knock_out = barrier_terms(replace(p, barrier_type=qlt.IN_OUT[p.barrier_type]), "OUT")._replace(multiplier=m)
    vanilla = Terms("V", p.is_call, p.strike, p.t, multiplier=m)
    v = native_values([knock_in, knock_out, vanilla], p.spot, p.rate, p.vol)
    summed = tuple(i + o for i, o in zip(qlt.as_tuple(v["IN"]), qlt.as_tuple(v["OUT"]), strict=True))
    scales = tuple(m * s for s in qlt.vanilla_scales(p.spot, p.strike, p.t, p.rate, p.vol))
    assert math.isclose(summed[0], v["V"].price, rel_tol=1e-10, abs_tol=1e-13 * m * p.spot)
    qlt.assert_all_close(summed, qlt.as_tuple(v["V"]), scales, rel=1e-10, floor=1e-12)


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


@QUICK
@given(o=qlt.options(), m=multipliers)
def test_digital_call_plus_put_pays_the_discounted_multiplier(o: qlt.Option, m: float) -> None:
    """call + put == m exp(-rT); their deltas, gammas and vegas cancel and their thetas add up to
    r m exp(-rT) (the carry of the certain payment)."""
    call = Terms("C", True, o.strike, o.t, "digital", multiplier=m)
    put = Terms("P", False, o.strike, o.t, "digital", multiplier=m)
    v = native_values([call, put], o.spot, o.rate, o.vol)
    cash = m * math.exp(-o.rate * o.t)
    assert math.isclose(v["C"].price + v["P"].price, cash, rel_tol=1e-14)
    scales = qlt.digital_scales(o.spot, o.t, o.rate, o.vol)
    for i, name in enumerate(("delta", "gamma", "vega"), start=1):
        total = getattr(v["C"], name) + getattr(v["P"], name)
        assert abs(total) <= 1e-13 * m * scales[i], (name, total)
    assert math.isclose(v["C"].theta + v["P"].theta, o.rate * cash, rel_tol=1e-9, abs_tol=1e-13 * m * scales[4])


def instrument_underlyings(book: Book) -> dict[str, str]:
    return dict(
        zip(
            book.instruments.column("instrument_id").to_pylist(),
            book.instruments.column("underlying").to_pylist(),
            strict=True,
        )
    )


@SLOW
@given(book=payoff_books(), model=grid_models())
def test_contributions_add_up_to_the_requirement(book: Book, model: GridModel) -> None:
    """``cross="joint"``: per account; ``"sum"``: per account and underlying. The explain's P&L of
    an underlying is minus its positions' contributions."""
    result = pmargin.margin(book.positions, book.instruments, book.market(), model, by_position=True)
    assert result.by_position is not None and result.explain is not None
    scales = pnl_scales(book, model)
    underlying_of = instrument_underlyings(book)
    per_account: dict[Any, float] = {}
    per_underlying: dict[tuple[Any, str], float] = {}
    for row in result.by_position.to_pylist():
        key = (row["account_id"], underlying_of[row["instrument_id"]])
        per_account[row["account_id"]] = per_account.get(row["account_id"], 0.0) + row["contribution"]
        per_underlying[key] = per_underlying.get(key, 0.0) + row["contribution"]
    for row in result.accounts.to_pylist():
        if model.cross == "joint":
            assert math.isclose(
                per_account[row["account_id"]],
                row["initial_margin"],
                rel_tol=REL,
                abs_tol=REL * scales[row["account_id"]],
            )
    for row in result.by_underlying.to_pylist():
        key = (row["account_id"], row["underlying"])
        if model.cross == "sum":
            assert math.isclose(per_underlying[key], row["requirement"], rel_tol=REL, abs_tol=REL * scales[key[0]])
    for row in result.explain.to_pylist():
        key = (row["account_id"], row["underlying"])
        assert math.isclose(row["pnl"], -per_underlying[key], rel_tol=REL, abs_tol=REL * scales[key[0]])


def without_pair(positions: pa.Table, account: Any, instrument: str) -> pa.Table:
    """``positions`` without the rows of one (account, instrument): the netted position removed
    (kept rows sliced, so every column keeps its Arrow type, string_view included)."""
    pairs = zip(positions.column("account_id").to_pylist(), positions.column("instrument_id").to_pylist(), strict=True)
    kept = [positions.slice(i, 1) for i, (a, iid) in enumerate(pairs) if not (a == account and iid == instrument)]
    return pa.concat_tables(kept) if kept else positions.slice(0, 0)


@SLOW
@given(book=payoff_books(max_rows=15), model=grid_models())
def test_incremental_margin_is_the_margin_without_the_position(book: Book, model: GridModel) -> None:
    """The first, a middle and the last netted position: incremental margin == the account's
    initial margin minus ``pmargin.margin`` of the book without that position (0 when it was the
    account's only one)."""
    market = book.market()
    result = pmargin.margin(book.positions, book.instruments, market, model, by_position=True)
    assert result.by_position is not None
    rows = result.by_position.to_pylist()
    scales = pnl_scales(book, model)
    margins = dict(
        zip(
            result.accounts.column("account_id").to_pylist(),
            result.accounts.column("initial_margin").to_pylist(),
            strict=True,
        )
    )
    for index in sorted({0, len(rows) // 2, len(rows) - 1} if rows else set()):
        row = rows[index]
        rest = pmargin.margin(
            without_pair(book.positions, row["account_id"], row["instrument_id"]), book.instruments, market, model
        )
        ids = rest.accounts.column("account_id").to_pylist()
        left = (
            rest.accounts.column("initial_margin").to_pylist()[ids.index(row["account_id"])]
            if row["account_id"] in ids
            else 0.0
        )
        expected = margins[row["account_id"]] - left
        assert math.isclose(
            row["incremental_margin"], expected, rel_tol=REL, abs_tol=REL * scales[row["account_id"]]
        ), (row, expected)


class PayoffCase(NamedTuple):
    terms: Terms
    spot: float
    rate: float
    vol: float


@st.composite
def payoff_cases(draw: st.DrawFn) -> PayoffCase:
    """A vanilla, digital or barrier option (test_pricing_quantlib's ranges) with a multiplier."""
    m = draw(multipliers)
    kind = draw(st.sampled_from(["vanilla", "digital", "barrier"]))
    if kind == "barrier":
        p = draw(qlt.barriers()).params
        return PayoffCase(barrier_terms(p)._replace(multiplier=m), p.spot, p.rate, p.vol)
    o = draw(qlt.options())
    payoff = "digital" if kind == "digital" else draw(st.sampled_from([None, "vanilla"]))
    return PayoffCase(Terms("O", o.is_call, o.strike, o.t, payoff, multiplier=m), o.spot, o.rate, o.vol)


@QUICK
@given(case=payoff_cases())
def test_delta_is_a_difference_of_the_engines_own_prices(case: PayoffCase) -> None:
    """Delta from :func:`pmargin.value` == a Richardson central difference of its prices on
    markets with spot x (1 +/- h) (steps as in test_pricing_quantlib; they stay well inside the
    barrier's distance)."""
    x = case.terms

    def price(spot: float) -> float:
        return native_one(x, spot, case.rate, case.vol).price

    delta = native_one(x, case.spot, case.rate, case.vol).delta
    fd = qlt.own_delta(price, case.spot, case.vol, x.t)
    scale = 1.0 / (case.spot * case.vol * math.sqrt(x.t)) if x.payoff == "digital" else 1.0
    assert math.isclose(delta, fd, rel_tol=1e-7, abs_tol=1e-9 * x.multiplier * scale)


@QUICK
@given(o=qlt.options().filter(lambda o: o.rate >= 0.0))
def test_long_vanilla_call_theta_is_negative(o: qlt.Option) -> None:
    """theta <= 0; strictly negative whenever the option has time value left (vega > 0)."""
    g = NATIVE.vanilla_greeks(True, o.spot, o.strike, o.t, o.rate, o.vol)
    assert g.theta <= 0.0
    if g.vega > 0.0:
        assert g.theta < 0.0


# --- fixed cases -----------------------------------------------------------------------------------


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


def test_explain_and_greeks_follow_their_definitions() -> None:
    """A hand-checkable account: 2 spot, -3 futures, 1 call and -4 digitals on one underlying;
    the explain's Greek P&L and the Greeks tables recomputed from :func:`pmargin.value`."""
    instruments = pa.table(
        {
            "instrument_id": ["S", "F", "C", "D"],
            "underlying": ["X"] * 4,
            "kind": ["spot", "future", "option", "option"],
            "option_type": [None, None, "call", "put"],
            "strike": [None, None, 100.0, 95.0],
            "expiry": pa.array([None, expiry_ns(0.5), expiry_ns(0.25), expiry_ns(0.25)], pa.timestamp("ns", tz="UTC")),
            "payoff": [None, None, "vanilla", "digital"],
            "multiplier": [1.0, 2.0, 1.0, 10.0],
        }
    )
    market = Market(
        AS_OF,
        pa.table({"underlying": ["X"], "spot": [100.0], "rate": [0.03]}),
        pa.table({"instrument_id": ["C", "D"], "implied_vol": [0.4, 0.5]}),
    )
    quantities = {"S": 2.0, "F": -3.0, "C": 1.0, "D": -4.0}
    positions = pa.table(
        {"account_id": ["a"] * 4, "instrument_id": list(quantities), "quantity": list(quantities.values())}
    )
    model = GridModel(price_shocks=[-0.1, 0.1], vol_shocks=[-0.2, 0.2])
    unit = {row["instrument_id"]: row for row in pmargin.value(instruments, market).to_pylist()}
    vols = {"C": 0.4, "D": 0.5}

    for engine in (pmargin.margin, reference.margin):
        result = engine(positions, instruments, market, model, by_position=True)
        assert result.explain is not None
        (row,) = result.explain.to_pylist()
        p, v = row["price_shock"], row["vol_shock"]
        ds = 100.0 * p
        delta_pnl = sum(q * unit[i]["delta"] * ds for i, q in quantities.items())
        gamma_pnl = sum(0.5 * q * unit[i]["gamma"] * ds * ds for i, q in quantities.items())
        vega_pnl = sum(q * unit[i]["vega"] * vols[i] * v for i, q in quantities.items() if i in vols)
        worst = result.scenarios("a").column("X").to_pylist()[row_index(model, p, v)]
        assert row["scenario"] == scenario_label("X", p, v, "relative")
        assert math.isclose(row["pnl"], worst, rel_tol=1e-12)
        assert math.isclose(row["pnl"], -result.accounts.column("initial_margin")[0].as_py(), rel_tol=1e-12)
        for name, expected in (("delta_pnl", delta_pnl), ("gamma_pnl", gamma_pnl), ("vega_pnl", vega_pnl)):
            assert math.isclose(row[name], expected, rel_tol=1e-12), name
        residual = row["pnl"] - (row["delta_pnl"] + row["gamma_pnl"] + row["vega_pnl"])
        assert math.isclose(row["residual"], residual, rel_tol=1e-12, abs_tol=1e-12)

    for engine_greeks in (pmargin.greeks, reference.greeks):
        g = engine_greeks(positions, instruments, market)
        by_position = {row["instrument_id"]: row for row in g.positions.to_pylist()}
        for i, q in quantities.items():
            assert by_position[i]["quantity"] == q
            assert math.isclose(by_position[i]["value"], q * unit[i]["price"], rel_tol=1e-12)
            for name in ("delta", "gamma", "vega", "theta"):
                assert by_position[i][name] == q * unit[i][name]
        (total,) = g.by_underlying.to_pylist()
        for name in ("delta", "gamma", "vega", "theta"):
            assert math.isclose(total[name], sum(q * unit[i][name] for i, q in quantities.items()), rel_tol=1e-12)
        assert unit["S"]["delta"] == 1.0
        assert math.isclose(unit["F"]["delta"], 2.0 * math.exp(0.03 * 0.5), rel_tol=1e-15)
        assert math.isclose(total["cash_delta"], total["delta"] * 100.0, rel_tol=1e-15)
        assert math.isclose(total["cash_gamma"], 0.5 * total["gamma"] * 1.0, rel_tol=1e-14)
        assert math.isclose(total["vega_1pct"], total["vega"] / 100.0, rel_tol=1e-15)


def row_index(model: GridModel, p: float, v: float) -> int:
    return model.scenario_shocks().index((p, v))


@pytest.mark.parametrize("engine", [pmargin.margin, reference.margin], ids=["native", "reference"])
def test_by_position_needs_a_grid_model(engine: Callable[..., pmargin.MarginResult]) -> None:
    moves = pa.table(
        {
            "date": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)],
            "underlying": ["X"] * 4,
            "return": [0.01, -0.02, 0.03, -0.05],
        }
    )
    model = HistoricalModel(moves, measure="var", confidence=0.5)
    terms = [Terms("V", True, 100.0, 0.5)]
    positions = pa.table({"account_id": ["a"], "instrument_id": ["V"], "quantity": [1.0]})
    market = one_market(100.0, 0.0, 0.3, ["V"])
    assert engine(positions, option_table(terms), market, model).accounts.num_rows == 1
    with pytest.raises(MarginConfigError) as info:
        engine(positions, option_table(terms), market, model, by_position=True)
    assert (info.value.table, info.value.column) == ("model", "by_position")


# --- native == reference -------------------------------------------------------------------------


def unit_scales(c: Contract) -> dict[str, float]:
    """Natural sizes of one unit's price and Greeks (multiplier included), for absolute floors:
    a vanilla's plus a digital's at-the-money orders (test_pricing_quantlib's scales); a linear
    contract's price and delta."""
    m = c.multiplier
    size = max(c.spot, c.strike)
    if c.kind != "option" or c.t == 0.0 or c.vol is None:
        return {
            "price": m * size,
            "delta": m * math.exp(abs(c.rate) * c.t),
            "gamma": 0.0,
            "vega": 0.0,
            "theta": m * abs(c.rate) * size,
        }
    vanilla = qlt.vanilla_scales(c.spot, c.strike, c.t, c.rate, c.vol)
    digital = qlt.digital_scales(c.spot, c.t, c.rate, c.vol)
    return {name: m * (a + b) for name, a, b in zip(GREEKS, vanilla, digital, strict=True)}


def contracts_of(book: Book) -> dict[str, Contract]:
    """Every instrument of the book that can be priced, as the reference's contract."""
    market = book.market()
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols)
    out: dict[str, Contract] = {}
    for iid, inst in read_instruments(book.instruments).items():
        if inst.underlying in underlyings and (inst.kind != "option" or iid in vols):
            out[iid] = make_contract(inst, underlyings, vols, market.as_of_ns)
    return out


def assert_close_rows(
    native: pa.Table, ref: pa.Table, columns: tuple[str, ...], floors: list[dict[str, float]], what: str
) -> None:
    for name in columns:
        for row, (a, b) in enumerate(zip(native.column(name).to_pylist(), ref.column(name).to_pylist(), strict=True)):
            assert math.isclose(a, b, rel_tol=REL, abs_tol=GREEK_FLOOR * floors[row][name]), (
                f"{what}.{name} row {row}: native {a!r}, reference {b!r}"
            )


def pnl_scales(book: Book, model: GridModel) -> dict[Any, float]:
    """Per account, ``1 + sum over its netted positions of max_s |q ra[s]|``: the size of the P&L
    sums that the engines may round in different orders (the native incremental margin subtracts
    ``q ra`` from the group's P&L; the reference re-sums the other positions; contributions are
    summed per position, the requirement per group). A hedged account can have a gross margin
    near 0 beside P&L terms of 1e7, where the two differ by an ulp of 1e7, about 2e-9."""
    market = book.market()
    books = net_positions(read_positions(book.positions))
    instruments = read_instruments(book.instruments)
    underlyings, vols = read_underlyings(market.underlyings), read_vols(market.vols)
    arrays = held_risk_arrays(books, instruments, underlyings, vols, market.as_of_ns, model)
    return {
        b.account_id: 1.0 + sum(max(abs(p.quantity * x) for x in arrays[p.instrument_id]) for p in b.positions)
        for b in books
    }


def assert_same_attribution(
    native: pmargin.MarginResult, ref: pmargin.MarginResult, book: Book, model: GridModel
) -> None:
    """by_position and explain agree: to 1e-9 relative, or 1e-9 x (gross margin + 1) absolute;
    the incremental margin (computed differently) 1e-9 x :func:`pnl_scales` absolute."""
    assert native.by_position is not None and ref.by_position is not None
    assert native.explain is not None and ref.explain is not None
    scales = account_scales(ref)
    assert_same_schema(native.by_position, ref.by_position, "by_position")
    assert_same_values(native.by_position, ref.by_position, ("account_id", "instrument_id", "quantity"), "by_position")
    accounts = ref.by_position.column("account_id").to_pylist()
    rows = [scales[a] for a in accounts]
    assert_same_numbers(native.by_position, ref.by_position, ("contribution", "standalone_margin"), rows, "by_position")
    pnl = pnl_scales(book, model)
    rows = [max(scales[a], pnl[a]) for a in accounts]
    assert_same_numbers(native.by_position, ref.by_position, ("incremental_margin",), rows, "by_position")

    assert_same_schema(native.explain, ref.explain, "explain")
    exact = ("account_id", "underlying", "scenario", "price_shock", "vol_shock")
    assert_same_values(native.explain, ref.explain, exact, "explain")
    rows = [scales[a] for a in ref.explain.column("account_id").to_pylist()]
    numbers = ("pnl", "delta_pnl", "gamma_pnl", "vega_pnl", "residual")
    assert_same_numbers(native.explain, ref.explain, numbers, rows, "explain")


@SLOW
@given(book=payoff_books(), model=grid_models())
def test_native_matches_reference_on_payoff_books(book: Book, model: GridModel) -> None:
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, model, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, model, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, model)


@SLOW
@given(book=payoff_books(), data=st.data())
def test_native_matches_reference_with_the_correlation_cross(book: Book, data: st.DataObject) -> None:
    """``cross="correlation"``: contributions at each underlying's worst scenario, incremental
    margins through the correlation aggregation."""
    names = list(dict.fromkeys(book.underlyings.column("underlying").to_pylist()))
    model = data.draw(correlation_grid_models(names))
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, model, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, model, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, model)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(book=payoff_books(max_rows=40, max_underlyings=5))
def test_native_matches_reference_on_payoff_books_with_the_default_model(book: Book) -> None:
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, GridModel())


@dataclass(frozen=True)
class Rejected:
    """Where an input error pointed."""

    table: str | None
    column: str | None
    row: int | None


def outcome(run: Callable[[], Any]) -> Any:
    """The result of ``run``, or :class:`Rejected` with the location of its input error."""
    try:
        return run()
    except MarginInputError as exc:
        return Rejected(exc.table, exc.column, exc.row)


@SLOW
@given(book=payoff_books())
def test_native_values_match_reference(book: Book) -> None:
    """Every instrument priced, or the same error (an unheld orphan: the first in table order)."""
    market = book.market()
    native = outcome(lambda: pmargin.value(book.instruments, market))
    ref = outcome(lambda: reference.value(book.instruments, market))
    if isinstance(ref, Rejected):
        assert native == ref
        return
    assert isinstance(native, pa.Table)
    assert_same_schema(native, ref, "value")
    assert_same_values(native, ref, ("instrument_id",), "value")
    contracts = contracts_of(book)
    floors = [unit_scales(contracts[i]) for i in ref.column("instrument_id").to_pylist()]
    assert_close_rows(native, ref, GREEKS, floors, "value")


@SLOW
@given(book=payoff_books())
def test_native_greeks_match_reference(book: Book) -> None:
    market = book.market()
    native = outcome(lambda: pmargin.greeks(book.positions, book.instruments, market))
    ref = outcome(lambda: reference.greeks(book.positions, book.instruments, market))
    if isinstance(ref, Rejected):
        assert native == ref
        return
    contracts = contracts_of(book)
    assert_same_schema(native.positions, ref.positions, "greeks.positions")
    assert_same_values(native.positions, ref.positions, ("account_id", "instrument_id", "quantity"), "greeks.positions")
    quantities = ref.positions.column("quantity").to_pylist()
    ids = ref.positions.column("instrument_id").to_pylist()
    position_floors = [
        {("value" if k == "price" else k): abs(q) * s for k, s in unit_scales(contracts[i]).items()}
        for i, q in zip(ids, quantities, strict=True)
    ]
    assert_close_rows(
        native.positions,
        ref.positions,
        ("value", "delta", "gamma", "vega", "theta"),
        position_floors,
        "greeks.positions",
    )

    # Per account and underlying: floors add up the positions' (sums may cancel).
    accounts = ref.positions.column("account_id").to_pylist()
    underlying_of = instrument_underlyings(book)
    spots = dict(
        zip(
            market.underlyings.column("underlying").to_pylist(),
            market.underlyings.column("spot").to_pylist(),
            strict=True,
        )
    )
    summed: dict[tuple[Any, str], dict[str, float]] = {}
    for a, i, floor in zip(accounts, ids, position_floors, strict=True):
        into = summed.setdefault((a, underlying_of[i]), dict.fromkeys(("delta", "gamma", "vega", "theta"), 0.0))
        for k in into:
            into[k] += floor[k]
    assert_same_schema(native.by_underlying, ref.by_underlying, "greeks.by_underlying")
    assert_same_values(native.by_underlying, ref.by_underlying, ("account_id", "underlying"), "greeks.by_underlying")
    keys = list(
        zip(
            ref.by_underlying.column("account_id").to_pylist(),
            ref.by_underlying.column("underlying").to_pylist(),
            strict=True,
        )
    )
    floors = []
    for key in keys:
        f, spot = summed[key], spots[key[1]]
        floors.append(
            {
                **f,
                "cash_delta": f["delta"] * spot,
                "cash_gamma": f["gamma"] * (0.01 * spot) ** 2,
                "vega_1pct": f["vega"] / 100.0,
            }
        )
    columns = ("delta", "gamma", "vega", "theta", "cash_delta", "cash_gamma", "vega_1pct")
    assert_close_rows(native.by_underlying, ref.by_underlying, columns, floors, "greeks.by_underlying")
