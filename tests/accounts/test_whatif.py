"""MarginEngine.what_if (pmargin.whatif + the core's accounts/whatif.rs): margins equal margining
the book with the trades added (native and reference, 1e-9), equity after prices and fees,
state after, errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import Trade, sample

from .conftest import ASSETS, GRID, instruments, market


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


@pytest.fixture(scope="module")
def sample_engine() -> tuple[pmargin.MarginEngine, sample.SampleBook]:
    book = sample.book(n_accounts=1, seed=5)
    return pmargin.MarginEngine(book.instruments, book.market), book


@pytest.mark.parametrize("seed", range(8))
def test_what_if_equals_margining_the_book_with_the_trades(sample_engine: tuple, seed: int) -> None:
    engine, book = sample_engine
    ids = book.instruments.column("instrument_id").to_pylist()
    rng = np.random.default_rng(seed)
    held = [ids[i] for i in rng.choice(len(ids), size=int(rng.integers(1, 60)), replace=False)]
    quantities = np.round(rng.normal(0.0, 4.0, len(held)), 1)
    trades = [Trade(ids[int(i)], float(rng.choice([-3.0, -1.0, 2.0])), 10.0) for i in rng.integers(0, len(ids), 3)]
    w = engine.what_if((held, quantities), trades)

    def table(extra: list[Trade]) -> pa.Table:
        return pa.table(
            {
                "account_id": ["x"] * (len(held) + len(extra)),
                "instrument_id": held + [t.instrument_id for t in extra],
                "quantity": np.concatenate([quantities, [t.quantity for t in extra]]),
            }
        )

    def im(t: pa.Table) -> tuple[float, float]:
        accounts = engine.margin(t).accounts
        if accounts.num_rows == 0:
            return 0.0, 0.0
        return accounts.column("initial_margin")[0].as_py(), accounts.column("maintenance_margin")[0].as_py()

    before, after = im(table([])), im(table(trades))
    assert rel(w.initial_before, before[0]) <= 1e-9 and rel(w.maintenance_before, before[1]) <= 1e-9
    assert rel(w.initial_after, after[0]) <= 1e-9 and rel(w.maintenance_after, after[1]) <= 1e-9
    assert rel(w.incremental_all, after[0] - before[0]) <= 1e-9
    for k, t in enumerate(trades):
        assert rel(w.incremental[k], im(table([t]))[0] - before[0]) <= 1e-9
    reference = pmargin.reference.margin(table(trades), book.instruments, book.market).total_initial_margin
    assert rel(w.initial_after, reference) <= 1e-9


def test_a_trade_at_the_mark_changes_equity_by_its_fee_only() -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    mark = pmargin.value(instruments(), market()).column("price")[2].as_py()
    # Sell 3 calls at the mark: 3 x mark of premium comes in, the same liability goes on the book.
    w = engine.what_if(([], []), [Trade("CA", -3.0, mark, 0.5)], equity=5.0)
    assert w.premium == pytest.approx(3 * mark, rel=1e-12)
    assert w.fees == 0.5
    assert w.equity_change == pytest.approx(-0.5, abs=1e-12)
    assert w.equity_after == pytest.approx(4.5, abs=1e-12)
    assert w.initial_before == 0.0
    # The premium would cover the margin if it were counted as free equity; it is not.
    assert w.equity_after < w.maintenance_after < w.initial_after < w.equity_after + w.premium
    assert w.state_after == "liquidation"
    # Sold above the mark: the excess is an immediate gain.
    rich = engine.what_if((["PA"], [1.0]), [("CA", -3.0, mark + 1.0)], equity=30.0)
    assert rich.equity_change == pytest.approx(3.0, abs=1e-12)


def test_collateral_gives_the_equity_before() -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    # 0.1 A at 100, haircut 20%: 8, plus 2 USD: 10 = IM of long 1 PA; buying 1 more at the mark
    # (fee 0.25) doubles IM to 20 (MM 10): 9.75 is below maintenance.
    w = engine.what_if((["PA"], [1.0]), [("PA", 1.0, 100.0, 0.25)], collateral={"A": 0.1, "USD": 2.0}, assets=ASSETS)
    assert w.equity_after == pytest.approx(9.75, abs=1e-12)
    assert (w.initial_after, w.state_after) == (pytest.approx(20.0, rel=1e-12), "liquidation")
    with pytest.raises(pmargin.MarginInputError) as info:
        engine.what_if((["PA"], [1.0]), [], collateral={"EUR": 1.0}, assets=ASSETS)
    assert (info.value.table, info.value.column, info.value.row) == ("collateral", "asset", 0)


def test_one_trade_alone_is_the_trade_together() -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    w = engine.what_if((np.array(["PA"]), np.array([2.0])), [("PA", -2.0, 100.0)])
    assert (w.initial_before, w.initial_after, w.incremental, w.state_after) == (
        pytest.approx(20.0, rel=1e-12),
        0.0,
        [pytest.approx(-20.0, rel=1e-12)],
        None,
    )


@pytest.mark.parametrize(
    ("positions", "trades", "where"),
    [
        ((["PA"], [1.0]), [("NOPE", 1.0, 1.0)], ("trades", "instrument_id", 0)),
        ((["PA", "ZZ"], [1.0, 1.0]), [], ("positions", "instrument_id", 1)),
        ((["PA"], [float("nan")]), [], ("positions", "quantity", 0)),
        ((["PA"], [1.0, 2.0]), [], ("positions", "quantity", None)),
        ((["PA"], [1.0]), [("PA", 1.0, float("inf"))], ("trades", "price", 0)),
        ((["PA"], [1.0]), [("PA", 1.0, 1.0, -1.0)], ("trades", "fee", 0)),
        ((["PA"], [1.0]), [("PA",)], ("trades", None, 0)),
        ((["PA"], [1.0]), [("PA", "x", 1.0)], ("trades", "quantity", 0)),
        ((["PA"], [1.0]), [("PA", 1.0, 1.0), pmargin.Trade("PA", "1", 1.0)], ("trades", "quantity", 1)),  # type: ignore[arg-type]
        ((["PA"], [1.0]), [("PA", 10**400, 1.0)], ("trades", "quantity", 0)),
        ((["PA"], [1.0]), [("PA", 1.0, "2")], ("trades", "price", 0)),
        ((["PA"], [1.0]), [("PA", 1.0, 1.0, b"0")], ("trades", "fee", 0)),
        ((["PA"], [1.0]), [("\udcff", 1.0, 1.0)], ("trades", "instrument_id", 0)),
        ((["PA"], [1.0]), [(7, 1.0, 1.0)], ("trades", "instrument_id", 0)),
        ((["PA"], [1.0]), [("PA", 1.0, 1.0), ("PA", 10.0, 1e308)], ("trades", "price", 1)),
        ((["PA"], [1.0]), [("PA", 1.0, 1.0, 1e308), ("PA", 1.0, 1.0, 1e308)], ("trades", "fee", None)),
        (([1], [1.0]), [], ("positions", "instrument_id", 0)),
        ((["PA"], ["x"]), [], ("positions", "quantity", 0)),
        ((["PA", "PA"], [1.0, "1"]), [], ("positions", "quantity", 1)),
        ((["PA", "PA"], [1.0, 10**400]), [], ("positions", "quantity", 1)),
        ((["PA", "\udcff"], [1.0, 1.0]), [], ("positions", "instrument_id", 1)),
    ],
)
def test_errors_name_table_column_and_row(positions: tuple, trades: list, where: tuple) -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    with pytest.raises(pmargin.MarginInputError) as info:
        engine.what_if(positions, trades)
    assert (info.value.table, info.value.column, info.value.row) == where


def test_errors_reason_for_text_and_out_of_range_numbers() -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    cases = [
        (
            (["PA"], [10**400]),
            [],
            "positions.quantity, row 0: must be a finite number, got 1000000000000000000000000000000000000...",
        ),
        ((["\udcff"], [1.0]), [], "positions.instrument_id, row 0: not valid UTF-8 text: '\\udcff'"),
        ((["PA"], [1.0]), [("PA", "1", 1.0)], "trades.quantity, row 0: must be a number, got '1'"),
    ]
    for positions, trades, message in cases:
        with pytest.raises(pmargin.MarginInputError) as info:
            engine.what_if(positions, trades)
        assert str(info.value) == message


@pytest.mark.parametrize("trades", [None, 5, "PA"])
def test_trades_that_are_not_a_sequence_of_trades_is_an_argument_error(trades: object) -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    with pytest.raises(pmargin.MarginConfigError) as info:
        engine.what_if((["PA"], [1.0]), trades)  # type: ignore[arg-type]
    assert (info.value.table, info.value.column, info.value.row) == ("trades", None, None)
    assert info.value.reason.startswith("trades must be a sequence of Trade")


@pytest.mark.parametrize(("amount", "row"), [("x", 1), (10**400, 1), (None, 1)])
def test_a_collateral_amount_that_is_not_a_finite_number_names_its_row(amount: object, row: int) -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    with pytest.raises(pmargin.MarginInputError) as info:
        engine.what_if((["PA"], [1.0]), [], collateral={"USD": 1.0, "A": amount}, assets=ASSETS)  # type: ignore[dict-item]
    assert (info.value.table, info.value.column, info.value.row) == ("collateral", "amount", row)
    with pytest.raises(pmargin.MarginConfigError) as config:
        engine.what_if((["PA"], [1.0]), [], collateral=[("USD", 1.0)], assets=ASSETS)  # type: ignore[arg-type]
    assert config.value.table == "collateral"


@pytest.mark.parametrize("equity", [float("inf"), float("nan"), 1.7e308, "rich", "1", 10**400])
def test_equity_after_is_finite_or_an_error_naming_the_equity(equity: object) -> None:
    engine = pmargin.MarginEngine(instruments(), market(), GRID)
    with pytest.raises(pmargin.MarginInputError) as info:
        engine.what_if((["PA"], [1.0]), [("PA", -1.0, 1e308)], equity=equity)  # type: ignore[arg-type]
    assert (info.value.table, info.value.column, info.value.row) == ("account", "equity", None)


def test_legs_that_net_to_zero_are_not_held() -> None:
    # As in margin: a zero row on an expired future, or +5 / -5 of an option without a vol, is
    # not held, so it is no error; the same legs with a quantity are.
    expiry = pa.array([None, dt.datetime(2025, 6, 1), dt.datetime(2027, 1, 1)], pa.timestamp("ns", tz="UTC"))
    inst = pa.table(
        {
            "instrument_id": ["PA", "OLD", "NOVOL"],
            "underlying": ["A", "A", "A"],
            "kind": ["perpetual", "future", "option"],
            "option_type": [None, None, "call"],
            "strike": [None, None, 100.0],
            "expiry": expiry,
        }
    )
    engine = pmargin.MarginEngine(inst, market(), GRID)
    plain = engine.what_if((["PA"], [1.0]), [("PA", 1.0, 100.0)])
    for held in ((["OLD", "PA"], [0.0, 1.0]), (["NOVOL", "PA", "NOVOL"], [5.0, 1.0, -5.0])):
        w = engine.what_if(held, [("PA", 1.0, 100.0), ("OLD", 0.0, 1.0)])
        assert (w.initial_before, w.initial_after) == (plain.initial_before, plain.initial_after) == (10.0, 20.0)
    for held, row in (((["PA", "OLD"], [1.0, 2.0]), 1), ((["NOVOL"], [5.0]), 0)):
        with pytest.raises(pmargin.MarginInputError) as info:
            engine.what_if(held, [])
        assert (info.value.table, info.value.column, info.value.row) == ("positions", "instrument_id", row)
