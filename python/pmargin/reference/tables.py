"""Read and validate the input tables into plain Python rows.

The checks follow the input contract shared with the native core, in this order: underlyings,
vols, instruments, positions; within a table its columns in the listed order, and within a column
its rows ascending. The instruments columns are checked in the order ``instrument_id``,
``underlying``, ``kind``, ``option_type``, ``strike``, ``expiry``, ``payoff``, ``barrier_type``,
``barrier``, ``rebate``, ``multiplier``. The first problem found is raised as a
:class:`~pmargin.errors.MarginInputError` naming the table, column and 0-based row. Then
:func:`check_held` walks the positions once more for references that cannot be resolved (an
unknown instrument, or a held instrument whose market data is missing, which has expired, or
whose barrier the current spot has already breached).

pyarrow is used here only to turn columns into Python lists.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MarginInputError
from .payoffs import BARRIER_TYPES, breached, is_knock_in

AccountId = str | int
"""An account id as read from the positions table (a string or an integer column)."""

KINDS = ("spot", "future", "perpetual", "option")
OPTION_TYPES = ("call", "put")
DATED_KINDS = ("future", "option")
PAYOFFS = ("vanilla", "digital")
#: The spellings of ``barrier_type``, in the order the error message lists them.
BARRIER_TYPE_NAMES = ("up-and-out", "up-and-in", "down-and-out", "down-and-in")
assert sorted(BARRIER_TYPE_NAMES) == sorted(BARRIER_TYPES)
NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class Underlying:
    """One row of ``market.underlyings``: ``spot`` > 0 and ``rate`` (continuously compounded)."""

    row: int
    spot: float
    rate: float


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


@dataclass(frozen=True)
class Position:
    """One row of the positions table, quantity as a float."""

    row: int
    account_id: AccountId
    instrument_id: str
    quantity: float


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
    """Any integer or floating-point type."""
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def describe_type(t: pa.DataType) -> str:
    """A short name of what arrived, for error messages."""
    if is_string_type(t):
        return f"strings ({t})"
    if is_number_type(t):
        return f"numbers ({t})"
    return str(t)


# --- columns --------------------------------------------------------------------------------


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


def read_strings(col: pa.ChunkedArray, tname: str, name: str, needed: Sequence[bool] | None = None) -> list[str | None]:
    """A string column as Python values; null where a value is needed is an error."""
    if not (pa.types.is_null(col.type) or is_string_type(col.type)):
        fail(f"expected strings, got {describe_type(col.type)}", tname, name)
    values: list[str | None] = col.to_pylist()
    for row, value in enumerate(values):
        if value is None and needed_at(needed, row):
            fail("null in a required field", tname, name, row)
    return values


def read_numbers(
    col: pa.ChunkedArray,
    tname: str,
    name: str,
    needed: Sequence[bool] | None = None,
    *,
    positive: bool = False,
) -> list[float | None]:
    """A numeric column as Python floats; checks null, NaN/infinite and (``positive``) ``> 0``
    at every row where a value is needed. Values at other rows are returned as read."""
    if not (pa.types.is_null(col.type) or is_number_type(col.type)):
        fail(f"expected numbers (an integer or float column), got {describe_type(col.type)}", tname, name)
    values = [None if v is None else float(v) for v in col.to_pylist()]
    for row, value in enumerate(values):
        if not needed_at(needed, row):
            continue
        if value is None:
            fail("null in a required field", tname, name, row)
        if not math.isfinite(value):
            fail(f"not a finite number: {value!r}", tname, name, row)
        if positive and value <= 0:
            fail(f"must be > 0, got {value!r}", tname, name, row)
    return values


def read_epoch_ns(col: pa.ChunkedArray, tname: str, name: str, needed: Sequence[bool]) -> list[int | None]:
    """A timestamp (any unit; tz-naive taken as UTC), date32 (midnight UTC) or date64 (epoch
    milliseconds) column as epoch ns."""
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
        if value is None and needed[row]:
            fail("null in a required field", tname, name, row)
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


# --- tables ---------------------------------------------------------------------------------


def read_underlyings(table: pa.Table) -> dict[str, Underlying]:
    """``market.underlyings``: ``underlying`` (unique), ``spot`` > 0, ``rate`` (optional, default 0)."""
    names = read_ids(table, "underlyings", "underlying")
    spots = required_numbers(table, "underlyings", "spot", positive=True)
    rates = optional_numbers(table, "underlyings", "rate", 0.0)
    return {u: Underlying(row, spots[row], rates[row]) for row, u in enumerate(names)}


def read_vols(table: pa.Table) -> dict[str, float]:
    """``market.vols``: ``instrument_id`` (unique), ``implied_vol`` > 0."""
    ids = read_ids(table, "vols", "instrument_id")
    vols = required_numbers(table, "vols", "implied_vol", positive=True)
    return dict(zip(ids, vols, strict=True))


def read_instruments(table: pa.Table) -> dict[str, Instrument]:
    """The instruments table (see the module docstring for the column order of the checks).

    ``option_type`` and ``strike`` are read only when the table has an option, ``expiry`` only when
    it has a future or an option (otherwise they are ignored, whatever their type); their values
    are checked (and kept) only on the rows that need them.
    """
    t = "instruments"
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
            fail("null in a required field", t, "multiplier", row)
        if not math.isfinite(value):
            fail(f"not a finite number: {value!r}", t, "multiplier", row)
        if value <= 0:
            if digital[row]:
                fail(f"a digital pays its multiplier: the payout must be > 0, got {value!r}", t, "multiplier", row)
            fail(f"must be > 0, got {value!r}", t, "multiplier", row)
        out.append(value)
    return out


def read_account_ids(table: pa.Table) -> list[AccountId]:
    """``positions.account_id``: a required string or integer column without nulls."""
    col = required_column(table, "positions", "account_id")
    t = col.type
    if not (pa.types.is_null(t) or is_string_type(t) or pa.types.is_integer(t)):
        fail(f"expected strings or integers, got {describe_type(t)}", "positions", "account_id")
    values: list[AccountId | None] = col.to_pylist()
    for row, value in enumerate(values):
        if value is None:
            fail("null in a required field", "positions", "account_id", row)
    return [v for v in values if v is not None]


def read_positions(table: pa.Table) -> list[Position]:
    """The positions table: ``account_id``, ``instrument_id``, ``quantity`` (signed, finite)."""
    accounts = read_account_ids(table)
    instruments = required_strings(table, "positions", "instrument_id")
    quantities = required_numbers(table, "positions", "quantity")
    return [Position(row, accounts[row], instruments[row], quantities[row]) for row in range(table.num_rows)]


# --- references between tables ----------------------------------------------------------------


def market_problem(
    inst: Instrument, underlyings: dict[str, Underlying], vols: dict[str, float], as_of_ns: int
) -> MarginInputError | None:
    """Why ``inst`` cannot be valued at ``as_of_ns`` (None when it can), naming its instruments row:
    no market row for its underlying, an option without a vol, an expiry before ``as_of``, or a
    barrier already breached by the current spot (checked in that order)."""
    if inst.underlying not in underlyings:
        return MarginInputError(
            f"underlying {inst.underlying!r} has no row in the market's underlyings table",
            table="instruments",
            column="underlying",
            row=inst.row,
        )
    if inst.kind == "option" and inst.instrument_id not in vols:
        return MarginInputError(
            f"option {inst.instrument_id!r} has no implied_vol in the market's vols table",
            table="instruments",
            column="instrument_id",
            row=inst.row,
        )
    if inst.expiry_ns is not None and inst.expiry_ns < as_of_ns:
        ago = dt.timedelta(microseconds=(as_of_ns - inst.expiry_ns) // 1000)
        return MarginInputError(
            f"{inst.kind} {inst.instrument_id!r} expired {ago} ago (its expiry is before the market's as_of)",
            table="instruments",
            column="expiry",
            row=inst.row,
        )
    return breached_barrier(inst, underlyings[inst.underlying].spot)


def breached_barrier(inst: Instrument, spot: float) -> MarginInputError | None:
    """A barrier option whose barrier the current ``spot`` has already reached (down: ``spot <=
    barrier``, up: ``spot >= barrier``) is not a barrier option any more: the error says how to
    record it (knocked in: a vanilla; knocked out: its rebate as cash)."""
    if inst.barrier_type is None or inst.barrier is None or not breached(inst.barrier_type, spot, inst.barrier):
        return None
    if is_knock_in(inst.barrier_type):
        how = "it has knocked in: record it as a vanilla option (no barrier_type)"
    else:
        how = "it has knocked out: record its rebate as cash and remove the option"
    return MarginInputError(
        f"{inst.instrument_id!r} has a {inst.barrier_type} barrier at {inst.barrier!r} already breached by spot "
        f"{spot!r}; {how}",
        table="instruments",
        column="barrier",
        row=inst.row,
    )


def check_held(
    positions: Sequence[Position],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    scenario_problem: Callable[[str], MarginInputError | None] | None = None,
) -> None:
    """One pass over the positions in row order: the first unknown instrument or held instrument
    with a market problem is raised. Instruments nobody holds are not checked.

    ``scenario_problem(underlying)``: why the model cannot move a held instrument's underlying
    (no moves, no Monte Carlo vol, not in the correlation matrix), checked after its market."""
    for pos in positions:
        inst = instruments.get(pos.instrument_id)
        if inst is None:
            fail(
                f"unknown instrument {pos.instrument_id!r} (not in the instruments table)",
                "positions",
                "instrument_id",
                pos.row,
            )
        problem = market_problem(inst, underlyings, vols, as_of_ns)
        if problem is None and scenario_problem is not None:
            problem = scenario_problem(inst.underlying)
        if problem is not None:
            raise problem
