"""Collateral, asset prices and haircuts (docs/accounts.md): equity of an account = sum over its
collateral of ``amount x price x (1 - haircut)``, plus its unrealised P&L where given."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..errors import MarginInputError
from ..io import to_table
from ..types import TableLike


@dataclass(frozen=True)
class Asset:
    price: float
    haircut: float


def _columns(table: pa.Table, name: str, required: tuple[str, ...]) -> None:
    for column in required:
        if column not in table.column_names:
            raise MarginInputError("missing column", table=name, column=column)


def finite_number(value: Any, table: str, column: str, row: int) -> float:
    """A Python int or float that is finite, as a float; anything else an input error at the cell."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        raise MarginInputError(f"must be a number, got {value!r}", table=table, column=column, row=row)
    try:
        x = float(value)
    except OverflowError:  # an int beyond the float range, e.g. 10**400
        x = math.inf
    if not math.isfinite(x):
        raise MarginInputError(f"must be a finite number, got {x}", table=table, column=column, row=row)
    return x


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
    names = table.column("asset").to_pylist()
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


def read_collateral(collateral: TableLike | None, assets: Mapping[str, Asset]) -> dict[Any, list[tuple[str, float]]]:
    """``account_id``, ``asset``, ``amount`` (finite; negative is a loan): per account its
    ``(asset, amount)`` rows in table order. Every asset must be in ``assets``."""
    if collateral is None:
        return {}
    table = to_table(collateral, "collateral")
    _columns(table, "collateral", ("account_id", "asset", "amount"))
    out: dict[Any, list[tuple[str, float]]] = {}
    columns = (table.column(c).to_pylist() for c in ("account_id", "asset", "amount"))
    for row, (account, asset, amount) in enumerate(zip(*columns, strict=True)):
        if account is None:
            raise MarginInputError("must not be null", table="collateral", column="account_id", row=row)
        if asset not in assets:
            raise MarginInputError(
                f"asset {asset!r} has no row in the assets table (price and haircut)",
                table="collateral",
                column="asset",
                row=row,
            )
        out.setdefault(account, []).append((asset, finite_number(amount, "collateral", "amount", row)))
    return out


def read_pnl(pnl: TableLike | Mapping[Any, float] | None) -> dict[Any, float]:
    """Per-account unrealised P&L: a table ``account_id``, ``unrealised_pnl`` or a mapping."""
    if pnl is None:
        return {}
    if isinstance(pnl, Mapping) and "account_id" not in pnl:
        return {k: finite_number(v, "pnl", "unrealised_pnl", i) for i, (k, v) in enumerate(pnl.items())}
    table = to_table(pnl, "pnl")
    _columns(table, "pnl", ("account_id", "unrealised_pnl"))
    out: dict[Any, float] = {}
    ids = table.column("account_id").to_pylist()
    values = table.column("unrealised_pnl").to_pylist()
    for row, (account, value) in enumerate(zip(ids, values, strict=True)):
        if account in out:
            raise MarginInputError(f"duplicate account {account!r}", table="pnl", column="account_id", row=row)
        out[account] = finite_number(value, "pnl", "unrealised_pnl", row)
    return out


def collateral_value(
    rows: list[tuple[str, float]], assets: Mapping[str, Asset], moves: Mapping[str, float] | None = None
) -> float:
    """Haircut value of collateral rows; an asset named like an underlying in ``moves`` is priced
    at ``price x (1 + move)``."""
    total = 0.0
    for asset, amount in rows:
        a = assets[asset]
        factor = 1.0 + (moves or {}).get(asset, 0.0)
        total += amount * a.price * factor * (1.0 - a.haircut)
    return total
