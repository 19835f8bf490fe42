"""The pure-Python reference alone, checked against numbers computed another way.

- closed forms worked by hand (spot, future, one option under a one-scenario grid, netting,
  cross modes, gross margin, intrinsic value at expiry, the vol floor);
- Black-76 against QuantLib (``blackFormula`` and ``AnalyticEuropeanEngine``) to 1e-10;
- put-call parity;
- the worked examples of ``../shared/cases/grid``;
- where input errors are reported (table, column, row), by hand and on random books with one defect;
- properties on random books (netting never costs more than margining each position alone, ...).
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
import QuantLib as ql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GridCase, within_tolerance
from pmargin.errors import MarginInputError
from pmargin.market import Market
from pmargin.models import VOL_FLOOR, GridModel, scenario_label
from pmargin.reference import instrument_values, margin
from pmargin.reference.pricing import black76
from strategies import Book, BrokenBook, books, broken_books, grid_models

AS_OF = dt.datetime(2026, 6, 30, 8, 0, tzinfo=dt.UTC)


# --- building inputs ------------------------------------------------------------------------


def instrument(
    iid: str,
    underlying: str,
    kind: str,
    *,
    option_type: str | None = None,
    strike: float | None = None,
    expiry: dt.datetime | None = None,
    multiplier: float = 1.0,
) -> dict[str, Any]:
    return {
        "instrument_id": iid,
        "underlying": underlying,
        "kind": kind,
        "option_type": option_type,
        "strike": strike,
        "expiry": expiry,
        "multiplier": multiplier,
    }


def instruments_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "instrument_id": pa.array([r["instrument_id"] for r in rows], pa.string()),
            "underlying": pa.array([r["underlying"] for r in rows], pa.string()),
            "kind": pa.array([r["kind"] for r in rows], pa.string()),
            "option_type": pa.array([r["option_type"] for r in rows], pa.string()),
            "strike": pa.array([r["strike"] for r in rows], pa.float64()),
            "expiry": pa.array([r["expiry"] for r in rows], pa.timestamp("us", tz="UTC")),
            "multiplier": pa.array([r["multiplier"] for r in rows], pa.float64()),
        }
    )


def positions_table(rows: list[tuple[Any, str, float]]) -> pa.Table:
    return pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": pa.array([r[1] for r in rows], pa.string()),
            "quantity": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def market(spots: dict[str, tuple[float, float]], vols: dict[str, float] | None = None, as_of: Any = AS_OF) -> Market:
    """``spots``: underlying -> (spot, rate)."""
    underlyings = pa.table(
        {
            "underlying": pa.array(list(spots), pa.string()),
            "spot": pa.array([s for s, _ in spots.values()], pa.float64()),
            "rate": pa.array([r for _, r in spots.values()], pa.float64()),
        }
    )
    vol_table = pa.table(
        {
            "instrument_id": pa.array(list(vols or {}), pa.string()),
            "implied_vol": pa.array(list((vols or {}).values()), pa.float64()),
        }
    )
    return Market(as_of, underlyings, vol_table)


def one_row(table: pa.Table, index: int = 0) -> dict[str, Any]:
    return {name: table.column(name)[index].as_py() for name in table.column_names}


def bs_by_hand(is_call: bool, spot: float, strike: float, vol: float, t: float, rate: float) -> float:
    """Black-Scholes on the spot (no dividend), written the textbook way with an independent normal CDF:
    ``S N(d1) - K e^{-rT} N(d2)``, ``d1 = (ln(S/K) + (r + vol^2/2) T) / (vol sqrt(T))``."""
    n = NormalDist().cdf
    d1 = (math.log(spot / strike) + (rate + vol**2 / 2) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if is_call:
        return spot * n(d1) - strike * math.exp(-rate * t) * n(d2)
    return strike * math.exp(-rate * t) * n(-d2) - spot * n(-d1)


# --- delta-one closed forms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected_margin", "worst_shock"),
    [(100.0, 100.0 * 2.0 * 250.0 * 0.10, -0.10), (-100.0, 100.0 * 2.0 * 250.0 * 0.08, 0.08)],
)
def test_spot_position_loses_its_worst_move(quantity: float, expected_margin: float, worst_shock: float) -> None:
    """A spot position of q units (multiplier 2, spot 250) loses ``|q| * 2 * 250 * |p|`` at shock p."""
    model = GridModel(price_shocks=[-0.10, -0.05, 0.0, 0.08], vol_shocks=[0.0], mm_ratio=0.5)
    inst = instruments_table([instrument("XYZ", "XYZ", "spot", multiplier=2.0)])
    result = margin(positions_table([("a", "XYZ", quantity)]), inst, market({"XYZ": (250.0, 0.0)}), model)

    row = one_row(result.accounts)
    assert row["initial_margin"] == pytest.approx(expected_margin, rel=1e-14)
    assert row["maintenance_margin"] == pytest.approx(0.5 * expected_margin, rel=1e-14)
    assert row["gross_margin"] == pytest.approx(expected_margin, rel=1e-14)
    assert row["worst_price_shock"] == worst_shock
    assert row["worst_vol_shock"] == 0.0
    assert row["worst_scenario"] == f"XYZ {worst_shock * 100:+.1f}% vol +0%"
    pnl = result.scenarios("a").column("XYZ").to_pylist()
    assert pnl == pytest.approx([quantity * 500.0 * p for p in (-0.10, -0.05, 0.0, 0.08)], rel=1e-14, abs=1e-9)


def test_long_future_moves_with_the_forward() -> None:
    """10 futures (multiplier 3) on spot 2000 at rate 5%, 73 days (T = 0.2): F = 2000 e^0.01, and a
    -15% spot move loses ``10 * 3 * 0.15 * F``."""
    expiry = AS_OF + dt.timedelta(days=73)
    inst = instruments_table([instrument("F", "ETH", "future", expiry=expiry, multiplier=3.0)])
    model = GridModel(price_shocks=[-0.15, 0.15], vol_shocks=[0.0])
    mkt = market({"ETH": (2000.0, 0.05)})
    result = margin(positions_table([("a", "F", 10.0)]), inst, mkt, model)

    fwd = 2000.0 * math.exp(0.05 * 0.2)
    assert one_row(result.accounts)["initial_margin"] == pytest.approx(10 * 3 * 0.15 * fwd, rel=1e-13)
    assert result.scenarios("a").column("total").to_pylist() == pytest.approx(
        [-10 * 3 * 0.15 * fwd, 10 * 3 * 0.15 * fwd], rel=1e-13
    )
    assert one_row(instrument_values(inst, mkt))["price"] == pytest.approx(3 * fwd, rel=1e-15)


def test_perpetual_is_valued_at_spot() -> None:
    inst = instruments_table([instrument("P", "BTC", "perpetual", multiplier=0.5)])
    prices = instrument_values(inst, market({"BTC": (60000.0, 0.07)}))
    assert prices.column("price").to_pylist() == [30000.0]


# --- options --------------------------------------------------------------------------------


@pytest.mark.parametrize("option_type", ["call", "put"])
def test_single_option_under_one_scenario_is_value_change(option_type: str) -> None:
    """Short 3 options, one scenario (+10% spot, vol x 1.2): margin = -(q * (V(shocked) - V(base)))
    with V computed by hand."""
    spot, strike, vol, rate, days = 60000.0, 65000.0, 0.6, 0.03, 45
    t = days / 365
    inst = instruments_table(
        [
            instrument(
                "O",
                "BTC",
                "option",
                option_type=option_type,
                strike=strike,
                expiry=AS_OF + dt.timedelta(days=days),
                multiplier=0.1,
            )
        ]
    )
    model = GridModel(price_shocks=[0.10], vol_shocks=[0.20])
    result = margin(positions_table([("a", "O", -3.0)]), inst, market({"BTC": (spot, rate)}, {"O": vol}), model)

    is_call = option_type == "call"
    v_base = 0.1 * bs_by_hand(is_call, spot, strike, vol, t, rate)
    v_shocked = 0.1 * bs_by_hand(is_call, spot * 1.1, strike, vol * 1.2, t, rate)
    pnl = -3.0 * (v_shocked - v_base)
    assert result.scenarios("a").column("total").to_pylist() == [pytest.approx(pnl, rel=1e-10)]
    assert one_row(result.accounts)["initial_margin"] == pytest.approx(max(0.0, -pnl), rel=1e-10)


@settings(max_examples=300, deadline=None)
@given(
    fwd=st.floats(1.0, 1e5),
    moneyness=st.floats(0.3, 3.0),
    vol=st.floats(0.01, 3.0),
    t=st.floats(1e-3, 5.0),
    rate=st.floats(-0.1, 0.2),
)
def test_put_call_parity(fwd: float, moneyness: float, vol: float, t: float, rate: float) -> None:
    """``C - P = e^{-rT} (F - K)``."""
    strike = fwd * moneyness
    call = black76(True, fwd, strike, vol, t, rate)
    put = black76(False, fwd, strike, vol, t, rate)
    assert call - put == pytest.approx(math.exp(-rate * t) * (fwd - strike), rel=1e-12, abs=1e-12 * (fwd + strike))


@pytest.mark.parametrize(("option_type", "strike"), [("call", 90.0), ("put", 110.0), ("call", 100.0)])
def test_option_at_expiry_is_intrinsic(option_type: str, strike: float) -> None:
    """Expiry exactly at as_of: value = max(F - K, 0) / max(K - F, 0) with F = spot (T = 0, rate
    irrelevant), in the base and in every scenario; the vol plays no part."""
    inst = instruments_table(
        [instrument("O", "X", "option", option_type=option_type, strike=strike, expiry=AS_OF, multiplier=2.0)]
    )
    mkt = market({"X": (100.0, 0.05)}, {"O": 0.8})
    assert instrument_values(inst, mkt).column("price").to_pylist() == [2.0 * abs(100.0 - strike)]

    model = GridModel(price_shocks=[-0.2, 0.2], vol_shocks=[-0.5, 0.5])
    pnl = margin(positions_table([("a", "O", 1.0)]), inst, mkt, model).scenarios("a").column("total").to_pylist()
    payoff = [max(s - strike, 0.0) if option_type == "call" else max(strike - s, 0.0) for s in (80.0, 120.0)]
    base = 2.0 * abs(100.0 - strike)
    assert pnl == pytest.approx([2.0 * payoff[0] - base] * 2 + [2.0 * payoff[1] - base] * 2, rel=1e-15, abs=1e-12)


@pytest.mark.parametrize(("mode", "shock"), [("relative", -0.99999), ("absolute", -1.0)])
def test_shocked_vol_is_floored(mode: str, shock: float) -> None:
    """A shock taking the vol 0.5 to 5e-6 (relative -99.999%) or to -0.5 (absolute -1) prices the
    at-the-money call at VOL_FLOOR = 1e-4 instead."""
    expiry = AS_OF + dt.timedelta(days=30)
    inst = instruments_table([instrument("O", "X", "option", option_type="call", strike=100.0, expiry=expiry)])
    model = GridModel(price_shocks=[0.0], vol_shocks=[shock], vol_shock=mode)  # type: ignore[arg-type]
    result = margin(positions_table([("a", "O", 1.0)]), inst, market({"X": (100.0, 0.0)}, {"O": 0.5}), model)
    t = 30 / 365
    pnl = result.scenarios("a").column("total").to_pylist()
    floored = bs_by_hand(True, 100.0, 100.0, VOL_FLOOR, t, 0.0) - bs_by_hand(True, 100.0, 100.0, 0.5, t, 0.0)
    assert pnl == [pytest.approx(floored, rel=1e-10)]
    assert VOL_FLOOR == 1e-4
    if mode == "relative":
        unfloored = bs_by_hand(True, 100.0, 100.0, 5e-6, t, 0.0) - bs_by_hand(True, 100.0, 100.0, 0.5, t, 0.0)
        assert abs(pnl[0] - unfloored) > 1e-3


def test_floor_applies_to_shocked_vols_only() -> None:
    """A base vol (5e-5) below the floor prices as given in the base, but at VOL_FLOOR in every
    scenario, so even the unshocked scenario moves: by V(1e-4) - V(5e-5), about 1.04e-3."""
    expiry = AS_OF + dt.timedelta(days=100)
    inst = instruments_table([instrument("O", "X", "option", option_type="put", strike=100.0, expiry=expiry)])
    mkt = market({"X": (100.0, 0.0)}, {"O": 5e-5})
    t = 100 / 365
    base = bs_by_hand(False, 100.0, 100.0, 5e-5, t, 0.0)
    assert instrument_values(inst, mkt).column("price").to_pylist() == [pytest.approx(base, rel=1e-8)]
    result = margin(positions_table([("a", "O", 1.0)]), inst, mkt, GridModel(price_shocks=[0.0], vol_shocks=[0.0]))
    moved = bs_by_hand(False, 100.0, 100.0, VOL_FLOOR, t, 0.0) - base
    assert moved == pytest.approx(1.04e-3, rel=0.01)
    assert result.scenarios("a").column("total").to_pylist() == [pytest.approx(moved, rel=1e-8)]


# --- QuantLib parity ------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    is_call=st.booleans(),
    fwd=st.floats(1.0, 1e6),
    moneyness=st.floats(0.25, 4.0),
    vol=st.floats(0.01, 3.0),
    t=st.floats(1e-4, 10.0),
    rate=st.floats(-0.1, 0.3),
)
def test_black76_matches_quantlib_black_formula(
    is_call: bool, fwd: float, moneyness: float, vol: float, t: float, rate: float
) -> None:
    strike = fwd * moneyness
    sd = vol * math.sqrt(t)
    df = math.exp(-rate * t)
    expected = ql.blackFormula(ql.Option.Call if is_call else ql.Option.Put, strike, fwd, sd, df)
    actual = black76(is_call, fwd, strike, vol, t, rate)
    # Deep out of the money both prices are differences of near-equal terms: allow rounding of F.
    assert math.isclose(actual, expected, rel_tol=1e-10, abs_tol=1e-13 * max(fwd, strike))


@settings(max_examples=150, deadline=None)
@given(
    is_call=st.booleans(),
    spot=st.floats(1.0, 1e5),
    moneyness=st.floats(0.5, 2.0),
    vol=st.floats(0.05, 2.0),
    days=st.integers(1, 1500),
    rate=st.floats(-0.05, 0.15),
    multiplier=st.floats(0.01, 100.0),
)
def test_instrument_values_match_quantlib_european_engine(
    is_call: bool, spot: float, moneyness: float, vol: float, days: int, rate: float, multiplier: float
) -> None:
    """A European option on the spot with flat continuous rate, no dividend and flat vol
    (Actual/365 Fixed): QuantLib's AnalyticEuropeanEngine equals the reference's Black-76 on
    ``F = spot * exp(rate * T)``, whole tables in and out."""
    strike = spot * moneyness
    today = ql.Date(30, 6, 2026)
    maturity = today + days
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, strike), ql.EuropeanExercise(maturity)
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    expected = multiplier * option.NPV()

    as_of = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
    inst = instruments_table(
        [
            instrument(
                "O",
                "X",
                "option",
                option_type="call" if is_call else "put",
                strike=strike,
                expiry=as_of + dt.timedelta(days=days),
                multiplier=multiplier,
            )
        ]
    )
    actual = instrument_values(inst, market({"X": (spot, rate)}, {"O": vol}, as_of=as_of)).column("price")[0].as_py()
    assert math.isclose(actual, expected, rel_tol=1e-10, abs_tol=1e-13 * multiplier * max(spot, strike))


# --- netting and aggregation ----------------------------------------------------------------


def two_spot_book() -> tuple[pa.Table, Market]:
    inst = instruments_table([instrument("B", "BTC", "spot"), instrument("E", "ETH", "spot")])
    return inst, market({"BTC": (100.0, 0.0), "ETH": (50.0, 0.0)})


@pytest.mark.parametrize(
    ("cross", "initial", "label", "price_shock"),
    [("sum", 15.0, "BTC -10.0% vol +0%", -0.1), ("joint", 5.0, "ALL -10.0% vol +0%", -0.1)],
)
def test_cross_modes_on_a_pair(cross: str, initial: float, label: str, price_shock: float) -> None:
    """Long 1 BTC at 100, short 1 ETH at 50, shocks -10%/+10%: per underlying P&L BTC [-10, 10],
    ETH [5, -5]; sum = 10 + 5, joint = worst of the totals [-5, 5] = 5; gross = 10 + 5;
    diversification benefit = (10 + 5) - initial."""
    inst, mkt = two_spot_book()
    model = GridModel(price_shocks=[-0.1, 0.1], vol_shocks=[0.0], cross=cross)  # type: ignore[arg-type]
    result = margin(positions_table([("p", "B", 1.0), ("p", "E", -1.0)]), inst, mkt, model)

    row = one_row(result.accounts)
    assert row["initial_margin"] == pytest.approx(initial, rel=1e-14)
    assert row["gross_margin"] == pytest.approx(15.0, rel=1e-14)
    assert row["diversification_benefit"] == pytest.approx(15.0 - initial, rel=1e-14, abs=1e-14)
    assert (row["worst_scenario"], row["worst_price_shock"], row["worst_vol_shock"]) == (label, price_shock, 0.0)
    assert result.by_underlying.column("requirement").to_pylist() == pytest.approx([10.0, 5.0], rel=1e-14)
    assert result.by_underlying.column("worst_scenario").to_pylist() == ["BTC -10.0% vol +0%", "ETH +10.0% vol +0%"]
    matrix = result.scenarios("p")
    assert matrix.column_names == ["scenario", "price_shock", "vol_shock", "BTC", "ETH", "total"]
    assert matrix.column("total").to_pylist() == pytest.approx([-5.0, 5.0], rel=1e-14)


def test_netting_order_and_zero_positions() -> None:
    """Rows net per (account, instrument); accounts, underlyings and ids keep first-seen order and
    their integer type; a position netted to zero still lists its underlying with requirement 0."""
    inst, mkt = two_spot_book()
    positions = pa.table(
        {
            "account_id": pa.array([7, 3, 7, 3, 7], pa.int32()),
            "instrument_id": ["E", "B", "B", "B", "E"],
            "quantity": pa.array([2, 1, -4, 2, -2], pa.int64()),
        }
    )
    model = GridModel(price_shocks=[-0.1, 0.1], vol_shocks=[0.0])
    result = margin(positions, inst, mkt, model)

    assert result.accounts.schema.field("account_id").type == pa.int32()
    assert result.accounts.column("account_id").to_pylist() == [7, 3]
    # account 7: ETH nets to 0, BTC -4 loses 4 * 10 at +10%; account 3: BTC +3 loses 30 at -10%.
    assert result.accounts.column("initial_margin").to_pylist() == pytest.approx([40.0, 30.0], rel=1e-14)
    assert result.by_underlying.column("account_id").to_pylist() == [7, 7, 3]
    assert result.by_underlying.column("underlying").to_pylist() == ["ETH", "BTC", "BTC"]
    assert result.by_underlying.column("requirement").to_pylist() == pytest.approx([0.0, 40.0, 30.0], rel=1e-14)
    assert result.by_underlying.column("worst_scenario").to_pylist() == [
        None,
        "BTC +10.0% vol +0%",
        "BTC -10.0% vol +0%",
    ]
    assert result.scenarios(7).column("ETH").to_pylist() == [0.0, 0.0]


def test_worst_scenario_ties_go_to_the_first() -> None:
    """Duplicate shocks tie exactly: the first in grid order is the worst; a book that never loses
    has no worst scenario and zero margin."""
    inst, mkt = two_spot_book()
    model = GridModel(price_shocks=[0.05, -0.2, -0.2], vol_shocks=[0.3, -0.3])
    result = margin(positions_table([("a", "B", 1.0), ("b", "B", 0.0)]), inst, mkt, model)
    first = one_row(result.accounts, 0)
    assert (first["initial_margin"], first["worst_price_shock"], first["worst_vol_shock"]) == (
        pytest.approx(20.0),
        -0.2,
        0.3,
    )
    second = one_row(result.accounts, 1)
    assert second["initial_margin"] == 0.0
    assert (second["worst_scenario"], second["worst_price_shock"], second["worst_vol_shock"]) == (None, None, None)


@pytest.mark.parametrize(
    ("legs", "worst"),
    [([("B", 1.0), ("E", 2.0)], "BTC -10.0% vol +0%"), ([("E", 2.0), ("B", 1.0)], "ETH -10.0% vol +0%")],
)
def test_equal_requirements_name_the_first_underlying(legs: list[tuple[str, float]], worst: str) -> None:
    """1 BTC at 100 and 2 ETH at 50 both lose exactly 10 at -10%: under cross="sum" the account's
    worst is the underlying seen first."""
    inst, mkt = two_spot_book()
    model = GridModel(price_shocks=[0.1, -0.1], vol_shocks=[0.0])
    result = margin(positions_table([("a", iid, q) for iid, q in legs]), inst, mkt, model)
    assert result.by_underlying.column("requirement").to_pylist() == [10.0, 10.0]
    assert one_row(result.accounts)["initial_margin"] == 20.0
    assert one_row(result.accounts)["worst_scenario"] == worst


def test_empty_positions_give_empty_tables() -> None:
    inst, mkt = two_spot_book()
    empty = pa.table(
        {
            "account_id": pa.array([], pa.int64()),
            "instrument_id": pa.array([], pa.string()),
            "quantity": pa.array([], pa.float64()),
        }
    )
    result = margin(empty, inst, mkt)
    assert result.accounts.num_rows == 0
    assert result.by_underlying.num_rows == 0
    assert result.accounts.schema.field("account_id").type == pa.int64()
    assert result.accounts.column_names == [
        "account_id",
        "initial_margin",
        "maintenance_margin",
        "gross_margin",
        "worst_scenario",
        "worst_price_shock",
        "worst_vol_shock",
        "diversification_benefit",
    ]
    assert result.by_underlying.column_names == [
        "account_id",
        "underlying",
        "requirement",
        "worst_price_shock",
        "worst_vol_shock",
        "worst_scenario",
    ]
    assert result.total_initial_margin == 0.0


def test_polars_and_dictionary_strings_give_the_same_numbers() -> None:
    """Polars frames (string_view columns) and dictionary-encoded strings are read like plain strings."""
    inst, mkt = two_spot_book()
    model = GridModel(price_shocks=[-0.1, 0.1], vol_shocks=[0.0])
    rows = [("x", "B", 2.0), ("y", "E", -3.0), ("x", "E", 1.0)]
    plain = margin(positions_table(rows), inst, mkt, model)
    frame = pl.DataFrame(
        {"account_id": [r[0] for r in rows], "instrument_id": [r[1] for r in rows], "quantity": [r[2] for r in rows]}
    )
    from_polars = margin(frame, pl.from_arrow(inst), mkt, model)
    encoded = positions_table(rows)
    encoded = encoded.set_column(0, "account_id", encoded.column("account_id").dictionary_encode())
    from_dict = margin(encoded, inst, mkt, model)
    expected = [20.0 + 5.0, 15.0]
    for result in (plain, from_polars, from_dict):
        assert result.accounts.column("initial_margin").to_pylist() == pytest.approx(expected, rel=1e-14)
        assert result.accounts.column("account_id").to_pylist() == ["x", "y"]
    assert pa.types.is_dictionary(from_dict.accounts.schema.field("account_id").type)


# --- the shared worked examples -------------------------------------------------------------


def worst_shocks(row: dict[str, Any]) -> tuple[float, float] | None:
    if row["worst_price_shock"] is None:
        return None
    return row["worst_price_shock"], row["worst_vol_shock"]


def expected_worst(expected: dict[str, Any] | None) -> tuple[float, float] | None:
    return None if expected is None else (expected["price_shock"], expected["vol_shock"])


def test_shared_case(grid_case: GridCase) -> None:
    """Every number a worked example gives, within its tolerance."""
    case = grid_case
    result = margin(case.positions, case.instruments, case.market, case.model)
    accounts = {row["account_id"]: row for row in result.accounts.to_pylist()}
    checked = 0
    for want in case.expected["accounts"]:
        got = accounts[want["account_id"]]
        for key in ("initial_margin", "maintenance_margin"):
            if key in want:
                assert within_tolerance(got[key], want[key], case.tolerance), (
                    want["account_id"],
                    key,
                    got[key],
                    want[key],
                )
                checked += 1
        if "worst_scenario" in want:
            assert worst_shocks(got) == expected_worst(want["worst_scenario"]), want["account_id"]
    by_underlying = {(r["account_id"], r["underlying"]): r for r in result.by_underlying.to_pylist()}
    for want in case.expected.get("by_underlying", []):
        got = by_underlying[(want["account_id"], want["underlying"])]
        assert within_tolerance(got["requirement"], want["requirement"], case.tolerance), want
        if "worst_scenario" in want:
            assert worst_shocks(got) == expected_worst(want["worst_scenario"]), want
            checked += 1
    for account, pnl in case.expected.get("scenario_pnl", {}).items():
        got_pnl = result.scenarios(account).column("total").to_pylist()
        assert len(got_pnl) == len(pnl)
        for got_value, want_value in zip(got_pnl, pnl, strict=True):
            assert within_tolerance(got_value, want_value, case.tolerance), (account, got_pnl, pnl)
    assert checked >= len(case.expected["accounts"])


# --- where input errors are reported --------------------------------------------------------


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


def test_labels_follow_the_model_mode() -> None:
    """The absolute mode labels vol shocks in points."""
    inst, mkt = two_spot_book()
    model = GridModel(price_shocks=[-0.1], vol_shocks=[0.05], vol_shock="absolute")
    result = margin(positions_table([("a", "B", 1.0)]), inst, mkt, model)
    assert (
        one_row(result.accounts)["worst_scenario"]
        == scenario_label("BTC", -0.1, 0.05, "absolute")
        == "BTC -10.0% vol +5pt"
    )


# --- properties on random books -------------------------------------------------------------


def account_rows(table: pa.Table) -> dict[Any, list[dict[str, Any]]]:
    rows: dict[Any, list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        rows.setdefault(row["account_id"], []).append(row)
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), model=grid_models())
def test_margins_are_consistent_on_random_books(book: Book, model: GridModel) -> None:
    """On any valid book: netting never costs more than margining positions alone (initial <=
    gross); maintenance = mm_ratio x initial; initial is the sum of the requirements (sum) or the
    worst loss of the matrix total, which is never above that sum (joint); the diversification
    benefit is that sum minus initial; a worst scenario is given exactly when the margin is
    positive."""
    result = margin(book.positions, book.instruments, book.market(), model)
    by_account = account_rows(result.by_underlying)
    assert list(by_account) == result.accounts.column("account_id").to_pylist()
    for acc in result.accounts.to_pylist():
        tol = 1e-9 * (acc["gross_margin"] + 1.0)
        requirements = [r["requirement"] for r in by_account[acc["account_id"]]]
        assert 0.0 <= acc["initial_margin"] <= acc["gross_margin"] + tol
        assert acc["maintenance_margin"] == model.mm_ratio * acc["initial_margin"]
        assert acc["diversification_benefit"] == pytest.approx(
            math.fsum(requirements) - acc["initial_margin"], rel=1e-12, abs=tol
        )
        if model.cross == "sum":
            assert acc["initial_margin"] == pytest.approx(math.fsum(requirements), rel=1e-12, abs=tol)
            assert acc["diversification_benefit"] == 0.0
        else:
            total = result.scenarios(acc["account_id"]).column("total").to_pylist()
            assert acc["initial_margin"] == max(0.0, max(-x for x in total))
            assert acc["initial_margin"] <= math.fsum(requirements) + tol
        assert (acc["worst_scenario"] is None) == (acc["initial_margin"] == 0.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(broken=broken_books())
def test_one_defect_is_reported_at_its_cell(broken: BrokenBook) -> None:
    book = broken.book
    with pytest.raises(MarginInputError) as info:
        margin(book.positions, book.instruments, book.market())
    assert (info.value.table, info.value.column, info.value.row) == broken.where, (broken.defect, info.value.reason)
