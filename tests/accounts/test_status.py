"""pmargin.accounts.status: equity, states at hand-computed edges, distances to a margin call
and to liquidation (closed form and a brute-force scan), validation errors."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

import pmargin
from pmargin.accounts.collateral import collateral_value, read_assets, read_collateral
from pmargin.accounts.moves import moved_market, value_accounts
from pmargin.accounts.sample_collateral import sample_collateral

from .conftest import ASSETS, ENCODINGS, GRID, book, cash, encoded, instruments, market


def long_two() -> pmargin.MarginResult:
    """Long 2 PA (spot 100): IM = 2 x 100 x 10% = 20, MM = 10."""
    return pmargin.margin(book([("a", "PA", 2.0)]), instruments(), market(), GRID)


@pytest.mark.parametrize(
    ("amount", "state"),
    [(20.0, "ok"), (19.99, "margin_call"), (10.0, "margin_call"), (9.99, "liquidation"), (-1.0, "liquidation")],
)
def test_states_at_the_equity_edges(amount: float, state: str) -> None:
    result = long_two()
    status = pmargin.status(result, cash({"a": amount}), ASSETS, distances=False).accounts.to_pylist()[0]
    assert status["initial_margin"] == pytest.approx(20.0, rel=1e-12)
    assert status["maintenance_margin"] == pytest.approx(10.0, rel=1e-12)
    assert status["equity"] == amount
    assert status["excess"] == pytest.approx(amount - 20.0, abs=1e-12)
    assert status["state"] == state
    assert status["margin_ratio"] == (pytest.approx(10.0 / amount) if amount > 0 else None)


def test_equity_haircuts_collateral_and_adds_unrealised_pnl() -> None:
    # 0.2 A at 100 with a 20% haircut is 16; plus 4 of unrealised P&L: exactly IM.
    collateral = pa.table({"account_id": ["a"], "asset": ["A"], "amount": [0.2]})
    row = pmargin.status(long_two(), collateral, ASSETS, pnl={"a": 4.0}, distances=False).accounts.to_pylist()[0]
    assert row["equity"] == pytest.approx(20.0, abs=1e-12)
    assert row["state"] == "ok"
    # An account with no collateral row has zero equity.
    row = pmargin.status(long_two(), None, ASSETS, distances=False).accounts.to_pylist()[0]
    assert (row["equity"], row["state"], row["margin_ratio"]) == (0.0, "liquidation", None)


def test_distances_of_a_long_future_match_the_closed_form() -> None:
    # Cash 25. Down m: equity 25 - 200 m, IM 20 (1 - m), MM 10 (1 - m): a call at m = 5 / 180,
    # liquidation at m = 15 / 190. Up: equity grows faster than IM: never.
    status = pmargin.status(long_two(), cash({"a": 25.0}), ASSETS, tolerance=1e-6)
    row = status.accounts.to_pylist()[0]
    assert row["state"] == "ok"
    assert 5 / 180 <= row["distance_to_call"] <= 5 / 180 + 1e-6
    assert 15 / 190 <= row["distance_to_liquidation"] <= 15 / 190 + 1e-6
    assert row["call_move"] == "A down"  # A alone and ALL tie: the first listed wins
    rows = {(r["underlying"], r["direction"]): r for r in status.distances.to_pylist()}
    assert rows[("A", "up")]["to_call"] is None and rows[("B", "down")]["to_call"] is None
    assert rows[("ALL", "down")]["to_call"] == pytest.approx(row["distance_to_call"], abs=1e-6)


def test_collateral_in_the_moved_asset_is_revalued() -> None:
    # 0.25 A (haircut 20%): 20 at spot 100. Down m: equity 20 (1 - m) - 200 m against IM 20 (1 - m):
    # below IM at once; against MM 10 (1 - m): 10 (1 - m) < 200 m, m > 10 / 210.
    collateral = pa.table({"account_id": ["a"], "asset": ["A"], "amount": [0.25]})
    row = pmargin.status(long_two(), collateral, ASSETS, tolerance=1e-6).accounts.to_pylist()[0]
    assert row["distance_to_call"] <= 1e-6
    assert 10 / 210 <= row["distance_to_liquidation"] <= 10 / 210 + 1e-6


def brute_force(result: pmargin.MarginResult, amount: float, underlying: str, sign: float, target: int) -> float | None:
    """First move on a 1e-4 grid where the state rank reaches ``target`` (1 call, 2 liquidation)."""
    src = result.source
    assets = read_assets(ASSETS)
    rows = read_collateral(cash({"a": amount}), assets)["a"]
    base = value_accounts(src.engine, src.positions, src.instruments, src.market, src.model).value["a"]
    for k in range(0, 3001):
        m = sign * k * 1e-4
        moves = {underlying: m}
        v = value_accounts(src.engine, src.positions, src.instruments, moved_market(src.market, moves), src.model)
        equity = collateral_value(rows, assets, moves) + v.value["a"] - base
        rank = 2 if equity < v.maintenance["a"] else 1 if equity < v.initial["a"] else 0
        if rank >= target:
            return abs(m)
    return None


def test_distances_of_an_option_book_match_a_brute_force_scan() -> None:
    # Short 3 calls, long 1 PA: loses on the way up, convex.
    result = pmargin.margin(book([("a", "CA", -3.0), ("a", "PA", 1.0)]), instruments(), market(), GRID)
    im = result.accounts.column("initial_margin")[0].as_py()
    amount = 1.6 * im
    distances = {
        (r["underlying"], r["direction"]): r
        for r in pmargin.status(result, cash({"a": amount}), ASSETS, step=0.02).distances.to_pylist()
    }
    for direction, sign in (("up", 1.0), ("down", -1.0)):
        for target, column in ((1, "to_call"), (2, "to_liquidation")):
            found = distances[("A", direction)][column]
            scanned = brute_force(result, amount, "A", sign, target)
            if scanned is None:
                assert found is None or found > 0.3 - 1e-4
            else:
                assert found is not None and abs(found - scanned) <= 2e-4, (direction, column, found, scanned)
    assert distances[("A", "up")]["to_call"] is not None


def test_status_works_with_a_historical_model() -> None:
    moves = pa.table(
        {
            "date": pa.array([0, 0, 1, 1, 2, 2], pa.int32()).cast(pa.date32()),
            "underlying": ["A", "B"] * 3,
            "return": [-0.08, 0.01, 0.05, -0.02, -0.03, 0.04],
        }
    )
    model = pmargin.HistoricalModel(moves, measure="var", confidence=0.6, mm_ratio=0.5)
    result = pmargin.margin(book([("a", "PA", 2.0), ("b", "PB", -1.0)]), instruments(), market(), model)
    im_b = result.accounts.column("initial_margin")[1].as_py()
    assert im_b > 0
    # b holds 0.75 IM: below IM, above MM (half of IM).
    status = pmargin.status(result, cash({"a": 100.0, "b": 0.75 * im_b}), ASSETS, step=0.05)
    rows = {r["account_id"]: r for r in status.accounts.to_pylist()}
    assert (rows["a"]["state"], rows["b"]["state"]) == ("ok", "margin_call")
    assert rows["b"]["distance_to_call"] == 0.0
    assert math.isfinite(rows["a"]["distance_to_call"])


@pytest.mark.parametrize(
    ("collateral", "assets", "where"),
    [
        (pa.table({"account_id": ["a"], "asset": ["USD"]}), ASSETS, ("collateral", "amount", None)),
        (cash({"a": 1.0}, asset="EUR"), ASSETS, ("collateral", "asset", 0)),
        (cash({"a": math.nan}), ASSETS, ("collateral", "amount", 0)),
        (cash({"a": 1.0}), {"USD": (1.0, 1.0)}, ("assets", "haircut", 0)),
        (cash({"a": 1.0}), {"USD": (0.0, 0.0)}, ("assets", "price", 0)),
        (cash({"a": 1.0}), {"USD": 1.0}, ("assets", None, 0)),
    ],
)
def test_validation_errors_name_table_column_and_row(collateral: pa.Table, assets: object, where: tuple) -> None:
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.status(long_two(), collateral, assets, distances=False)  # type: ignore[arg-type]
    assert (info.value.table, info.value.column, info.value.row) == where


def test_search_settings_are_checked() -> None:
    with pytest.raises(pmargin.MarginInputError, match=r"status\.max_move"):
        pmargin.status(long_two(), cash({"a": 1.0}), ASSETS, max_move=1.0)
    with pytest.raises(pmargin.MarginInputError, match="result: this result does not carry"):
        pmargin.status(pmargin.reference.margin(book([("a", "PA", 1.0)]), instruments(), market(), GRID), None, ASSETS)


def test_an_isolated_run_gives_the_status_of_the_accounts_it_margined() -> None:
    positions = book([("a", "PA", 2.0), ("b", "NOPE", 1.0)])
    result = pmargin.MarginEngine(instruments(), market(), GRID).margin(positions, on_error="isolate")
    status = pmargin.status(result, cash({"a": 25.0, "b": 5.0}), ASSETS, tolerance=1e-6)
    rows = status.accounts.to_pylist()
    assert [r["account_id"] for r in rows] == ["a"]
    assert 5 / 180 <= rows[0]["distance_to_call"] <= 5 / 180 + 1e-6


def test_status_works_with_a_venue_model() -> None:
    """TIMS on long 2 PA (equity class, +-15%): IM = MM = 2 x 100 x 15% = 30. With 45 of cash a
    uniform move down by d leaves 45 - 200 d of equity against 30 (1 - d) of margin: the call (and
    liquidation, IM = MM) starts at d = 15 / 170."""
    from pmargin.presets import tims

    result = pmargin.margin(book([("a", "PA", 2.0)]), instruments(), market(), tims({"A": "equity", "B": "equity"}))
    edge = pmargin.status(result, cash({"a": 30.0}), ASSETS, distances=False).accounts.to_pylist()[0]
    assert (edge["initial_margin"], edge["maintenance_margin"]) == (pytest.approx(30.0), pytest.approx(30.0))
    assert edge["state"] == "ok"
    below = pmargin.status(result, cash({"a": 29.99}), ASSETS, distances=False).accounts.to_pylist()[0]
    assert below["state"] == "liquidation"
    row = pmargin.status(result, cash({"a": 45.0}), ASSETS).accounts.to_pylist()[0]
    assert row["state"] == "ok"
    assert row["distance_to_call"] == pytest.approx(15.0 / 170.0, abs=1e-4)
    assert row["distance_to_liquidation"] == pytest.approx(15.0 / 170.0, abs=1e-4)


@pytest.mark.parametrize("how", ENCODINGS)
def test_a_polars_or_encoded_book_gives_the_status_of_plain_strings(how: str) -> None:
    """The audit's case: string_view ids (Polars) failed in the distance search (no take kernel)."""
    b = pmargin.sample.book(n_accounts=6, seed=8)
    plain = pmargin.margin(b.positions, b.instruments, b.market)
    collateral, assets = sample_collateral(plain, cover=1.05)
    expected = pmargin.status(plain, collateral, assets, step=0.1, max_move=0.3)
    result = pmargin.margin(encoded(b.positions, how), b.instruments, b.market)
    got = pmargin.status(result, encoded(collateral, how), assets, step=0.1, max_move=0.3)
    assert got.accounts.equals(expected.accounts)
    assert got.distances.equals(expected.distances)
    assert got.distances.column("to_liquidation").null_count < got.distances.num_rows


