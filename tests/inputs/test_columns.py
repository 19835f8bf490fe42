"""The column readers at the input boundary (python/pmargin/columns.py and the core's
rust/pmargin-core/src/input/): invalid UTF-8, the one supported time range, decimal numbers and
misspelled column names, each the same MarginInputError at the same cell in both engines.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import pmargin
import pmargin.reference
from pmargin import HistoricalModel, MarginInputError, Market
from pmargin.columns import TIME_RANGE, check_spelling, edit_distance, read_numbers, text_number_hint

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)
EXPIRY = dt.datetime(2026, 7, 30, 8, tzinfo=dt.UTC)

ENGINES: dict[str, Callable[..., pmargin.MarginResult]] = {
    "native": pmargin.margin,
    "reference": pmargin.reference.margin,
}

TEXT_TYPES = {
    "string": (pa.binary(), pa.string()),
    "large_string": (pa.large_binary(), pa.large_string()),
    "string_view": (pa.binary_view(), pa.string_view()),
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Callable[..., pmargin.MarginResult]:
    return ENGINES[request.param]


def base_tables() -> dict[str, dict[str, Any]]:
    """A small valid book (an option with the payoff columns, a future, a perpetual)."""
    return {
        "positions": {
            "account_id": ["a", "a", "b", "b"],
            "instrument_id": ["PERP", "CALL", "FUT", "CALL"],
            "quantity": [1.0, -2.0, 3.0, 1.0],
        },
        "instruments": {
            "instrument_id": ["PERP", "CALL", "FUT"],
            "underlying": ["BTC", "BTC", "ETH"],
            "kind": ["perpetual", "option", "future"],
            "option_type": [None, "call", None],
            "strike": [None, 60000.0, None],
            "expiry": pa.array([None, EXPIRY, EXPIRY], pa.timestamp("us", tz="UTC")),
            "payoff": [None, "vanilla", None],
            "barrier_type": [None, None, None],
        },
        "underlyings": {"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0], "rate": [0.04, 0.0]},
        "vols": {"instrument_id": ["CALL"], "implied_vol": [0.55]},
    }


def run(
    engine: Callable[..., pmargin.MarginResult], tables: dict[str, dict[str, Any]], model: Any = None
) -> pmargin.MarginResult:
    market = Market(AS_OF, pa.table(tables["underlyings"]), pa.table(tables["vols"]))
    return engine(pa.table(tables["positions"]), pa.table(tables["instruments"]), market, model)


def expect_cell(
    engine: Callable[..., pmargin.MarginResult],
    tables: dict[str, dict[str, Any]],
    where: tuple[str, str, int | None],
    fragment: str,
    model: Any = None,
) -> None:
    with pytest.raises(MarginInputError) as info:
        run(engine, tables, model)
    err = info.value
    assert (err.table, err.column, err.row) == where, str(err)
    assert fragment in err.reason, err.reason


def bad_text(values: list[str | None], bad_row: int, flavour: str) -> pa.Array:
    """``values`` as a string column of ``flavour`` whose row ``bad_row`` holds bytes that are not
    UTF-8 (pyarrow reinterprets binary buffers without checking them)."""
    raw = [None if v is None else v.encode() for v in values]
    raw[bad_row] = b"\xff\xfe-" + (raw[bad_row] or b"")
    if flavour == "dictionary":
        return pa.DictionaryArray.from_arrays(
            pa.array(range(len(raw)), pa.int32()), pa.array(raw, pa.binary()).view(pa.string())
        )
    binary, text = TEXT_TYPES[flavour]
    return pa.array(raw, binary).view(text)


# --- invalid UTF-8 ----------------------------------------------------------------------------

STRING_CELLS = [
    ("positions", "account_id", 2),
    ("positions", "instrument_id", 3),
    ("instruments", "instrument_id", 1),
    ("instruments", "underlying", 2),
    ("instruments", "kind", 0),
    ("instruments", "option_type", 2),
    ("instruments", "payoff", 1),
    ("underlyings", "underlying", 1),
    ("vols", "instrument_id", 0),
]


@pytest.mark.parametrize("flavour", [*TEXT_TYPES, "dictionary"])
@pytest.mark.parametrize(("table", "column", "row"), STRING_CELLS)
def test_invalid_utf8_is_an_input_error_at_its_cell(
    engine: Callable[..., pmargin.MarginResult], table: str, column: str, row: int, flavour: str
) -> None:
    t = base_tables()
    values = list(t[table][column])
    if values[row] is None:
        values[row] = "x"  # a cell the readers never use (a future's option_type) is still checked
    t[table][column] = bad_text(values, row, flavour)
    expect_cell(engine, t, (table, column, row), "not valid UTF-8")


def test_invalid_bytes_under_a_null_or_an_unused_dictionary_value_are_fine(
    engine: Callable[..., pmargin.MarginResult],
) -> None:
    t = base_tables()
    ids = pa.array([b"a", b"a", b"b", b"b", b"\xff"], pa.binary()).view(pa.string())
    t["positions"]["account_id"] = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 3]), ids)
    result = run(engine, t)
    assert result.accounts.column("account_id").to_pylist() == ["a", "b"]


def test_invalid_utf8_in_a_moves_table(engine: Callable[..., pmargin.MarginResult]) -> None:
    moves = pa.table(
        {
            "date": bad_text(["2026-01-01", "2026-01-02", "2026-01-03"], 2, "string"),
            "underlying": ["BTC", "BTC", "BTC"],
            "return": [0.01, -0.02, 0.03],
        }
    )
    t = base_tables()
    t["positions"] = {"account_id": ["a"], "instrument_id": ["PERP"], "quantity": [1.0]}
    expect_cell(engine, t, ("moves", "date", 2), "not valid UTF-8", HistoricalModel(moves=moves))


def test_nothing_invalid_reaches_an_output_table() -> None:
    t = base_tables()
    t["positions"]["account_id"] = bad_text(["a", "a", "b", "b"], 0, "string_view")
    with pytest.raises(MarginInputError):
        run(pmargin.margin, t)
    with pytest.raises(MarginInputError):
        pmargin.greeks(pa.table(t["positions"]), pa.table(t["instruments"]), Market(AS_OF, pa.table(t["underlyings"])))


# --- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "arrow_type"),
    [
        (dt.datetime(9999, 12, 31, tzinfo=dt.UTC), pa.timestamp("s", tz="UTC")),
        (dt.datetime(1, 1, 1), pa.timestamp("us")),
        (dt.datetime(2262, 4, 12), pa.timestamp("ms")),
        (dt.date(9999, 1, 1), pa.date32()),
        (dt.date(2300, 1, 1), pa.date64()),
    ],
)
def test_times_outside_the_int64_nanosecond_range(
    engine: Callable[..., pmargin.MarginResult], expiry: Any, arrow_type: pa.DataType
) -> None:
    t = base_tables()
    t["instruments"]["expiry"] = pa.array([None, None, expiry], arrow_type)
    # The out-of-range time is checked at every row before the option's missing expiry.
    expect_cell(engine, t, ("instruments", "expiry", 2), TIME_RANGE)


def test_the_ends_of_the_range_are_accepted(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    expiry_ns = int(EXPIRY.timestamp()) * 10**9
    t["instruments"]["expiry"] = pa.array([-(2**63), expiry_ns, 2**63 - 1], pa.int64()).cast(pa.timestamp("ns"))
    assert run(engine, t).accounts.num_rows == 2


def test_historical_dates_outside_the_range(engine: Callable[..., pmargin.MarginResult]) -> None:
    moves = pa.table(
        {
            "date": pa.array([dt.date(2026, 1, 1), dt.date(9999, 1, 2)], pa.date32()),
            "underlying": ["BTC", "BTC"],
            "return": [0.01, -0.02],
        }
    )
    t = base_tables()
    t["positions"] = {"account_id": ["a"], "instrument_id": ["PERP"], "quantity": [1.0]}
    expect_cell(engine, t, ("moves", "date", 1), TIME_RANGE, HistoricalModel(moves=moves))


# --- decimals ---------------------------------------------------------------------------------


def test_decimal_columns_are_read_as_the_nearest_float(engine: Callable[..., pmargin.MarginResult]) -> None:
    t = base_tables()
    expected = run(engine, t).accounts.column("initial_margin").to_pylist()
    d = decimal.Decimal
    t["positions"]["quantity"] = pa.array([d("1.00"), d("-2.00"), d("3.00"), d("1.00")], pa.decimal128(20, 2))
    t["underlyings"]["spot"] = pa.array([d("60000"), d("3000")], pa.decimal256(50, 0))
    t["instruments"]["strike"] = pa.array([None, d("60000.000"), None], pa.decimal128(12, 3))
    assert run(engine, t).accounts.column("initial_margin").to_pylist() == expected
    # 0.1 as a decimal is the float 0.1 (correctly rounded), in both engines.
    t["positions"]["quantity"] = pa.array([d("0.1"), d("0.3"), d("0.7"), d("0.1")], pa.decimal128(5, 1))
    t2 = base_tables()
    t2["positions"]["quantity"] = [0.1, 0.3, 0.7, 0.1]
    assert run(engine, t).accounts.column("initial_margin").to_pylist() == (
        run(engine, t2).accounts.column("initial_margin").to_pylist()
    )


# --- misspelled columns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "misspelled", "known"),
    [
        ("underlyings", "rate", "rates", "rate"),
        ("underlyings", "rate", "RATE", "rate"),
        ("instruments", None, "multipler", "multiplier"),
        ("instruments", "payoff", "PAYOFF", "payoff"),
        ("instruments", "barrier_type", "Barrier_Type", "barrier_type"),
        ("positions", "quantity", "Quantity", "quantity"),
        ("vols", "implied_vol", "implied_vols", "implied_vol"),
    ],
)
def test_a_misspelled_column_is_an_error(
    engine: Callable[..., pmargin.MarginResult], table: str, column: str | None, misspelled: str, known: str
) -> None:
    t = base_tables()
    values = t[table].pop(column) if column is not None else [2.0] * len(t[table]["instrument_id"])
    t[table][misspelled] = values
    expect_cell(engine, t, (table, misspelled, None), f"looks like a misspelling of {known!r}")


def test_columns_close_to_a_present_column_or_far_from_all_are_ignored(
    engine: Callable[..., pmargin.MarginResult],
) -> None:
    t = base_tables()
    expected = run(engine, t).accounts.column("initial_margin").to_pylist()
    t["underlyings"]["rates"] = [1.0, 1.0]  # 'rate' is present: an extra column
    t["instruments"]["venue"] = ["x", "y", "z"]
    t["positions"]["trader"] = ["p", "q", "r", "s"]
    assert run(engine, t).accounts.column("initial_margin").to_pylist() == expected


def test_misspelled_moves_column(engine: Callable[..., pmargin.MarginResult]) -> None:
    moves = pa.table(
        {"date": ["d1", "d2"], "underlying": ["BTC", "BTC"], "return": [0.01, -0.02], "Vol_Change": [0.0, 0.1]}
    )
    t = base_tables()
    t["positions"] = {"account_id": ["a"], "instrument_id": ["PERP"], "quantity": [1.0]}
    expect_cell(engine, t, ("moves", "Vol_Change", None), "misspelling", HistoricalModel(moves=moves))


def test_spelling_rule() -> None:
    assert [edit_distance(a, b) for a, b in [("rates", "rate"), ("multipler", "multiplier"), ("", "ab")]] == [1, 1, 2]
    known = ("instrument_id", "kind", "rebate", "rate")
    with pytest.raises(MarginInputError, match="misspelling of 'rate'") as info:
        check_spelling(pa.table({"kind": ["x"], "rates": [1.0]}), "t", known)
    assert (info.value.table, info.value.column, info.value.row) == ("t", "rates", None)
    check_spelling(pa.table({"kind": ["x"], "tick_size": [1.0]}), "t", known)


def test_a_number_column_of_text_says_to_cast_it() -> None:
    """Numbers written as strings (a common pipeline slip): the error says the column holds text,
    to cast it, and which cell is not a number, or that all are numbers written as text."""
    base = "expected numbers (an integer, float or decimal column), got strings (string): the column holds text, cast it to a number type"
    for cells, detail in (
        (["1.5", None, "2"], "(every cell is a number written as text)"),
        (["1.5", "0x10", "abc"], "(its row 1 is not a number: '0x10')"),
    ):
        with pytest.raises(MarginInputError) as e:
            read_numbers(pa.chunked_array([pa.array(cells)]), "positions", "quantity")
        assert (e.value.table, e.value.column, e.value.row, e.value.reason) == (
            "positions",
            "quantity",
            None,
            f"{base} {detail}",
        )
    # Text that is not UTF-8: the hint alone (the type is the error, not the bytes).
    bad = pa.chunked_array([pa.array([b"1", b"\xff"], pa.binary()).cast(pa.string(), safe=False)])
    assert text_number_hint(bad) == ": the column holds text, cast it to a number type"
    # Not text: no hint.
    with pytest.raises(MarginInputError) as e:
        read_numbers(pa.chunked_array([pa.array([True])]), "positions", "quantity")
    assert e.value.reason == "expected numbers (an integer, float or decimal column), got bool"
