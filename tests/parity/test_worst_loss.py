"""The noise floor in both engines (docs/methods.md, "Noise"): a loss at or below 2^-40 of the
P&L scale of the positions summed (sum of |q| x max |risk row|) is no loss, so a hedge that
cancels up to rounding reports exactly 0 with no scenario.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.models import GridModel, HistoricalModel

ENGINES = {"native": pmargin.margin, "reference": reference.margin}
NOISE = 2.0**-40


def readme_pair() -> tuple[pa.Table, pa.Table, pmargin.Market]:
    """README, "Correlation": long 10 BTC-PERP (60,000) against short 200 ETH-PERP (3,000)."""
    positions = pa.table(
        {"account_id": ["pair", "pair"], "instrument_id": ["BTC-PERP", "ETH-PERP"], "quantity": [10.0, -200.0]}
    )
    instruments = pa.table(
        {"instrument_id": ["BTC-PERP", "ETH-PERP"], "underlying": ["BTC", "ETH"], "kind": ["perpetual", "perpetual"]}
    )
    market = pmargin.Market("2026-06-30T08:00:00Z", pa.table({"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0]}))
    return positions, instruments, market


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_the_readme_pair_under_joint_is_exactly_zero(engine: Any) -> None:
    positions, instruments, market = readme_pair()
    row = engine(positions, instruments, market, GridModel(cross="joint"), by_position=True).accounts.to_pylist()[0]
    assert row["initial_margin"] == 0.0
    assert row["maintenance_margin"] == 0.0
    assert (row["worst_scenario"], row["worst_price_shock"], row["worst_vol_shock"]) == (None, None, None)
    assert row["gross_margin"] == pytest.approx(180_000.0, rel=1e-12)


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_the_pair_without_the_floor_would_report_rounding(engine: Any) -> None:
    """The same pair, its joint P&L computed by hand: what remains is far below the floor."""
    positions, instruments, market = readme_pair()
    result = engine(positions, instruments, market, GridModel(cross="joint"))
    total = result.scenarios("pair").column("total").to_pylist()
    worst = max(0.0, max(-x for x in total))
    scale = 10.0 * 60000.0 * 0.15 + 200.0 * 3000.0 * 0.15
    assert worst <= NOISE * scale
    assert result.accounts.column("initial_margin").to_pylist() == [0.0]


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_a_loss_just_above_the_floor_is_kept(engine: Any) -> None:
    """A real residual (one ETH less short) is margined as before."""
    positions, instruments, market = readme_pair()
    positions = positions.set_column(2, "quantity", pa.array([10.0, -199.0]))
    row = engine(positions, instruments, market, GridModel(cross="joint")).accounts.to_pylist()[0]
    assert row["initial_margin"] == pytest.approx(3000.0 * 0.15, rel=1e-9)
    assert row["worst_scenario"] is not None


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_a_var_measure_within_the_floor_is_zero(engine: Any) -> None:
    """Equal moves of BTC and ETH: the pair's loss cancels up to rounding in every scenario, so
    VaR and ES are 0 with no scenario and an empty tail."""
    positions, instruments, market = readme_pair()
    moves = []
    for d, r in enumerate([-0.07, -0.031, 0.012, 0.05, -0.013]):
        for u in ("BTC", "ETH"):
            moves.append({"date": f"2024-01-{d + 1:02d}", "underlying": u, "return": r})
    for measure in ("var", "es"):
        model = HistoricalModel(pa.Table.from_pylist(moves), measure=measure, confidence=0.6, tail_scenarios=True)
        row = engine(positions, instruments, market, model).accounts.to_pylist()[0]
        assert row["initial_margin"] == 0.0, measure
        assert (row["measure_scenario"], row["tail_scenarios"]) == (None, [])
