"""Hypothesis strategies for random books and grid models, shared by the parity tests.

- :func:`books`: a valid :class:`Book` (positions, instruments, underlyings, vols, as_of) with every
  instrument kind (spot, future, perpetual, call and put options), long, short and zero
  quantities, several underlyings and accounts, string or integer account ids, duplicate
  (account, instrument) rows (some netting exactly to zero), expiries in every Arrow timestamp
  unit, tz-aware and date32 (an option or future may expire exactly at as_of), base vols below
  the floor, optional ``rate`` and ``multiplier`` columns, string columns as string /
  large_string / string_view / dictionary, shuffled rows and columns, and instruments nobody
  holds whose market data is missing or which have expired (they must not raise).
- :func:`payoff_books`: the same, with options of every payoff: vanilla (``payoff`` null or
  ``"vanilla"``), digital, and barrier options of all four types, rebates 0 or positive (null or
  absent ``rebate`` meaning 0), barriers 1% to 14% away from spot (alive now, crossed by the
  default grid's +/-15% moves); junk in the payoff columns of non-option rows (ignored), and an
  unheld barrier option that is already breached (must not raise).
- :func:`grid_models`: a :class:`~pmargin.models.GridModel` in either cross mode and either vol
  shock mode, with duplicate shocks (exact ties) and shocks deep enough to hit the vol floor.
- :func:`broken_books`: a valid book with exactly one defect, and where the error must point.
- :func:`measure_models`: for a given set of underlyings, a small :class:`HistoricalModel`
  (dates of every Arrow kind or ISO strings, shuffled rows, ties, optional ``vol_change``,
  stressed window, EWMA), :class:`MonteCarloModel` (random PSD or perfectly correlated matrix,
  normal or Student t, vol of vol) or a ``cross="correlation"`` :class:`GridModel`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, NamedTuple

import pyarrow as pa
from hypothesis import strategies as st

from pmargin.correlation import Correlation
from pmargin.market import Market
from pmargin.models import CrossMode, GridModel, HistoricalModel, MonteCarloModel, VolShockMode

BASE_AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
UNDERLYING_NAMES = ("BTC", "ETH", "SOL", "SPX", "XYZ", "é-ü")
STRING_TYPES = ("string", "large_string", "string_view", "dictionary")
EXPIRY_TYPES: tuple[pa.DataType, ...] = (
    pa.timestamp("s"),
    pa.timestamp("ms"),
    pa.timestamp("us"),
    pa.timestamp("ns"),
    pa.timestamp("ns", tz="UTC"),
    pa.timestamp("us", tz="Asia/Tokyo"),
    pa.date32(),
)
QUANTITY_TYPES = (pa.float64(), pa.float32(), pa.int64(), pa.int32())
ACCOUNT_ID_TYPES = ("string", "large_string", "string_view", "dictionary", "int64", "int32", "uint16")
SECONDS_PER_DAY = 86_400
THREE_YEARS = 3 * 365 * SECONDS_PER_DAY

Draw = st.DrawFn


class Book(NamedTuple):
    """A portfolio and its market: the four input tables and the valuation time."""

    positions: pa.Table
    instruments: pa.Table
    underlyings: pa.Table
    vols: pa.Table
    as_of: dt.datetime

    def market(self) -> Market:
        return Market(self.as_of, self.underlyings, self.vols)


def string_array(values: list[Any], flavour: str) -> pa.Array:
    """``values`` as a string column of the given flavour (string, large_string, string_view or
    dictionary-encoded)."""
    if flavour == "dictionary":
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(
        values, {"string": pa.string(), "large_string": pa.large_string(), "string_view": pa.string_view()}[flavour]
    )


def expiry_array(offsets: list[int | None], as_of: dt.datetime, t: pa.DataType) -> pa.Array:
    """Expiries ``as_of + offset seconds`` (None stays null) in the Arrow type ``t``."""
    if pa.types.is_date32(t):
        epoch_days = (as_of - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).days
        return pa.array([None if o is None else epoch_days + o // SECONDS_PER_DAY for o in offsets], t)
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
    base = int(as_of.timestamp())
    return pa.array([None if o is None else (base + o) * per_second for o in offsets], t)


def positive_floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def underlyings_rows(draw: Draw, max_underlyings: int) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(UNDERLYING_NAMES), min_size=1, max_size=max_underlyings, unique=True))
    return [
        {"underlying": name, "spot": draw(positive_floats(1.0, 1e5)), "rate": draw(st.floats(-0.05, 0.15))}
        for name in names
    ]


@st.composite
def expiry_offset(draw: Draw, date_only: bool) -> int:
    """Seconds from as_of to an expiry: often exactly 0, whole days when the column is date32."""
    if draw(st.sampled_from(["later"] * 5 + ["at as_of"])) == "at as_of":
        return 0
    if date_only:
        return int(draw(st.integers(1, 3 * 365))) * SECONDS_PER_DAY
    return int(draw(st.integers(1, THREE_YEARS)))


BARRIER_TYPES = ("up-and-out", "up-and-in", "down-and-out", "down-and-in")
NO_PAYOFF: dict[str, Any] = {"payoff": None, "barrier_type": None, "barrier": None, "rebate": None}


@st.composite
def payoff_terms(draw: Draw, spot: float, is_option: bool) -> dict[str, Any]:
    """The payoff columns of one row: for an option a vanilla, digital or barrier payoff; for
    any other kind nothing, or junk the engines must ignore."""
    if not is_option:
        junk = {"payoff": "digital", "barrier_type": "up-and-out", "barrier": None, "rebate": -1.0}
        return draw(st.sampled_from([NO_PAYOFF] * 3 + [junk]))
    payoff = draw(st.sampled_from(["vanilla", "digital", "barrier", "barrier"]))
    if payoff == "vanilla":
        return {**NO_PAYOFF, "payoff": draw(st.sampled_from([None, "vanilla"]))}
    if payoff == "digital":
        return {**NO_PAYOFF, "payoff": "digital"}
    barrier_type = draw(st.sampled_from(BARRIER_TYPES))
    distance = draw(st.one_of(st.sampled_from([0.01, 0.05, 0.1]), positive_floats(0.01, 0.14)))
    level = spot * (1.0 - distance if barrier_type.startswith("down") else 1.0 + distance)
    rebate = draw(st.sampled_from([None, 0.0, "positive"]))
    return {
        "payoff": draw(st.sampled_from([None, "vanilla"])),
        "barrier_type": barrier_type,
        "barrier": level,
        "rebate": spot * draw(positive_floats(0.001, 0.1)) if rebate == "positive" else rebate,
    }


@st.composite
def instrument_rows(
    draw: Draw, underlyings: list[dict[str, Any]], date_only: bool, payoffs: bool = False
) -> list[dict[str, Any]]:
    """One to five instruments per underlying, every kind possible (with ``payoffs``, options of
    every payoff and one to six instruments)."""
    rows: list[dict[str, Any]] = []
    kinds = st.sampled_from(["spot", "perpetual", "future", "call", "put", "call", "put"])
    multiplier = st.one_of(st.sampled_from([1.0, 0.1, 10.0, 100.0]), positive_floats(0.01, 100.0))
    for u in underlyings:
        for i, kind in enumerate(draw(st.lists(kinds, min_size=1, max_size=6 if payoffs else 5))):
            is_option = kind in ("call", "put")
            rows.append(
                {
                    "instrument_id": f"{u['underlying']}-{kind}-{i}",
                    "underlying": u["underlying"],
                    "kind": "option" if is_option else kind,
                    "option_type": kind if is_option else None,
                    "strike": u["spot"] * draw(positive_floats(0.5, 2.0)) if is_option else None,
                    "expiry": draw(expiry_offset(date_only)) if is_option or kind == "future" else None,
                    "multiplier": draw(multiplier),
                    "vol": draw(st.one_of(positive_floats(0.05, 1.5), st.just(5e-5))) if is_option else None,
                    **(draw(payoff_terms(u["spot"], is_option)) if payoffs else {}),
                }
            )
    return rows


def breached_orphan(underlying: dict[str, Any]) -> dict[str, Any]:
    """A barrier option nobody holds whose barrier the spot has already crossed: not an error."""
    return {
        "instrument_id": "BREACHED-UNHELD",
        "underlying": underlying["underlying"],
        "kind": "option",
        "option_type": "call",
        "strike": underlying["spot"],
        "expiry": SECONDS_PER_DAY * 30,
        "multiplier": 1.0,
        "vol": 0.5,
        "payoff": None,
        "barrier_type": "down-and-out",
        "barrier": underlying["spot"] * 1.01,
        "rebate": None,
    }


def orphan_rows(date_only: bool, payoffs: bool = False) -> list[dict[str, Any]]:
    """Instruments nobody holds and that could not be valued: no market for the underlying, no
    vol, expired. Market checks apply only to held instruments, so these must not raise."""
    day_before = -SECONDS_PER_DAY if date_only else -1
    common = {"multiplier": 1.0, "vol": None, **(NO_PAYOFF if payoffs else {})}
    return [
        {
            "instrument_id": "ORPHAN-OPT",
            "underlying": "NOMARKET",
            "kind": "option",
            "option_type": "put",
            "strike": 1.0,
            "expiry": 0,
            **common,
        },
        {
            "instrument_id": "EXPIRED-FUT",
            "underlying": "NOMARKET",
            "kind": "future",
            "option_type": None,
            "strike": None,
            "expiry": day_before,
            **common,
        },
    ]


@st.composite
def expiry_kind(draw: Draw) -> pa.DataType:
    t: pa.DataType = draw(st.sampled_from(EXPIRY_TYPES))
    return t


def account_pool(draw: Draw) -> tuple[list[Any], str]:
    """A few distinct account ids and the Arrow flavour of their column."""
    flavour = draw(st.sampled_from(ACCOUNT_ID_TYPES))
    ids: list[Any]
    if flavour in STRING_TYPES:
        ids = draw(st.lists(st.sampled_from(["a", "b", "acct-7", "", "Ω", "A"]), min_size=1, max_size=5, unique=True))
    else:
        top = {"int64": 10**12, "int32": 2**31 - 1, "uint16": 2**16 - 1}[flavour]
        low = 0 if flavour.startswith("u") else -5
        ids = draw(st.lists(st.integers(low, top), min_size=1, max_size=5, unique=True))
    return ids, flavour


def account_array(values: list[Any], flavour: str) -> pa.Array:
    if flavour in STRING_TYPES:
        return string_array(values, flavour)
    return pa.array(values, getattr(pa, flavour)())


@st.composite
def quantity(draw: Draw, integral: bool) -> float | int:
    """A signed quantity, zero one time in ten."""
    if draw(st.sampled_from(["long", "short"] * 9 + ["zero"])) == "zero":
        return 0 if integral else 0.0
    size: float | int = draw(st.integers(1, 100) if integral else st.floats(1e-3, 100.0))
    return size if draw(st.booleans()) else -size


def quantity_values(draw: Draw, t: pa.DataType, n: int) -> list[float | int]:
    return list(draw(st.lists(quantity(pa.types.is_integer(t)), min_size=n, max_size=n)))


@st.composite
def position_rows(
    draw: Draw, held: list[str], max_rows: int
) -> tuple[list[Any], list[str], list[Any], str, pa.DataType]:
    """Rows (account, instrument, quantity), some repeated and some offset by an opposite row."""
    ids, flavour = account_pool(draw)
    empty = draw(st.sampled_from(["rows"] * 9 + ["empty"])) == "empty"
    pair = st.tuples(st.sampled_from(ids), st.sampled_from(held))
    pairs = [] if empty else draw(st.lists(pair, min_size=1, max_size=max_rows))
    qtype = draw(st.sampled_from(QUANTITY_TYPES))
    quantities = quantity_values(draw, qtype, len(pairs))
    rows = list(zip(pairs, quantities, strict=True))
    if rows:
        offset = draw(st.lists(st.sampled_from(rows), max_size=3))
        rows += [(pair, -q) for pair, q in offset]
        rows += draw(st.lists(st.sampled_from(rows), max_size=3))
    return [p[0] for p, _ in rows], [p[1] for p, _ in rows], [q for _, q in rows], flavour, qtype


@st.composite
def books(draw: Draw, max_rows: int = 25, max_underlyings: int = 3, payoffs: bool = False) -> Book:
    """A random valid book (see the module docstring for what varies); with ``payoffs``, options
    of every payoff (:func:`payoff_books`)."""
    expiry_type = draw(expiry_kind())
    date_only = pa.types.is_date32(expiry_type)
    as_of = BASE_AS_OF if date_only else BASE_AS_OF + dt.timedelta(seconds=draw(st.integers(0, 5 * SECONDS_PER_DAY)))

    underlyings = draw(underlyings_rows(max_underlyings))
    instruments = draw(instrument_rows(underlyings, date_only, payoffs))
    held = [r["instrument_id"] for r in instruments]
    if draw(st.booleans()):
        instruments += orphan_rows(date_only, payoffs)
        if payoffs:
            instruments.append(breached_orphan(underlyings[0]))
    instruments = draw(st.permutations(instruments))

    accounts, instrument_ids, quantities, id_flavour, qtype = draw(position_rows(held, max_rows))
    positions = pa.table(
        {
            "account_id": account_array(accounts, id_flavour),
            "instrument_id": string_array(instrument_ids, draw(st.sampled_from(STRING_TYPES))),
            "quantity": pa.array(quantities, qtype),
        }
    )
    return Book(
        positions=positions,
        instruments=instruments_table(instruments, as_of, expiry_type, draw),
        underlyings=underlyings_table(underlyings, draw),
        vols=vols_table(instruments, draw),
        as_of=as_of,
    )


def instruments_table(rows: list[dict[str, Any]], as_of: dt.datetime, expiry_type: pa.DataType, draw: Draw) -> pa.Table:
    """The instruments table with a chosen expiry type, string flavour and column order."""
    flavour = draw(st.sampled_from(STRING_TYPES))
    columns: dict[str, pa.Array] = {
        "instrument_id": string_array([r["instrument_id"] for r in rows], flavour),
        "underlying": string_array([r["underlying"] for r in rows], flavour),
        "kind": string_array([r["kind"] for r in rows], flavour),
        "option_type": string_array([r["option_type"] for r in rows], flavour),
        "strike": pa.array([r["strike"] for r in rows], pa.float64()),
        "expiry": expiry_array([r["expiry"] for r in rows], as_of, expiry_type),
    }
    if draw(st.booleans()):
        columns["multiplier"] = pa.array([r["multiplier"] for r in rows], pa.float64())
    if any("payoff" in r for r in rows):
        columns.update(payoff_columns(rows, flavour, draw))
    names = draw(st.permutations(list(columns)))
    return pa.table({name: columns[name] for name in names})


def payoff_columns(rows: list[dict[str, Any]], flavour: str, draw: Draw) -> dict[str, pa.Array]:
    """``payoff``, ``barrier_type``, ``barrier``, ``rebate``; a column that only the ignored rows
    would use may be left out (absent = vanilla / no barrier / rebate 0)."""
    options = [r for r in rows if r["kind"] == "option"]
    needed = {
        "payoff": any(r["payoff"] == "digital" for r in options),
        "barrier_type": any(r["barrier_type"] is not None for r in options),
        "barrier": any(r["barrier_type"] is not None for r in options),
        "rebate": any(r["rebate"] not in (None, 0.0) for r in options),
    }
    columns: dict[str, pa.Array] = {}
    for name in ("payoff", "barrier_type"):
        if needed[name] or draw(st.booleans()):
            columns[name] = string_array([r[name] for r in rows], flavour)
    for name in ("barrier", "rebate"):
        if needed[name] or draw(st.booleans()):
            columns[name] = pa.array([r[name] for r in rows], pa.float64())
    return columns


@st.composite
def payoff_books(draw: Draw, max_rows: int = 25, max_underlyings: int = 3) -> Book:
    """A random valid book whose options mix every payoff (module docstring)."""
    book: Book = draw(books(max_rows, max_underlyings, payoffs=True))
    return book


def underlyings_table(rows: list[dict[str, Any]], draw: Draw) -> pa.Table:
    """Shuffled underlyings, an unused extra one, and a ``rate`` column only sometimes."""
    rows = draw(st.permutations([*rows, {"underlying": "UNUSED", "spot": 1.0, "rate": 0.5}]))
    columns: dict[str, pa.Array] = {
        "underlying": string_array([r["underlying"] for r in rows], draw(st.sampled_from(STRING_TYPES))),
        "spot": pa.array([r["spot"] for r in rows], pa.float64()),
    }
    if draw(st.booleans()):
        columns["rate"] = pa.array([r["rate"] for r in rows], pa.float64())
    return pa.table(columns)


def vols_table(instruments: list[dict[str, Any]], draw: Draw) -> pa.Table:
    """A vol for every valued option, shuffled, plus one for an instrument that does not exist."""
    rows = [(r["instrument_id"], r["vol"]) for r in instruments if r["vol"] is not None]
    rows = draw(st.permutations([*rows, ("NOT-AN-INSTRUMENT", 0.3)]))
    return pa.table(
        {
            "instrument_id": string_array([iid for iid, _ in rows], draw(st.sampled_from(STRING_TYPES))),
            "implied_vol": pa.array([v for _, v in rows], pa.float64()),
        }
    )


@st.composite
def grid_models(draw: Draw, max_price_shocks: int = 9, max_vol_shocks: int = 4) -> GridModel:
    """A grid model in either cross and vol-shock mode with at least one non-zero price shock;
    shocks may repeat (exact ties) and reach the vol floor."""
    mode: VolShockMode = draw(st.sampled_from(["relative", "absolute"]))
    cross: CrossMode = draw(st.sampled_from(["sum", "joint"]))
    price = st.one_of(st.sampled_from([0.0, -0.15, 0.15, -0.3]), st.floats(-0.6, 0.6))
    low = -0.9999 if mode == "relative" else -1.5
    vol = st.one_of(st.sampled_from([0.0, 0.3, -0.3, low]), st.floats(low, 1.0))
    moves = [draw(st.sampled_from([-0.15, 0.15, -0.3, 0.1])), *draw(st.lists(price, max_size=max_price_shocks - 1))]
    return GridModel(
        price_shocks=draw(st.permutations(moves)),
        vol_shocks=draw(st.lists(vol, min_size=1, max_size=max_vol_shocks)),
        vol_shock=mode,
        cross=cross,
        mm_ratio=draw(st.one_of(st.just(1.0), st.floats(0.01, 1.0))),
    )


# --- one defect at a time -----------------------------------------------------------------------


class BrokenBook(NamedTuple):
    """A book with one defect and the ``(table, column, row)`` the error must name."""

    book: Book
    where: tuple[str, str, int | None]
    defect: str


def set_cell(table: pa.Table, column: str, row: int, value: Any, as_type: pa.DataType | None = None) -> pa.Table:
    """``table`` with one cell replaced (the column rebuilt as ``as_type`` or its own type)."""
    col = table.column(column)
    values = col.to_pylist()
    values[row] = value
    t = as_type if as_type is not None else col.type
    array = pa.array(values, t.value_type).dictionary_encode() if pa.types.is_dictionary(t) else pa.array(values, t)
    return table.set_column(table.column_names.index(column), column, array)


def drop_row(table: pa.Table, row: int) -> pa.Table:
    return pa.concat_tables([table.slice(0, row), table.slice(row + 1)])


def first_position_on(book: Book, instrument_ids: set[str]) -> int | None:
    """Row of the first position (row order) holding one of ``instrument_ids`` in an account
    whose net quantity of it is not zero (a position netting to zero is not held)."""
    held = held_pairs(book.positions)
    for row, r in enumerate(book.positions.select(["account_id", "instrument_id"]).to_pylist()):
        if r["instrument_id"] in instrument_ids and (r["account_id"], r["instrument_id"]) in held:
            return row
    return None


def instrument_row(book: Book, instrument_id: str) -> int:
    ids: list[str] = book.instruments.column("instrument_id").to_pylist()
    return ids.index(instrument_id)


def held_pairs(positions: pa.Table) -> set[tuple[object, str]]:
    """The (account, instrument) pairs whose net quantity is not zero."""
    nets: dict[tuple[object, str], list[float]] = {}
    for r in positions.to_pylist():
        nets.setdefault((r["account_id"], r["instrument_id"]), []).append(r["quantity"])
    return {pair for pair, q in nets.items() if math.fsum(q) != 0.0}


def held_instruments(positions: pa.Table) -> list[str]:
    """Instruments some account holds a non-zero net quantity of, sorted."""
    return sorted({i for _, i in held_pairs(positions)})


@st.composite
def broken_books(draw: Draw) -> BrokenBook:
    """A valid book with at least one position and exactly one defect (a bad value, a null, a
    wrong type, a missing column, a duplicate id, an unknown instrument, missing market data or an
    expired instrument for a held instrument), with the cell the error must name."""
    # A position netting to zero is not held (docs/methods.md): only non-zero nets are checked.
    book: Book = draw(books(max_rows=8).filter(lambda b: len(held_instruments(b.positions)) > 0))
    held = held_instruments(book.positions)
    kinds = dict(
        zip(
            book.instruments.column("instrument_id").to_pylist(),
            book.instruments.column("kind").to_pylist(),
            strict=True,
        )
    )
    defects = [
        "spot",
        "vol",
        "quantity",
        "null_account",
        "unknown_instrument",
        "quantity_type",
        "missing_spot",
        "market_row",
        "kind",
    ]
    if book.instruments.num_rows > 1:
        defects.append("duplicate_id")
    if any(kinds[i] == "option" for i in held):
        defects += ["held_vol", "strike"]
    if any(kinds[i] in ("future", "option") for i in held):
        defects.append("expired")
    defect = draw(st.sampled_from(defects))
    bad_number = draw(st.sampled_from([0.0, -1.0, math.nan, math.inf, None]))

    def pick(table: pa.Table) -> int:
        return int(draw(st.integers(0, table.num_rows - 1)))

    if defect == "spot":
        row = pick(book.underlyings)
        return BrokenBook(
            book._replace(underlyings=set_cell(book.underlyings, "spot", row, bad_number)),
            ("underlyings", "spot", row),
            defect,
        )
    if defect == "missing_spot":
        return BrokenBook(
            book._replace(underlyings=book.underlyings.drop_columns(["spot"])), ("underlyings", "spot", None), defect
        )
    if defect == "vol":
        row = pick(book.vols)
        return BrokenBook(
            book._replace(vols=set_cell(book.vols, "implied_vol", row, bad_number)),
            ("vols", "implied_vol", row),
            defect,
        )
    if defect == "kind":
        row = pick(book.instruments)
        return BrokenBook(
            book._replace(instruments=set_cell(book.instruments, "kind", row, "swap")),
            ("instruments", "kind", row),
            defect,
        )
    if defect == "duplicate_id":
        first, second = sorted(
            draw(st.lists(st.integers(0, book.instruments.num_rows - 1), min_size=2, max_size=2, unique=True))
        )
        same = book.instruments.column("instrument_id")[first].as_py()
        return BrokenBook(
            book._replace(instruments=set_cell(book.instruments, "instrument_id", second, same)),
            ("instruments", "instrument_id", second),
            defect,
        )
    if defect == "strike":
        options = [i for i in held if kinds[i] == "option"]
        row = instrument_row(book, draw(st.sampled_from(options)))
        bad = draw(st.sampled_from([0.0, -5.0, math.nan, None]))
        return BrokenBook(
            book._replace(instruments=set_cell(book.instruments, "strike", row, bad)),
            ("instruments", "strike", row),
            defect,
        )
    if defect == "quantity":
        row = pick(book.positions)
        bad = draw(st.sampled_from([math.nan, math.inf, -math.inf, None]))
        return BrokenBook(
            book._replace(positions=set_cell(book.positions, "quantity", row, bad, pa.float64())),
            ("positions", "quantity", row),
            defect,
        )
    if defect == "quantity_type":
        values = pa.array([str(q) for q in book.positions.column("quantity").to_pylist()], pa.string())
        return BrokenBook(
            book._replace(positions=book.positions.set_column(2, "quantity", values)),
            ("positions", "quantity", None),
            defect,
        )
    if defect == "null_account":
        row = pick(book.positions)
        return BrokenBook(
            book._replace(positions=set_cell(book.positions, "account_id", row, None)),
            ("positions", "account_id", row),
            defect,
        )
    if defect == "unknown_instrument":
        row = pick(book.positions)
        return BrokenBook(
            book._replace(positions=set_cell(book.positions, "instrument_id", row, "NO-SUCH-ID")),
            ("positions", "instrument_id", row),
            defect,
        )
    if defect == "held_vol":
        option = draw(st.sampled_from([i for i in held if kinds[i] == "option"]))
        vol_row = book.vols.column("instrument_id").to_pylist().index(option)
        return BrokenBook(
            book._replace(vols=drop_row(book.vols, vol_row)),
            ("instruments", "instrument_id", instrument_row(book, option)),
            defect,
        )
    if defect == "market_row":
        underlying_of = dict(
            zip(
                book.instruments.column("instrument_id").to_pylist(),
                book.instruments.column("underlying").to_pylist(),
                strict=True,
            )
        )
        name = underlying_of[draw(st.sampled_from(held))]
        on_it = {i for i in held if underlying_of[i] == name}
        first_row = first_position_on(book, on_it)
        assert first_row is not None
        first_instrument = book.positions.column("instrument_id")[first_row].as_py()
        market_row = book.underlyings.column("underlying").to_pylist().index(name)
        broken = book._replace(underlyings=drop_row(book.underlyings, market_row))
        return BrokenBook(broken, ("instruments", "underlying", instrument_row(book, first_instrument)), defect)
    # expired: one held future or option gets an expiry before as_of
    dated = draw(st.sampled_from([i for i in held if kinds[i] in ("future", "option")]))
    row = instrument_row(book, dated)
    expiry_type = book.instruments.schema.field("expiry").type
    late = expiry_array([-SECONDS_PER_DAY * draw(st.integers(1, 400))], book.as_of, expiry_type)[0].as_py()
    broken = book._replace(instruments=set_cell(book.instruments, "expiry", row, late))
    return BrokenBook(broken, ("instruments", "expiry", row), defect)


# --- VaR / ES models and correlation matrices ---------------------------------------------------

CONFIDENCES = (0.5, 0.8, 0.9, 0.95, 0.975, 0.99)
DATE_KINDS = ("date32", "timestamp[s]", "timestamp[ns, UTC]", "timestamp[us] 13:30", "string")
MeasureModel = HistoricalModel | MonteCarloModel | GridModel


@st.composite
def correlations(draw: Draw, names: list[str]) -> Correlation:
    """A valid correlation matrix over ``names``: a normalised Gram matrix of random factor
    loadings plus idiosyncratic variance; sometimes two names perfectly (anti-)correlated, or
    the identity."""
    d = len(names)
    if draw(st.integers(0, 9)) == 0:
        return Correlation(names, [[1.0 if i == j else 0.0 for j in range(d)] for i in range(d)])
    k = draw(st.integers(1, 3))
    loadings = [[draw(st.floats(-1.0, 1.0)) for _ in range(k)] for _ in range(d)]
    idio = [draw(st.sampled_from([0.0, 0.05, 0.5, 1.0])) for _ in range(d)]
    if d > 1 and draw(st.booleans()):
        sign = draw(st.sampled_from([1.0, -1.0]))
        loadings[1] = [sign * x for x in loadings[0]]
        idio[0] = idio[1] = 0.0
    gram = [
        [
            sum(a * b for a, b in zip(loadings[i], loadings[j], strict=True)) + (idio[i] if i == j else 0.0)
            for j in range(d)
        ]
        for i in range(d)
    ]
    for i in range(d):
        if gram[i][i] < 1e-6:
            loadings[i] = [0.0] * k
            gram[i] = [0.0] * d
            for row in gram:
                row[i] = 0.0
            gram[i][i] = 1.0
    matrix = [[1.0] * d for _ in range(d)]
    for i in range(d):
        for j in range(i + 1, d):
            x = gram[i][j] / math.sqrt(gram[i][i] * gram[j][j])
            matrix[i][j] = matrix[j][i] = min(1.0, max(-1.0, x))
    return Correlation(names, matrix, repair=True)


def date_column(days: list[int], kind: str) -> pa.Array:
    """Dates (days after 2024-01-01) as an Arrow column of the given kind."""
    base = dt.date(2024, 1, 1)
    if kind == "date32":
        return pa.array([base + dt.timedelta(days=d) for d in days], pa.date32())
    if kind == "string":
        return pa.array([(base + dt.timedelta(days=d)).isoformat() for d in days], pa.string())
    start = dt.datetime(2024, 1, 1, 13, 30) if kind.endswith("13:30") else dt.datetime(2024, 1, 1)
    t = {"timestamp[s]": pa.timestamp("s"), "timestamp[ns, UTC]": pa.timestamp("ns", tz="UTC")}.get(
        kind, pa.timestamp("us")
    )
    tz = dt.UTC if getattr(t, "tz", None) else None
    return pa.array([(start + dt.timedelta(days=d)).replace(tzinfo=tz) for d in days], t)


@st.composite
def moves_tables(draw: Draw, names: list[str], min_dates: int = 4, max_dates: int = 40) -> pa.Table:
    """Joint moves of ``names`` (plus an extra underlying sometimes) on distinct dates, rows
    shuffled; returns in (-0.6, 0.6) with repeated values (ties); ``vol_change`` sometimes."""
    n = draw(st.integers(min_dates, max_dates))
    days = sorted(draw(st.lists(st.integers(0, 3000), min_size=n, max_size=n, unique=True)))
    kind = draw(st.sampled_from(DATE_KINDS))
    pool = draw(st.lists(st.floats(-0.6, 0.6), min_size=1, max_size=6))
    value = st.one_of(st.sampled_from(pool), st.floats(-0.6, 0.6))
    movers = [*names, *(["EXTRA"] if draw(st.booleans()) else [])]
    rows = [(d, u, draw(value), draw(st.floats(-0.5, 0.5))) for d in days for u in movers]
    rows = draw(st.permutations(rows))
    columns: dict[str, pa.Array] = {
        "date": date_column([r[0] for r in rows], kind),
        "underlying": string_array([r[1] for r in rows], draw(st.sampled_from(STRING_TYPES))),
        "return": pa.array([r[2] for r in rows], pa.float64()),
    }
    if draw(st.booleans()):
        columns["vol_change"] = pa.array([r[3] for r in rows], pa.float64())
    return pa.table(columns)


def confidence_for(draw: Draw, n: int) -> float:
    """A confidence that ``n`` scenarios can serve (n * (1 - c) >= 1)."""
    c: float = draw(st.sampled_from([c for c in CONFIDENCES if n * (1 - c) >= 1 - 1e-9]))
    return c


#: The ``tail_scenarios`` option: no column, the whole tail, or capped.
TAIL_SCENARIOS = st.sampled_from([False, True, 1, 3])


@st.composite
def historical_models(draw: Draw, names: list[str]) -> HistoricalModel:
    moves = draw(moves_tables(names))
    stressed = draw(moves_tables(names, 4, 15)) if draw(st.booleans()) else None
    n = min(
        len(set(moves.column("date").to_pylist())),
        len(set(stressed.column("date").to_pylist())) if stressed is not None else 10**9,
    )
    return HistoricalModel(
        moves,
        measure=draw(st.sampled_from(["es", "var"])),
        confidence=confidence_for(draw, n),
        vol_shock=draw(st.sampled_from(["relative", "absolute"])),
        mm_ratio=draw(st.sampled_from([1.0, 0.75])),
        stressed=stressed,
        ewma_lambda=draw(st.one_of(st.none(), st.sampled_from([0.94, 0.5]), st.floats(0.01, 0.99))),
        tail_scenarios=draw(TAIL_SCENARIOS),
    )


@st.composite
def monte_carlo_models(draw: Draw, names: list[str]) -> MonteCarloModel:
    """Correlation over ``names`` (shuffled) plus, sometimes, a name nobody holds (with or
    without a vol); vols rows shuffled."""
    extra = ["UNHELD"] if draw(st.booleans()) else []
    order = draw(st.permutations([*names, *extra]))
    correlation = draw(correlations(order))
    with_vol = [u for u in order if u in names or draw(st.booleans())]
    with_vol = draw(st.permutations(with_vol))
    vols = pa.table(
        {
            "underlying": pa.array(with_vol, pa.string()),
            "vol": pa.array([draw(st.floats(0.005, 0.4)) for _ in with_vol], pa.float64()),
        }
    )
    n = draw(st.integers(20, 300))
    student = draw(st.booleans())
    wobble = draw(st.booleans())
    return MonteCarloModel(
        vols,
        correlation,
        n,
        draw(st.integers(0, 2**64 - 1)),
        distribution="student_t" if student else "normal",
        dof=draw(st.one_of(st.sampled_from([2.5, 4.0, 30.0]), st.floats(2.1, 50.0))) if student else None,
        measure=draw(st.sampled_from(["es", "var"])),
        confidence=confidence_for(draw, n),
        horizon_days=draw(st.one_of(st.none(), st.sampled_from([1, 10]), st.floats(0.5, 30.0))),
        vol_of_vol=draw(st.floats(0.05, 2.0)) if wobble else 0.0,
        spot_vol_correlation=draw(st.floats(-1.0, 1.0)) if wobble else 0.0,
        mm_ratio=draw(st.sampled_from([1.0, 0.75])),
        tail_scenarios=draw(TAIL_SCENARIOS),
    )


@st.composite
def correlation_grid_models(draw: Draw, names: list[str]) -> GridModel:
    """A grid model with ``cross="correlation"`` over ``names`` (shuffled)."""
    base = draw(grid_models())
    return GridModel(
        price_shocks=base.price_shocks,
        vol_shocks=base.vol_shocks,
        vol_shock=base.vol_shock,
        cross="correlation",
        mm_ratio=base.mm_ratio,
        correlation=draw(correlations(draw(st.permutations(names)))),
        floor_largest=draw(st.booleans()),
    )


@st.composite
def measure_models(
    draw: Draw, underlyings: list[str], kinds: tuple[str, ...] = ("historical", "montecarlo", "grid")
) -> MeasureModel:
    """A small model of one of ``kinds`` able to move every name in ``underlyings``."""
    names = list(dict.fromkeys(underlyings))
    kind = draw(st.sampled_from(kinds))
    if kind == "historical":
        model: MeasureModel = draw(historical_models(names))
    elif kind == "montecarlo":
        model = draw(monte_carlo_models(names))
    else:
        model = draw(correlation_grid_models(names))
    return model
