"""The seeded sample book: determinism, shape, realism, and that it margins sensibly."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pmargin
from pmargin import sample

N = 3000


@pytest.fixture(scope="module")
def book() -> sample.SampleBook:
    return sample.book(N, seed=7)


@pytest.fixture(scope="module")
def result(book: sample.SampleBook) -> pmargin.MarginResult:
    return pmargin.margin(book.positions, book.instruments, book.market)


def _held(book: sample.SampleBook) -> pa.Table:
    """Positions joined with their instrument's row."""
    return book.positions.join(book.instruments, "instrument_id", join_type="inner")


def test_same_seed_gives_identical_tables() -> None:
    a, b = sample.book(400, seed=3), sample.book(400, seed=3)
    for name in ("positions", "instruments", "underlyings", "vols"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.as_of == b.as_of == sample.DEFAULT_AS_OF


def test_different_seed_gives_different_positions_on_the_same_market() -> None:
    a, b = sample.book(400, seed=3), sample.book(400, seed=4)
    assert not a.positions.equals(b.positions)
    assert a.instruments.equals(b.instruments)
    assert a.vols.equals(b.vols)


def test_about_ten_positions_per_account(book: sample.SampleBook) -> None:
    per_account = Counter(book.positions.column("account_id").to_pylist())
    assert len(per_account) == N
    assert 9.0 <= book.positions.num_rows / N <= 11.0
    assert min(per_account.values()) >= 1
    assert max(per_account.values()) >= 30  # a few large accounts


def test_positions_are_grouped_by_account_in_account_order(book: sample.SampleBook) -> None:
    ids = book.positions.column("account_id").to_pylist()
    runs = [a for i, a in enumerate(ids) if i == 0 or ids[i - 1] != a]
    assert runs == [f"acct-{i:06d}" for i in range(1, N + 1)]


def test_duplicate_rows_are_few_but_present(book: sample.SampleBook) -> None:
    pairs = Counter(
        zip(
            book.positions.column("account_id").to_pylist(),
            book.positions.column("instrument_id").to_pylist(),
            strict=True,
        )
    )
    duplicated = sum(1 for n in pairs.values() if n > 1)
    assert 0 < duplicated <= 0.02 * book.positions.num_rows
    assert max(pairs.values()) == 2


def test_instrument_catalogue(book: sample.SampleBook) -> None:
    inst = book.instruments
    per_underlying = 2 + 4 + 4 * 11 * 2
    assert inst.num_rows == 2 * per_underlying
    ids = inst.column("instrument_id").to_pylist()
    assert len(set(ids)) == len(ids)
    for iid in ("BTC-SPOT", "BTC-PERP", "BTC-30D", "BTC-30D-60000-C", "BTC-30D-60000-P", "ETH-7D-3000-C", "ETH-182D"):
        assert iid in ids
    row = inst.filter(pc.equal(inst.column("instrument_id"), "BTC-91D-50000-P")).to_pylist()[0]
    assert row["kind"] == "option" and row["option_type"] == "put" and row["strike"] == 50000.0
    assert row["underlying"] == "BTC" and row["multiplier"] == 1.0
    assert row["expiry"] == sample.DEFAULT_AS_OF + dt.timedelta(days=91)
    spot_row = inst.filter(pc.equal(inst.column("instrument_id"), "ETH-SPOT")).to_pylist()[0]
    assert spot_row["expiry"] is None and spot_row["strike"] is None and spot_row["option_type"] is None


@pytest.mark.parametrize(
    ("underlying", "expiry", "step"),
    [(0, 0, 1000.0), (0, 1, 2500.0), (0, 3, 5000.0), (1, 0, 50.0), (1, 2, 200.0), (1, 3, 250.0)],
)
def test_strikes_are_rounded_like_an_exchange_lists_them(underlying: int, expiry: int, step: float) -> None:
    spec = sample.UNDERLYINGS[underlying]
    strikes = sample.strikes(spec, expiry)
    assert len(strikes) == 11
    assert np.allclose(np.diff(strikes), step)
    assert all(k % step == 0 for k in strikes)
    assert strikes[5] == spec.spot  # the forward rounds to spot at these rates and steps


def test_every_option_has_a_positive_vol_with_a_put_skew(book: sample.SampleBook) -> None:
    inst, vols = book.instruments, book.vols
    options = inst.filter(pc.equal(inst.column("kind"), "option")).column("instrument_id").to_pylist()
    vol_of = dict(zip(vols.column("instrument_id").to_pylist(), vols.column("implied_vol").to_pylist(), strict=True))
    assert sorted(vol_of) == sorted(options)
    assert all(0.3 < v < 1.0 for v in vol_of.values())
    assert vol_of["BTC-30D-50000-P"] > vol_of["BTC-30D-60000-P"]  # downside richer
    assert vol_of["BTC-182D-60000-C"] > vol_of["BTC-7D-60000-C"]  # upward term structure
    assert vol_of["BTC-30D-60000-C"] == vol_of["BTC-30D-60000-P"]
    assert vol_of["BTC-7D-60000-C"] == pytest.approx(0.50, abs=0.005)
    assert vol_of["ETH-30D-3000-C"] == pytest.approx(0.64, abs=0.005)


def test_every_kind_is_held(book: sample.SampleBook) -> None:
    held = _held(book)
    kinds = Counter(zip(held.column("kind").to_pylist(), held.column("option_type").to_pylist(), strict=True))
    for key in [("spot", None), ("perpetual", None), ("future", None), ("option", "call"), ("option", "put")]:
        assert kinds[key] >= 0.03 * held.num_rows, key
    assert set(held.column("underlying").to_pylist()) == {"BTC", "ETH"}


def test_quantities_are_realistic(book: sample.SampleBook) -> None:
    held = _held(book)
    for name, lot, low_median, high_median in (("BTC", 0.1, 0.5, 5.0), ("ETH", 1.0, 5.0, 100.0)):
        q = np.abs(held.filter(pc.equal(held.column("underlying"), name)).column("quantity").to_numpy())
        nonzero = q[q > 0]
        assert np.allclose(nonzero / lot, np.rint(nonzero / lot))  # whole lots
        assert nonzero.min() == pytest.approx(lot)
        assert low_median <= float(np.median(nonzero)) <= high_median
    zero = int(pc.sum(pc.equal(book.positions.column("quantity"), 0.0)).as_py())
    assert zero < 0.01 * book.positions.num_rows  # closed positions are rare


def test_naive_as_of_is_taken_as_utc_and_moves_expiries() -> None:
    b = sample.book(10, as_of=dt.datetime(2027, 1, 15, 8, 0))
    assert b.as_of == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)
    expiry = (
        b.instruments.filter(pc.equal(b.instruments.column("instrument_id"), "BTC-30D")).column("expiry")[0].as_py()
    )
    assert expiry == dt.datetime(2027, 2, 14, 8, 0, tzinfo=dt.UTC)
    assert b.market.as_of == b.as_of
    assert b.market.underlyings.column("spot").to_pylist() == [60_000.0, 3_000.0]
    assert b.market.underlyings.column("rate").to_pylist() == [0.04, 0.03]


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_bad_account_count_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="n_accounts"):
        sample.book(bad)  # type: ignore[arg-type]


