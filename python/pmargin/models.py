"""Margin models and their configuration: the scenario grid, historical simulation and
correlated Monte Carlo.

A model is plain data, validated once here (cheap arguments; the contents of its tables are
checked by the engines, which report the table, column and row) and handed to either engine (the
native core or :mod:`pmargin.reference`), which must give the same numbers for it.

- :class:`GridModel`: a price x vol stress grid, worst loss per underlying, aggregated by
  ``cross="sum"``, ``"joint"`` or ``"correlation"`` (with a :class:`~pmargin.Correlation`).
- :class:`HistoricalModel`: VaR / ES over historical joint moves (optionally a stressed window and
  EWMA filtering).
- :class:`MonteCarloModel`: VaR / ES over correlated normal or Student t scenarios.
- :func:`load_model`: any of them from a TOML file.
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from .correlation import Correlation
from .errors import MarginConfigError, MarginInputError
from .io import TableLike, read_table, to_table

VolShockMode = Literal["relative", "absolute"]
CrossMode = Literal["sum", "joint", "correlation"]
MeasureName = Literal["es", "var"]
DistributionName = Literal["normal", "student_t"]

#: Shocked implied vols never fall below this (annualised). A relative shock of -100% or a large
#: negative absolute shock would otherwise give a zero or negative vol, where Black-76 is undefined.
VOL_FLOOR = 1e-4

#: Default grid: 21 price shocks from -15% to +15% by 1.5%.
DEFAULT_PRICE_SHOCKS: tuple[float, ...] = tuple(round(-0.15 + 0.015 * i, 6) for i in range(21))
#: Default vol shocks: -30%, unchanged, +30% (relative).
DEFAULT_VOL_SHOCKS: tuple[float, ...] = (-0.30, 0.0, 0.30)

_GRID_KEYS = (
    "price_shocks",
    "vol_shocks",
    "vol_shock",
    "cross",
    "mm_ratio",
    "correlation",
    "floor_largest",
    "repair_correlation",
)
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
)
_MONTE_CARLO_KEYS = (
    "vols",
    "correlation",
    "repair_correlation",
    "n_scenarios",
    "seed",
    "distribution",
    "dof",
    "measure",
    "confidence",
    "horizon_days",
    "vol_of_vol",
    "spot_vol_correlation",
    "mm_ratio",
)


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


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _mm_ratio(value: Any) -> float:
    if not _is_number(value) or not 0 < value <= 1:
        raise _config_error("mm_ratio", f"must be a number in (0, 1], got {value!r}")
    return float(value)


def _vol_shock(value: Any) -> VolShockMode:
    if value == "relative":
        return "relative"
    if value == "absolute":
        return "absolute"
    raise _config_error("vol_shock", f"must be 'relative' or 'absolute', got {value!r}")


def _measure(value: Any) -> MeasureName:
    if value == "es":
        return "es"
    if value == "var":
        return "var"
    raise _config_error("measure", f"must be 'es' (expected shortfall) or 'var' (value at risk), got {value!r}")


def _open_unit(key: str, value: Any) -> float:
    """A number strictly between 0 and 1."""
    if not _is_number(value) or not 0 < value < 1:
        raise _config_error(key, f"must be a number in (0, 1), got {value!r}")
    return float(value)


def _integer(key: str, value: Any, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (booleans and floats refused)."""
    if isinstance(value, (bool, float)):
        raise _config_error(key, f"must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise _config_error(key, f"must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise _config_error(key, f"must be in [{low}, {high}], got {number}")
    return number


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _config_error(key, f"must be true or false, got {value!r}")
    return value


def _resolve(base: Path | None, value: str | PathLike[str]) -> Path:
    path = Path(value)
    return path if base is None or path.is_absolute() else base / path


def _table_value(key: str, value: Any, base: Path | None, name: str) -> Any:
    """A table given in a configuration: a file path (relative to ``base``) is read; anything
    else is passed on as a table."""
    if isinstance(value, (str, PathLike)):
        path = _resolve(base, value)
        try:
            return read_table(path, name)
        except MarginInputError as exc:
            raise _config_error(key, exc.reason) from None
    return value


def _correlation_value(key: str, value: Any, base: Path | None, repair: bool) -> Correlation:
    """A :class:`Correlation`, a mapping ``{"names": [...], "matrix": [[...]]}``, a table file path
    or a table (the :meth:`Correlation.from_table` layout)."""
    if isinstance(value, Correlation):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"names", "matrix"})
        if unknown or "names" not in value or "matrix" not in value:
            raise _config_error(key, "a correlation given as a table of keys needs exactly 'names' and 'matrix'")
        return Correlation(value["names"], value["matrix"], repair=repair)
    return Correlation.from_table(_table_value(key, value, base, "correlation"), repair=repair)


