"""The package's exception hierarchy.

Every error raised for bad input is a :class:`MarginInputError`, which is also a ``ValueError``
and carries structured detail (``table``, ``column``, ``row``, ``reason``) so callers can point a
user at the exact cell. Nothing partial is ever returned alongside an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


class MarginError(Exception):
    """Base class of every error pmargin raises on purpose."""


class MarginInputError(MarginError, ValueError):
    """An input table, market or model is invalid.

    ``row`` is the 0-based row number in the table as given (across all of its batches).
    """

    def __init__(
        self,
        reason: str,
        *,
        table: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.reason = reason
        self.table = table
        self.column = column
        self.row = row
        super().__init__(format_location(table, column, row) + reason)


class MarginConfigError(MarginInputError):
    """A model configuration (arguments or TOML file) has a bad key or value."""


#: What a ``model`` argument must be (both engines say the same).
MODEL_EXPECTED = "a pmargin model such as GridModel()"


def shown(value: object) -> str:
    """A value as an error message quotes it: its ``repr``, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def wrong_argument(argument: str, expected: str, value: object) -> MarginConfigError:
    """The error for an argument of the wrong type, e.g. ``model must be a pmargin model such as
    GridModel(), got str 'grid'`` (``table`` is the argument's name)."""
    if value is None:
        got = "None"
    elif isinstance(value, type):
        got = f"the class {value.__name__} itself (an instance is {value.__name__}(...))"
    elif isinstance(value, (str, int, float, bool)):
        got = f"{type(value).__name__} {shown(value)}"
    else:
        got = type(value).__name__
    return MarginConfigError(f"{argument} must be {expected}, got {got}", table=argument)


#: The values of a margin run's ``on_error`` argument.
ON_ERROR = ("raise", "isolate")


def run_flags(by_position: object, on_error: object) -> tuple[bool, str]:
    """``by_position`` and ``on_error`` of a margin run, checked the same way in both engines (a
    NumPy bool is a bool; 1 or "yes" is not)."""
    if not isinstance(by_position, bool | np.bool_):
        raise wrong_argument("by_position", "True or False", by_position)
    if not isinstance(on_error, str) or on_error not in ON_ERROR:
        raise wrong_argument("on_error", "'raise' or 'isolate'", on_error)
    return bool(by_position), on_error


def unreadable(table: str, source: object, exc: BaseException) -> MarginInputError:
    """The error for a data source that failed while pmargin read it (a missing or corrupt file,
    a failing Polars query): ``cannot read <source>: <its message>`` at ``table``. ``source`` is a
    path, or an object described by its type. Raise it ``from exc``."""
    what = source if isinstance(source, str) or hasattr(source, "__fspath__") else f"the {type(source).__name__}"
    return MarginInputError(f"cannot read {what}: {exc}", table=table)


@contextmanager
def reading(table: str, source: object) -> Iterator[None]:
    """Run the read of ``source`` (the caller's Dataset, LazyFrame, reader or iterable) turning
    what its own code raises into :func:`unreadable` at ``table``, chained to the original. Our
    own errors pass through; so does MemoryError, which is not the data's fault."""
    try:
        yield
    except (MarginError, MemoryError):
        raise
    except Exception as exc:
        raise unreadable(table, source, exc) from exc


class MarginComputationError(MarginError, RuntimeError):
    """The engine failed for a reason that is not the input's fault (a bug: please report it)."""


def format_location(table: str | None, column: str | None, row: int | None) -> str:
    """``"positions.quantity, row 3: "`` style prefix; empty when nothing is known."""
    if table is None and column is None:
        return ""
    where = ".".join(part for part in (table, column) if part)
    if row is not None:
        where += f", row {row}"
    return where + ": "
