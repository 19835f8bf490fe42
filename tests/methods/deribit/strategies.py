"""Hypothesis strategies for Deribit books: the package's random books (tests/strategies.py) with
a random ``settlement`` column, and random published-style parameter sets."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from pmargin.models.deribit import DeribitModel
from tests.strategies import Book, books

Draw = st.DrawFn


@st.composite
def model_params(draw: Draw, homogeneous: bool = False) -> dict[str, Any]:
    """One underlying's model_params. ``homogeneous``: no dampener, no cap on gains and no delta
    shock (the parts that are not positively homogeneous, by design)."""
    unit = st.floats(0.0, 1.0)
    return {
        "price_range": draw(st.floats(0.02, 0.6)),
        "buckets_count": draw(st.integers(1, 6)),
        "volatility_range_up": draw(st.floats(0.0, 1.0)),
        "volatility_range_down": draw(st.floats(0.0, 0.6)),
        "short_term_vega_power": draw(st.floats(0.0, 0.5)),
        "long_term_vega_power": draw(st.floats(0.0, 0.5)),
        "min_volatility_for_shock_up": draw(st.floats(0.0, 0.8)),
        "dte_floor_days": draw(st.floats(0.1, 5.0)),
        "extended_table_factor": draw(st.floats(0.0, 2.0)),
        "extended_dampener": {"usd": 0.0 if homogeneous else draw(st.sampled_from([0.0, 10.0, 25000.0]))},
        "pnl_offset": {"usd": draw(unit)},
        "max_offsetable_pnl": 0.0 if homogeneous else draw(st.sampled_from([0.0, 50.0, 2e7])),
        "annualised_move_risk": {"usd": draw(st.floats(0.0, 0.2))},
        "min_annualised_move": {"usd": draw(st.floats(0.0, 0.02))},
        "delta_total_liq_shock_threshold": 1e300 if homogeneous else draw(st.sampled_from([0.0, 100.0, 2e7])),
        "max_delta_shock": draw(st.floats(0.0, 0.2)),
        "m_inc": draw(st.sampled_from([0.0, 0.00005, 0.01])),
        "mm_factor": draw(st.floats(0.1, 1.0)),
    }


@st.composite
def deribit_models(draw: Draw, homogeneous: bool = False) -> DeribitModel:
    """A default ("*") set, and sometimes an own set for BTC (with a coin entry)."""
    params: dict[str, Any] = {"*": draw(model_params(homogeneous))}
    if draw(st.booleans()):
        btc = draw(model_params(homogeneous))
        for key in ("extended_dampener", "pnl_offset", "annualised_move_risk", "min_annualised_move"):
            coin = (
                0.0
                if homogeneous and key == "extended_dampener"
                else draw(st.floats(0.0, 1.0 if key == "pnl_offset" else 0.1))
            )
            btc[key] = {"btc": coin, **btc[key]}
        params["BTC"] = btc
    return DeribitModel(params=params, name="test", version="hypothesis")


def with_settlement(draw: Draw, book: Book) -> Book:
    """``settlement``: inverse on a random subset of the non-spot instruments, else linear or null."""
    kinds = book.instruments.column("kind").to_pylist()
    values = [
        draw(st.sampled_from(["inverse", "linear", None])) if k != "spot" else draw(st.sampled_from(["linear", None]))
        for k in kinds
    ]
    return book._replace(instruments=book.instruments.append_column("settlement", pa.array(values, pa.string())))


@st.composite
def deribit_books(draw: Draw, max_rows: int = 25) -> Book:
    return with_settlement(draw, draw(books(max_rows=max_rows)))
