"""The instruments table: what each ``instrument_id`` is (kind, option type and strike, expiry,
payoff and barrier terms, multiplier), validated column by column in the order the package
documentation lists.

Mirrors: rust/pmargin-core/src/domain/instruments.rs
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from ..input import (
    check_allowed,
    check_spelling,
    fail,
    find_column,
    optional_number_column,
    optional_string_column,
    read_epoch_ns,
    read_ids,
    read_numbers,
    read_strings,
    required_column,
    required_strings,
)
from .option_terms import BARRIER_TYPES

KINDS = ("spot", "future", "perpetual", "option")

OPTION_TYPES = ("call", "put")

DATED_KINDS = ("future", "option")

PAYOFFS = ("vanilla", "digital")

#: Every column the instruments table may have, in the order they are checked.
COLUMNS = (
    "instrument_id",
    "underlying",
    "kind",
    "option_type",
    "strike",
    "expiry",
    "payoff",
    "barrier_type",
    "barrier",
    "rebate",
    "multiplier",
    "settlement",
)

#: How a contract settles: in USD (``linear``, the default) or in its underlying coin
#: (``inverse``, coin-margined).
SETTLEMENTS = ("linear", "inverse")

#: The spellings of ``barrier_type``, in the order the error message lists them.
BARRIER_TYPE_NAMES = ("up-and-out", "up-and-in", "down-and-out", "down-and-in")


assert sorted(BARRIER_TYPE_NAMES) == sorted(BARRIER_TYPES)


@dataclass(frozen=True)
class Instrument:
    """One row of the instruments table; ``option_type``/``strike`` only for options and
    ``expiry_ns`` (epoch nanoseconds, UTC) only for futures and options. Options also have a
    ``payoff`` (``"vanilla"`` or ``"digital"``) and, for a barrier option (a vanilla payoff with a
    ``barrier_type``), its ``barrier`` level and ``rebate`` (cash per unit, default 0)."""

    row: int
    instrument_id: str
    underlying: str
    kind: str
    option_type: str | None
    strike: float | None
    expiry_ns: int | None
    multiplier: float
    payoff: str = "vanilla"
    barrier_type: str | None = None
    barrier: float | None = None
    rebate: float = 0.0
    settlement: str = "linear"


def read_instruments(table: pa.Table) -> dict[str, Instrument]:
    """The instruments table (see the module docstring for the column order of the checks).

    ``option_type`` and ``strike`` are read only when the table has an option, ``expiry`` only when
    it has a future or an option (otherwise they are ignored, whatever their type); their values
    are checked (and kept) only on the rows that need them.
    """
    t = "instruments"
    check_spelling(table, t, COLUMNS)
    ids = read_ids(table, t, "instrument_id")
    underlyings = required_strings(table, t, "underlying")
    kinds = required_strings(table, t, "kind")
    check_allowed(kinds, KINDS, t, "kind", [True] * len(kinds))
    is_option = [k == "option" for k in kinds]
    is_dated = [k in DATED_KINDS for k in kinds]

    option_types: list[str | None] = [None] * len(kinds)
    strikes: list[float | None] = [None] * len(kinds)
    if any(is_option):
        option_types = read_strings(required_column(table, t, "option_type"), t, "option_type", is_option)
        check_allowed(option_types, OPTION_TYPES, t, "option_type", is_option)
        strikes = read_numbers(required_column(table, t, "strike"), t, "strike", is_option, positive=True)

    expiries: list[int | None] = [None] * len(kinds)
    if any(is_dated):
        expiries = read_epoch_ns(required_column(table, t, "expiry"), t, "expiry", is_dated)

    payoffs = Payoffs.vanilla(len(kinds))
    if any(is_option):
        payoffs = read_payoffs(table, is_option)

    multipliers = read_multipliers(table, payoffs.digital)
    settlements = read_settlements(table, kinds)
    return {
        iid: Instrument(
            row=row,
            instrument_id=iid,
            underlying=underlyings[row],
            kind=kinds[row],
            option_type=option_types[row] if is_option[row] else None,
            strike=strikes[row] if is_option[row] else None,
            expiry_ns=expiries[row] if is_dated[row] else None,
            multiplier=multipliers[row],
            payoff="digital" if payoffs.digital[row] else "vanilla",
            barrier_type=payoffs.barrier_types[row],
            barrier=payoffs.barriers[row],
            rebate=payoffs.rebates[row],
            settlement=settlements[row],
        )
        for row, iid in enumerate(ids)
    }


@dataclass(frozen=True)
class Payoffs:
    """The payoff columns of the instruments table, per row (options only; other rows vanilla)."""

    digital: list[bool]
    barrier_types: list[str | None]
    barriers: list[float | None]
    rebates: list[float]

    @staticmethod
    def vanilla(n: int) -> Payoffs:
        return Payoffs([False] * n, [None] * n, [None] * n, [0.0] * n)


def read_payoffs(table: pa.Table, is_option: Sequence[bool]) -> Payoffs:
    """``payoff`` (null or absent: vanilla), ``barrier_type`` (null: no barrier), ``barrier`` (> 0
    where there is a barrier type) and ``rebate`` (null: 0; finite, >= 0), column by column, on
    option rows only. A digital cannot have a barrier."""
    t = "instruments"
    n = len(is_option)
    digital = [False] * n
    for row, name in enumerate(optional_string_column(table, t, "payoff")):
        if not is_option[row] or name is None or name == "vanilla":
            continue
        if name != "digital":
            fail(f"unknown payoff {name!r}; expected {' or '.join(PAYOFFS)}", t, "payoff", row)
        digital[row] = True

    barrier_types: list[str | None] = [None] * n
    for row, name in enumerate(optional_string_column(table, t, "barrier_type")):
        if not is_option[row] or name is None:
            continue
        if name not in BARRIER_TYPE_NAMES:
            expected = ", ".join(BARRIER_TYPE_NAMES[:-1]) + " or " + BARRIER_TYPE_NAMES[-1]
            fail(f"unknown barrier_type {name!r}; expected {expected}", t, "barrier_type", row)
        if digital[row]:
            fail("a barrier option must have payoff 'vanilla'", t, "barrier_type", row)
        barrier_types[row] = name

    barriers: list[float | None] = [None] * n
    for row, level in enumerate(optional_number_column(table, t, "barrier")):
        if barrier_types[row] is None:
            continue
        if level is None:
            fail("null is not allowed for a barrier option", t, "barrier", row)
        if not math.isfinite(level):
            fail(f"not a finite number: {level!r}", t, "barrier", row)
        if level <= 0:
            fail(f"must be > 0, got {level!r}", t, "barrier", row)
        barriers[row] = level

    rebates = [0.0] * n
    for row, cash in enumerate(optional_number_column(table, t, "rebate")):
        if barrier_types[row] is None or cash is None:
            continue
        if not math.isfinite(cash):
            fail(f"not a finite number: {cash!r}", t, "rebate", row)
        if cash < 0:
            fail(f"must be >= 0, got {cash!r}", t, "rebate", row)
        rebates[row] = cash
    return Payoffs(digital, barrier_types, barriers, rebates)


def read_settlements(table: pa.Table, kinds: Sequence[str]) -> list[str]:
    """The optional ``settlement`` column: null or absent is ``linear``; ``inverse`` on a future,
    perpetual or option (spot held in its own coin has no coin P&L)."""
    t = "instruments"
    out: list[str] = []
    for row, name in enumerate(optional_string_column(table, t, "settlement")):
        if name is None:
            name = "linear"
        if name not in SETTLEMENTS:
            fail(f"unknown settlement {name!r}; expected linear or inverse", t, "settlement", row)
        if name == "inverse" and kinds[row] == "spot":
            fail(
                "spot cannot be inverse (a coin held in its own coin has no coin P&L): use 'linear'",
                t,
                "settlement",
                row,
            )
        out.append(name)
    return out


def read_multipliers(table: pa.Table, digital: Sequence[bool]) -> list[float]:
    """The optional ``multiplier`` column (default 1): non-null, finite, > 0 at every row; a
    digital pays its multiplier, so there the message says the payout must be > 0."""
    t = "instruments"
    col = find_column(table, t, "multiplier")
    if col is None:
        return [1.0] * table.num_rows
    values = read_numbers(col, t, "multiplier", [False] * table.num_rows)
    out: list[float] = []
    for row, value in enumerate(values):
        if value is None:
            fail("null is not allowed", t, "multiplier", row)
        if not math.isfinite(value):
            fail(f"not a finite number: {value!r}", t, "multiplier", row)
        if value <= 0:
            if digital[row]:
                fail(f"a digital pays its multiplier: the payout must be > 0, got {value!r}", t, "multiplier", row)
            fail(f"must be > 0, got {value!r}", t, "multiplier", row)
        out.append(value)
    return out
