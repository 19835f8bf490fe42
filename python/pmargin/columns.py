"""Plain-Python column readers: typed, validated access to the columns of a table, written from
the input contract. The models (tables inside a model: Monte Carlo vols, prices, moves),
:class:`~pmargin.Correlation` and the pure-Python reference all read tables through these, so a
bad cell is reported the same way wherever it is found; the native core has its own readers
(``rust/pmargin-core/src/input/``).

Strings may be string, large_string or string_view columns, or dictionary-encoded, and must be
valid UTF-8; numbers any integer, float or decimal type (a decimal becomes the nearest float);
times any timestamp unit (tz-naive taken as UTC) or a date, within the int64-nanosecond range
(:data:`TIME_RANGE`). An unknown column that resembles a known column the table lacks is an
error (:func:`check_spelling`). Within a column the rows are checked in ascending order, and the first problem found is raised as a
:class:`~pmargin.errors.MarginInputError` naming the table, column and 0-based row. The reference
reads its tables in :mod:`pmargin.reference.domain`.

pyarrow is used here only to turn columns into Python lists.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from .errors import MarginInputError

NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

NS_PER_DAY = 86_400 * 1_000_000_000

#: The one supported time range (as_of, expiries, historical dates): epoch nanoseconds that fit
#: an int64.
MIN_TIME_NS = -(2**63)
MAX_TIME_NS = 2**63 - 1
TIME_RANGE = (
    "outside the supported time range 1677-09-21T00:12:43.145224192 to "
    "2262-04-11T23:47:16.854775807 UTC (int64 nanoseconds)"
)


def fail(reason: str, table: str, column: str | None = None, row: int | None = None) -> NoReturn:
    """Raise the contract's input error."""
    raise MarginInputError(reason, table=table, column=column, row=row)


# --- column types ---------------------------------------------------------------------------


