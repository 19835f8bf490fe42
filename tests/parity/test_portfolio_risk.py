"""Portfolio volatility through both engines on random books: native == reference to 1e-9
relative (positions, accounts and exposures, delta-normal and delta-gamma, random correlation;
integer account ids and what-if)."""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin.portfolio_risk import Covariance, PortfolioRiskResult, portfolio_risk, what_if_variance

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
    same(a, b)


def same(a: PortfolioRiskResult, b: PortfolioRiskResult) -> None:
    for t1, t2 in ((a.positions, b.positions), (a.accounts, b.accounts), (a.exposures, b.exposures)):
        assert t1.schema.equals(t2.schema)
        for name in t1.column_names:
            x, y = t1.column(name).to_pylist(), t2.column(name).to_pylist()
            if pa.types.is_floating(t1.column(name).type):
                assert close(x, y), name
            else:
                assert x == y, name


def test_integer_account_ids_native_matches_reference() -> None:
    book = pmargin.sample.book(n_accounts=8, seed=3)
    pos = book.positions
    ids = pos.column("account_id").to_pylist()
    codes = {a: 1000 - 7 * i for i, a in enumerate(dict.fromkeys(ids))}
    pos = pos.set_column(
        pos.column_names.index("account_id"), "account_id", pa.array([codes[a] for a in ids], pa.uint16())
    )
    cov = Covariance.from_vols({"BTC": 0.6, "ETH": 0.8}, pmargin.Correlation(["BTC", "ETH"], [[1, 0.4], [0.4, 1]]))
    a, b = (
        portfolio_risk(pos, book.instruments, book.market, cov, method="delta_gamma", engine=e)
        for e in ("native", "reference")
    )
    same(a, b)
    assert a.accounts.column("account_id").to_pylist() == list(codes.values())
    trade = pa.table(
        {"account_id": [codes[ids[0]], 5], "instrument_id": ["BTC-PERP", "ETH-PERP"], "quantity": [2.0, -1.0]}
    )
    w1, w2 = (
        what_if_variance(r, trade, book.instruments, book.market, engine=e)
        for r, e in ((a, "native"), (b, "reference"))
    )
    assert w1.schema.equals(w2.schema) and w1.column("account_id").to_pylist() == [codes[ids[0]], 5]
    for name in ("volatility_before", "volatility_after", "change"):
        assert close(w1.column(name).to_pylist(), w2.column(name).to_pylist()), name
