"""Adversarial input tables: the native core and the pure-Python reference validate exactly the
same things and name the same cell (docs/methods.md, "Inputs").

A valid book is broken in one to three places: a column replaced by one of another Arrow type
(every string, integer, float, decimal, timestamp and date type, bool, binary, null) holding
nulls, extreme floats (1e308, 5e-324, -0.0, NaN, +-inf), invalid UTF-8 (built from raw buffers),
times outside the int64-nanosecond range, unknown or reserved words; a column dropped, renamed
(misspelled) or given twice. Both engines must then agree (1e-9 relative) or raise the same
MarginError subclass naming the same table, column and row, and never raise anything else.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
import pmargin.reference
from pmargin import MarginError, Market

AS_OF = dt.datetime(2026, 6, 30, 8, tzinfo=dt.UTC)
AS_OF_NS = int(AS_OF.timestamp()) * 10**9
DAY_NS = 86_400 * 10**9

BASE: dict[str, dict[str, list[Any]]] = {
    "positions": {
        "account_id": ["a", "a", "b", "c", "b"],
        "instrument_id": ["PERP", "CALL", "FUT", "PUT", "SPOT"],
        "quantity": [1.0, -2.0, 3.0, 1.5, -0.5],
    },
    "instruments": {
        "instrument_id": ["PERP", "CALL", "FUT", "PUT", "SPOT"],
        "underlying": ["BTC", "BTC", "ETH", "ETH", "BTC"],
        "kind": ["perpetual", "option", "future", "option", "spot"],
        "option_type": [None, "call", None, "put", None],
        "strike": [None, 60000.0, None, 2900.0, None],
        "expiry": [None, AS_OF_NS + 30 * DAY_NS, AS_OF_NS + 90 * DAY_NS, AS_OF_NS + 7 * DAY_NS, None],
        "multiplier": [1.0, 0.1, 10.0, 1.0, 1.0],
        "payoff": [None, "vanilla", None, "digital", None],
        "barrier_type": [None, None, None, None, None],
        "barrier": [None, None, None, None, None],
        "rebate": [None, None, None, None, None],
    },
    "underlyings": {"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0], "rate": [0.04, 0.0]},
    "vols": {"instrument_id": ["CALL", "PUT"], "implied_vol": [0.55, 0.7]},
}

KINDS = {
    "account_id": "string",
    "instrument_id": "string",
    "underlying": "string",
    "kind": "string",
    "option_type": "string",
    "payoff": "string",
    "barrier_type": "string",
    "quantity": "number",
    "strike": "number",
    "multiplier": "number",
    "barrier": "number",
    "rebate": "number",
    "spot": "number",
    "rate": "number",
    "implied_vol": "number",
    "expiry": "time",
}

WORDS = [
    "a",
    "b",
    "PERP",
    "CALL",
    "PUT",
    "FUT",
    "SPOT",
    "BTC",
    "ETH",
    "total",
    "scenario",
    "option",
    "future",
    "spot",
    "perpetual",
    "swap",
    "call",
    "put",
    "vanilla",
    "digital",
    "asian",
    "up-and-out",
    "down-and-in",
    "",
    "é-ü",
]
INVALID = b"\xff\xfe"
FLOATS = [1e308, -1e308, 5e-324, -0.0, 0.0, math.nan, math.inf, -math.inf, -1.0, 1e-300, 55.0, 2.5, 0.3, 120.0]
INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]
FLOAT_TYPES = [pa.float16(), pa.float32(), pa.float64()]
DECIMAL_TYPES = [pa.decimal128(38, 6), pa.decimal256(76, 20), pa.decimal128(10, 0)]
TIME_TYPES = [
    pa.timestamp("s"),
    pa.timestamp("ms", tz="UTC"),
    pa.timestamp("us"),
    pa.timestamp("ns", tz="Asia/Tokyo"),
    pa.date32(),
    pa.date64(),
]
STRING_FLAVOURS = ["string", "large_string", "string_view", "dictionary"]
TEXT_TYPES = {
    "string": (pa.binary(), pa.string()),
    "large_string": (pa.large_binary(), pa.large_string()),
    "string_view": (pa.binary_view(), pa.string_view()),
}
#: Out-of-range times, as seconds since the epoch (years 9999 and 1, and just past 2262).
FAR_SECONDS = [253_402_214_400, -62_135_596_800, 9_223_372_037]

Draw = st.DrawFn

#: Most cells of a broken column keep their valid value, so many books stay valid and the two
#: engines' numbers are compared, not only their errors.
KEEP = st.sampled_from([True, True, True, False])


def text_array(values: list[str | bytes | None], flavour: str) -> pa.Array:
    """Strings (bytes kept raw, so they may be invalid UTF-8) as a column of ``flavour``."""
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    if flavour == "dictionary":
        return pa.DictionaryArray.from_arrays(
            pa.array(range(len(raw)), pa.int32()), pa.array(raw, pa.binary()).view(pa.string())
        )
    binary, text = TEXT_TYPES[flavour]
    return pa.array(raw, binary).view(text)


@st.composite
def string_column(draw: Draw, base: list[Any]) -> pa.Array:
    cell = st.one_of(st.sampled_from(WORDS), st.none(), st.just(INVALID), st.just(b"ok" + INVALID + b"!"))
    values = [v if isinstance(v, str) and draw(KEEP) else draw(cell) for v in base]
    return text_array(values, draw(st.sampled_from(STRING_FLAVOURS)))


def as_decimal(x: float, t: pa.DataType) -> decimal.Decimal | None:
    if not math.isfinite(x):
        return None
    try:
        q = decimal.Decimal(repr(x)).quantize(
            decimal.Decimal(1).scaleb(-t.scale), context=decimal.Context(prec=t.precision)
        )
    except decimal.InvalidOperation:
        return None
    return q if len(q.as_tuple().digits) <= t.precision else None


@st.composite
def number_column(draw: Draw, base: list[Any]) -> pa.Array:
    numbers = [v if isinstance(v, float) else None for v in base]
    values = [
        v if v is not None and draw(KEEP) else draw(st.one_of(st.none(), st.sampled_from(FLOATS))) for v in numbers
    ]
    family = draw(st.sampled_from(["float", "int", "decimal"]))
    if family == "float":
        t = draw(st.sampled_from(FLOAT_TYPES))
        if t == pa.float16():
            with np.errstate(over="ignore"):
                halves = np.array([np.nan if v is None else v for v in values], np.float16)
            return pa.array(halves, mask=np.array([v is None for v in values]))
        return pa.array(values, pa.float64()).cast(t, safe=False)
    if family == "int":
        t = draw(st.sampled_from(INT_TYPES))
        info = np.iinfo(t.to_pandas_dtype())
        ints = [None if v is None or not math.isfinite(v) or not info.min <= v <= info.max else int(v) for v in values]
        extreme = draw(st.sampled_from([None, int(info.max), int(info.min)]))
        if extreme is not None:
            ints[draw(st.integers(0, len(ints) - 1))] = extreme
        return pa.array(ints, t)
    t = draw(st.sampled_from(DECIMAL_TYPES))
    return pa.array([None if v is None else as_decimal(v, t) for v in values], t)


@st.composite
def time_column(draw: Draw, base: list[Any]) -> pa.Array:
    t = draw(st.sampled_from(TIME_TYPES))
    unit_ns = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
    per = unit_ns[t.unit] if pa.types.is_timestamp(t) else (DAY_NS if pa.types.is_date32(t) else 10**6)
    values = []
    for v in [v if isinstance(v, int) else None for v in base]:
        choice = draw(st.sampled_from(["keep", "keep", "keep", "keep", "null", "far", "past"]))
        if choice == "null" or (choice == "keep" and v is None):
            values.append(None)
        elif choice == "keep":
            values.append(v // per)
        elif choice == "past":
            values.append((AS_OF_NS - 3 * DAY_NS) // per)
        else:
            values.append(draw(st.sampled_from(FAR_SECONDS)) * 10**9 // per)
    storage = pa.int32() if pa.types.is_date32(t) else pa.int64()
    lo, hi = (-(2**31), 2**31 - 1) if storage == pa.int32() else (-(2**63), 2**63 - 1)
    return pa.array([None if v is None or not lo <= v <= hi else v for v in values], storage).cast(t)


@st.composite
def other_column(draw: Draw, n: int) -> pa.Array:
    t = draw(st.sampled_from(["bool", "binary", "null"]))
    if t == "bool":
        return pa.array([True] * n)
    if t == "binary":
        return pa.array([b"x"] * n)
    return pa.nulls(n)


@st.composite
def adversarial_tables(draw: Draw) -> dict[str, pa.Table]:
    """The base book with one to three columns broken."""
    tables = {name: {c: list(v) for c, v in cols.items()} for name, cols in BASE.items()}
    columns: dict[str, dict[str, Any]] = {name: dict(cols) for name, cols in tables.items()}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(["positions", "positions", "instruments", "instruments", "underlyings", "vols"]))
        cols = columns[name]
        if not cols:  # every column of this table already dropped: nothing left to break
            continue
        column = draw(st.sampled_from(sorted(cols)))
        base = tables[name].get(column.split("\0")[0], [None] * len(next(iter(tables[name].values()))))
        action = draw(st.sampled_from(["replace", "replace", "replace", "other", "drop", "rename", "duplicate"]))
        if action == "drop":
            cols.pop(column)
        elif action == "rename":
            new = draw(st.sampled_from([column.upper(), column + "s", column[:-1], "notes"]))
            values = cols.pop(column)
            cols[new] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else to_array(column, values)
        elif action == "duplicate":
            cols[column + "\0dup"] = cols[column]
        elif action == "other":
            cols[column] = draw(other_column(len(base)))
        else:
            kind = draw(st.sampled_from([KINDS.get(column, "string")] * 3 + ["string", "number", "time"]))
            strategy = {"string": string_column, "number": number_column, "time": time_column}[kind]
            cols[column] = draw(strategy(base))
    out = {}
    for name, cols in columns.items():
        arrays = [c if isinstance(c, (pa.Array, pa.ChunkedArray)) else to_array(k, c) for k, c in cols.items()]
        out[name] = pa.table(arrays, names=[k.split("\0")[0] for k in cols])
    return out


def to_array(column: str, values: list[Any]) -> pa.Array:
    kind = KINDS.get(column.split("\0")[0], "string")
    if kind == "time":
        return pa.array(values, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    if kind == "number":
        return pa.array(values, pa.float64())
    return pa.array(values, pa.string())


#: A valid historical model over the base book's underlyings (the VaR path's own checks).
MOVES = pa.table(
    {
        "date": ["d1", "d2", "d3", "d1", "d2", "d3"],
        "underlying": ["BTC", "BTC", "BTC", "ETH", "ETH", "ETH"],
        "return": [0.05, -0.08, 0.02, 0.07, -0.1, 0.01],
    }
)


def outcome(engine: Any, tables: dict[str, pa.Table], model: Any = None) -> tuple[Any, ...]:
    """("ok", numbers) or ("error", class, table, column, row); anything else fails the test."""
    market = Market(AS_OF, tables["underlyings"], tables["vols"])
    try:
        result = engine(tables["positions"], tables["instruments"], market, model)
    except MarginError as exc:
        return (
            "error",
            type(exc).__name__,
            getattr(exc, "table", None),
            getattr(exc, "column", None),
            getattr(exc, "row", None),
            str(exc),
        )
    accounts = result.accounts
    return (
        "ok",
        accounts.column("account_id").to_pylist(),
        accounts.schema.field("account_id").type,
        [accounts.column(c).to_pylist() for c in ("initial_margin", "maintenance_margin", "gross_margin")],
        result.by_underlying.column("requirement").to_pylist(),
    )


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(a)))


def assert_same(native: tuple[Any, ...], reference: tuple[Any, ...]) -> None:
    if native[0] == "error" or reference[0] == "error":
        assert native[:5] == reference[:5], f"native: {native}\nreference: {reference}"
        return
    assert native[1:3] == reference[1:3]
    for a, b in zip([*native[3], native[4]], [*reference[3], reference[4]], strict=True):
        assert len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True)), (a, b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversarial_tables())
def test_both_engines_agree_or_name_the_same_cell(tables: dict[str, pa.Table]) -> None:
    assert_same(outcome(pmargin.margin, tables), outcome(pmargin.reference.margin, tables))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversarial_tables())
def test_historical_margins_agree_or_name_the_same_cell(tables: dict[str, pa.Table]) -> None:
    model = pmargin.HistoricalModel(moves=MOVES, confidence=0.6)
    assert_same(outcome(pmargin.margin, tables, model), outcome(pmargin.reference.margin, tables, model))


def valuation_outcome(engine: Any, tables: dict[str, pa.Table]) -> tuple[Any, ...]:
    """``value()`` and ``greeks()`` of the tables: their columns, or the error's cell."""
    market = Market(AS_OF, tables["underlyings"], tables["vols"])
    out: list[Any] = []
    for run in (
        lambda: [engine.value(tables["instruments"], market)],
        lambda: list(engine.greeks(tables["positions"], tables["instruments"], market)),
    ):
        try:
            out.append([(t.schema, [t.column(c).to_pylist() for c in t.column_names]) for t in run()])
        except MarginError as exc:
            out.append(
                (
                    "error",
                    type(exc).__name__,
                    getattr(exc, "table", None),
                    getattr(exc, "column", None),
                    getattr(exc, "row", None),
                )
            )
    return tuple(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversarial_tables())
