"""Collateral, asset prices and haircuts (docs/accounts.md): equity of an account = sum over its
collateral of ``amount x price x (1 - haircut)``, plus its unrealised P&L where given."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, TypeGuard

import numpy as np
import pyarrow as pa

from ..columns import is_string_type, text_values
from ..errors import MarginInputError, shown
from ..io import to_table
from ..types import TableLike


@dataclass(frozen=True)
class Asset:
    price: float
    haircut: float


class Holding(NamedTuple):
    """One collateral row of an account: its asset, amount and row in the collateral table."""

    asset: str
    amount: float
    row: int


def _columns(table: pa.Table, name: str, required: tuple[str, ...]) -> None:
    for column in required:
        if column not in table.column_names:
            raise MarginInputError("missing column", table=name, column=column)


def is_real(value: Any) -> TypeGuard[numbers.Real]:
    """A Python or NumPy real number (np.float32 included); not a bool, not text."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def finite_number(value: Any, table: str, column: str, row: int) -> float:
    """A real number (Python, NumPy, or a Decimal as from a decimal128 / decimal256 column) that
    is finite, as the nearest float; anything else an input error at the cell."""
    if not (is_real(value) or isinstance(value, Decimal)):
        raise MarginInputError(f"must be a number, got {shown(value)}", table=table, column=column, row=row)
    try:
        x = float(value)
    except OverflowError:  # an int beyond the float range, e.g. 10**400
        x = math.inf
    if not math.isfinite(x):
        raise MarginInputError(f"must be a finite number, got {x}", table=table, column=column, row=row)
    return x


#: Text that is an integer written canonically: no sign but "-", no leading zero, no space.
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")


