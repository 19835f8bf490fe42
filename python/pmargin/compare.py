"""One book under several models: ``compare(positions, instruments, market, models={...})`` margins
the book under each model and returns one table with a row per account and model, the cheapest
marked, so a risk team can see where the book is cheapest to hold and by how much.

Columns: ``account_id``; ``model`` (the name given); ``type`` (the model's type); ``initial_margin``;
``maintenance_margin``; ``parameter_set`` (the venue parameter set's identity, null for models
without one); ``excess_over_cheapest`` (initial margin minus the account's lowest);
``cheapest`` (true for the model with the lowest initial margin, the first given on ties).
Accounts come in first-seen order, models in the order given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .engine import MarginEngine
from .errors import MarginConfigError
from .io import to_table
from .limits import Limits
from .market import Market
from .types import TableLike

__all__ = ["compare"]


def compare(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    models: Mapping[str, Any],
    *,
    limits: Limits | None = None,
) -> pa.Table:
    """The initial and maintenance margin of every account under every model (module docstring)."""
    if not isinstance(models, Mapping) or not models:
        raise MarginConfigError("give at least one model, as {name: model}", table="compare", column="models")
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise MarginConfigError(
                f"model names must be non-empty strings, got {name!r}", table="compare", column="models"
            )
        if not callable(getattr(model, "to_spec", None)):
            raise MarginConfigError(
                f"{name!r} is not a pmargin model, got {type(model).__name__}", table="compare", column="models"
            )
    positions_table = to_table(positions, "positions")
    instruments_table = to_table(instruments, "instruments")
    parts = []
    for index, (name, model) in enumerate(models.items()):
        accounts = MarginEngine(instruments_table, market, model, limits=limits).margin(positions_table).accounts
        n = accounts.num_rows
        parameter_set = (
            accounts.column("parameter_set") if "parameter_set" in accounts.column_names else pa.nulls(n, pa.string())
        )
        parts.append(
            pa.table(
                {
                    "account_id": accounts.column("account_id"),
                    "model": pa.array([name] * n, pa.string()),
                    "type": pa.array([model.type] * n, pa.string()),
                    "initial_margin": accounts.column("initial_margin"),
                    "maintenance_margin": accounts.column("maintenance_margin"),
                    "parameter_set": parameter_set,
                    "_account": pa.array(range(n), pa.int64()),
                    "_model": pa.array([index] * n, pa.int64()),
                }
            )
        )
    first = parts[0].column("account_id")
    for name, part in zip(models, parts, strict=True):
        if not part.column("account_id").equals(first):  # every model margins the same accounts
            raise MarginConfigError(
                f"{name!r} margined other accounts than the first model", table="compare", column="models"
            )
    table = pa.concat_tables(parts, promote_options="permissive").sort_by(
        [("_account", "ascending"), ("_model", "ascending")]
    )
    n_models = len(parts)
    initial = table.column("initial_margin").to_numpy()
    lowest = initial.reshape(-1, n_models).min(axis=1).repeat(n_models)
    first_lowest = (initial.reshape(-1, n_models) == lowest.reshape(-1, n_models)[:, :1]).argmax(axis=1)
    cheapest = pc.equal(table.column("_model"), pa.array(first_lowest.repeat(n_models)))
    table = table.drop(["_account", "_model"])
    table = table.append_column("excess_over_cheapest", pa.array(initial - lowest, pa.float64()))
    return table.append_column("cheapest", cheapest)
