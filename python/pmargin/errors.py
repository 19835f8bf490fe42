"""The package's exception hierarchy.

Every error raised for bad input is a :class:`MarginInputError`, which is also a ``ValueError``
and carries structured detail (``table``, ``column``, ``row``, ``reason``) so callers can point a
user at the exact cell. Nothing partial is ever returned alongside an error.
"""

from __future__ import annotations


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


def wrong_argument(argument: str, expected: str, value: object) -> MarginConfigError:
    """The error for an argument of the wrong type, e.g. ``model must be a pmargin model such as
    GridModel(), got str 'grid'`` (``table`` is the argument's name)."""
    if value is None:
        got = "None"
    elif isinstance(value, type):
        got = f"the class {value.__name__} itself (an instance is {value.__name__}(...))"
    elif isinstance(value, (str, int, float, bool)):
        text = repr(value)
        got = f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
    else:
        got = type(value).__name__
    return MarginConfigError(f"{argument} must be {expected}, got {got}", table=argument)


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
