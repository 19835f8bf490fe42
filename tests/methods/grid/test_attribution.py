"""What drives a grid margin (``by_position=True``), through the native engine: contributions add
up to the requirement, the incremental margin is the margin minus the margin of the book without
the position, the explain's Greek P&L and the Greeks tables follow their definitions (both
engines), and only grid models attribute.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given

import pmargin
from pmargin import reference
from pmargin.errors import MarginConfigError
from pmargin.market import Market
from pmargin.models import GridModel, HistoricalModel, scenario_label
from tests.parity.scales import REL, instrument_underlyings, pnl_scales
from tests.pricing.native import AS_OF, SLOW, Terms, expiry_ns, one_market, option_table
from tests.strategies import Book, grid_models, payoff_books


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
            # An account whose positions all net to zero has no position rows: it contributes 0.
            assert math.isclose(
                per_account.get(row["account_id"], 0.0),
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


def incremental_error_bound(n_positions: int, scale: float) -> float:
    """docs/methods.md, "Incremental margin": the subtractive incremental margin of cross="sum" and
    "joint" is within ``(2 (n + 1) u / (1 - (n + 1) u) + 2^-40) x scale`` of the margin recomputed
    without the position (u = 2^-53, n the account's netted positions, scale = sum of |q| max |ra|)."""
    u = 2.0**-53
    return (2 * (n_positions + 1) * u / (1 - (n_positions + 1) * u) + 2.0**-40) * scale


@pytest.mark.parametrize("cross", ["sum", "joint"])
def test_incremental_margin_is_within_its_error_bound_on_a_huge_book(cross: str) -> None:
    """A 3.8e12-lot hedged book (the issue's case): every position's incremental margin against
    the book margined without it, within the documented bound."""
    instruments = pa.table(
        {
            "instrument_id": ["XS", "XF", "XC", "XP", "YS", "YF"],
            "underlying": ["X", "X", "X", "X", "Y", "Y"],
            "kind": ["spot", "future", "option", "option", "spot", "future"],
            "option_type": [None, None, "call", "put", None, None],
            "strike": [None, None, 105.0, 90.0, None, None],
            "expiry": pa.array(
                [None, expiry_ns(0.5), expiry_ns(0.25), expiry_ns(0.25), None, expiry_ns(0.1)],
                pa.timestamp("ns", tz="UTC"),
            ),
        }
    )
    market = Market(
        AS_OF,
        pa.table({"underlying": ["X", "Y"], "spot": [100.0, 37.0], "rate": [0.03, 0.01]}),
        pa.table({"instrument_id": ["XC", "XP"], "implied_vol": [0.4, 0.5]}),
    )
    lots = 3.8e12
    quantities = {"XS": lots, "XF": -lots * 0.97, "XC": -lots / 3, "XP": lots / 7, "YS": -lots * 2.7, "YF": lots * 2.7}
    positions = pa.table(
        {"account_id": ["big"] * 6, "instrument_id": list(quantities), "quantity": list(quantities.values())}
    )
    model = GridModel(cross=cross)
    result = pmargin.margin(positions, instruments, market, model, by_position=True)
    assert result.by_position is not None
    initial = result.accounts.column("initial_margin")[0].as_py()
    book = Book(positions, instruments, market.underlyings, market.vols, AS_OF)
    bound = incremental_error_bound(len(quantities), pnl_scales(book, model)["big"])
    assert bound < 1e-9 * initial  # the bound is tight enough to mean something
    for row in result.by_position.to_pylist():
        rest = pmargin.margin(without_pair(positions, "big", row["instrument_id"]), instruments, market, model)
        exact = initial - rest.accounts.column("initial_margin")[0].as_py()
        assert abs(row["incremental_margin"] - exact) <= bound, (row["instrument_id"], row["incremental_margin"], exact)
