"""What a SIMM parameter set must hold beyond its shape (the engines read every key and check it
is there, finite and of the right size): a parameter file is data, so a new version is a new file,
and a file with an impossible value is refused, the key named (``model.parameters.<path>``):

- the horizon (``sigma_horizon_days``), ``threshold_unit`` and every concentration threshold are
  > 0 (a threshold of 0 divides by zero, a negative one would turn concentration off);
- risk weights, vega risk weights, historical volatility ratios and curvature weights are >= 0;
- every correlation is within [-1, 1]; the tenor, inter-bucket and risk-class correlation
  matrices are symmetric with a unit diagonal (a factor's correlation with itself is 1);
  the FX correlation tables (by volatility group, not by factor) are symmetric.

A missing key is left to the engines, which name it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import MarginConfigError

#: Sections of the four computed risk classes.
SECTIONS = ("interest_rate", "fx", "equity", "commodity")


def _fail(key: str, reason: str) -> MarginConfigError:
    return MarginConfigError(reason, table="model", column=f"parameters.{key}")


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(key, f"must be a finite number, got {value!r}")
    return float(value)


def _leaves(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """(path, number) of every leaf of a number, list, matrix or mapping of them."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield from _leaves(item, f"{key}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{key}.{i}")
    else:
        yield key, value


def _at(p: Mapping[str, Any], *path: str) -> Any:
    for name in path:
        if not isinstance(p, Mapping) or name not in p:
            return None
        p = p[name]
    return p


def _each(p: Mapping[str, Any], keys: tuple[tuple[str, ...], ...], check: Any) -> None:
    for path in keys:
        value = _at(p, *path)
        if value is not None:
            for key, leaf in _leaves(value, ".".join(path)):
                check(_number(leaf, key), key)


def _positive(x: float, key: str) -> None:
    if not x > 0:
        raise _fail(key, f"must be a finite number > 0, got {x!r}")


def _non_negative(x: float, key: str) -> None:
    if not x >= 0:
        raise _fail(key, f"must be >= 0, got {x!r}")


def _correlation(x: float, key: str) -> None:
    if not -1.0 <= x <= 1.0:
        raise _fail(key, f"a correlation must be within [-1, 1], got {x!r}")


def _symmetric(p: Mapping[str, Any], path: tuple[str, ...], unit_diagonal: bool) -> None:
    m = _at(p, *path)
    key = ".".join(path)
    if not (isinstance(m, list) and all(isinstance(r, list) and len(r) == len(m) for r in m)):
        return  # the engines refuse a matrix of the wrong shape, naming it
    for i, row in enumerate(m):
        if unit_diagonal and row[i] != 1.0:
            raise _fail(key, f"the diagonal must be 1 (a factor's correlation with itself): [{i}][{i}] is {row[i]!r}")
        for j in range(i):
            if row[j] != m[j][i]:
                raise _fail(key, f"must be symmetric: [{i}][{j}] is {row[j]!r}, [{j}][{i}] is {m[j][i]!r}")


def check_parameters(p: Mapping[str, Any]) -> None:
    """Raise a :class:`MarginConfigError` naming the first impossible value (module docstring)."""
    if not isinstance(p, Mapping):
        raise MarginConfigError(
            f"parameters must be a mapping, got {type(p).__name__}", table="model", column="parameters"
        )
    thresholds = tuple((s, k) for s in SECTIONS for k in ("delta_thresholds", "vega_thresholds"))
    _each(p, (("sigma_horizon_days",), ("threshold_unit",), *thresholds), _positive)
    weights = tuple(
        (s, k)
        for s in SECTIONS
        for k in (
            "delta_risk_weights",
            "vega_risk_weights",
            "vega_risk_weight",
            "historical_volatility_ratio",
            "curvature_weights",
        )
    )
    _each(p, weights, _non_negative)
    correlations = (
        ("interest_rate", "tenor_correlations"),
        ("interest_rate", "sub_curve_correlation"),
        ("interest_rate", "inter_currency_correlation"),
        ("fx", "correlations_regular_calc"),
        ("fx", "correlations_high_calc"),
        ("fx", "vega_correlation"),
        ("equity", "intra_bucket_correlations"),
        ("equity", "inter_bucket_correlations"),
        ("commodity", "intra_bucket_correlations"),
        ("commodity", "inter_bucket_correlations"),
        ("risk_class_correlations",),
    )
    _each(p, correlations, _correlation)
    for path in (
        ("interest_rate", "tenor_correlations"),
        ("equity", "inter_bucket_correlations"),
        ("commodity", "inter_bucket_correlations"),
        ("risk_class_correlations",),
    ):
        _symmetric(p, path, unit_diagonal=True)
    for path in (("fx", "correlations_regular_calc"), ("fx", "correlations_high_calc")):
        _symmetric(p, path, unit_diagonal=False)