def test_value_and_greeks_agree_or_name_the_same_cell(tables: dict[str, pa.Table]) -> None:
    native = valuation_outcome(pmargin, tables)
    reference = valuation_outcome(pmargin.reference, tables)
    for a, b in zip(native, reference, strict=True):
        if isinstance(a, tuple) or isinstance(b, tuple):
            assert a == b, f"native: {a}\nreference: {b}"
            continue
        for (schema_a, cols_a), (schema_b, cols_b) in zip(a, b, strict=True):
            assert schema_a.names == schema_b.names
            assert schema_a.field(0).type == schema_b.field(0).type
            for x, y in zip(cols_a, cols_b, strict=True):
                assert all(u == v or close(u, v) for u, v in zip(x, y, strict=True)), (x, y)


def test_the_base_book_is_valid() -> None:
    tables = {name: pa.table({c: to_array(c, v) for c, v in cols.items()}) for name, cols in BASE.items()}
    native = outcome(pmargin.margin, tables)
    assert native[0] == "ok" and native[1] == ["a", "b", "c"]
    assert_same(native, outcome(pmargin.reference.margin, tables))


@pytest.mark.parametrize("flavour", STRING_FLAVOURS)
def test_text_array_builds_invalid_utf8(flavour: str) -> None:
    array = text_array(["ok", INVALID, None], flavour)
    assert len(array) == 3
    with pytest.raises(UnicodeDecodeError):
        array.to_pylist()