def _check_keys(config: Mapping[str, Any], kind: str, keys: Sequence[str]) -> None:
    if not isinstance(config, Mapping):
        raise MarginConfigError(
            f"a model configuration must be a table of keys, got {type(config).__name__}", table="model"
        )
    if config.get("type", kind) != kind:
        raise _config_error("type", f"unknown model type {config.get('type')!r}; expected {kind!r}")
    unknown = [k for k in config if k not in keys and k != "type"]
    if unknown:
        first = sorted(unknown)[0]
        raise _config_error(first, f"unknown key {first!r}; expected one of {', '.join(keys)}")


@dataclass(frozen=True)
class GridModel:
    """Price x volatility stress grid (SPAN / TIMS / Deribit style).

    A scenario is one ``(price_shock p, vol_shock v)`` pair: spot becomes ``spot * (1 + p)``; an
    option's vol becomes ``vol * (1 + v)`` (``vol_shock="relative"``) or ``vol + v``
    (``"absolute"``), floored at :data:`VOL_FLOOR`. Scenarios are ordered price shocks as given,
    vol shocks within each; ties for the worst scenario go to the first in that order.

    ``cross="sum"`` adds the per-underlying requirements; ``cross="joint"`` applies each scenario
    to every underlying at once and takes the worst total; ``cross="correlation"`` (with
    ``correlation=``) aggregates the signed requirements with the correlation matrix,
    ``sqrt(sum_ij rho_ij s_i R_i s_j R_j)``, never above the sum and, with
    ``floor_largest=True``, never below the largest single requirement. Maintenance =
    ``mm_ratio`` x initial.
    """

    price_shocks: Sequence[float] = DEFAULT_PRICE_SHOCKS
    vol_shocks: Sequence[float] = DEFAULT_VOL_SHOCKS
    vol_shock: VolShockMode = "relative"
    cross: CrossMode = "sum"
    mm_ratio: float = 0.75
    correlation: Correlation | None = None
    floor_largest: bool = False
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
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> GridModel:
        """Read a grid model from a TOML file: the keys at the top level or under ``[model]``;
        file paths relative to the file's folder. (:func:`load_model` reads any model type.)"""
        return cls.from_dict(_read_toml(path), base=Path(path).parent)


def _read_toml(path: str | PathLike[str]) -> dict[str, Any]:
    """The model's keys of a TOML file (top level or under ``[model]``)."""
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
        model: dict[str, Any] = data["model"]
        return model
    return data


def _tail_settings(measure: Any, confidence: Any, mm_ratio: Any) -> tuple[MeasureName, float, float]:
    return _measure(measure), _open_unit("confidence", confidence), _mm_ratio(mm_ratio)


