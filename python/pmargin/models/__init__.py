"""Margin models and their configuration: the scenario grid, historical simulation and
correlated Monte Carlo, one module each, found by their ``type`` name through the registry.

A model is plain data, validated once here (cheap arguments; the contents of its tables are
checked by the engines, which report the table, column and row) and handed to either engine: the
native core takes ``model.to_spec()``, :mod:`pmargin.reference` reads the model's attributes;
both must give the same numbers for it.

- :class:`GridModel`: a price x vol stress grid, worst loss per underlying, aggregated by
  ``cross="sum"``, ``"joint"`` or ``"correlation"`` (with a :class:`~pmargin.Correlation`).
- :class:`HistoricalModel`: VaR / ES over historical joint moves (optionally a stressed window and
  EWMA filtering).
- :class:`MonteCarloModel`: VaR / ES over correlated normal or Student t scenarios.
- :class:`SpanModel`, :class:`TimsModel`, :class:`DeribitModel`: venue methodologies (CME SPAN,
  OCC TIMS, Deribit portfolio margin); build them with :mod:`pmargin.presets`.
- :func:`load_model`: any of them from a TOML file.

Adding a model: a module here with a registered class that has ``type``, ``to_spec()`` and
``from_dict()``; nothing else in the package changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

from ..errors import MarginConfigError
from ._validate import (
    DEFAULT_PRICE_SHOCKS,
    DEFAULT_VOL_SHOCKS,
    VOL_FLOOR,
    CrossMode,
    DistributionName,
    MeasureName,
    VolShockMode,
    _read_toml,
)
from .deribit import DeribitModel
from .grid import GridModel, scenario_label
from .historical import HistoricalModel
from .montecarlo import MonteCarloModel
from .registry import Model, model_class, model_types, register
from .span import SpanModel
from .tims import TimsModel

AnyModel = GridModel | HistoricalModel | MonteCarloModel | SpanModel | TimsModel | DeribitModel

# Every model module registers its class on import: import them all, so a new model file is found
# by `load_model` and TOML without a line here.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def load_model(path: str | PathLike[str]) -> AnyModel:
    """Read a model of any type from TOML: the keys at the top level or under ``[model]``,
    ``type = "grid"`` (the default), ``"historical"`` or ``"montecarlo"``; table-valued keys
    (``moves``, ``stressed``, ``prices``, ``vols``, ``correlation``) are file paths (Parquet, CSV
    or Arrow IPC) relative to the TOML file's folder."""
    data = _read_toml(path)
    if not isinstance(data, Mapping):
        raise MarginConfigError(
            f"a model configuration must be a table of keys, got {type(data).__name__}", table="model"
        )
    model: AnyModel = model_class(data.get("type", "grid")).from_dict(data, base=Path(path).parent)  # type: ignore[attr-defined]
    return model


__all__ = [
    "DEFAULT_PRICE_SHOCKS",
    "DEFAULT_VOL_SHOCKS",
    "VOL_FLOOR",
    "AnyModel",
    "CrossMode",
    "DeribitModel",
    "DistributionName",
    "GridModel",
    "HistoricalModel",
    "MeasureName",
    "Model",
    "MonteCarloModel",
    "SpanModel",
    "TimsModel",
    "VolShockMode",
    "load_model",
    "model_class",
    "model_types",
    "register",
    "scenario_label",
]
