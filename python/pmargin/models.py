"""Margin models: the scenario grid and its configuration.

A :class:`GridModel` is plain data: it is validated once here and handed to either engine
(the native core or :mod:`pmargin.reference`), which must give the same numbers for it.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Literal

import pyarrow as pa

from .errors import MarginConfigError

VolShockMode = Literal["relative", "absolute"]
CrossMode = Literal["sum", "joint"]

#: Shocked implied vols never fall below this (annualised). A relative shock of -100% or a large
#: negative absolute shock would otherwise give a zero or negative vol, where Black-76 is undefined.
VOL_FLOOR = 1e-4

#: Default grid: 21 price shocks from -15% to +15% by 1.5%.
DEFAULT_PRICE_SHOCKS: tuple[float, ...] = tuple(round(-0.15 + 0.015 * i, 6) for i in range(21))
#: Default vol shocks: -30%, unchanged, +30% (relative).
DEFAULT_VOL_SHOCKS: tuple[float, ...] = (-0.30, 0.0, 0.30)

_GRID_KEYS = ("price_shocks", "vol_shocks", "vol_shock", "cross", "mm_ratio")


def _config_error(key: str, reason: str) -> MarginConfigError:
    return MarginConfigError(reason, table="model", column=key)


def _shock_list(key: str, values: Any) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, pa.Array)):
        try:
            values = list(values)
        except TypeError:
            raise _config_error(key, f"must be a list of numbers, got {type(values).__name__}") from None
    out: list[float] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _config_error(key, f"item {i} must be a number, got {v!r}")
        f = float(v)
        if not math.isfinite(f):
            raise _config_error(key, f"item {i} must be finite, got {f!r}")
        out.append(f)
    if not out:
        raise _config_error(key, "needs at least one shock")
    return tuple(out)


@dataclass(frozen=True)
class GridModel:
    """Price x volatility stress grid (SPAN / TIMS / Deribit style).

    A scenario is one ``(price_shock p, vol_shock v)`` pair: spot becomes ``spot * (1 + p)``; an
    option's vol becomes ``vol * (1 + v)`` (``vol_shock="relative"``) or ``vol + v``
    (``"absolute"``), floored at :data:`VOL_FLOOR`. Scenarios are ordered price shocks as given,
    vol shocks within each; ties for the worst scenario go to the first in that order.

    ``cross="sum"`` adds the per-underlying requirements; ``cross="joint"`` applies each scenario
    to every underlying at once and takes the worst total. Maintenance = ``mm_ratio`` x initial.
    """

    price_shocks: Sequence[float] = DEFAULT_PRICE_SHOCKS
    vol_shocks: Sequence[float] = DEFAULT_VOL_SHOCKS
    vol_shock: VolShockMode = "relative"
    cross: CrossMode = "sum"
    mm_ratio: float = 0.75
    type: Literal["grid"] = field(default="grid", init=False)

    def __post_init__(self) -> None:
        prices = _shock_list("price_shocks", self.price_shocks)
        vols = _shock_list("vol_shocks", self.vol_shocks)
        for i, p in enumerate(prices):
            if p <= -1.0:
                raise _config_error("price_shocks", f"item {i} is {p!r}: a shock of -100% or below is impossible")
        if self.vol_shock not in ("relative", "absolute"):
            raise _config_error("vol_shock", f"must be 'relative' or 'absolute', got {self.vol_shock!r}")
        if self.vol_shock == "relative":
            for i, v in enumerate(vols):
                if v <= -1.0:
                    raise _config_error("vol_shocks", f"item {i} is {v!r}: a relative shock of -100% or below is impossible")
        if self.cross not in ("sum", "joint"):
            raise _config_error("cross", f"must be 'sum' or 'joint', got {self.cross!r}")
        mm = self.mm_ratio
        if isinstance(mm, bool) or not isinstance(mm, (int, float)) or not math.isfinite(mm) or not 0 < mm <= 1:
            raise _config_error("mm_ratio", f"must be a number in (0, 1], got {mm!r}")
        object.__setattr__(self, "price_shocks", prices)
        object.__setattr__(self, "vol_shocks", vols)
        object.__setattr__(self, "mm_ratio", float(mm))

    @property
    def n_scenarios(self) -> int:
        return len(self.price_shocks) * len(self.vol_shocks)

    def scenario_shocks(self) -> list[tuple[float, float]]:
        """``(price_shock, vol_shock)`` of every scenario, in grid order."""
        return [(p, v) for p in self.price_shocks for v in self.vol_shocks]

    def scenarios(self) -> pa.Table:
        """The scenario table: ``scenario`` (0-based), ``price_shock``, ``vol_shock``."""
        pairs = self.scenario_shocks()
        return pa.table(
            {
                "scenario": pa.array(range(len(pairs)), pa.int32()),
                "price_shock": pa.array([p for p, _ in pairs], pa.float64()),
                "vol_shock": pa.array([v for _, v in pairs], pa.float64()),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "grid",
            "price_shocks": list(self.price_shocks),
            "vol_shocks": list(self.vol_shocks),
            "vol_shock": self.vol_shock,
            "cross": self.cross,
            "mm_ratio": self.mm_ratio,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> GridModel:
        """Build from a mapping of the constructor's keys (plus an optional ``type = "grid"``)."""
        if not isinstance(config, Mapping):
            raise MarginConfigError(f"a model configuration must be a table of keys, got {type(config).__name__}", table="model")
        kind = config.get("type", "grid")
        if kind != "grid":
            raise _config_error("type", f"unknown model type {kind!r}; expected 'grid'")
        unknown = sorted(set(config) - set(_GRID_KEYS) - {"type"})
        if unknown:
            raise _config_error(unknown[0], f"unknown key {unknown[0]!r}; expected one of {', '.join(_GRID_KEYS)}")
        return cls(**{k: config[k] for k in _GRID_KEYS if k in config})

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> GridModel:
        """Read a model from a TOML file: the keys at the top level or under ``[model]``."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise MarginConfigError(f"{path}: not valid TOML: {exc}", table="model") from None
        except OSError as exc:
            raise MarginConfigError(f"cannot read {path}: {exc.strerror}", table="model") from None
        if "model" in data:
            extra = sorted(set(data) - {"model"})
            if extra:
                raise _config_error(extra[0], f"unknown key {extra[0]!r} beside [model]")
            data = data["model"]
        return cls.from_dict(data)


def scenario_label(underlying: str | None, price_shock: float, vol_shock: float, vol_mode: str) -> str:
    """Readable scenario name, e.g. ``"BTC -15.0% vol +30%"``; ``"ALL ..."`` for a joint scenario.

    The native core formats labels with the same rules (1-decimal percent price shock; vol shock
    in percent (relative) or vol points (absolute) with a trailing ``.0`` dropped).
    """
    vol = f"{vol_shock * 100:+.1f}"
    if vol.endswith(".0"):
        vol = vol[:-2]
    unit = "%" if vol_mode == "relative" else "pt"
    return f"{underlying if underlying is not None else 'ALL'} {price_shock * 100:+.1f}% vol {vol}{unit}"
