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
from pmargin.errors import MarginConfigError, MarginInputError
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


def two_day_moves(horizon_days: float) -> Covariance:
    moves = pa.table(
        {
            "date": pa.array(np.array([0, 0, 1, 1, 2, 2]).astype("datetime64[D]").astype("datetime64[ns]")),
            "underlying": ["BTC", "ETH"] * 3,
            "return": [0.01, 0.02, -0.02, 0.01, 0.03, -0.01],
        }
    )
    return Covariance.from_history(moves, horizon_days=horizon_days)


@pytest.mark.parametrize("horizon", [0.0, -1.0, math.nan, math.inf, True, "10"])
@pytest.mark.parametrize("build", ["direct", "from_history"])
def test_covariance_horizon_must_be_positive(horizon: object, build: str) -> None:
    with pytest.raises(MarginConfigError) as e:
        if build == "direct":
            Covariance(("BTC",), (0.25,), horizon)  # type: ignore[arg-type]
        else:
            two_day_moves(horizon)  # type: ignore[arg-type]
    assert isinstance(e.value, ValueError)
    assert (e.value.table, e.value.column, e.value.row) == ("covariance", "horizon_days", None)
    assert e.value.reason == f"horizon_days must be a finite number > 0, got {horizon!r}"


@pytest.mark.parametrize(
    ("names", "matrix", "column", "row", "reason"),
    [
        (("BTC", "ETH"), (1.0, 0.0, 0.0), None, None, "the matrix has 3 entries; 2 names need 4 (row by row)"),
        (("BTC", "ETH"), (1.0, 0.0, math.nan, 1.0), "BTC", 1, "nan is not a finite number"),
        (("BTC", "ETH"), (1.0, 0.0, True, 1.0), "BTC", 1, "not a number: True"),
        (("BTC",), (-0.25,), "BTC", 0, "diagonal entry is -0.25: a variance must be >= 0"),
        (("BTC", "ETH"), (1.0, 0.5, 0.4, 1.0), "ETH", 0, "not symmetric: 0.5 here, 0.4 at row 1, column 'BTC'"),
        (("BTC", "BTC"), (1.0, 0.0, 0.0, 1.0), "BTC", 1, "duplicate name 'BTC' (first at row 0)"),
        (("BTC", 3), (1.0, 0.0, 0.0, 1.0), None, 1, "name 1 must be a string, got 3"),
    ],
)
def test_covariance_matrix_checks(
    names: tuple[str, ...], matrix: tuple[float, ...], column: str | None, row: int | None, reason: str
) -> None:
    with pytest.raises(MarginInputError) as e:
        Covariance(names, matrix, 365.0)
    assert isinstance(e.value, ValueError) and not isinstance(e.value, MarginConfigError)
    assert (e.value.table, e.value.column, e.value.row, e.value.reason) == ("covariance", column, row, reason)


def test_covariance_must_be_psd() -> None:
    # The audit's matrix (eigenvalues 3 and -1) gave a diversification ratio below 1.
    with pytest.raises(MarginInputError) as e:
        Covariance(("BTC", "ETH"), (1.0, 2.0, 2.0, 1.0), 365.0)
    assert (e.value.table, e.value.column, e.value.row) == ("covariance", "ETH", 1)
    assert e.value.reason.startswith("not positive semi-definite: smallest eigenvalue -1, below -1e-10")
    # Each pair fine, the three together not: named from the third name on.
    rho = -0.6
    m = np.full((3, 3), rho) + (1 - rho) * np.eye(3)
    with pytest.raises(MarginInputError) as e:
        Covariance(("A", "B", "C"), tuple((m * 4e-4).reshape(-1)), 1.0)
    assert (e.value.column, e.value.row) == ("C", 2)
    # The tolerance is relative to the largest variance: -1e-10 x 1e-4 is accepted, -1e-9 x 1e-4
    # is not (eigenvalues of [[v, v + d], [v + d, v]]: 2v + d and -d).
    v = 1e-4
    Covariance(("A", "B"), (v, v + 0.5e-14, v + 0.5e-14, v), 1.0)
    with pytest.raises(MarginInputError):
        Covariance(("A", "B"), (v, v + 1e-13, v + 1e-13, v), 1.0)


