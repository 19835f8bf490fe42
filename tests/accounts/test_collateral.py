"""pmargin.accounts.collateral: collateral values that overflow, decimal and invalid UTF-8
columns, and the matching of account ids of different kinds (integer against text)."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin.account_state import state_of
from pmargin.accounts.collateral import account_key, collateral_value, read_assets, read_collateral, read_pnl

from .conftest import ASSETS, GRID, book, cash, instruments, market


def bad_utf8(values: list[str]) -> pa.Array:
    """A string array whose last value is the single byte 0xff (not UTF-8)."""
    data = b"".join(v.encode() for v in values[:-1]) + b"\xff"
    offsets = np.cumsum([0] + [len(v.encode()) for v in values[:-1]] + [1]).astype("int32")
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def result_of(ids: list[object]) -> pmargin.MarginResult:
    return pmargin.margin(book([(a, "PA", 2.0) for a in ids]), instruments(), market(), GRID)


def test_a_collateral_value_beyond_the_float_range_is_an_error_at_its_row() -> None:
    """Every amount is finite (the audit's case): 1e308 x price 2 is not, nor is a running sum."""
    result = result_of(["a", "b"])
    assets = {"USD": (1.0, 0.0), "XYZ": (2.0, 0.0)}
    rows = pa.table({"account_id": ["b", "a", "a"], "asset": ["USD", "XYZ", "XYZ"], "amount": [1.0, 1e308, -1e308]})
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.status(result, rows, assets, distances=False)
    assert (info.value.table, info.value.column, info.value.row) == ("collateral", "amount", 1)
    assert "amount x price x (1 - haircut) = inf is not a finite number" in str(info.value)
    # Each row finite, their sum not: the row where the running sum leaves the float range.
    rows = pa.table({"account_id": ["a", "b", "a"], "asset": ["USD"] * 3, "amount": [1.7e308, 1.0, 1.7e308]})
    with pytest.raises(pmargin.MarginInputError, match=r"collateral\.amount, row 2: .*overflows here \(sum inf\)"):
        pmargin.status(result, rows, assets, distances=False)


def test_collateral_value_numbers_pairs_from_zero() -> None:
    # MarginEngine.what_if passes (asset, amount) pairs of its mapping: the row is the pair's place.
    assets = read_assets({"USD": (1.0, 0.0)})
    assert collateral_value([("USD", 2.0), ("USD", 3.0)], assets) == 5.0
    with pytest.raises(pmargin.MarginInputError, match=r"collateral\.amount, row 1: "):
        collateral_value([("USD", 1e308), ("USD", 1e308)], assets)


def test_an_equity_beyond_the_float_range_is_an_error_never_ok() -> None:
    # Collateral 1.7e308 and unrealised P&L 1.7e308, each finite: the equity is not.
    with pytest.raises(pmargin.MarginInputError, match=r"account\.equity: the equity of account 'a' .*not a finite"):
        pmargin.status(result_of(["a"]), cash({"a": 1.7e308}), ASSETS, pnl={"a": 1.7e308}, distances=False)
    for equity in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(pmargin.MarginInputError, match=r"account\.equity: must be a finite number"):
            state_of(equity, 20.0, 10.0)
    assert state_of(20.0, 20.0, 10.0) == "ok"


def test_decimal_columns_are_read_as_numbers() -> None:
    dec = pa.decimal128(12, 2)
    collateral = pa.table(
        {"account_id": ["a"], "asset": ["A"], "amount": pa.array([decimal.Decimal("0.20")], pa.decimal256(20, 2))}
    )
    assets = pa.table(
        {
            "asset": ["A"],
            "price": pa.array([decimal.Decimal("100.00")], dec),
            "haircut": pa.array([decimal.Decimal("0.20")], dec),
        }
    )
    pnl = pa.table({"account_id": ["a"], "unrealised_pnl": pa.array([decimal.Decimal("4.00")], dec)})
    row = pmargin.status(result_of(["a"]), collateral, assets, pnl=pnl, distances=False).accounts.to_pylist()[0]
    assert row["equity"] == pytest.approx(0.2 * 100.0 * 0.8 + 4.0, abs=1e-12)
    assert row["state"] == "ok"


@pytest.mark.parametrize(
    ("which", "where"),
    [
        ("collateral.asset", ("collateral", "asset", 1)),
        ("collateral.account_id", ("collateral", "account_id", 1)),
        ("assets.asset", ("assets", "asset", 1)),
        ("pnl.account_id", ("pnl", "account_id", 1)),
    ],
)
def test_invalid_utf8_is_an_error_at_its_cell(which: str, where: tuple[str, str, int]) -> None:
    collateral = {"account_id": pa.array(["a", "a"]), "asset": pa.array(["USD", "USD"]), "amount": [1.0, 2.0]}
    assets = {"asset": pa.array(["USD", "A"]), "price": [1.0, 100.0], "haircut": [0.0, 0.2]}
    pnl = {"account_id": pa.array(["a", "b"]), "unrealised_pnl": [1.0, 2.0]}
    tables = {"collateral": collateral, "assets": assets, "pnl": pnl}
    table, column = which.split(".")
    tables[table][column] = bad_utf8(tables[table][column].to_pylist())
    with pytest.raises(pmargin.MarginInputError, match="not valid UTF-8 text") as info:
        pmargin.status(
            result_of(["a", "b"]),
            pa.table(tables["collateral"]),
            pa.table(tables["assets"]),
            pnl=pa.table(tables["pnl"]),
            distances=False,
        )
    assert (info.value.table, info.value.column, info.value.row) == where


def test_account_ids_of_two_kinds_are_matched_by_value() -> None:
    ints, text = pa.int64(), pa.string()
    assert account_key("1001", ints, "collateral", 0) == 1001
    assert account_key("-7", ints, "collateral", 0) == -7
    assert account_key(np.int32(1001), text, "pnl", 0) == "1001"
    assert account_key("a", pa.dictionary(pa.int32(), pa.string()), "pnl", 0) == "a"
    for value in ("01001", "1001 ", "+1001", "1e3", "a"):
        with pytest.raises(pmargin.MarginInputError) as info:
            account_key(value, ints, "collateral", 3)
        assert (info.value.table, info.value.column, info.value.row) == ("collateral", "account_id", 3)
        assert f"account id {value!r} (text) cannot be matched to the margin result's account ids (int64)" in str(
            info.value
        )
    for value in (1001.0, True, b"1001"):
        with pytest.raises(
            pmargin.MarginInputError, match=rf"\({type(value).__name__}\) cannot be matched .*\(string\)"
        ):
            account_key(value, text, "statement", 0)


def test_text_collateral_matches_integer_accounts() -> None:
    """The audit's case: Parquet positions with int64 ids, CSV collateral (ids read as text)."""
    result = result_of([1001, 1002])
    collateral = pa.table({"account_id": ["1001", "1002"], "asset": ["USD", "USD"], "amount": [25.0, 5.0]})
    rows = pmargin.status(result, collateral, ASSETS, pnl={"1002": 10.0}, distances=False).accounts.to_pylist()
    assert [(r["account_id"], r["equity"], r["state"]) for r in rows] == [
        (1001, 25.0, "ok"),
        (1002, 15.0, "margin_call"),
    ]
    # And the other way round: integer collateral ids against text positions.
    result = result_of(["1001"])
    row = pmargin.status(result, cash({1001: 25.0}), ASSETS, distances=False).accounts.to_pylist()[0]
    assert (row["account_id"], row["equity"]) == ("1001", 25.0)


def test_rows_of_accounts_without_positions_are_reported_not_refused() -> None:
    """The review's case: a balances file lists cash-only accounts too (FLAT-001 had no positions
    and the whole file was refused). They follow the margined accounts, sorted, with margins 0."""
    result = result_of(["a", "b"])  # IM 20, MM 10 each
    collateral = cash({"a": 25.0, "z": 7.0, "B": 5.0, "b": 12.0})
    rows = pmargin.status(result, collateral, ASSETS, pnl={"a": 1.0, "c": -2.0, "B": 1.5}, distances=False)
    got = [
        (r["account_id"], r["equity"], r["initial_margin"], r["maintenance_margin"], r["excess"], r["state"])
        for r in rows.accounts.to_pylist()
    ]
    assert got == [
        ("a", 26.0, pytest.approx(20.0), pytest.approx(10.0), pytest.approx(6.0), "ok"),
        ("b", 12.0, pytest.approx(20.0), pytest.approx(10.0), pytest.approx(-8.0), "margin_call"),
        ("B", 6.5, 0.0, 0.0, 6.5, "ok"),
        ("c", -2.0, 0.0, 0.0, -2.0, "liquidation"),
        ("z", 7.0, 0.0, 0.0, 7.0, "ok"),
    ]
    # The margin ratio by its rule, MM / equity: 0 for a positive equity, null otherwise.
    assert rows.accounts.column("margin_ratio").to_pylist()[2:] == [0.0, None, 0.0]
    # Integer ids: text collateral of an integer account without positions is that integer.
    row = pmargin.status(result_of([1001]), cash({"1001": 25.0, "1003": 4.0}), ASSETS, distances=False)
    assert row.accounts.column("account_id").to_pylist() == [1001, 1003]
    assert row.accounts.column("equity").to_pylist() == [25.0, 4.0]
    # Text that is not an integer's canonical digits never matches an integer account.
    with pytest.raises(pmargin.MarginInputError, match=r"collateral\.account_id, row 0: account id '01001' \(text\)"):
        pmargin.status(result_of([1001]), cash({"01001": 25.0}), ASSETS, distances=False)
    with pytest.raises(pmargin.MarginInputError, match=r"pnl\.account_id, row 1: account id ' 7' \(text\)"):
        pmargin.status(result_of([1001]), None, ASSETS, pnl={1001: 1.0, " 7": 2.0}, distances=False)


def test_duplicates_after_matching_are_errors() -> None:
    with pytest.raises(pmargin.MarginInputError, match=r"pnl\.account_id, row 1: duplicate account '1001'"):
        read_pnl({1001: 1.0, "1001": 2.0}, pa.int64())
    # Several collateral rows of one account are kept with their rows (and summed).
    rows = pa.table({"account_id": ["1", "2", "1"], "asset": ["USD"] * 3, "amount": [1.0, 2.0, 3.0]})
    held = read_collateral(rows, read_assets(ASSETS), pa.int64())
    assert held == {1: [("USD", 1.0, 0), ("USD", 3.0, 2)], 2: [("USD", 2.0, 1)]}
