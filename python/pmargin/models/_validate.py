"""Checks shared by the model classes: each turns a user's value into a clean one or raises a
:class:`~pmargin.errors.MarginConfigError` naming the key; and the configuration readers (TOML,
file-valued keys, correlation values) that ``from_dict`` and :func:`~pmargin.load_model` use."""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from ..correlation import Correlation
from ..errors import MarginConfigError, MarginInputError
from ..io import read_table

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


def _tail_scenarios(value: Any) -> bool | int:
    """``tail_scenarios``: False (no column), True (the whole tail) or n >= 1 (the worst n)."""
    if isinstance(value, bool):
        return value
    try:
        n = operator.index(value)
    except TypeError:
        n = 0
    if n < 1:
        raise _config_error("tail_scenarios", f"must be true, false or a whole number >= 1, got {value!r}")
    return n


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


def _read_toml(path: str | PathLike[str]) -> dict[str, Any]:
    """The model's keys of a TOML file (top level or under ``[model]``)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise MarginConfigError(f"{path}: not valid TOML: {exc}", table="model") from None
    except UnicodeDecodeError:
        raise MarginConfigError(
            f"{path}: not UTF-8 text (a model configuration is a TOML text file)", table="model"
        ) from None
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


def tail_count(n: int, confidence: float) -> int:
    """k, the number of tail scenarios out of ``n`` at ``confidence``."""
    if not (0.0 < confidence < 1.0):
        raise MarginConfigError(f"must be in (0, 1), got {confidence}", table="model", column="confidence")
    x = n * (1.0 - confidence)
    if x < 1.0 - 1e-9:
        raise MarginConfigError(
            f"{n} scenarios are too few for confidence {confidence}: at least 1 / (1 - c) are needed",
            table="model",
            column="confidence",
        )
    r = math.floor(x + 0.5)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, x) else math.ceil(x)
