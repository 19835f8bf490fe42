"""The positions table, and its rows netted per (account, instrument) into one book per account.

Positions are netted per (account, instrument) in first-seen order of the pair, quantities summed
in row order from 0.0; accounts and, within an account, instruments keep first-seen order; zero
net quantities are kept.

Mirrors: rust/pmargin-core/src/domain/book.rs
"""

from __future__ import annotations

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
            fail("null in a required field", "positions", "account_id", row)
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


def net_positions(positions: Sequence[Position]) -> list[Book]:
    """Net the rows per (account, instrument), summing quantities in row order from 0.0.

    Accounts and, within each, instruments keep first-seen order; zero net quantities are kept.
    """
    first_rows: dict[AccountId, int] = {}
    nets: dict[AccountId, dict[str, float]] = {}
    for pos in positions:
        if pos.account_id not in nets:
            first_rows[pos.account_id] = pos.row
            nets[pos.account_id] = {}
        held = nets[pos.account_id]
        held[pos.instrument_id] = held.get(pos.instrument_id, 0.0) + pos.quantity
    return [
        Book(account, first_rows[account], [NettedPosition(iid, q) for iid, q in held.items()])
        for account, held in nets.items()
    ]
