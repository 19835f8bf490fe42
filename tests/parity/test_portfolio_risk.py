"""Portfolio volatility through both engines on random books: native == reference to 1e-9
relative (positions and accounts, delta-normal and delta-gamma, random correlation)."""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin.portfolio_risk import Covariance, portfolio_risk

REL = 1e-9


def close(a: list[float | None], b: list[float | None]) -> bool:
    scale = max([abs(x) for x in b if x is not None] + [1.0])
    return all(
        (x is None and y is None)
        or (x is not None and y is not None and math.isclose(x, y, rel_tol=REL, abs_tol=REL * scale))
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 12),
    rho=st.floats(-0.99, 0.99),
    vols=st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 2.0)),
    method=st.sampled_from(["delta_normal", "delta_gamma"]),
    horizon=st.sampled_from([1.0, 10.0]),
)
def test_native_matches_reference(
    seed: int, n: int, rho: float, vols: tuple[float, float], method: str, horizon: float
) -> None:
    book = pmargin.sample.book(n_accounts=n, seed=seed)
    cov = Covariance.from_vols(
        {"BTC": vols[0], "ETH": vols[1]}, pmargin.Correlation(["BTC", "ETH"], [[1, rho], [rho, 1]])
    )
    a = portfolio_risk(book.positions, book.instruments, book.market, cov, horizon_days=horizon, method=method)
    b = portfolio_risk(
        book.positions, book.instruments, book.market, cov, horizon_days=horizon, method=method, engine="reference"
    )
    for t1, t2 in ((a.positions, b.positions), (a.accounts, b.accounts)):
        assert t1.column_names == t2.column_names
        for name in t1.column_names:
            x, y = t1.column(name).to_pylist(), t2.column(name).to_pylist()
            if pa.types.is_floating(t1.column(name).type):
                assert close(x, y), name
            else:
                assert x == y, name
