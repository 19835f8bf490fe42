"""Model inputs shared by the method tests: a two-name correlation and Monte Carlo vols, small
moves tables, a three-name Monte Carlo model, a sample book, sine-wave historical moves, and the
check that a model argument is rejected as ``model.<argument>``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin.correlation import Correlation
from pmargin.errors import MarginConfigError, MarginInputError

CORR = Correlation(["BTC", "ETH"], [[1.0, 0.8], [0.8, 1.0]])

VOLS = pa.table({"underlying": ["ETH", "BTC"], "vol": [0.05, 0.04]})


def moves(dates: list[Any], underlyings: list[str], returns: list[float], **extra: list[Any]) -> pa.Table:
    return pa.table({"date": dates, "underlying": underlyings, "return": returns, **extra})


SMALL_MOVES = moves([dt.date(2024, 1, d) for d in (1, 1, 2, 2)], ["BTC", "ETH", "BTC", "ETH"], [0.01, -0.02, 0.03, 0.0])


def config_error(run: Any) -> MarginConfigError:
    with pytest.raises(MarginConfigError) as info:
        run()
    assert info.value.table == "model"
    assert isinstance(info.value, MarginInputError)
    return info.value


def mc_model(n: int = 2000, seed: int = 11, **kwargs: Any) -> pmargin.MonteCarloModel:
    names = ["BTC", "ETH", "SOL"]
    correlation = pmargin.Correlation(names, [[1.0, 0.8, 0.5], [0.8, 1.0, 0.6], [0.5, 0.6, 1.0]])
    vols = pa.table({"underlying": names, "vol": [0.05, 0.06, 0.09]})
    return pmargin.MonteCarloModel(vols, correlation, n_scenarios=n, seed=seed, **kwargs)


def sample_book() -> pmargin.sample.SampleBook:
    return pmargin.sample.book(n_accounts=400, seed=21)


def historical_moves(dates: int = 120) -> pa.Table:
    rows = []
    for d in range(dates):
        for u, scale in (("BTC", 0.04), ("ETH", 0.05)):
            rows.append(
                {
                    "date": f"2024-{1 + d // 28:02d}-{1 + d % 28:02d}",
                    "underlying": u,
                    "return": scale * math.sin(d * (1.3 if u == "BTC" else 0.7)),
                }
            )
    return pa.Table.from_pylist(rows)
