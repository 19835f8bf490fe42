"""pmargin.cascade (pmargin.accounts.cascade): rounds computed by hand on a futures book, and
reproduced by the reference (pmargin.reference.accounts.cascade) on small books."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import sample
from pmargin.reference.accounts import cascade as reference_cascade

from .conftest import ASSETS, ENCODINGS, GRID, assert_same_cascade, book, cash, encoded, instruments, market

FUTURES = book([("a", "PA", 10.0), ("b", "PA", 5.0), ("c", "PB", -1.0), ("d", "PA", 10.0)])
CASH = cash({"a": 140.0, "b": 75.0, "c": 1000.0, "d": 80.0})
DEPTH = {"A": 9000.0, "B": 9000.0}


def test_rounds_by_hand() -> None:
    # -10%: A at 90. MM = 5% of notional. a: 140 - 100 = 40 < 45 and d: -20 < 45 go; b: 25 >= 22.5
    # stays. They sell 1,800 of A: linear impact -0.1 x 1800 / 9000 = -2%, A at 88.2, where they
    # close: a ends at 140 - 118 = 22, d at -38 (bad debt 38). Round 2 at 88.2: b has 16 < 22.05
    # and goes, selling 441: -0.49%, A at 87.76782. Round 3: only c (short B, which fell) is left.
    result = pmargin.cascade(
        FUTURES, instruments(), market(), GRID, CASH, ASSETS, shock=-0.1, depth=DEPTH, impact="linear"
    )
    rounds = result.rounds.to_pylist()
    assert [(r["round"], r["underlying"], r["accounts_liquidated"]) for r in rounds] == [
        (1, "A", 2),
        (1, "B", 2),
        (2, "A", 1),
        (2, "B", 1),
    ]
    a1, b1, a2, _b2 = rounds
    assert a1["price"] == pytest.approx(90.0, rel=1e-12)
    assert a1["notional_sold"] == pytest.approx(1800.0, rel=1e-12)
    assert a1["impact"] == pytest.approx(-0.02, rel=1e-12)
    assert a1["price_after"] == pytest.approx(88.2, rel=1e-12)
    assert (b1["notional_sold"], b1["impact"], b1["price_after"]) == (0.0, 0.0, pytest.approx(45.0, rel=1e-12))
    assert a2["notional_sold"] == pytest.approx(441.0, rel=1e-12)
    assert a2["price_after"] == pytest.approx(87.76782, rel=1e-12)
    accounts = {r["account_id"]: r for r in result.accounts.to_pylist()}
    assert [accounts[x]["liquidated_round"] for x in "abcd"] == [1, 2, None, 1]
    assert accounts["a"]["equity"] == pytest.approx(22.0, abs=1e-9)
    assert accounts["b"]["equity"] == pytest.approx(75.0 - 5 * (100.0 - 87.76782), abs=1e-9)
    assert accounts["c"]["equity"] == pytest.approx(1010.0, abs=1e-9)
    assert accounts["d"]["shortfall"] == pytest.approx(38.0, abs=1e-9)
    assert result.total_shortfall == pytest.approx(38.0, abs=1e-9)


def test_max_rounds_stops_the_cascade() -> None:
    result = pmargin.cascade(
        FUTURES, instruments(), market(), GRID, CASH, ASSETS, shock=-0.1, depth=DEPTH, impact="linear", max_rounds=1
    )
    assert result.rounds.column("round").to_pylist() == [1, 1]
    assert result.accounts.column("liquidated_round").to_pylist() == [1, None, None, 1]


@pytest.mark.parametrize(("seed", "impact", "shock"), [(3, "sqrt", -0.2), (4, "linear", -0.25), (5, "sqrt", 0.2)])
def test_the_reference_reproduces_the_cascade_on_sample_books(seed: int, impact: str, shock: float) -> None:
    b = sample.book(n_accounts=10, seed=seed)
    margins = pmargin.margin(b.positions, b.instruments, b.market).accounts
    ids = margins.column("account_id").to_pylist()
    im = margins.column("initial_margin").to_pylist()
    # Half the accounts post USD, half BTC (10% haircut), worth 1.2 x their initial margin.
    collateral = pa.table(
        {
            "account_id": ids,
            "asset": ["USD" if k % 2 else "BTC" for k in range(len(ids))],
            "amount": [1.2 * m / (1.0 if k % 2 else 60_000 * 0.9) for k, m in enumerate(im)],
        }
    )
    assets = {"USD": (1.0, 0.0), "BTC": (60_000.0, 0.1)}
    kwargs = {"shock": shock, "depth": {"BTC": 3e5, "ETH": 1e5}, "impact": impact, "max_rounds": 6}
    native = pmargin.cascade(b.positions, b.instruments, b.market, None, collateral, assets, **kwargs)
    reference = reference_cascade(b.positions, b.instruments, b.market, None, collateral, assets, **kwargs)
    assert native.rounds.num_rows > 0
    assert_same_cascade(native, reference)


@pytest.mark.parametrize(
    ("kwargs", "column"),
    [
        ({"shock": -1.0}, "shock"),
        ({"depth": {"A": 1.0}}, "depth"),
        ({"impact": "cubic"}, "impact"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"coefficient": 1.5}, "coefficient"),
    ],
)
def test_arguments_are_checked(kwargs: dict, column: str) -> None:
    args = {"shock": -0.1, "depth": DEPTH} | kwargs
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.cascade(FUTURES, instruments(), market(), GRID, CASH, ASSETS, **args)
    assert (info.value.table, info.value.column) == ("cascade", column)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": "9000"}, "cascade.depth: must be a number or a mapping {underlying: number}, got str '9000'"),
        ({"depth": [9000.0]}, "cascade.depth: must be a number or a mapping {underlying: number}, got list [9000.0]"),
        ({"shock": "-0.1"}, "cascade.shock: must be a number or a mapping {underlying: number}, got str '-0.1'"),
        ({"shock": None}, "cascade.shock: must be a number or a mapping {underlying: number}, got NoneType None"),
        ({"shock": True}, "cascade.shock: must be a number or a mapping {underlying: number}, got bool True"),
        ({"shock": {"A": "-0.1"}}, "cascade.shock: must be a number above -1, got str '-0.1'"),
        (
            {"depth": {"A": 9000.0, "B": np.bool_(True)}},
            "cascade.depth: underlying 'B' needs a positive depth, got bool np.True_",
        ),
        ({"depth": {"A": 9000.0}}, "cascade.depth: underlying 'B' needs a positive depth, got nothing"),
        ({"max_rounds": True}, "cascade.max_rounds: must be an integer >= 1, got True"),
    ],
)
def test_argument_types_are_checked(kwargs: dict, message: str) -> None:
    """The audit's cases reached dict() or .get() and raised raw TypeError / AttributeError."""
    args = {"shock": -0.1, "depth": DEPTH} | kwargs
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.cascade(FUTURES, instruments(), market(), GRID, CASH, ASSETS, **args)
    assert str(info.value) == message