def test_covariance_accepts_what_is_psd() -> None:
    # Perfect correlation (rank one), fewer dates than names (rank deficient), a NumPy array.
    one = Covariance.from_vols({"BTC": 0.6, "ETH": 0.8}, pmargin.Correlation(["BTC", "ETH"], [[1, 1], [1, 1]]))
    assert one.matrix == (0.6 * 0.6, 0.6 * 0.8, 0.6 * 0.8, 0.8 * 0.8)
    assert two_day_moves(1.0).names == ("BTC", "ETH")
    c = Covariance(["BTC"], np.array([0.25]), 365)  # type: ignore[arg-type]
    assert (c.names, c.matrix, c.horizon_days) == (("BTC",), (0.25,), 365.0)
    assert hash(c) == hash(Covariance(("BTC",), (0.25,), 365.0))


def test_covariance_from_vols_numbers() -> None:
    corr = pmargin.Correlation(["ETH", "BTC"], [[1.0, 0.5], [0.5, 1.0]])
    c = Covariance.from_vols({"BTC": np.float64(0.6), "ETH": np.int64(1)}, corr)
    assert c.matrix == (0.36, 0.3, 0.3, 1.0)
    assert Covariance.from_vols({"BTC": np.float32(0.5)}).matrix == (0.25,)
    for bad in (True, np.bool_(True), "0.5", None):
        with pytest.raises(MarginInputError) as e:
            Covariance.from_vols({"BTC": bad})  # type: ignore[dict-item]
        assert (e.value.table, e.value.column, e.value.reason) == (
            "covariance",
            "BTC",
            f"vol must be a number, got {bad!r}",
        )
    with pytest.raises(MarginInputError) as e:
        Covariance.from_vols({"BTC": np.float32(-0.5)})
    assert e.value.reason == "vol -0.5 must be finite and >= 0"


def test_covariance_from_vols_needs_every_name_in_the_correlation() -> None:
    corr = pmargin.Correlation(["BTC", "ETH"], [[1.0, 0.5], [0.5, 1.0]])
    with pytest.raises(MarginInputError) as e:
        Covariance.from_vols({"BTC": 0.5, "DOGE": 0.9}, corr)
    assert (e.value.table, e.value.column, e.value.row) == ("covariance", "DOGE", None)
    assert e.value.reason == "'DOGE' has a vol but no correlation (the correlation covers BTC, ETH)"


def test_engine_must_be_native_or_reference() -> None:
    r = portfolio_risk(BOOK.positions, BOOK.instruments, BOOK.market, COV)
    trade = BOOK.positions.slice(0, 1)
    with pytest.raises(MarginConfigError) as simm:
        pmargin.presets.simm().margin(pa.table({"ProductClass": ["Equity"]}), engine="Reference")
    for call in (
        lambda: portfolio_risk(BOOK.positions, BOOK.instruments, BOOK.market, COV, engine="Reference"),
        lambda: what_if_variance(r, trade, BOOK.instruments, BOOK.market, engine="Reference"),
    ):
        with pytest.raises(MarginConfigError) as e:
            call()
        assert (e.value.table, e.value.column, e.value.reason) == ("model", "engine", simm.value.reason)
        assert e.value.reason == "engine must be 'native' or 'reference', got 'Reference'"


