"""CRIF rows from a book (pmargin.crif): the vega split by time to expiry whatever the expiry
column's time unit, books without an expiry column, and the mapping's checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin.crif import crif_from_book
from pmargin.errors import MarginConfigError
from pmargin.presets import simm

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)
EXPIRY = AS_OF + dt.timedelta(days=400)
POSITIONS = pa.table({"account_id": ["bob", "bob"], "instrument_id": ["ETH-P", "ETH-SPOT"], "quantity": [5.0, 1.0]})
MARKET = pmargin.Market(
    as_of=AS_OF,
    underlyings=pa.table({"underlying": ["ETH"], "spot": [3000.0], "rate": [0.03]}),
    vols=pa.table({"instrument_id": ["ETH-P"], "implied_vol": [0.7]}),
)


def instruments(expiry: pa.Array | None) -> pa.Table:
    columns: dict[str, Any] = {
        "instrument_id": ["ETH-P", "ETH-SPOT"],
        "underlying": ["ETH", "ETH"],
        "kind": ["option", "spot"],
        "option_type": ["put", None],
        "strike": [3000.0, None],
    }
    if expiry is not None:
        columns["expiry"] = expiry
    return pa.table(columns)


def vega_rows(expiry: pa.Array) -> list[tuple[str, float]]:
    crif, _ = crif_from_book(POSITIONS, instruments(expiry), MARKET)
    return [(t, a) for t, a in zip(crif["Label1"].to_pylist(), crif["AmountUSD"].to_pylist(), strict=True) if t]


def test_vega_is_split_by_time_to_expiry_in_any_time_unit() -> None:
    ns = vega_rows(pa.array([EXPIRY, None], pa.timestamp("ns", tz="UTC")))
    # 400 days = 1.0959 years: linear between the 1y and 2y tenors.
    years = 400 / 365
    assert [t for t, _ in ns] == ["1y", "2y"]
    total = ns[0][1] + ns[1][1]
    assert ns[0][1] / total == pytest.approx(2.0 - years, rel=1e-12)
    assert ns[1][1] / total == pytest.approx(years - 1.0, rel=1e-12)
    naive = EXPIRY.replace(tzinfo=None)
    for expiry in (
        pa.array([EXPIRY, None], pa.timestamp("us", tz="UTC")),
        pa.array([EXPIRY, None], pa.timestamp("ms", tz="UTC")),
        pa.array([naive, None], pa.timestamp("s")),
    ):
        assert vega_rows(expiry) == ns, expiry.type
    # A date is midnight UTC: 8 hours earlier than the timestamps above.
    by_date = vega_rows(pa.array([EXPIRY.date(), None], pa.date32()))
    assert [t for t, _ in by_date] == ["1y", "2y"]
    assert by_date[1][1] / (by_date[0][1] + by_date[1][1]) == pytest.approx(years - 1.0 - 8 / 24 / 365, rel=1e-9)
    assert vega_rows(pa.array([EXPIRY.date(), None], pa.date64())) == by_date


def test_a_book_without_an_expiry_column() -> None:
    spot = pa.table({"account_id": ["bob"], "instrument_id": ["ETH-SPOT"], "quantity": [3.0]})
    plain = instruments(None).filter(pa.array([False, True]))
    result = simm("2.6").margin_book(spot, plain, MARKET)
    # Cash delta x 1% on the residual equity bucket (risk weight 50 in SIMM 2.6), no vega.
    assert result.accounts.column("simm").to_pylist() == [pytest.approx(3.0 * 3000.0 * 0.01 * 50.0, rel=1e-12)]


@pytest.mark.parametrize(
    "mapping",
    [
        {"ETH": "Equity"},
        {"ETH": ("Equity", 1)},
        {"ETH": ("Equity", "1", "extra")},
        {"ETH": ("Credit", "1")},
        {"ETH": ("Equity", "13")},
        {"ETH": ("Commodity", "Residual")},
    ],
)
def test_a_bad_mapping_entry_is_a_config_error_naming_it(mapping: dict[str, Any]) -> None:
    with pytest.raises(MarginConfigError) as e:
        simm("2.6").margin_book(POSITIONS, instruments(pa.array([EXPIRY, None])), MARKET, mapping=mapping)
    assert (e.value.table, e.value.column) == ("model", "mapping['ETH']")


def test_a_mapping_that_is_not_a_dict() -> None:
    with pytest.raises(MarginConfigError) as e:
        simm("2.6").margin_book(POSITIONS, instruments(None), MARKET, mapping=[("ETH", "Equity")])  # type: ignore[arg-type]
    assert e.value.column == "mapping"


def test_integer_account_ids_stay_integers_in_numeric_order() -> None:
    book = pmargin.sample.book(n_accounts=12, seed=3)
    ids = book.positions.column("account_id").to_pylist()
    order = sorted(set(ids))
    numbered = book.positions.set_column(0, "account_id", pa.array([order.index(a) * 5 for a in ids], pa.int64()))
    by_text = simm("2.6").margin_book(book.positions, book.instruments, book.market)
    by_number = simm("2.6").margin_book(numbered, book.instruments, book.market)
    assert by_number.accounts.schema.field("account").type == pa.int64()
    assert by_number.accounts.column("account").to_pylist() == [5 * i for i in range(12)]
    # The same accounts, the same figures: "acct-000001" .. in text order is 0, 5, .. in numbers.
    assert by_number.accounts.column("simm").to_pylist() == by_text.accounts.column("simm").to_pylist()
    for name in ("product_classes", "risk_classes", "buckets"):
        numeric = getattr(by_number, name)
        assert numeric.column("account").to_pylist() == sorted(numeric.column("account").to_pylist()), name
        assert numeric.num_rows == getattr(by_text, name).num_rows
    assert by_number.contributions.column("Portfolio").type == pa.int64()


def test_a_crif_with_its_own_contribution_column_is_margined_again() -> None:
    book = pmargin.sample.book(n_accounts=3, seed=3)
    call = simm("2.6").margin_book(book.positions, book.instruments, book.market)
    again = simm("2.6", side="post").margin(call.contributions)
    assert again.contributions.column_names.count("contribution") == 1
    post = simm("2.6", side="post").margin_book(book.positions, book.instruments, book.market)
    assert (
        again.contributions.column("contribution").to_pylist() == post.contributions.column("contribution").to_pylist()
    )
