"""Every worked example of ``../shared/cases/grid`` through both engines: native and reference."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import pmargin
import pmargin.reference
from tests.conftest import GridCase, within_tolerance

ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {
    "native": pmargin.margin,
    "reference": pmargin.reference.margin,
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Callable[..., pmargin.MarginResult]:
    return ENGINES[request.param]


def _shocks(row: dict[str, Any]) -> dict[str, float] | None:
    if row["worst_price_shock"] is None:
        return None
    return {"price_shock": row["worst_price_shock"], "vol_shock": row["worst_vol_shock"]}


def _assert_close(actual: float, expected: float, case: GridCase, what: str) -> None:
    assert within_tolerance(actual, expected, case.tolerance), f"{case.id}: {what} = {actual!r}, expected {expected!r}"


def _assert_same_shocks(actual: dict[str, float] | None, expected: dict[str, float] | None, what: str) -> None:
    if expected is None:
        assert actual is None, what
        return
    assert actual is not None, what
    for key in ("price_shock", "vol_shock"):
        assert actual[key] == pytest.approx(expected[key], abs=1e-12), what


def test_accounts(grid_case: GridCase, engine: Callable[..., pmargin.MarginResult]) -> None:
    result = engine(grid_case.positions, grid_case.instruments, grid_case.market, grid_case.model)
    rows = {r["account_id"]: r for r in result.accounts.to_pylist()}
    expected = grid_case.expected["accounts"]
    assert list(rows) == [e["account_id"] for e in expected], "accounts in first-seen order"
    for e in expected:
        row = rows[e["account_id"]]
        _assert_close(row["initial_margin"], e["initial_margin"], grid_case, f"{e['account_id']} initial")
        if "maintenance_margin" in e:
            _assert_close(
                row["maintenance_margin"], e["maintenance_margin"], grid_case, f"{e['account_id']} maintenance"
            )
        if "worst_scenario" in e:
            _assert_same_shocks(_shocks(row), e["worst_scenario"], f"{e['account_id']} worst scenario")


def test_published_breakdowns(grid_case: GridCase, engine: Callable[..., pmargin.MarginResult]) -> None:
    """Per-underlying requirements and scenario P&L, where the case publishes them."""
    result = engine(grid_case.positions, grid_case.instruments, grid_case.market, grid_case.model)
    by_underlying = grid_case.expected.get("by_underlying", [])
    scenario_pnl = grid_case.expected.get("scenario_pnl", {})
    assert by_underlying or scenario_pnl or "by_underlying" not in grid_case.expected
    if by_underlying:
        _check_by_underlying(grid_case, result, by_underlying)
    for account, pnls in scenario_pnl.items():
        total = result.scenarios(account).column("total").to_pylist()
        assert len(total) == len(pnls)
        for s, (actual, published) in enumerate(zip(total, pnls, strict=True)):
            _assert_close(actual, published, grid_case, f"{account} scenario {s}")


def _held(grid_case: GridCase) -> set[tuple[Any, str]]:
    """(account, underlying) pairs holding a non-zero net position."""
    underlying = dict(
        zip(
            grid_case.instruments.column("instrument_id").to_pylist(),
            grid_case.instruments.column("underlying").to_pylist(),
            strict=True,
        )
    )
    nets: dict[tuple[Any, str], list[float]] = {}
    for r in grid_case.positions.to_pylist():
        nets.setdefault((r["account_id"], r["instrument_id"]), []).append(r["quantity"])
    return {(a, underlying[i]) for (a, i), q in nets.items() if math.fsum(q) != 0.0}


def _check_by_underlying(grid_case: GridCase, result: pmargin.MarginResult, expected: list[dict[str, Any]]) -> None:
    rows = {(r["account_id"], r["underlying"]): r for r in result.by_underlying.to_pylist()}
    # A position netting to exactly zero is not held (docs/methods.md, "Zero rows"): the shared
    # cases publish a zero row for such an underlying (the "flat" account), which is not reported.
    expected = [e for e in expected if (e["account_id"], e["underlying"]) in _held(grid_case)]
    assert len(rows) == len(expected)
    for e in expected:
        row = rows[(e["account_id"], e["underlying"])]
        _assert_close(row["requirement"], e["requirement"], grid_case, f"{e['account_id']}/{e['underlying']}")
        _assert_same_shocks(_shocks(row), e["worst_scenario"], f"{e['account_id']}/{e['underlying']} worst")
