"""Portfolio volatility (pmargin.portfolio_risk): components add up to the volatility (Euler),
scaling positions by k scales it by k, an exactly offsetting position removes its risk, a
zero-correlation book's variance is the sum of its underlyings' variances, the delta-normal
volatility matches x'Cx computed by hand, what-if equals a recomputation, covariance from
history (sample and EWMA)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin.errors import MarginInputError
from pmargin.portfolio_risk import Covariance, portfolio_risk, what_if_variance

BOOK = pmargin.sample.book(n_accounts=30, seed=11)
CORR = pmargin.Correlation(["BTC", "ETH"], [[1.0, 0.7], [0.7, 1.0]])
COV = Covariance.from_vols({"BTC": 0.6, "ETH": 0.8}, CORR)


def by_account(t: pa.Table, col: str) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for a, v in zip(t.column("account_id").to_pylist(), t.column(col).to_pylist(), strict=True):
        out.setdefault(a, []).append(v)
    return {a: math.fsum(v) for a, v in out.items()}


@pytest.mark.parametrize("method", ["delta_normal", "delta_gamma"])
def test_components_add_up(method: str) -> None:
    r = portfolio_risk(BOOK.positions, BOOK.instruments, BOOK.market, COV, horizon_days=10, method=method)
    comp = by_account(r.positions, "component")
    shares = by_account(r.positions, "share")
    for row in r.accounts.to_pylist():
        assert comp[row["account_id"]] == pytest.approx(row["volatility"], rel=1e-9)
        if row["volatility"] > 0:
            assert shares[row["account_id"]] == pytest.approx(1.0, rel=1e-9)
            assert row["diversification_ratio"] == pytest.approx(row["undiversified"] / row["volatility"])


def test_delta_normal_by_hand() -> None:
    r = portfolio_risk(BOOK.positions, BOOK.instruments, BOOK.market, COV, horizon_days=1)
    c = np.array(COV.matrix).reshape(2, 2) / 365.0
    x = {}
    for a, u, d in zip(
        *(r.exposures.column(k).to_pylist() for k in ("account_id", "underlying", "cash_delta")), strict=True
    ):
        x.setdefault(a, np.zeros(2))[["BTC", "ETH"].index(u)] += d
    for row in r.accounts.to_pylist():
        v = x[row["account_id"]]
        assert row["volatility"] == pytest.approx(math.sqrt(v @ c @ v), rel=1e-12)


@pytest.mark.parametrize("method", ["delta_normal", "delta_gamma"])
def test_scaling(method: str) -> None:
    pos = BOOK.positions
    scaled = pos.set_column(
        pos.column_names.index("quantity"), "quantity", pa.array(np.array(pos.column("quantity")) * 3.0)
    )
    a = portfolio_risk(pos, BOOK.instruments, BOOK.market, COV, method=method).accounts.column("volatility").to_pylist()
    b = (
        portfolio_risk(scaled, BOOK.instruments, BOOK.market, COV, method=method)
        .accounts.column("volatility")
        .to_pylist()
    )
    assert b == pytest.approx([3.0 * v for v in a], rel=1e-9)


def test_offsetting_position_removes_its_contribution() -> None:
    pos = BOOK.positions.slice(0, 40)
    acct = pos.column("account_id")[0].as_py()
    extra = pa.table({"account_id": [acct, acct], "instrument_id": ["ETH-PERP", "ETH-PERP"], "quantity": [5.0, -5.0]})
    hedged = pa.concat_tables([pos, extra.cast(pos.schema)])
    a = portfolio_risk(pos, BOOK.instruments, BOOK.market, COV)
    b = portfolio_risk(hedged, BOOK.instruments, BOOK.market, COV)
    assert b.accounts.column("volatility").to_pylist() == pytest.approx(
        a.accounts.column("volatility").to_pylist(), rel=1e-12
    )


def test_zero_correlation_variance_is_sum() -> None:
    cov = Covariance.from_vols({"BTC": 0.6, "ETH": 0.8})
    r = portfolio_risk(BOOK.positions, BOOK.instruments, BOOK.market, cov)
    per_u: dict[tuple[str, str], float] = {}
    for a, u, d in zip(
        *(r.exposures.column(k).to_pylist() for k in ("account_id", "underlying", "cash_delta")), strict=True
    ):
        per_u[(a, u)] = d
    vols = {"BTC": 0.6**2 / 365, "ETH": 0.8**2 / 365}
    for row in r.accounts.to_pylist():
        want = math.fsum(d * d * vols[u] for (a, u), d in per_u.items() if a == row["account_id"])
        assert row["variance"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("method", ["delta_normal", "delta_gamma"])
def test_what_if_equals_recomputation(method: str) -> None:
    r = portfolio_risk(BOOK.positions, BOOK.instruments, BOOK.market, COV, method=method)
    acct = BOOK.positions.column("account_id")[3].as_py()
    trade = pa.table({"account_id": [acct], "instrument_id": ["BTC-30D-60000-C"], "quantity": [-2.0]}).cast(
        BOOK.positions.schema
    )
    w = what_if_variance(r, trade, BOOK.instruments, BOOK.market).to_pylist()
    full = portfolio_risk(pa.concat_tables([BOOK.positions, trade]), BOOK.instruments, BOOK.market, COV, method=method)
    after = dict(
        zip(full.accounts.column("account_id").to_pylist(), full.accounts.column("volatility").to_pylist(), strict=True)
    )
    assert len(w) == 1 and w[0]["account_id"] == acct
    assert w[0]["volatility_after"] == pytest.approx(after[acct], rel=1e-9)
    assert w[0]["change"] == pytest.approx(after[acct] - w[0]["volatility_before"], rel=1e-9, abs=1e-9)


def test_covariance_from_history() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, size=(50, 2))
    dates = np.arange(50).astype("datetime64[D]").astype("datetime64[ns]")
    moves = pa.table(
        {
            "date": pa.array(np.repeat(dates, 2)),
            "underlying": ["BTC", "ETH"] * 50,
            "return": r.reshape(-1),
        }
    )
    sample = Covariance.from_history(moves)
    assert np.allclose(np.array(sample.matrix).reshape(2, 2), np.cov(r.T), rtol=1e-12)
    lam = 0.94
    ewma = Covariance.from_history(moves, ewma_lambda=lam)
    w = (1 - lam) * lam ** np.arange(49, -1, -1) / (1 - lam**50)
    assert np.allclose(np.array(ewma.matrix).reshape(2, 2), (r * w[:, None]).T @ r, rtol=1e-12)


def test_missing_covariance_names_the_instruments_cell() -> None:
    # The netted positions are pmargin's own rows: the error names the first held instrument
    # without a covariance, at its row of the instruments table as given.
    inst = BOOK.instruments
    held = set(BOOK.positions.column("instrument_id").to_pylist())
    unds = inst.column("underlying").to_pylist()
    ids = inst.column("instrument_id").to_pylist()
    row = next(r for r, (i, u) in enumerate(zip(ids, unds, strict=True)) if u == "ETH" and i in held)
    for engine in ("native", "reference"):
        with pytest.raises(MarginInputError) as e:
            portfolio_risk(BOOK.positions, inst, BOOK.market, Covariance.from_vols({"BTC": 0.5}), engine=engine)
        assert (e.value.table, e.value.column, e.value.row) == ("instruments", "underlying", row)
        assert f"'ETH' of held instrument {ids[row]!r} has no covariance (the covariance covers BTC)" in str(e.value)
    # A what-if trade in an underlying the covariance lacks: the same cell.
    r = portfolio_risk(BOOK.positions, inst, BOOK.market, COV)
    btc_only = dataclasses.replace(r, covariance=Covariance.from_vols({"BTC": 0.5}))
    trade = pa.table({"account_id": ["new"], "instrument_id": [ids[row]], "quantity": [1.0]}).cast(
        BOOK.positions.schema
    )
    with pytest.raises(MarginInputError) as e:
        what_if_variance(btc_only, trade, inst, BOOK.market)
    assert (e.value.table, e.value.column, e.value.row) == ("instruments", "underlying", row)
