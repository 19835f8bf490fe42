"""Pre-trade what-if of one account (docs/accounts.md, "What-if"): margins from the engine's
native fast path, equity after the trades' prices and fees."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from .account_state import state_of
from .errors import MarginInputError, shown, wrong_argument


class Trade(NamedTuple):
    """A proposed trade: ``quantity`` (signed: > 0 buys) of ``instrument_id`` at ``price`` per
    unit of quantity, multiplier included (as :func:`pmargin.value` quotes it), and ``fee`` (a
    cost, >= 0, in the margin currency)."""

    instrument_id: str
    quantity: float
    price: float
    fee: float = 0.0


class WhatIf(NamedTuple):
    """Margins before and after, each trade's incremental margin alone (``incremental[i]``:
    the account with trade ``i`` only, minus before) and all together (after minus before).

    ``equity_change``: sum over trades of ``quantity x (mark - price) - fee``, the mark being the
    engine's unit value: a trade at the mark changes equity by its fee only, and a short option's
    premium (``premium``, the cash received) is matched by the option's liability at mark, so it
    is never free margin. With ``equity`` (before) given: ``equity_after`` and ``state_after``.
    """

    initial_before: float
    maintenance_before: float
    initial_after: float
    maintenance_after: float
    incremental: list[float]
    incremental_all: float
    premium: float
    fees: float
    equity_change: float
    equity_after: float | None
    state_after: str | None


def _number(value: Any, table: str, column: str, row: int) -> float:
    """``value`` as a float; text is not a number (as for position quantities), nor is an int
    beyond the float range."""
    try:
        if isinstance(value, str | bytes):
            raise TypeError(value)
        return float(value)
    except OverflowError:
        raise MarginInputError(
            f"must be a finite number, got {shown(value)}", table=table, column=column, row=row
        ) from None
    except (TypeError, ValueError):
        raise MarginInputError(f"must be a number, got {shown(value)}", table=table, column=column, row=row) from None


def _text_problem(value: Any) -> str | None:
    """Why ``value`` is not an instrument id the engine can take, or None."""
    if not isinstance(value, str):
        return f"must be a string, got {shown(value)}"
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, as from bytes decoded with surrogateescape
        return f"not valid UTF-8 text: {shown(value)}"
    return None


def _bad_position(ids: list[Any], quantities: list[Any], exc: Exception) -> MarginInputError:
    """The first position row the engine could not take (row order, id before quantity)."""
    for row, (iid, quantity) in enumerate(zip(ids, quantities, strict=False)):
        problem = _text_problem(iid)
        if problem is not None:
            return MarginInputError(problem, table="positions", column="instrument_id", row=row)
        _number(quantity, "positions", "quantity", row)
    return MarginInputError(f"instrument ids must be strings and quantities numbers ({exc})", table="positions")


def _trades(trades: Sequence[Any]) -> tuple[list[str], list[float], list[float], list[float]]:
    if isinstance(trades, str | bytes) or not isinstance(trades, Iterable):
        raise wrong_argument("trades", "a sequence of Trade or (instrument_id, quantity, price[, fee])", trades)
    ids: list[str] = []
    quantities: list[float] = []
    prices: list[float] = []
    fees: list[float] = []
    for row, t in enumerate(trades):
        n = len(t) if isinstance(t, tuple) else 0
        if not 3 <= n <= 4:
            raise MarginInputError(
                f"a trade is (instrument_id, quantity, price[, fee]), got {t!r}", table="trades", row=row
            )
        problem = _text_problem(t[0])
        if problem is not None:
            raise MarginInputError(problem, table="trades", column="instrument_id", row=row)
        quantity = _number(t[1], "trades", "quantity", row)
        price = _number(t[2], "trades", "price", row)
        fee = _number(t[3], "trades", "fee", row) if n == 4 else 0.0
        if not math.isfinite(price):
            raise MarginInputError(f"must be a finite number, got {price}", table="trades", column="price", row=row)
        if not (math.isfinite(fee) and fee >= 0.0):
            raise MarginInputError(f"must be a finite cost >= 0, got {fee}", table="trades", column="fee", row=row)
        ids.append(t[0])
        quantities.append(quantity)
        prices.append(price)
        fees.append(fee)
    return ids, quantities, prices, fees


def finite_equity(equity: Any) -> float:
    try:
        if isinstance(equity, str | bytes):
            raise TypeError(equity)
        value = float(equity)
    except (TypeError, ValueError, OverflowError):
        raise MarginInputError(f"must be a number, got {shown(equity)}", table="account", column="equity") from None
    if not math.isfinite(value):
        raise MarginInputError(f"must be a finite number, got {value!r}", table="account", column="equity")
    return value


def what_if(
    native: Any,
    marks: Callable[[list[str]], list[float]],
    positions: tuple[Sequence[str], Sequence[float]],
    trades: Sequence[Any],
    equity: float | None,
) -> WhatIf:
    """The what-if on ``native`` (a ``pmargin._core.Engine``); ``marks(ids)`` gives unit values."""
    ids, quantities, prices, fees = _trades(trades)
    try:
        position_ids, position_quantities = positions
    except (TypeError, ValueError):
        raise MarginInputError(
            "positions must be a pair (instrument_ids, quantities) of sequences or arrays", table="positions"
        ) from None
    # NumPy arrays (and other sequences) become lists in one C call each.
    if not isinstance(position_ids, list):
        position_ids = position_ids.tolist() if hasattr(position_ids, "tolist") else list(position_ids)
    if not isinstance(position_quantities, list):
        position_quantities = (
            position_quantities.tolist() if hasattr(position_quantities, "tolist") else list(position_quantities)
        )
    try:
        before, after, alone = native.what_if(position_ids, position_quantities, ids, quantities)
    except (TypeError, OverflowError, UnicodeEncodeError) as exc:  # found again in Python: only on error
        raise _bad_position(position_ids, position_quantities, exc) from None
    # A zero trade changes nothing and is not marked (its contract may be expired or unpriced).
    live = iter(marks([i for i, q in zip(ids, quantities, strict=True) if q != 0.0]))
    mark = [next(live) if q != 0.0 else 0.0 for q in quantities]
    premium = 0.0
    change = 0.0
    for row, (q, m, p) in enumerate(zip(quantities, mark, prices, strict=True)):
        premium -= q * p
        change += q * (m - p)
        if not (math.isfinite(premium) and math.isfinite(change)):
            raise MarginInputError(
                f"quantity x price is not a finite number (quantity {q!r}, price {p!r}, mark {m!r})",
                table="trades",
                column="price",
                row=row,
            )
    try:
        total_fees = math.fsum(fees)
    except OverflowError:  # fsum raises where a plain sum would be inf
        total_fees = math.inf
    change -= total_fees
    if not math.isfinite(change):
        raise MarginInputError(
            "the fees are so large that the equity change is not a finite number", table="trades", column="fee"
        )
    equity_after = None if equity is None else finite_equity(equity) + change
    if equity_after is not None and not math.isfinite(equity_after):
        raise MarginInputError(
            f"equity + the trades' equity change ({change!r}) is not a finite number", table="account", column="equity"
        )
    im0 = before[0]
    return WhatIf(
        im0,
        before[1],
        after[0],
        after[1],
        [a[0] - im0 for a in alone],
        after[0] - im0,
        premium,
        total_fees,
        change,
        equity_after,
        None if equity_after is None else state_of(equity_after, after[0], after[1]),
    )
