"""The positions table, and its rows netted per (account, instrument) into one book per account,
in the canonical order (docs/methods.md, "Canonical order"):

- accounts keep the order of their first row;
- within an account, netted positions are ordered by instrument row (instruments table); the
  rows of one (account, instrument) add up to their correctly rounded sum (:func:`exact_sum`,
  ``math.fsum``), which no order of the rows changes;
- a position that nets to exactly zero is not held: it is dropped (an account whose positions
  all net to zero keeps an empty book); rows of unknown instruments are left to the caller.

Mirrors: rust/pmargin-core/src/domain/book.rs
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from ..input import (
    check_spelling,
    describe_type,
    fail,
    is_string_type,
    required_column,
    required_numbers,
    required_strings,
    text_values,
)

#: Integer account ids come out as int64 (docs/methods.md, "Inputs").
INT64_MAX = 2**63 - 1

AccountId = str | int
"""An account id as read from the positions table (a string or an integer column)."""


@dataclass(frozen=True)
class Position:
    """One row of the positions table, quantity as a float."""

    row: int
    account_id: AccountId
    instrument_id: str
    quantity: float


def read_account_ids(table: pa.Table) -> list[AccountId]:
    """``positions.account_id``: a required string (valid UTF-8) or integer (fitting an int64)
    column without nulls."""
    col = required_column(table, "positions", "account_id")
    t = col.type
    integer = pa.types.is_integer(t) or (pa.types.is_dictionary(t) and pa.types.is_integer(t.value_type))
    if not (pa.types.is_null(t) or is_string_type(t) or integer):
        fail(f"expected strings or integers, got {describe_type(t)}", "positions", "account_id")
    values: list[AccountId | None] = text_values(col, "positions", "account_id")
    for row, value in enumerate(values):
        if value is None:
            fail("null is not allowed", "positions", "account_id", row)
        if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
            fail(
                f"{value} does not fit an int64 (integer account ids are int64 in results)",
                "positions",
                "account_id",
                row,
            )
    return [v for v in values if v is not None]


def read_positions(table: pa.Table) -> list[Position]:
    """The positions table: ``account_id``, ``instrument_id``, ``quantity`` (signed, finite)."""
    check_spelling(table, "positions", ("account_id", "instrument_id", "quantity"))
    accounts = read_account_ids(table)
    instruments = required_strings(table, "positions", "instrument_id")
    quantities = required_numbers(table, "positions", "quantity")
    return [Position(row, accounts[row], instruments[row], quantities[row]) for row in range(table.num_rows)]


# --- netting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NettedPosition:
    """The net quantity an account holds of one instrument."""

    instrument_id: str
    quantity: float


@dataclass(frozen=True)
class Book:
    """One account's netted positions (first-seen order) and its first row in the positions table."""

    account_id: AccountId
    first_row: int
    positions: list[NettedPosition]


def exact_sum(values: Sequence[float]) -> float:
    """The correctly rounded sum (``math.fsum``); when an intermediate overflows, the plain sum of
    the values sorted by value, which is order-independent too (the core's ``exact_sum``)."""
    try:
        return math.fsum(values)
    except OverflowError:
        total = 0.0
        for x in sorted(values):
            total += x
        return total


def net_positions(positions: Sequence[Position], instrument_row: dict[str, int]) -> list[Book]:
    """Net the rows per (account, instrument) in canonical order (module docstring); rows whose
    instrument is not in ``instrument_row`` are skipped (the caller reports them)."""
    first_rows: dict[AccountId, int] = {}
    rows: dict[AccountId, dict[str, list[float]]] = {}
    for pos in positions:
        if pos.account_id not in rows:
            first_rows[pos.account_id] = pos.row
            rows[pos.account_id] = {}
        if pos.instrument_id in instrument_row:
            rows[pos.account_id].setdefault(pos.instrument_id, []).append(pos.quantity)
    books = []
    for account, held in rows.items():
        netted = []
        for iid in sorted(held, key=lambda i: instrument_row[i]):
            q = exact_sum(held[iid])
            if q != 0.0:
                netted.append(NettedPosition(iid, q))
        books.append(Book(account, first_rows[account], netted))
    return books
