"""The pure-Python reference's grid method alone, checked against numbers computed another way.

- closed forms worked by hand (spot, future, one option under a one-scenario grid, netting,
  cross modes, gross margin, intrinsic value at expiry, the vol floor);
- the worked examples of ``../shared/cases/grid``;
- labels, and properties on random books (netting never costs more than margining each position
  alone, ...).
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from pmargin.market import Market
from pmargin.models import VOL_FLOOR, GridModel, scenario_label
from pmargin.reference import instrument_values, margin
from tests.conftest import GridCase, within_tolerance
from tests.parity.scales import pnl_scales
from tests.strategies import Book, books, grid_models

# --- building inputs ------------------------------------------------------------------------


AS_OF = dt.datetime(2026, 6, 30, 8, 0, tzinfo=dt.UTC)


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
    assert row["cross_underlying_benefit"] == pytest.approx(15.0 - initial, rel=1e-14, abs=1e-14)
    assert (row["worst_scenario"], row["worst_price_shock"], row["worst_vol_shock"]) == (label, price_shock, 0.0)
    assert result.by_underlying.column("requirement").to_pylist() == pytest.approx([10.0, 5.0], rel=1e-14)
    assert result.by_underlying.column("worst_scenario").to_pylist() == ["BTC -10.0% vol +0%", "ETH +10.0% vol +0%"]
    matrix = result.scenarios("p")
    assert matrix.column_names == ["scenario", "price_shock", "vol_shock", "BTC", "ETH", "total"]
    assert matrix.column("total").to_pylist() == pytest.approx([-5.0, 5.0], rel=1e-14)


def test_netting_order_and_zero_positions() -> None:
    """Rows net per (account, instrument); accounts and ids keep first-seen order and their integer
    type; a position netted to zero is not held: its underlying is not listed."""
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

    assert result.accounts.schema.field("account_id").type == pa.int64()  # integer ids come out int64
    assert result.accounts.column("account_id").to_pylist() == [7, 3]
    # account 7: ETH nets to 0, BTC -4 loses 4 * 10 at +10%; account 3: BTC +3 loses 30 at -10%.
    assert result.accounts.column("initial_margin").to_pylist() == pytest.approx([40.0, 30.0], rel=1e-14)
    assert result.by_underlying.column("account_id").to_pylist() == [7, 3]
    assert result.by_underlying.column("underlying").to_pylist() == ["BTC", "BTC"]
    assert result.by_underlying.column("requirement").to_pylist() == pytest.approx([40.0, 30.0], rel=1e-14)
    assert result.by_underlying.column("worst_scenario").to_pylist() == ["BTC +10.0% vol +0%", "BTC -10.0% vol +0%"]
    assert "ETH" not in result.scenarios(7).column_names


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
    [([("B", 1.0), ("E", 2.0)], "BTC -10.0% vol +0%"), ([("E", 2.0), ("B", 1.0)], "BTC -10.0% vol +0%")],
)
def test_equal_requirements_name_the_first_underlying(legs: list[tuple[str, float]], worst: str) -> None:
    """1 BTC at 100 and 2 ETH at 50 both lose exactly 10 at -10%: under cross="sum" the account's
    worst is the first underlying in canonical order (instrument B's row comes first), whatever
    the rows' order."""
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
        "netting_benefit",
        "cross_underlying_benefit",
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
    # String ids come out as string whatever their encoding (docs/methods.md, "Inputs").
    for result in (plain, from_polars, from_dict):
        assert result.accounts.schema.field("account_id").type == pa.string()


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
        got = by_underlying.get((want["account_id"], want["underlying"]))
        if got is None:
            # A position netting to zero is not held: its (zero) row is not reported.
            assert want["requirement"] == 0.0, want
            continue
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
    positive; a worst loss within the noise floor of the account's P&L scale is 0."""
    result = margin(book.positions, book.instruments, book.market(), model)
    by_account = account_rows(result.by_underlying)
    ids = result.accounts.column("account_id").to_pylist()
    # Accounts whose positions all net to zero hold no underlying.
    assert list(by_account) == [a for a in ids if a in by_account]
    scales = pnl_scales(book, model)
    for acc in result.accounts.to_pylist():
        tol = 1e-9 * (acc["gross_margin"] + 1.0)
        requirements = [r["requirement"] for r in by_account.get(acc["account_id"], [])]
        assert 0.0 <= acc["initial_margin"] <= acc["gross_margin"] + tol
        assert acc["maintenance_margin"] == model.mm_ratio * acc["initial_margin"]
        assert acc["cross_underlying_benefit"] == pytest.approx(
            math.fsum(requirements) - acc["initial_margin"], rel=1e-12, abs=tol
        )
        if model.cross == "sum":
            assert acc["initial_margin"] == pytest.approx(math.fsum(requirements), rel=1e-12, abs=tol)
            assert acc["cross_underlying_benefit"] == 0.0
        else:
            total = result.scenarios(acc["account_id"]).column("total").to_pylist()
            worst = max(0.0, max(-x for x in total))
            noise = worst <= 2.0**-40 * scales[acc["account_id"]]
            assert acc["initial_margin"] == worst or (acc["initial_margin"] == 0.0 and noise)
            assert acc["initial_margin"] <= math.fsum(requirements) + tol
        assert (acc["worst_scenario"] is None) == (acc["initial_margin"] == 0.0)
