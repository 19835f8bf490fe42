"""Risk arrays: every held contract revalued once under every scenario, written from the definitions.

- Risk array of a contract: ``ra[s] = value(shocked s) - value(base)``: under the grid
  (:func:`risk_array`) ``spot' = spot * (1 + p)``; under a historical or Monte Carlo window
  (:func:`window_risk_array`) ``spot' = spot * price_factor``; an option's vol shocked by
  :func:`pmargin.reference.scenarios.grid.shocked_vol`; rate and ``T`` unchanged.
- Each unique held contract is priced once per scenario (:func:`held_risk_arrays`,
  :func:`held_window_arrays`); a value that is not finite under a window is an input error.
- A netted position margined alone: ``max(0, max_s(-(q * ra[s])))`` (:func:`standalone`).
- Every netted position moves by at most ``MAX_PNL``: ``|q| x max_s |ra[s]|`` (the largest over
  the windows) <= 1e100, so every sum a method makes is finite; else an input error on the
  quantity of the first row (row order) of a position over it (:func:`check_pnl_scale`).

Mirrors: rust/pmargin-core/src/risk/arrays.rs
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ...errors import MarginInputError
from ...models import GridModel
from ..domain.book import Book, Position
from ..domain.instruments import Instrument
from ..domain.market import Underlying
from ..scenarios import Window
from ..scenarios.grid import Shock, shocked_vol
from ..valuation import Contract, base_value, contract_value, make_contract


def shocked_value(c: Contract, shock: Shock, mode: str) -> float:
    """Value of one unit of ``c`` in scenario ``(p, v)``: spot times ``1 + p``, vol shocked."""
    p, v = shock
    vol = None if c.vol is None else shocked_vol(c.vol, v, mode)
    return contract_value(c, c.spot * (1 + p), vol)


def risk_array(c: Contract, shocks: Sequence[Shock], mode: str) -> list[float]:
    """``ra[s] = value(shocked s) - value(base)`` for every scenario, in grid order."""
    base = base_value(c)
    return [shocked_value(c, shock, mode) - base for shock in shocks]


#: The largest P&L a netted position may have under any scenario.
MAX_PNL = 1e100


def check_pnl_scale(
    positions: Sequence[Position], books: Sequence[Book], arrays: Sequence[dict[str, list[float]]]
) -> None:
    """Raise on the quantity of the first position row whose netted position moves by more than
    ``MAX_PNL`` under the scenarios of ``arrays`` (one dict of risk arrays per window)."""
    check_scale(positions, books, {iid: max(max(abs(x) for x in w[iid]) for w in arrays) for iid in arrays[0]})


def check_scale(positions: Sequence[Position], books: Sequence[Book], scale: dict[str, float]) -> None:
    """Raise on the quantity of the first position row (row order) whose netted position's
    ``|quantity| x scale[instrument]`` is over ``MAX_PNL`` (or NaN)."""
    over = {
        (book.account_id, p.instrument_id)
        for book in books
        for p in book.positions
        if not abs(p.quantity) * scale[p.instrument_id] <= MAX_PNL
    }
    for pos in positions:
        if (pos.account_id, pos.instrument_id) in over:
            raise MarginInputError(
                f"the account's net position in {pos.instrument_id!r} is worth or moves by more than {MAX_PNL:g}: "
                "check the quantity (and the instrument's multiplier)",
                table="positions",
                column="quantity",
                row=pos.row,
            )


def grid_value_problem(
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    model: GridModel,
    shocks_of: Callable[[str], Sequence[Shock]] | None = None,
) -> Callable[[Instrument], MarginInputError | None]:
    """Why a held instrument cannot be margined under ``model``'s grid: a value that is not
    finite under some scenario (the first such scenario), as the core marks it. ``shocks_of``:
    an underlying's own shocks (per-product scan ranges); the grid's as given otherwise."""
    shocks = model.scenario_shocks()
    seen: dict[str, MarginInputError | None] = {}

    def problem(inst: Instrument) -> MarginInputError | None:
        # Once per instrument: many positions hold the same one.
        if inst.instrument_id not in seen:
            own = shocks if shocks_of is None else shocks_of(inst.underlying)
            ra = risk_array(make_contract(inst, underlyings, vols, as_of_ns), own, model.vol_shock)
            bad = first_non_finite(ra)
            seen[inst.instrument_id] = None if bad is None else non_finite_error(inst.row, bad)
        return seen[inst.instrument_id]

    return problem


def window_value_problem(
    underlyings: dict[str, Underlying], vols: dict[str, float], as_of_ns: int, windows: Sequence[Window]
) -> Callable[[Instrument], MarginInputError | None]:
    """As :func:`grid_value_problem` under historical or Monte Carlo windows (the first window,
    in order, under which the value is not finite, and its first such scenario)."""

    seen: dict[str, MarginInputError | None] = {}

    def first_problem(inst: Instrument) -> MarginInputError | None:
        contract = make_contract(inst, underlyings, vols, as_of_ns)
        for window in windows:
            bad = first_non_finite(window_risk_array(contract, inst.underlying, window))
            if bad is not None:
                return non_finite_error(inst.row, bad)
        return None

    def problem(inst: Instrument) -> MarginInputError | None:
        # Once per instrument: many positions hold the same one.
        if inst.instrument_id not in seen:
            seen[inst.instrument_id] = first_problem(inst)
        return seen[inst.instrument_id]

    return problem


def non_finite_error(row: int, scenario: int) -> MarginInputError:
    """A contract whose value is not finite under ``scenario`` (at its instruments row)."""
    return MarginInputError(
        f"its value is not finite under scenario {scenario}: the scenario's moves are too extreme",
        table="instruments",
        column="instrument_id",
        row=row,
    )


def held_risk_arrays(
    books: Sequence[Book],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    model: GridModel,
    shocks_of: Callable[[str], Sequence[Shock]] | None = None,
) -> dict[str, list[float]]:
    """One risk array per held instrument (each unique contract priced once per scenario)."""
    shocks = model.scenario_shocks()
    arrays: dict[str, list[float]] = {}
    for book in books:
        for pos in book.positions:
            if pos.instrument_id not in arrays:
                inst = instruments[pos.instrument_id]
                contract = make_contract(inst, underlyings, vols, as_of_ns)
                own = shocks if shocks_of is None else shocks_of(inst.underlying)
                arrays[pos.instrument_id] = risk_array(contract, own, model.vol_shock)
    return arrays


def window_risk_array(c: Contract, underlying: str, window: Window) -> list[float]:
    """``ra[i] = value(spot * price_factor[i], shocked vol) - value(base)`` for every scenario."""
    base = base_value(c)
    factors = window.price_factor[underlying]
    changes = window.vol_change[underlying]
    out: list[float] = []
    for i in range(window.n):
        vol = None if c.vol is None else shocked_vol(c.vol, changes[i], window.vol_mode)
        out.append(contract_value(c, c.spot * factors[i], vol) - base)
    return out


def first_non_finite(ra: Sequence[float]) -> int | None:
    """The first scenario whose value is not finite (None when all are)."""
    for i, x in enumerate(ra):
        if not math.isfinite(x):
            return i
    return None


def held_window_arrays(
    books: Sequence[Book],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    window: Window,
) -> dict[str, list[float]]:
    """One risk array per held instrument under the window's scenarios. A value that is not
    finite is an error naming the instrument (``instruments.instrument_id``, its row; the first
    such instrument in table order) and the scenario."""
    arrays: dict[str, list[float]] = {}
    for book in books:
        for pos in book.positions:
            if pos.instrument_id not in arrays:
                inst = instruments[pos.instrument_id]
                contract = make_contract(inst, underlyings, vols, as_of_ns)
                arrays[pos.instrument_id] = window_risk_array(contract, inst.underlying, window)
    for iid in sorted(arrays, key=lambda i: instruments[i].row):
        bad = first_non_finite(arrays[iid])
        if bad is not None:
            raise non_finite_error(instruments[iid].row, bad)
    return arrays


def standalone(quantity: float, ra: Sequence[float]) -> float:
    """Margin of one netted position alone: ``max(0, max_s(-(q * ra[s])))``."""
    return max(0.0, max(-(quantity * r) for r in ra))
