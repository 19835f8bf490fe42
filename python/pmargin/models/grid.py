"""The price x vol stress grid (:class:`GridModel`) and its scenario labels."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from ..correlation import Correlation
from ._validate import (
    DEFAULT_PRICE_SHOCKS,
    DEFAULT_VOL_SHOCKS,
    CrossMode,
    VolShockMode,
    _bool,
    _check_keys,
    _config_error,
    _correlation_value,
    _mm_ratio,
    _read_toml,
    _shock_list,
)
from .registry import register

#: Per-product ranges and add-ons: passed from a TOML table to the constructor as they are.
_PER_PRODUCT_KEYS = (
    "price_ranges",
    "vol_ranges",
    "range_column",
    "calendar_rate",
    "short_option_minimum",
    "delta_shock",
)
_GRID_KEYS = (
    "price_shocks",
    "vol_shocks",
    "vol_shock",
    "cross",
    "mm_ratio",
    "correlation",
    "floor_largest",
    "repair_correlation",
    *_PER_PRODUCT_KEYS,
)


@register
@dataclass(frozen=True)
class GridModel:
    """Price x volatility stress grid (SPAN / TIMS / Deribit style).

    A scenario is one ``(price_shock p, vol_shock v)`` pair: spot becomes ``spot * (1 + p)``; an
    option's vol becomes ``vol * (1 + v)`` (``vol_shock="relative"``) or ``vol + v``
    (``"absolute"``), floored at :data:`VOL_FLOOR`. Scenarios are ordered price shocks as given,
    vol shocks within each; ties for the worst scenario go to the first in that order.

    ``cross="sum"`` adds the per-underlying requirements; ``cross="joint"`` applies each scenario
    to every underlying at once and takes the worst total; ``cross="correlation"`` (with
    ``correlation=``) takes the worst total over the joint moves inside the correlation
    ellipsoid (one grid price shock per underlying, one common vol shock; docs/methods.md),
    never above the sum and, with ``floor_largest=True``, never below the largest single
    requirement. Maintenance =
    ``mm_ratio`` x initial.
    """

    price_shocks: Sequence[float] = DEFAULT_PRICE_SHOCKS
    vol_shocks: Sequence[float] = DEFAULT_VOL_SHOCKS
    vol_shock: VolShockMode = "relative"
    cross: CrossMode = "sum"
    mm_ratio: float = 0.75
    correlation: Correlation | None = None
    floor_largest: bool = False
    price_ranges: Mapping[str, float] | None = None
    vol_ranges: Mapping[str, float] | None = None
    range_column: str | None = None
    calendar_rate: float = 0.0
    short_option_minimum: float = 0.0
    delta_shock: Mapping[str, float] | None = None
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
                    raise _config_error(
                        "vol_shocks", f"item {i} is {v!r}: a relative shock of -100% or below is impossible"
                    )
        if self.cross not in ("sum", "joint", "correlation"):
            raise _config_error(
                "cross", f"must be 'sum' or 'joint' (or 'correlation' with a correlation matrix), got {self.cross!r}"
            )
        mm = _mm_ratio(self.mm_ratio)
        if self.correlation is not None and not isinstance(self.correlation, Correlation):
            raise _config_error("correlation", f"must be a pmargin.Correlation, got {type(self.correlation).__name__}")
        if self.cross == "correlation" and self.correlation is None:
            raise _config_error("correlation", "cross='correlation' needs correlation=pmargin.Correlation(...)")
        if self.cross != "correlation" and self.correlation is not None:
            raise _config_error(
                "correlation", f"a correlation matrix is used only with cross='correlation', not {self.cross!r}"
            )
        floor = _bool("floor_largest", self.floor_largest)
        if floor and self.cross != "correlation":
            raise _config_error("floor_largest", "floor_largest applies only to cross='correlation'")
        object.__setattr__(self, "price_shocks", prices)
        object.__setattr__(self, "vol_shocks", vols)
        object.__setattr__(self, "mm_ratio", mm)
        relative = self.vol_shock == "relative"
        object.__setattr__(self, "price_ranges", _ranges("price_ranges", self.price_ranges, prices, True))
        object.__setattr__(self, "vol_ranges", _ranges("vol_ranges", self.vol_ranges, vols, relative))
        if self.range_column is not None and (not isinstance(self.range_column, str) or not self.range_column):
            raise _config_error("range_column", f"must be an instruments column name, got {self.range_column!r}")
        for key in ("calendar_rate", "short_option_minimum"):
            object.__setattr__(self, key, _rate(key, getattr(self, key)))
        if self.delta_shock is not None:
            if not isinstance(self.delta_shock, Mapping) or set(self.delta_shock) != {
                "threshold",
                "m_inc",
                "max_shock",
            }:
                raise _config_error("delta_shock", "must be {'threshold': USD, 'm_inc': rate, 'max_shock': rate}")
            shock = {k: _non_negative(f"delta_shock.{k}", self.delta_shock[k]) for k in ("threshold", "m_inc")}
            shock["max_shock"] = _rate("delta_shock.max_shock", self.delta_shock["max_shock"])
            object.__setattr__(self, "delta_shock", shock)

    @property
    def has_addons(self) -> bool:
        """Whether any add-on is on (calendar charge, short option minimum, delta shock)."""
        return self.calendar_rate > 0.0 or self.short_option_minimum > 0.0 or self.delta_shock is not None

    def scales(self, underlying: str, group: str | None = None) -> tuple[float, float]:
        """``(price, vol)`` scale of ``underlying`` (or its ``group``) under the per-product
        ranges: range / the grid's largest |shock|; 1 when neither is named."""

        def scale(ranges: Mapping[str, float] | None, shocks: Sequence[float]) -> float:
            if not ranges:
                return 1.0
            key = underlying if underlying in ranges else group
            if key is None or key not in ranges:
                return 1.0
            largest = 0.0
            for x in shocks:
                largest = max(largest, abs(x))
            return ranges[key] / largest

        return scale(self.price_ranges, self.price_shocks), scale(self.vol_ranges, self.vol_shocks)

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

    def to_spec(self) -> dict[str, Any]:
        """The native engine's spec: the constructor's keys, the correlation flattened."""
        correlation = None
        if self.correlation is not None:
            correlation = {
                "names": list(self.correlation.names),
                "matrix": [float(x) for row in self.correlation.matrix for x in row],
            }
        return {
            "type": "grid",
            "price_shocks": list(self.price_shocks),
            "vol_shocks": list(self.vol_shocks),
            "vol_shock": self.vol_shock,
            "cross": self.cross,
            "mm_ratio": self.mm_ratio,
            "correlation": correlation,
            "floor_largest": self.floor_largest,
            "price_ranges": dict(self.price_ranges) if self.price_ranges else None,
            "vol_ranges": dict(self.vol_ranges) if self.vol_ranges else None,
            "range_column": self.range_column,
            "calendar_rate": self.calendar_rate,
            "short_option_minimum": self.short_option_minimum,
            "delta_shock": dict(self.delta_shock) if self.delta_shock is not None else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The constructor's keys (``correlation`` as ``{"names", "matrix"}``, only when set)."""
        out: dict[str, Any] = {
            "type": "grid",
            "price_shocks": list(self.price_shocks),
            "vol_shocks": list(self.vol_shocks),
            "vol_shock": self.vol_shock,
            "cross": self.cross,
            "mm_ratio": self.mm_ratio,
            "floor_largest": self.floor_largest,
        }
        if self.correlation is not None:
            out["correlation"] = self.correlation.to_dict()
        for key in ("price_ranges", "vol_ranges"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.range_column is not None:
            out["range_column"] = self.range_column
        for key in ("calendar_rate", "short_option_minimum"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.delta_shock is not None:
            out["delta_shock"] = dict(self.delta_shock)
        return out

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> GridModel:
        """Build from a mapping of the constructor's keys (plus an optional ``type = "grid"``).

        ``correlation`` may be a :class:`Correlation`, ``{"names": [...], "matrix": [[...]]}``, a
        table, or the path of a table file (relative to ``base``); ``repair_correlation = true``
        repairs a matrix that is not positive semi-definite."""
        _check_keys(config, "grid", _GRID_KEYS)
        kwargs = {k: config[k] for k in _GRID_KEYS[:5] if k in config}
        repair = _bool("repair_correlation", config.get("repair_correlation", False))
        folder = None if base is None else Path(base)
        if "correlation" in config:
            kwargs["correlation"] = _correlation_value("correlation", config["correlation"], folder, repair)
        if "floor_largest" in config:
            kwargs["floor_largest"] = config["floor_largest"]
        for key in _PER_PRODUCT_KEYS:  # checked by the constructor
            if key in config:
                kwargs[key] = config[key]
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> GridModel:
        """Read a grid model from a TOML file: the keys at the top level or under ``[model]``;
        file paths relative to the file's folder. (:func:`load_model` reads any model type.)"""
        return cls.from_dict(_read_toml(path), base=Path(path).parent)


def _non_negative(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _config_error(key, f"must be a number >= 0, got {value!r}")
    return float(value)


#: The largest add-on rate (a fraction of spot, per unit): 10 is 1,000% of spot, beyond any
#: venue's charge, and keeps every add-on finite (core: methods/grid/spec.rs MAX_ADDON_RATE).
MAX_ADDON_RATE = 10.0


def _rate(key: str, value: Any) -> float:
    rate = _non_negative(key, value)
    if rate > MAX_ADDON_RATE:
        raise _config_error(key, f"must be at most {MAX_ADDON_RATE:g} (a fraction of spot: 0.01 is 1%), got {rate!r}")
    return rate


def _ranges(
    key: str, ranges: Mapping[str, float] | None, shocks: Sequence[float], floor_at_minus_one: bool
) -> dict[str, float] | None:
    """Per-product ranges: name -> range > 0, none rescaling a shock to -100% or below."""
    if ranges is None:
        return None
    if not isinstance(ranges, Mapping):
        raise _config_error(key, f"must be a mapping of underlying or group -> range, got {type(ranges).__name__}")
    largest = 0.0
    for x in shocks:
        largest = max(largest, abs(x))
    out: dict[str, float] = {}
    for name, value in ranges.items():
        path = f"{key}.{name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise _config_error(path, f"must be a number > 0, got {value!r}")
        if largest == 0.0:
            raise _config_error(path, "the grid's shocks are all 0: there is nothing to rescale")
        if floor_at_minus_one and any(x * (value / largest) <= -1.0 for x in shocks):
            raise _config_error(path, f"{value} rescales a shock to -100% or below")
        out[str(name)] = float(value)
    return out or None


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