def test_a_million_positions_build_in_seconds() -> None:
    started = time.perf_counter()
    big = sample.book(100_000, seed=1)
    elapsed = time.perf_counter() - started
    assert 900_000 <= big.positions.num_rows <= 1_100_000
    assert elapsed < 5.0  # about a second on one core; generous for shared machines


def test_the_book_margins_with_a_benefit(book: sample.SampleBook, result: pmargin.MarginResult) -> None:
    accounts = result.accounts
    assert accounts.column("account_id").to_pylist() == [f"acct-{i:06d}" for i in range(1, N + 1)]
    initial = accounts.column("initial_margin").to_numpy()
    gross = accounts.column("gross_margin").to_numpy()
    assert np.all(np.isfinite(initial)) and np.all(initial >= 0)
    assert np.allclose(accounts.column("maintenance_margin").to_numpy(), 0.75 * initial, rtol=1e-12)
    assert np.all(initial <= gross * (1 + 1e-9) + 1e-6)  # netting never costs more than margining alone
    assert result.netting_benefit == pytest.approx(float(gross.sum() - initial.sum()))
    assert result.netting_benefit > 0.2 * result.total_gross_margin
    # The old name still works and is the same number.
    assert result.diversification_benefit == result.netting_benefit
    # Most accounts hold some hedge, and those pay strictly less than their gross.
    assert float(np.mean(initial < gross * (1 - 1e-9))) > 0.8


def _one_account(legs: list[tuple[str, float]], book: sample.SampleBook) -> tuple[float, float]:
    positions = pa.table(
        {
            "account_id": ["a"] * len(legs),
            "instrument_id": [iid for iid, _ in legs],
            "quantity": pa.array([q for _, q in legs], pa.float64()),
        }
    )
    row = pmargin.margin(positions, book.instruments, book.market).accounts.to_pylist()[0]
    return float(row["initial_margin"]), float(row["gross_margin"])


@pytest.mark.parametrize(
    "legs",
    [
        [("BTC-SPOT", 2.0), ("BTC-30D-65000-C", -2.0)],  # covered call
        [("ETH-SPOT", 50.0), ("ETH-91D-2600-P", 50.0)],  # protective put
        [("BTC-30D-60000-C", 1.0), ("BTC-30D-65000-C", -1.0)],  # bull call spread
        [("BTC-30D", 3.0), ("BTC-91D", -3.0)],  # futures calendar
        [("ETH-SPOT", 100.0), ("ETH-PERP", -100.0)],  # basis
        [
            ("BTC-7D-57000-P", -1.0),
            ("BTC-7D-63000-C", -1.0),
            ("BTC-7D-55000-P", 1.0),
            ("BTC-7D-65000-C", 1.0),
        ],  # condor
    ],
    ids=["covered-call", "protective-put", "call-spread", "calendar", "basis", "iron-condor"],
)
def test_hedged_strategies_pay_less_than_their_gross(legs: list[tuple[str, float]], book: sample.SampleBook) -> None:
    initial, gross = _one_account(legs, book)
    assert 0 <= initial < 0.8 * gross


def test_a_naked_perpetual_pays_its_gross(book: sample.SampleBook) -> None:
    initial, gross = _one_account([("BTC-PERP", -2.0)], book)
    assert initial == pytest.approx(gross, rel=1e-12)
    assert initial == pytest.approx(2.0 * 60_000 * 0.15, rel=1e-12)  # worst default shock: +15%


def test_a_perfect_basis_trade_is_flat(book: sample.SampleBook) -> None:
    initial, gross = _one_account([("BTC-SPOT", 1.5), ("BTC-PERP", -1.5)], book)
    assert initial == pytest.approx(0.0, abs=1e-9)
    assert gross == pytest.approx(2 * 1.5 * 60_000 * 0.15, rel=1e-12)


def test_split_rows_margin_like_their_net(book: sample.SampleBook) -> None:
    split, _ = _one_account([("ETH-PERP", 3.0), ("ETH-30D-3000-C", -5.0), ("ETH-PERP", 7.0)], book)
    net, _ = _one_account([("ETH-PERP", 10.0), ("ETH-30D-3000-C", -5.0)], book)
    assert split == pytest.approx(net, rel=1e-12)
    assert math.isfinite(split) and split > 0
