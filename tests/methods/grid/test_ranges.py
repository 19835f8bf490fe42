"""Scan ranges per product (GridModel price_ranges / vol_ranges / range_column): a BTC +-15% and
an altcoin +-40% in one account, still cross-margined; ranges by underlying or by group."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.errors import MarginConfigError
from pmargin.models import GridModel

AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {"native": pmargin.margin, "reference": reference.margin}
INSTRUMENTS = pa.table(
    {
        "instrument_id": ["B", "S"],
        "underlying": ["BTC", "SOL"],
        "kind": ["perpetual", "perpetual"],
        "product_group": ["majors", "alts"],
    }
)
MARKET = pmargin.Market(
    AS_OF,
    pa.table({"underlying": ["BTC", "SOL"], "spot": [60_000.0, 150.0], "rate": [0.0, 0.0]}),
    pa.table({"instrument_id": pa.array([], pa.string()), "implied_vol": pa.array([], pa.float64())}),
)
# Long 1 BTC (60,000), short 100 SOL (15,000).
POSITIONS = pa.table({"account_id": ["a", "a"], "instrument_id": ["B", "S"], "quantity": [1.0, -100.0]})


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize(
    ("model", "btc", "sol", "initial"),
    [
        (GridModel(), 9_000.0, 2_250.0, 11_250.0),
        (GridModel(price_ranges={"SOL": 0.4}), 9_000.0, 6_000.0, 15_000.0),
        (GridModel(price_ranges={"alts": 0.4}, range_column="product_group"), 9_000.0, 6_000.0, 15_000.0),
        # Joint: SOL moves -40% when BTC moves -15% (the same fraction of each range): the short
        # SOL gains 6,000 against BTC's 9,000 loss.
        (GridModel(price_ranges={"alts": 0.4}, range_column="product_group", cross="joint"), 9_000.0, 6_000.0, 3_000.0),
    ],
)
def test_an_altcoin_range_beside_btc(engine: str, model: GridModel, btc: float, sol: float, initial: float) -> None:
    result = ENGINES[engine](POSITIONS, INSTRUMENTS, MARKET, model)
    rows = {r["underlying"]: r for r in result.by_underlying.to_pylist()}
    assert rows["BTC"]["requirement"] == pytest.approx(btc, rel=1e-12)
    assert rows["SOL"]["requirement"] == pytest.approx(sol, rel=1e-12)
    assert result.accounts.column("initial_margin")[0].as_py() == pytest.approx(initial, rel=1e-12)
    if sol == 6_000.0:
        assert rows["SOL"]["worst_price_shock"] == pytest.approx(0.4) and rows["SOL"]["worst_scenario"].startswith(
            "SOL +40.0%"
        )


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_vol_ranges_rescale_the_vol_shocks(engine: str) -> None:
    model = GridModel(vol_ranges={"SOL": 0.6}, price_ranges={"SOL": 0.4})
    result = ENGINES[engine](POSITIONS, INSTRUMENTS, MARKET, model)
    (sol,) = [r for r in result.by_underlying.to_pylist() if r["underlying"] == "SOL"]
    assert sol["worst_vol_shock"] == pytest.approx(-0.6)


def test_bad_ranges_name_the_key() -> None:
    with pytest.raises(MarginConfigError) as info:
        GridModel(price_ranges={"SOL": 1.0})
    assert info.value.column == "price_ranges.SOL"
    with pytest.raises(MarginConfigError) as info:
        GridModel(vol_ranges={"SOL": -0.1})
    assert info.value.column == "vol_ranges.SOL"


def test_ranges_round_trip_through_a_dict() -> None:
    model = GridModel(price_ranges={"alts": 0.4}, vol_ranges={"alts": 0.5}, range_column="product_group")
    assert GridModel.from_dict(model.to_dict()) == model
    assert model.to_spec()["price_ranges"] == {"alts": 0.4}