def test_numpy_scalars_and_one_depth_for_all() -> None:
    expected = pmargin.cascade(
        FUTURES, instruments(), market(), GRID, CASH, ASSETS, shock=-0.1, depth=DEPTH, impact="linear"
    )
    for kwargs in (
        {"shock": np.float64(-0.1), "depth": np.float32(9000.0)},
        {"shock": {"A": -0.1, "B": np.float64(-0.1)}, "depth": {"A": np.int64(9000), "B": 9000}},
        {"shock": -0.1, "depth": 9000, "max_rounds": np.int8(10)},
    ):
        got = pmargin.cascade(FUTURES, instruments(), market(), GRID, CASH, ASSETS, impact="linear", **kwargs)
        assert got.rounds.equals(expected.rounds)
        assert got.accounts.equals(expected.accounts)
    # np.float32(-0.1) is -0.10000000149...: the shock is that float, not an error.
    got = pmargin.cascade(FUTURES, instruments(), market(), GRID, CASH, ASSETS, shock=np.float32(-0.1), depth=DEPTH)
    assert got.rounds.column("price").to_pylist()[0] == pytest.approx(100.0 * (1.0 + float(np.float32(-0.1))))


@pytest.mark.parametrize("how", ENCODINGS)
def test_a_polars_or_encoded_book_cascades_as_plain_strings(how: str) -> None:
    expected = pmargin.cascade(
        FUTURES, instruments(), market(), GRID, CASH, ASSETS, shock=-0.1, depth=DEPTH, impact="linear"
    )
    got = pmargin.cascade(
        encoded(FUTURES, how),
        instruments(),
        market(),
        GRID,
        encoded(CASH, how),
        ASSETS,
        shock=-0.1,
        depth=DEPTH,
        impact="linear",
    )
    assert got.rounds.equals(expected.rounds)
    assert got.accounts.equals(expected.accounts)
    assert got.total_shortfall == pytest.approx(38.0, abs=1e-9)
    reference = reference_cascade(
        encoded(FUTURES, how), instruments(), market(), GRID, CASH, ASSETS, shock=-0.1, depth=DEPTH, impact="linear"
    )
    assert_same_cascade(got, reference)