def is_string_type(t: pa.DataType) -> bool:
    """string, large_string, string_view, or a dictionary of one of those."""
    if pa.types.is_dictionary(t):
        return is_string_type(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def is_number_type(t: pa.DataType) -> bool:
    """Any integer, floating-point or decimal type."""
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def describe_type(t: pa.DataType) -> str:
    """A short name of what arrived, for error messages."""
    if is_string_type(t):
        return f"strings ({t})"
    if is_number_type(t):
        return f"numbers ({t})"
    return str(t)


# --- columns --------------------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (characters)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        current = [i + 1] * (len(b) + 1)
        for j, cb in enumerate(b):
            current[j + 1] = min(previous[j] + (ca != cb), previous[j + 1] + 1, current[j] + 1)
        previous = current
    return previous[len(b)]


def check_spelling(table: pa.Table, tname: str, known: Sequence[str]) -> None:
    """An unknown column that resembles (case-insensitively equal, or at most 2 edits from) a
    known column the table lacks is an error naming it and the closest known column: optional
    columns are read only under their exact names, so a misspelling would be ignored silently.
    Columns are taken in table order, known ones in ``known`` order among equally close ones."""
    names = table.column_names
    absent = [k for k in known if k not in names]
    for column in names:
        if column in known:
            continue
        close = [(d, k) for k in absent if (d := edit_distance(column.lower(), k.lower())) <= 2]
        if close:
            best = min(close, key=lambda dk: dk[0])[1]
            fail(
                f"unknown column {column!r} looks like a misspelling of {best!r} (columns are read only under "
                f"their exact names): rename it to {best!r}, or drop it",
                tname,
                column,
            )


def find_column(table: pa.Table, tname: str, name: str) -> pa.ChunkedArray | None:
    """The column ``name``, None when absent; a name given to several columns is an error."""
    count = table.column_names.count(name)
    if count > 1:
        fail(f"column {name!r} appears {count} times", tname, name)
    return table.column(name) if count == 1 else None


def required_column(table: pa.Table, tname: str, name: str) -> pa.ChunkedArray:
    """The column ``name``, which must be present."""
    col = find_column(table, tname, name)
    if col is None:
        fail(f"missing required column {name!r}", tname, name)
    return col


def needed_at(needed: Sequence[bool] | None, row: int) -> bool:
    """Whether a value is required at ``row`` (``needed`` None: at every row)."""
    return needed is None or needed[row]


def text_values(col: pa.ChunkedArray, tname: str, name: str) -> list[Any]:
    """``col.to_pylist()``, where a string that is not valid UTF-8 (pyarrow raises when it decodes
    one) is an error naming the first such row; null rows are never decoded."""
    try:
        values: list[Any] = col.to_pylist()
        return values
    except (UnicodeDecodeError, pa.ArrowException):
        pass
    row = 0
    for chunk in col.chunks:
        for i in range(len(chunk)):
            try:
                chunk[i].as_py()
            except (UnicodeDecodeError, pa.ArrowException):
                fail("not valid UTF-8 text", tname, name, row + i)
        row += len(chunk)
    decoded: list[Any] = col.to_pylist()
    return decoded


def read_strings(col: pa.ChunkedArray, tname: str, name: str, needed: Sequence[bool] | None = None) -> list[str | None]:
    """A string column as Python values; text that is not valid UTF-8 (at any non-null row) or a
    null where a value is needed is an error."""
    if not (pa.types.is_null(col.type) or is_string_type(col.type)):
        fail(f"expected strings, got {describe_type(col.type)}", tname, name)
    values: list[str | None] = text_values(col, tname, name)
    for row, value in enumerate(values):
        if value is None and needed_at(needed, row):
            fail("null is not allowed", tname, name, row)
    return values


def read_numbers(
    col: pa.ChunkedArray,
    tname: str,
    name: str,
    needed: Sequence[bool] | None = None,
    *,
    positive: bool = False,
) -> list[float | None]:
    """A numeric column as Python floats (a decimal as the nearest float); checks null,
    NaN/infinite and (``positive``) ``> 0`` at every row where a value is needed. Values at other
    rows are returned as read."""
    if not (pa.types.is_null(col.type) or is_number_type(col.type)):
        hint = text_number_hint(col) if is_string_type(col.type) else ""
        fail(
            f"expected numbers (an integer, float or decimal column), got {describe_type(col.type)}{hint}", tname, name
        )
    values = [None if v is None else float(v) for v in col.to_pylist()]
    for row, value in enumerate(values):
        if not needed_at(needed, row):
            continue
        if value is None:
            fail("null is not allowed", tname, name, row)
        if not math.isfinite(value):
            fail(f"not a finite number: {value!r}", tname, name, row)
        if positive and value <= 0:
            fail(f"must be > 0, got {value!r}", tname, name, row)
    return values


def text_number_hint(col: pa.ChunkedArray) -> str:
    """What to say of a number column that holds text (a common pipeline slip: numbers written as
    strings): cast it, and its first cell that is not a number (a CSV reader's rule,
    :func:`plain_number`) or that every cell is a number written as text. Raises
    nothing: text that is not UTF-8 gives the hint alone."""
    hint = ": the column holds text, cast it to a number type"
    try:
        values = col.to_pylist()
    except (UnicodeDecodeError, pa.ArrowException):
        return hint
    for row, value in enumerate(values):
        if value is not None and not plain_number(value):
            return f"{hint} (its row {row} is not a number: {value!r})"
    return f"{hint} (every cell is a number written as text)"


def plain_number(text: str) -> bool:
    """Whether a CSV reader reads ``text`` as a number: ``float()`` also takes ``1_000`` and digits
    of other scripts, which a CSV reader does not."""
    if not text.isascii() or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The fraction of a second in an ISO 8601 time (the first "." or "," after a digit).
_FRACTION = re.compile(r"(?<=\d)[.,](\d+)")


def iso_epoch_ns(value: str, tname: str, name: str, row: int | None = None) -> int:
    """Epoch nanoseconds of an ISO 8601 time written as text, by the rule of ``--as-of``
    (:func:`pmargin.market.to_epoch_ns`): surrounding spaces ignored, ``Z`` or an offset, naive =
    UTC, a date alone is midnight UTC, up to 9 digits of a second; within :data:`TIME_RANGE`."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # datetime keeps microseconds: further digits are added back as nanoseconds.
    sub_us = 0
    fraction = _FRACTION.search(text)
    if fraction is not None and len(fraction[1]) > 6:
        digits = fraction[1]
        if len(digits) > 9:
            fail(f"more than 9 digits of a second (nanoseconds are the finest): {value!r}", tname, name, row)
        sub_us = int(digits[6:].ljust(3, "0"))
        text = text[: fraction.start(1)] + digits[:6] + text[fraction.end(1) :]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"not an ISO 8601 time: {value!r}", tname, name, row)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000 + sub_us
    if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
        fail(f"time is {TIME_RANGE}", tname, name, row)
    return ns


def read_epoch_ns(col: pa.ChunkedArray, tname: str, name: str, needed: Sequence[bool]) -> list[int | None]:
    """A timestamp (any unit; tz-naive taken as UTC), date32 (midnight UTC) or date64 (epoch
    milliseconds) column as epoch ns; a time outside the int64-nanosecond range (any row) is an
    error, before nulls are checked."""
    t = col.type
    if pa.types.is_null(t):
        raw: list[int | None] = [None] * len(col)
        factor = 1
    elif pa.types.is_timestamp(t):
        raw = pc.cast(col, pa.int64()).to_pylist()
        factor = NS_PER_UNIT[t.unit]
    elif pa.types.is_date32(t):
        raw = pc.cast(col, pa.int32()).to_pylist()
        factor = NS_PER_DAY
    elif pa.types.is_date64(t):
        raw = pc.cast(col, pa.int64()).to_pylist()
        factor = NS_PER_UNIT["ms"]
    else:
        fail(f"expected a timestamp or date column, got {describe_type(t)}", tname, name)
    values = [None if v is None else v * factor for v in raw]
    for row, value in enumerate(values):
        if value is not None and not MIN_TIME_NS <= value <= MAX_TIME_NS:
            fail(f"time is {TIME_RANGE}", tname, name, row)
    for row, value in enumerate(values):
        if value is None and needed[row]:
            fail("null is not allowed", tname, name, row)
    return values


def check_unique(values: Sequence[str | None], tname: str, name: str) -> None:
    """No value twice: the error names the second occurrence and the first row."""
    first: dict[str, int] = {}
    for row, value in enumerate(values):
        if value is None:
            continue
        if value in first:
            fail(f"duplicate {name} {value!r} (first at row {first[value]})", tname, name, row)
        first[value] = row


def check_allowed(
    values: Sequence[str | None], allowed: Sequence[str], tname: str, name: str, needed: Sequence[bool]
) -> None:
    """Every needed value is one of ``allowed``."""
    for row, value in enumerate(values):
        if needed[row] and value not in allowed:
            fail(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}", tname, name, row)


def read_ids(table: pa.Table, tname: str, name: str) -> list[str]:
    """A required, non-null, unique string key column."""
    values = read_strings(required_column(table, tname, name), tname, name)
    check_unique(values, tname, name)
    return [v for v in values if v is not None]


def required_strings(table: pa.Table, tname: str, name: str) -> list[str]:
    """A required, non-null string column."""
    return [v for v in read_strings(required_column(table, tname, name), tname, name) if v is not None]


def required_numbers(table: pa.Table, tname: str, name: str, *, positive: bool = False) -> list[float]:
    """A required, non-null, finite number column."""
    return [
        v for v in read_numbers(required_column(table, tname, name), tname, name, positive=positive) if v is not None
    ]


def optional_numbers(table: pa.Table, tname: str, name: str, default: float, *, positive: bool = False) -> list[float]:
    """An optional number column: when present every row must be non-null and finite."""
    col = find_column(table, tname, name)
    if col is None:
        return [default] * table.num_rows
    return [v for v in read_numbers(col, tname, name, positive=positive) if v is not None]


def optional_string_column(table: pa.Table, tname: str, name: str) -> list[str | None]:
    """An optional string column as Python values (nulls allowed); all None when absent."""
    col = find_column(table, tname, name)
    if col is None:
        return [None] * table.num_rows
    return read_strings(col, tname, name, [False] * table.num_rows)


def optional_number_column(table: pa.Table, tname: str, name: str) -> list[float | None]:
    """An optional number column as Python floats (nulls allowed, values unchecked); all None
    when absent."""
    col = find_column(table, tname, name)
    if col is None:
        return [None] * table.num_rows
    return read_numbers(col, tname, name, [False] * table.num_rows)