def account_key(value: Any, id_type: pa.DataType | None, table: str, row: int) -> Any:
    """The account id ``value`` (``table`` at ``row``) as the margin result writes its ids
    (``id_type``; None: as it is). Ids are matched by value: an integer and the text of its
    canonical digits are one account (1001 and "1001": a CSV file's ids are text, a Parquet
    file's may be integers); any other pair of kinds (text "01001" against integer ids, a float,
    a bool) is an error naming both types, never a silent mismatch."""
    if id_type is None:
        return value
    t = id_type.value_type if pa.types.is_dictionary(id_type) else id_type
    if isinstance(value, str):
        if is_string_type(t):
            return value
        if pa.types.is_integer(t) and _CANONICAL_INT.fullmatch(value):
            return int(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        if pa.types.is_integer(t):
            return int(value)
        if is_string_type(t):
            return str(int(value))
    got = "text" if isinstance(value, str) else type(value).__name__
    raise MarginInputError(
        f"account id {shown(value)} ({got}) cannot be matched to the margin result's account ids ({id_type}): "
        "an integer id and a text id are one account only when the text is the integer's canonical digits "
        "(1001 and '1001')",
        table=table,
        column="account_id",
        row=row,
    )


def accounts_without_positions(
    collateral: Mapping[Any, Sequence[Holding]], pnl: Mapping[Any, float], known: Container[Any]
) -> list[Any]:
    """The accounts of ``collateral`` or ``pnl`` rows that are not in ``known`` (the margin
    result's accounts, and those an isolated run left out): accounts with no positions, such as
    the cash-only accounts of a broker's balances file. They are not errors: :func:`status`
    reports them with margins 0, the cascade leaves them out. Sorted by id (ids of one kind after
    :func:`account_key`), so the order does not depend on the order of the rows."""
    extra = {a for a in (*collateral, *pnl) if a not in known}
    return sorted(extra, key=lambda a: (type(a).__name__, a))


def read_assets(assets: TableLike | Mapping[str, tuple[float, float]] | None) -> dict[str, Asset]:
    """``asset``, ``price`` (> 0), ``haircut`` (in [0, 1)); one row per asset. A mapping
    ``{asset: (price, haircut)}`` is accepted too. None: no asset but cash (``"USD"`` is not
    assumed; every collateral asset must be listed)."""
    if assets is None:
        return {}
    if isinstance(assets, Mapping) and not {"asset", "price"} <= set(assets):
        for row, (name, v) in enumerate(assets.items()):
            if not (isinstance(v, tuple | list) and len(v) == 2):
                raise MarginInputError(f"{name!r}: expected (price, haircut), got {v!r}", table="assets", row=row)
        assets = {
            "asset": list(assets),
            "price": [v[0] for v in assets.values()],
            "haircut": [v[1] for v in assets.values()],
        }
    table = to_table(assets, "assets")
    _columns(table, "assets", ("asset", "price", "haircut"))
    names = text_values(table.column("asset"), "assets", "asset")
    prices = table.column("price").to_pylist()
    haircuts = table.column("haircut").to_pylist()
    out: dict[str, Asset] = {}
    for row, (name, price, haircut) in enumerate(zip(names, prices, haircuts, strict=True)):
        if not isinstance(name, str) or not name:
            raise MarginInputError(f"must be a non-empty string, got {name!r}", table="assets", column="asset", row=row)
        if name in out:
            raise MarginInputError(f"duplicate asset {name!r}", table="assets", column="asset", row=row)
        p = finite_number(price, "assets", "price", row)
        if p <= 0:
            raise MarginInputError(f"must be positive, got {p}", table="assets", column="price", row=row)
        h = finite_number(haircut, "assets", "haircut", row)
        if not 0.0 <= h < 1.0:
            raise MarginInputError(f"must be in [0, 1), got {h}", table="assets", column="haircut", row=row)
        out[name] = Asset(p, h)
    return out


def read_collateral(
    collateral: TableLike | None, assets: Mapping[str, Asset], id_type: pa.DataType | None = None
) -> dict[Any, list[Holding]]:
    """``account_id``, ``asset``, ``amount`` (finite; negative is a loan): per account its
    holdings in table order. Every asset must be in ``assets``. Account ids are matched to
    ``id_type``, the margin result's (:func:`account_key`)."""
    if collateral is None:
        return {}
    table = to_table(collateral, "collateral")
    _columns(table, "collateral", ("account_id", "asset", "amount"))
    out: dict[Any, list[Holding]] = {}
    columns = (text_values(table.column(c), "collateral", c) for c in ("account_id", "asset", "amount"))
    for row, (account, asset, amount) in enumerate(zip(*columns, strict=True)):
        if account is None:
            raise MarginInputError("must not be null", table="collateral", column="account_id", row=row)
        key = account_key(account, id_type, "collateral", row)
        if asset not in assets:
            raise MarginInputError(
                f"asset {asset!r} has no row in the assets table (price and haircut)",
                table="collateral",
                column="asset",
                row=row,
            )
        out.setdefault(key, []).append(Holding(asset, finite_number(amount, "collateral", "amount", row), row))
    return out


def read_pnl(pnl: TableLike | Mapping[Any, float] | None, id_type: pa.DataType | None = None) -> dict[Any, float]:
    """Per-account unrealised P&L: a table ``account_id``, ``unrealised_pnl`` or a mapping; one
    entry per row, in row order. Account ids are matched to ``id_type`` (:func:`account_key`)."""
    if pnl is None:
        return {}
    if isinstance(pnl, Mapping) and "account_id" not in pnl:
        ids, values = list(pnl), list(pnl.values())
    else:
        table = to_table(pnl, "pnl")
        _columns(table, "pnl", ("account_id", "unrealised_pnl"))
        ids = text_values(table.column("account_id"), "pnl", "account_id")
        values = table.column("unrealised_pnl").to_pylist()
    out: dict[Any, float] = {}
    for row, (account, value) in enumerate(zip(ids, values, strict=True)):
        if account is None:
            raise MarginInputError("must not be null", table="pnl", column="account_id", row=row)
        key = account_key(account, id_type, "pnl", row)
        if key in out:
            raise MarginInputError(f"duplicate account {account!r}", table="pnl", column="account_id", row=row)
        out[key] = finite_number(value, "pnl", "unrealised_pnl", row)
    return out


def collateral_value(
    rows: Sequence[Holding | tuple[str, float]], assets: Mapping[str, Asset], moves: Mapping[str, float] | None = None
) -> float:
    """Haircut value of collateral rows (holdings, or ``(asset, amount)`` pairs numbered from 0);
    an asset named like an underlying in ``moves`` is priced at ``price x (1 + move)``. A row
    whose value, or the running sum, is not a finite number is an input error at that row."""
    total = 0.0
    for index, holding in enumerate(rows):
        asset, amount = holding[0], holding[1]
        a = assets[asset]
        move = (moves or {}).get(asset, 0.0)
        value = amount * a.price * (1.0 + move) * (1.0 - a.haircut)
        total += value
        if not math.isfinite(total):
            row = holding.row if isinstance(holding, Holding) else index
            at = f" at the price moved by {move:+.6g}" if move else ""
            what = (
                f"amount x price x (1 - haircut){at} = {value} is not a finite number"
                if not math.isfinite(value)
                else f"the account's collateral value{at} overflows here (sum {total})"
            )
            raise MarginInputError(what, table="collateral", column="amount", row=row)
    return total


def account_equity(account: Any, collateral: float, pnl: float, book_pnl: float) -> float:
    """Collateral value + unrealised P&L + P&L of the book's revaluation; one that is not a finite
    number (each part finite, their sum beyond the float range) is an input error."""
    equity = collateral + pnl + book_pnl
    if not math.isfinite(equity):
        raise MarginInputError(
            f"the equity of account {shown(account)} (collateral {collateral!r} + unrealised P&L {pnl!r} + "
            f"book P&L {book_pnl!r}) is not a finite number",
            table="account",
            column="equity",
        )
    return equity