def test_collateral_ids_are_matched_to_the_positions() -> None:
    # Integer account ids in the positions, text in the collateral (a CSV file): one account each.
    positions = FUTURES.set_column(0, "account_id", pa.array([1, 2, 3, 4]))
    collateral = CASH.set_column(0, "account_id", pa.array(["1", "2", "3", "4"]))
    got = pmargin.cascade(
        positions, instruments(), market(), GRID, collateral, ASSETS, shock=-0.1, depth=DEPTH, impact="linear"
    )
    assert got.accounts.column("liquidated_round").to_pylist() == [1, 2, None, 1]
    assert got.total_shortfall == pytest.approx(38.0, abs=1e-9)
    # Text that is not an integer's canonical digits is still an error naming both kinds.
    with pytest.raises(pmargin.MarginInputError, match=r"collateral\.account_id, row 1: account id '02' \(text\)"):
        pmargin.cascade(positions, instruments(), market(), GRID, cash({"1": 1.0, "02": 1.0}), ASSETS, depth=DEPTH)
    # The cascade values collateral with collateral_value: an overflow is an error at its row.
    big = pa.table({"account_id": ["a", "a"], "asset": ["A", "A"], "amount": [1e306, 1e306]})
    with pytest.raises(pmargin.MarginInputError, match=r"collateral\.amount, row 1: .*overflows"):
        pmargin.cascade(FUTURES, instruments(), market(), GRID, big, ASSETS, shock=0.5, depth=DEPTH)


def test_accounts_without_positions_take_no_part() -> None:
    """The review's case: a balances file with cash-only accounts was refused. They keep their
    collateral (a BTC-like loan in A that the shock would revalue included), are never
    liquidated, sell nothing and are not in the accounts table: the hand-computed rounds stand."""
    extra = pa.table(
        {"account_id": ["cash", "loan", "loan"], "asset": ["USD", "USD", "A"], "amount": [5.0, 1.0, -50.0]}
    )
    collateral = pa.concat_tables([CASH, extra])
    pnl = {"a": 0.0, "ghost": -1e6}
    args = (FUTURES, instruments(), market(), GRID, collateral, ASSETS)
    kwargs = {"shock": -0.1, "depth": DEPTH, "impact": "linear", "pnl": pnl}
    got = pmargin.cascade(*args, **kwargs)
    plain = pmargin.cascade(
        FUTURES, instruments(), market(), GRID, CASH, ASSETS, shock=-0.1, depth=DEPTH, impact="linear"
    )
    assert got.accounts.equals(plain.accounts) and got.rounds.equals(plain.rounds)
    assert got.accounts.column("account_id").to_pylist() == ["a", "b", "c", "d"]
    assert got.total_shortfall == pytest.approx(38.0, abs=1e-9)
    assert_same_cascade(got, reference_cascade(*args, **kwargs))


def test_the_readme_sample_book_cascade() -> None:
    """The README's table: 1,000 accounts (seed 7), sample collateral, -20% shock."""
    from pmargin.accounts.sample_collateral import sample_collateral

    b = sample.book(n_accounts=1000, seed=7)
    result = pmargin.margin(b.positions, b.instruments, b.market)
    collateral, assets = sample_collateral(result)
    assert collateral.column("asset").to_pylist()[:5] == ["BTC", "BTC", "USD", "USD", "USD"]
    alone = pmargin.cascade(
        b.positions,
        b.instruments,
        b.market,
        None,
        collateral,
        assets,
        shock=-0.2,
        depth={"BTC": 1e30, "ETH": 1e30},
        max_rounds=1,
    )
    c = pmargin.cascade(
        b.positions, b.instruments, b.market, None, collateral, assets, shock=-0.2, depth={"BTC": 5e7, "ETH": 2e7}
    )
    liquidated = [r is not None for r in c.accounts.column("liquidated_round").to_pylist()]
    assert (sum(liquidated), alone.accounts.column("liquidated_round").null_count) == (499, 1000 - 427)
    assert alone.total_shortfall == pytest.approx(1_019_356.99, abs=0.01)
    assert c.total_shortfall == pytest.approx(10_278_881.51, abs=0.01)
    last = c.rounds.to_pylist()[-2:]
    assert [r["round"] for r in last] == [4, 4]
    assert [round(r["price_after"]) for r in last] == [41_261, 1_943]
