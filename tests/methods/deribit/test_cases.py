"""The Deribit worked examples (tests/cases/deribit: AC-D1, AC-D2, AC-D4, AC-D5 of
../shared/methodologies.md) through both engines, native and reference."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

import pmargin
import pmargin.reference
from pmargin.reference.methods.deribit.matrix import vol_multiplier
from pmargin.reference.pricing.black76 import black76
from tests.methods.deribit.cases import all_cases, load

ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {
    "native": pmargin.margin,
    "reference": pmargin.reference.margin,
}

MARGIN_CASES = [p for p in all_cases() if "vol-shocks" not in p.name]


def test_the_cases_are_there() -> None:
    names = {p.name for p in all_cases()}
    assert {
        "ac-d1-btc-simulate.json",
        "ac-d2-eth-simulate.json",
        "ac-d4-dederi-linear-futures.json",
        "ac-d5-derive-vol-shocks.json",
    } <= names


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("path", MARGIN_CASES, ids=lambda p: p.stem)
def test_published_margins(path: Path, engine: str) -> None:
    case = load(path)
    result = ENGINES[engine](case.positions, case.instruments, case.market, case.model)
    rows = {(r["account_id"], r["risk_vector"]): r for r in result.by_underlying.to_pylist()}
    for e in case.expected["by_underlying"]:
        row = rows[(e["account_id"], e["risk_vector"])]
        for key, value in e.items():
            if key in ("account_id", "risk_vector"):
                continue
            if isinstance(value, float | int) and not isinstance(value, bool):
                tol = case.tolerance * (e.get("index_price", 1.0) if key.endswith("_usd") else 1.0)
                if key.endswith("_usd"):
                    tol = case.tolerance * row["index_price"]
                assert abs(row[key] - value) <= tol, (case.id, key, row[key], value)
            else:
                assert row[key] == value, (case.id, key)
    accounts = {r["account_id"]: r for r in result.accounts.to_pylist()}
    for a, r in accounts.items():
        assert r["parameter_set"] == case.model.parameter_set
        assert r["parameter_set"].startswith(f"{case.model.name}@{case.model.version}#")
        usd = [v for v in result.by_underlying.to_pylist() if v["account_id"] == a]
        assert r["initial_margin"] == pytest.approx(sum(v["initial_margin_usd"] for v in usd), rel=1e-15)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("path", MARGIN_CASES, ids=lambda p: p.stem)
def test_published_risk_vectors(path: Path, engine: str) -> None:
    case = load(path)
    result = ENGINES[engine](case.positions, case.instruments, case.market, case.model)
    for account, vectors in case.expected["risk_vectors"].items():
        matrix = result.scenarios(account).to_pylist()
        for name, expected in vectors.items():
            rows = [r for r in matrix if r["risk_vector"] == name]
            if "standard_pnl" in expected:
                got = [r["pnl"] for r in rows if r["source"] == "standard" and r["vol"] == "none"]
                want = expected["standard_pnl"]
                assert len(got) == len(want)
                assert all(abs(g - w) <= case.tolerance for g, w in zip(got, want, strict=True)), (got, want)
            for column in ("pnl", "adjusted_pnl"):
                if column in expected:
                    got = [r[column] for r in rows]
                    assert len(got) == len(expected[column]) == 35
                    for i, (g, w) in enumerate(zip(got, expected[column], strict=True)):
                        assert abs(g - w) <= case.tolerance, (case.id, account, column, i, g, w)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_vega_term_structure(engine: str) -> None:
    """AC-D5: the shocked vols of Derive's test 12, seen through the P&L of a long call at the
    unchanged price."""
    (path,) = [p for p in all_cases() if "vol-shocks" in p.name]
    case = load(path)
    e = case.expected
    t = e["seconds_to_expiry"] * 1e9 / 31_536_000e9
    flat = case.model.flat["ETH"]
    mult = vol_multiplier(flat, t)
    assert 1.0 + flat["volatility_range_up"] * mult == pytest.approx(e["up_multiplier"], abs=1e-12)
    assert 1.0 - flat["volatility_range_down"] * mult == pytest.approx(e["down_multiplier"], abs=1e-12)
    result = ENGINES[engine](case.positions, case.instruments, case.market, case.model)
    rows = result.scenarios("a").to_pylist()
    at_zero = {r["vol"]: r["pnl"] for r in rows if r["source"] == "standard" and r["price_move"] == 0.0}
    base = black76(True, 2000.0, 2000.0, 0.453803924321583, t, 0.0)
    for vol_name, vol in (("up", e["vol_up"]), ("down", e["vol_down"])):
        expected = black76(True, 2000.0, 2000.0, vol, t, 0.0) - base
        assert math.isclose(at_zero[vol_name], expected, rel_tol=1e-9, abs_tol=1e-9), (vol_name, at_zero, expected)
    assert at_zero["none"] == 0.0
