"""Historical simulation (:class:`HistoricalModel`): VaR / ES over historical joint moves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal, cast

import pyarrow as pa

from ..history import moves_from_prices, scenario_table
from ..io import TableLike, to_table
from ._validate import (
    MeasureName,
    VolShockMode,
    _check_keys,
    _config_error,
    _integer,
    _open_unit,
    _table_value,
    _tail_scenarios,
    _tail_settings,
    _vol_shock,
)
from .registry import register

_HISTORICAL_KEYS = (
    "moves",
    "prices",
    "horizon_days",
    "stressed",
    "measure",
    "confidence",
    "vol_shock",
    "mm_ratio",
    "ewma_lambda",
    "tail_scenarios",
)


@register
@dataclass(frozen=True, eq=False)
class HistoricalModel:
    """Historical simulation: VaR or ES of the account's P&L over historical joint moves.

    ``moves``: a table with one row per (``date``, ``underlying``): ``return`` (spot becomes
    ``spot * (1 + return)``) and optionally ``vol_change`` (``vol_shock`` ``"relative"`` or
    ``"absolute"``, as in the grid). Each distinct date is one scenario moving every underlying
    at once. ``measure`` ``"es"`` or ``"var"`` at ``confidence``; maintenance = ``mm_ratio`` x
    initial. ``stressed``: a second moves table (a stress period); the margin is the larger of
    the two windows'. ``ewma_lambda``: filtered historical simulation (returns rescaled to
    today's EWMA volatility; the normal window only). ``tail_scenarios``: False (default: no
    ``tail_scenarios`` column in ``accounts``), True (each account's whole tail) or n (its worst
    n tail scenarios). See docs/methods.md.

    Tables may be any Arrow producer; they are stored as pyarrow Tables and their contents are
    checked by the engines (errors name ``moves`` or ``stressed``, the column and the row).
    """

    moves: TableLike
    measure: MeasureName = "es"
    confidence: float = 0.975
    vol_shock: VolShockMode = "relative"
    mm_ratio: float = 0.75
    stressed: TableLike | None = None
    ewma_lambda: float | None = None
    tail_scenarios: bool | int = False
    type: Literal["historical"] = field(default="historical", init=False)

    def __post_init__(self) -> None:
        measure, confidence, mm = _tail_settings(self.measure, self.confidence, self.mm_ratio)
        vol_shock = _vol_shock(self.vol_shock)
        lam = None if self.ewma_lambda is None else _open_unit("ewma_lambda", self.ewma_lambda)
        object.__setattr__(self, "moves", to_table(self.moves, "moves"))
        object.__setattr__(self, "stressed", None if self.stressed is None else to_table(self.stressed, "stressed"))
        object.__setattr__(self, "measure", measure)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "vol_shock", vol_shock)
        object.__setattr__(self, "mm_ratio", mm)
        object.__setattr__(self, "ewma_lambda", lam)
        object.__setattr__(self, "tail_scenarios", _tail_scenarios(self.tail_scenarios))

    def to_spec(self) -> dict[str, Any]:
        """The native engine's spec: the moves tables as Arrow tables, the settings as given."""
        return {
            "type": "historical",
            "moves": self.moves,
            "stressed": self.stressed,
            "measure": self.measure,
            "confidence": self.confidence,
            "vol_shock": self.vol_shock,
            "mm_ratio": self.mm_ratio,
            "ewma_lambda": self.ewma_lambda,
            "tail_scenarios": self.tail_scenarios,
        }

    @classmethod
    def from_prices(cls, prices: TableLike, horizon_days: int = 1, **kwargs: Any) -> HistoricalModel:
        """From a (``date``, ``underlying``, ``price`` > 0) table: per underlying, prices sorted by
        date p_0..p_m give the return ``p_{t+h} / p_t - 1`` at date_t, t = 0..m-h (overlapping
        windows of ``horizon_days`` = h observations). Other arguments as the constructor's."""
        h = _integer("horizon_days", horizon_days, 1, 2**31 - 1)
        return cls(moves_from_prices(to_table(prices, "prices"), h), **kwargs)

    def scenarios(self, window: Literal["normal", "stressed"] = "normal") -> pa.Table:
        """The scenarios of a window: ``scenario`` (int32), ``date`` (the label), ``underlying``,
        ``return`` (after EWMA filtering on the normal window), ``vol_change``."""
        if window == "normal":
            return scenario_table(self.moves, "moves", self.ewma_lambda)
        if window == "stressed" and self.stressed is not None:
            return scenario_table(self.stressed, "stressed", None)
        raise _config_error("stressed", f"no {window!r} window (expected 'normal', or 'stressed' when one is given)")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> HistoricalModel:
        """Build from a mapping: ``moves`` (or ``prices`` with an optional ``horizon_days``) and
        ``stressed`` are tables or file paths (relative to ``base``); other keys as the
        constructor's."""
        _check_keys(config, "historical", _HISTORICAL_KEYS)
        folder = None if base is None else Path(base)
        kwargs = {
            k: config[k]
            for k in ("measure", "confidence", "vol_shock", "mm_ratio", "ewma_lambda", "tail_scenarios")
            if k in config
        }
        if "stressed" in config:
            kwargs["stressed"] = _table_value("stressed", config["stressed"], folder, "stressed")
        if "moves" in config and "prices" in config:
            raise _config_error("prices", "give either moves or prices, not both")
        if "prices" in config:
            prices = _table_value("prices", config["prices"], folder, "prices")
            return cls.from_prices(prices, config.get("horizon_days", 1), **kwargs)
        if "horizon_days" in config:
            raise _config_error("horizon_days", "horizon_days applies only to prices")
        if "moves" not in config:
            raise _config_error("moves", "a historical model needs moves (or prices)")
        return cls(_table_value("moves", config["moves"], folder, "moves"), **kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HistoricalModel):
            return NotImplemented
        same_stressed = (
            self.stressed is None and other.stressed is None
            if self.stressed is None or other.stressed is None
            else cast(pa.Table, self.stressed).equals(cast(pa.Table, other.stressed))
        )
        return (
            cast(pa.Table, self.moves).equals(cast(pa.Table, other.moves))
            and same_stressed
            and (self.measure, self.confidence, self.vol_shock, self.mm_ratio, self.ewma_lambda, self.tail_scenarios)
            == (
                other.measure,
                other.confidence,
                other.vol_shock,
                other.mm_ratio,
                other.ewma_lambda,
                other.tail_scenarios,
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        stressed = "" if self.stressed is None else f", stressed={cast(pa.Table, self.stressed).num_rows} rows"
        ewma = "" if self.ewma_lambda is None else f", ewma_lambda={self.ewma_lambda}"
        return (
            f"HistoricalModel(moves={cast(pa.Table, self.moves).num_rows} rows, measure={self.measure!r}, "
            f"confidence={self.confidence}{stressed}{ewma})"
        )