@dataclass(frozen=True, eq=False)
class HistoricalModel:
    """Historical simulation: VaR or ES of the account's P&L over historical joint moves.

    ``moves``: a table with one row per (``date``, ``underlying``): ``return`` (spot becomes
    ``spot * (1 + return)``) and optionally ``vol_change`` (``vol_shock`` ``"relative"`` or
    ``"absolute"``, as in the grid). Each distinct date is one scenario moving every underlying
    at once. ``measure`` ``"es"`` or ``"var"`` at ``confidence``; maintenance = ``mm_ratio`` x
    initial. ``stressed``: a second moves table (a stress period); the margin is the larger of
    the two windows'. ``ewma_lambda``: filtered historical simulation (returns rescaled to
    today's EWMA volatility; the normal window only). See docs/methods.md.

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

    @classmethod
    def from_prices(cls, prices: TableLike, horizon_days: int = 1, **kwargs: Any) -> HistoricalModel:
        """From a (``date``, ``underlying``, ``price`` > 0) table: per underlying, prices sorted by
        date p_0..p_m give the return ``p_{t+h} / p_t - 1`` at date_t, t = 0..m-h (overlapping
        windows of ``horizon_days`` = h observations). Other arguments as the constructor's."""
        from .reference.historical import moves_from_prices

        h = _integer("horizon_days", horizon_days, 1, 2**31 - 1)
        return cls(moves_from_prices(to_table(prices, "prices"), h), **kwargs)

    def scenarios(self, window: Literal["normal", "stressed"] = "normal") -> pa.Table:
        """The scenarios of a window: ``scenario`` (int32), ``date`` (the label), ``underlying``,
        ``return`` (after EWMA filtering on the normal window), ``vol_change``."""
        from .reference.historical import scenario_table

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
            k: config[k] for k in ("measure", "confidence", "vol_shock", "mm_ratio", "ewma_lambda") if k in config
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
            else self.stressed.equals(other.stressed)
        )
        return (
            self.moves.equals(other.moves)
            and same_stressed
            and (self.measure, self.confidence, self.vol_shock, self.mm_ratio, self.ewma_lambda)
            == (other.measure, other.confidence, other.vol_shock, other.mm_ratio, other.ewma_lambda)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        stressed = "" if self.stressed is None else f", stressed={self.stressed.num_rows} rows"
        ewma = "" if self.ewma_lambda is None else f", ewma_lambda={self.ewma_lambda}"
        return (
            f"HistoricalModel(moves={self.moves.num_rows} rows, measure={self.measure!r}, "
            f"confidence={self.confidence}{stressed}{ewma})"
        )


@dataclass(frozen=True, eq=False)
class MonteCarloModel:
    """Correlated Monte Carlo: VaR or ES over ``n_scenarios`` simulated joint moves.

    ``vols``: a table (``underlying``, ``vol`` > 0): the volatility of each underlying's log
    return over the margin horizon, or an annual vol when ``horizon_days`` is given (scaled by
    ``sqrt(horizon_days / 365)``). ``correlation``: a :class:`Correlation` between the names; an
    underlying held must be in it and have a vol (extra names and rows are fine).
    ``distribution``: ``"normal"`` or ``"student_t"`` (``dof`` > 2, scaled to unit variance).
    Scenario price: ``spot * exp(sigma * z)``. ``vol_of_vol`` > 0 adds a relative implied-vol
    change per scenario, correlated with the price move by ``spot_vol_correlation``.
    Scenarios are a pure function of (``seed``, scenario index, name index): see docs/methods.md.
    """

    vols: TableLike
    correlation: Correlation
    n_scenarios: int
    seed: int
    distribution: DistributionName = "normal"
    dof: float | None = None
    measure: MeasureName = "es"
    confidence: float = 0.975
    horizon_days: float | None = None
    vol_of_vol: float = 0.0
    spot_vol_correlation: float = 0.0
    mm_ratio: float = 0.75
    type: Literal["montecarlo"] = field(default="montecarlo", init=False)
    _horizon_vols: tuple[float | None, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        from .reference.measures import tail_count
        from .reference.tables import read_ids, required_numbers

        if not isinstance(self.correlation, Correlation):
            raise _config_error("correlation", f"must be a pmargin.Correlation, got {type(self.correlation).__name__}")
        n = _integer("n_scenarios", self.n_scenarios, 1, 2**31 - 1)
        seed = _integer("seed", self.seed, 0, 2**64 - 1)
        if self.distribution not in ("normal", "student_t"):
            raise _config_error("distribution", f"must be 'normal' or 'student_t', got {self.distribution!r}")
        dof: Any = self.dof
        if self.distribution == "student_t":
            if not _is_number(dof) or not dof > 2:
                raise _config_error("dof", f"student_t needs dof > 2 (a finite variance), got {dof!r}")
            dof = float(dof)
        elif dof is not None:
            raise _config_error("dof", "dof applies only to distribution='student_t'")
        measure, confidence, mm = _tail_settings(self.measure, self.confidence, self.mm_ratio)
        tail_count(n, confidence)
        horizon: float | None = None
        if self.horizon_days is not None:
            if not _is_number(self.horizon_days) or not self.horizon_days > 0:
                raise _config_error("horizon_days", f"must be a number > 0, got {self.horizon_days!r}")
            horizon = float(self.horizon_days)
        if not _is_number(self.vol_of_vol) or not self.vol_of_vol >= 0:
            raise _config_error("vol_of_vol", f"must be a number >= 0, got {self.vol_of_vol!r}")
        rho = self.spot_vol_correlation
        if not _is_number(rho) or not -1 <= rho <= 1:
            raise _config_error("spot_vol_correlation", f"must be a number in [-1, 1], got {rho!r}")

        vols = to_table(self.vols, "mc_vols")
        names = read_ids(vols, "mc_vols", "underlying")
        values = required_numbers(vols, "mc_vols", "vol", positive=True)
        by_name = dict(zip(names, values, strict=True))
        scale = 1.0 if horizon is None else math.sqrt(horizon / 365.0)
        sigmas = tuple(
            None if name not in by_name else (by_name[name] if horizon is None else by_name[name] * scale)
            for name in self.correlation.names
        )
        for key, value in (
            ("vols", vols),
            ("n_scenarios", n),
            ("seed", seed),
            ("dof", dof),
            ("measure", measure),
            ("confidence", confidence),
            ("horizon_days", horizon),
            ("vol_of_vol", float(self.vol_of_vol)),
            ("spot_vol_correlation", float(rho)),
            ("mm_ratio", mm),
        ):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_horizon_vols", sigmas)

    def horizon_vols(self) -> list[float | None]:
        """The horizon vol of each name of :attr:`correlation` (``vol``, or the annual vol times
        ``sqrt(horizon_days / 365)``); None where the vols table has no row for it."""
        return list(self._horizon_vols)

    def scenarios(self) -> pa.Table:
        """The simulated scenarios, drawn by the pure-Python reference generator: ``scenario``
        (int32), ``underlying``, ``return`` (``exp(sigma z) - 1``), ``vol_change`` (relative);
        scenario-major, names in correlation order (those with a vol)."""
        from .reference.montecarlo import scenario_table

        return scenario_table(self)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> MonteCarloModel:
        """Build from a mapping: ``vols`` and ``correlation`` are tables or file paths (relative
        to ``base``; ``correlation`` may also be ``{"names", "matrix"}``); ``repair_correlation``
        repairs a matrix that is not PSD; other keys as the constructor's."""
        _check_keys(config, "montecarlo", _MONTE_CARLO_KEYS)
        folder = None if base is None else Path(base)
        for key in ("vols", "correlation", "n_scenarios", "seed"):
            if key not in config:
                raise _config_error(key, f"a Monte Carlo model needs {key}")
        repair = _bool("repair_correlation", config.get("repair_correlation", False))
        kwargs = {k: config[k] for k in _MONTE_CARLO_KEYS[3:] if k in config}
        return cls(
            vols=_table_value("vols", config["vols"], folder, "mc_vols"),
            correlation=_correlation_value("correlation", config["correlation"], folder, repair),
            **kwargs,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MonteCarloModel):
            return NotImplemented
        # Every configuration key but the vols table (compared as a table) and the repair flag
        # (its effect lives in the correlation).
        keys = [k for k in _MONTE_CARLO_KEYS if k not in ("vols", "repair_correlation")]
        return self.vols.equals(other.vols) and all(getattr(self, k) == getattr(other, k) for k in keys)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        dof = f", dof={self.dof}" if self.dof is not None else ""
        return (
            f"MonteCarloModel({len(self.correlation)} names, n_scenarios={self.n_scenarios}, seed={self.seed}, "
            f"distribution={self.distribution!r}{dof}, measure={self.measure!r}, confidence={self.confidence})"
        )


AnyModel = GridModel | HistoricalModel | MonteCarloModel

_MODEL_TYPES = ("grid", "historical", "montecarlo")


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
    kind = data.get("type", "grid")
    base = Path(path).parent
    if kind == "grid":
        return GridModel.from_dict(data, base=base)
    if kind == "historical":
        return HistoricalModel.from_dict(data, base=base)
    if kind == "montecarlo":
        return MonteCarloModel.from_dict(data, base=base)
    raise _config_error("type", f"unknown model type {kind!r}; expected one of {', '.join(_MODEL_TYPES)}")


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