def test_accounts_without_positions_have_fixed_distances() -> None:
    """A cash-only account is not searched: distances 0 for the state it is in, else null, even
    with collateral named like an underlying (a short A loan would be liquidated by A up 10%)."""
    collateral = pa.table(
        {
            "account_id": ["a", "short", "short", "broke"],
            "asset": ["USD", "USD", "A", "USD"],
            "amount": [25.0, 88.0, -0.1, -3.0],
        }
    )
    status = pmargin.status(long_two(), collateral, ASSETS, tolerance=1e-6)
    rows = {r["account_id"]: r for r in status.accounts.to_pylist()}
    assert list(rows) == ["a", "broke", "short"]
    assert 5 / 180 <= rows["a"]["distance_to_call"] <= 5 / 180 + 1e-6  # the margined account is searched
    short, broke = rows["short"], rows["broke"]
    # 88 - 0.1 x 100 x (1 - 0.2) = 80.
    assert (short["equity"], short["state"], short["margin_ratio"]) == (pytest.approx(80.0, abs=1e-12), "ok", 0.0)
    assert (short["distance_to_call"], short["call_move"]) == (None, None)
    assert (short["distance_to_liquidation"], short["liquidation_move"]) == (None, None)
    assert (broke["equity"], broke["excess"], broke["margin_ratio"]) == (-3.0, -3.0, None)
    assert broke["state"] == "liquidation"
    assert (broke["distance_to_call"], broke["call_move"]) == (0.0, "A down")
    assert (broke["distance_to_liquidation"], broke["liquidation_move"]) == (0.0, "A down")
    detail = [r for r in status.distances.to_pylist() if r["account_id"] in ("short", "broke")]
    assert len(detail) == 2 * 3 * 2  # accounts x (A, B, ALL) x (down, up)
    assert {(r["account_id"], r["to_call"], r["to_liquidation"]) for r in detail} == {
        ("short", None, None),
        ("broke", 0.0, 0.0),
    }


def test_an_isolated_run_reports_cash_only_accounts_but_not_the_failed_ones() -> None:
    positions = book([("a", "PA", 2.0), ("b", "NOPE", 1.0)])
    result = pmargin.MarginEngine(instruments(), market(), GRID).margin(positions, on_error="isolate")
    rows = pmargin.status(result, cash({"a": 25.0, "b": 5.0, "cash": 9.0}), ASSETS, distances=False)
    assert rows.accounts.column("account_id").to_pylist() == ["a", "cash"]
    assert rows.accounts.column("equity").to_pylist() == [25.0, 9.0]