SPOT_INST = pa.table({"instrument_id": ["BTC-SPOT", "ETH-SPOT"], "underlying": ["BTC", "ETH"], "kind": ["spot"] * 2})
SPOT_MKT = pmargin.Market(
    as_of="2026-06-30T08:00:00Z", underlyings=pa.table({"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0]})
)


@pytest.mark.parametrize("engine", ["native", "reference"])
def test_integer_account_ids(engine: str) -> None:
    # int32 ids come back int64, in margin()'s order (first row), not as text sorted "-5" < "10" < "2".
    pos = pa.table(
        {
            "account_id": pa.array([10, 2, 10, -5], pa.int32()),
            "instrument_id": ["BTC-SPOT", "ETH-SPOT", "ETH-SPOT", "BTC-SPOT"],
            "quantity": [1.0, 2.0, 3.0, 4.0],
        }
    )
    cov = Covariance.from_vols({"BTC": 0.5, "ETH": 0.7}, pmargin.Correlation(["BTC", "ETH"], [[1, 0.3], [0.3, 1]]))
    r = portfolio_risk(pos, SPOT_INST, SPOT_MKT, cov, engine=engine)
    margin_ids = pmargin.margin(pos, SPOT_INST, SPOT_MKT).accounts.column("account_id")
    assert margin_ids.type == pa.int64() and margin_ids.to_pylist() == [10, 2, -5]
    assert r.accounts.column("account_id").to_pylist() == [10, 2, -5]
    for t in (r.positions, r.accounts, r.exposures):
        assert t.schema.field("account_id").type == pa.int64()
    assert r.exposures.select(["account_id", "underlying", "cash_delta"]).to_pylist() == [
        {"account_id": 10, "underlying": "BTC", "cash_delta": 60000.0},
        {"account_id": 10, "underlying": "ETH", "cash_delta": 9000.0},
        {"account_id": 2, "underlying": "ETH", "cash_delta": 6000.0},
        {"account_id": -5, "underlying": "BTC", "cash_delta": 240000.0},
    ]
    # Account 10: x = (60000, 9000), C = [[0.25, 0.105], [0.105, 0.49]] / 365.
    x = np.array([60000.0, 9000.0])
    c = np.array([[0.25, 0.105], [0.105, 0.49]]) / 365.0
    assert r.accounts.column("volatility")[0].as_py() == pytest.approx(math.sqrt(x @ c @ x), rel=1e-12)
    trade = pa.table({"account_id": [7, -5], "instrument_id": ["ETH-SPOT"] * 2, "quantity": [1.0, 1.0]})
    w = what_if_variance(r, trade, SPOT_INST, SPOT_MKT, engine=engine)
    assert w.schema.field("account_id").type == pa.int64()
    assert w.column("account_id").to_pylist() == [7, -5]
    assert w.column("volatility_before").to_pylist() == [0.0, r.accounts.column("volatility")[2].as_py()]
    assert w.column("volatility_after")[0].as_py() == pytest.approx(3000.0 * 0.7 / math.sqrt(365.0), rel=1e-12)
    # Text ids against an integer book would match no account: refused.
    text = trade.set_column(0, "account_id", pa.array(["7", "-5"]))
    with pytest.raises(MarginInputError) as e:
        what_if_variance(r, text, SPOT_INST, SPOT_MKT, engine=engine)
    assert (e.value.table, e.value.column, e.value.row) == ("trades", "account_id", None)
    assert e.value.reason == "account ids are string but the book's are int64: no trade would match an account"


def test_string_account_ids_in_margin_order() -> None:
    pos = pa.table({"account_id": ["b", "a", "b", "10", "2"], "instrument_id": ["BTC-SPOT"] * 5, "quantity": [1.0] * 5})
    cov = Covariance.from_vols({"BTC": 0.5})
    r = portfolio_risk(pos, SPOT_INST, SPOT_MKT, cov)
    want = pmargin.margin(pos, SPOT_INST, SPOT_MKT).accounts.column("account_id").to_pylist()
    assert r.accounts.column("account_id").to_pylist() == want == ["b", "a", "10", "2"]
    assert r.accounts.schema.field("account_id").type == pa.string()
