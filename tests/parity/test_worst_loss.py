"""The noise floor in both engines (docs/methods.md, "Noise"): a loss at or below 2^-40 of the
P&L scale of the positions summed (sum of |q| x max |risk row|) is no loss, so a hedge that
cancels up to rounding reports exactly 0 with no scenario.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.correlation import Correlation
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


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_a_correlation_margin_within_the_accounts_noise_floor_is_zero(engine: Any) -> None:
    """A long put one second from expiry (a 0.15 gain at -15%) beside a far out-of-the-money call
    whose whole loss is subnormal (3.9e-316): the call's requirement stands against its own
    scale, but the account's margin, even raised to the largest requirement by
    ``floor_largest``, is noise against the account's scale, so 0 with no scenario (found by
    hypothesis: the engines disagreed)."""
    expiry = [datetime(2026, 6, 30, 0, 0, 1), datetime(2026, 6, 30, 0, 0, 21)]
    instruments = pa.table(
        {
            "instrument_id": ["BTC-P", "ETH-C"],
            "underlying": ["BTC", "ETH"],
            "kind": ["option", "option"],
            "option_type": ["put", "call"],
            "strike": [1.0, 1.03125],
            "expiry": pa.array(expiry, pa.timestamp("s")),
        }
    )
    market = pmargin.Market(
        datetime(2026, 6, 30, tzinfo=UTC),
        pa.table({"underlying": ["BTC", "ETH"], "spot": [1.0, 1.0]}),
        pa.table({"instrument_id": ["BTC-P", "ETH-C"], "implied_vol": [0.00005, 1.0]}),
    )
    positions = pa.table({"account_id": ["a", "a"], "instrument_id": ["BTC-P", "ETH-C"], "quantity": [1.0, 1.0]})
    model = GridModel(
        price_shocks=(-0.15,),
        vol_shocks=(0.0,),
        cross="correlation",
        floor_largest=True,
        correlation=Correlation(["BTC", "ETH"], [[1.0, 0.5], [0.5, 1.0]]),
    )
    result = engine(positions, instruments, market, model, by_position=True)
    eth = result.by_underlying.to_pylist()[1]
    assert 0.0 < eth["requirement"] < 1e-300 and eth["worst_scenario"] == "ETH -15.0% vol +0%"
    row = result.accounts.to_pylist()[0]
    assert (row["initial_margin"], row["maintenance_margin"], row["worst_scenario"]) == (0.0, 0.0, None)
    assert row["gross_margin"] == eth["requirement"]
    # Without the put the call is the whole account, its requirement above its own floor; without
    # the call the put gains: 0.
    assert result.by_position.column("incremental_margin").to_pylist() == [-eth["requirement"], 0.0]
