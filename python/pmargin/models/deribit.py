"""Deribit portfolio margin (:class:`DeribitModel`): the risk matrix of simulated price moves per
underlying and settlement currency, with the parameters Deribit publishes in ``model_params``
(docs/methods.md, "Deribit portfolio margin").

A user pastes what Deribit's ``private/pme/simulate`` returns in ``model_params``, per underlying:
``DeribitModel(params={"BTC": {...}, "ETH": {...}})`` (``"*"`` for any other underlying; one flat
``model_params`` dict applies to every underlying). Per-currency entries (``pnl_offset``,
``extended_dampener``, ``annualised_move_risk``, ``min_annualised_move``) are read at the
underlying's own coin (``btc`` for BTC: inverse, coin-settled vectors) and at ``usd`` (linear,
USD-settled vectors); a missing entry is 0, except ``min_annualised_move.usd``, which falls back
to the coin's. The parameter set's identity (``name@version#hash12``, :mod:`pmargin.params`) is
recorded in every result's ``parameter_set`` column.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from ..params import identify
from ._validate import _check_keys, _config_error, _read_toml
from .registry import register

#: Deribit's published BTC parameters (API docs example, 2024-06-17) and ETH parameters
#: (``pme/simulate`` capture, 2026-02-15), as in ../shared/methodologies.md section 1.2.
#: ``dte_floor_days`` is not published (Derive's DTE_FLOOR, 1 day).
DEFAULT_MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "BTC": {
        "price_range": 0.16,
        "buckets_count": 4,
        "vol_scenarios_count": 3,
        "volatility_range_up": 0.5,
        "volatility_range_down": 0.25,
        "short_term_vega_power": 0.3,
        "long_term_vega_power": 0.13,
        "min_volatility_for_shock_up": 0.5,
        "extended_table_factor": 1.0,
        "extended_dampener": {"btc": 100000.0, "usd": 25000.0},
        "delta_total_liq_shock_threshold": 20000000.0,
        "max_delta_shock": 0.1,
        "m_inc": 0.00005,
        "annualised_move_risk": {"btc": 0.075, "usd": 0.1},
        "min_annualised_move": {"btc": 0.01},
        "pnl_offset": {"btc": 0.0},
        "max_offsetable_pnl": 0.0,
        "mm_factor": 0.8,
    },
    "ETH": {
        "price_range": 0.18,
        "buckets_count": 4,
        "vol_scenarios_count": 3,
        "volatility_range_up": 0.4,
        "volatility_range_down": 0.25,
        "short_term_vega_power": 0.3,
        "long_term_vega_power": 0.13,
        "min_volatility_for_shock_up": 0.5,
        "extended_table_factor": 1.0,
        "extended_dampener": {"eth": 200000.0, "usd": 25000.0},
        "delta_total_liq_shock_threshold": 20000000.0,
        "max_delta_shock": 0.1,
        "m_inc": 0.000004,
        "annualised_move_risk": {"eth": 0.05, "usd": 0.1},
        "min_annualised_move": {"eth": 0.005},
        "pnl_offset": {"eth": 0.6, "usd": 0.4},
        "max_offsetable_pnl": 20000000.0,
        "mm_factor": 0.8,
    },
}

#: Name and version of the default set.
DEFAULT_NAME = "deribit"
DEFAULT_VERSION = "btc-2024-06-17+eth-2026-02-15"

#: Scalar parameters, each >= 0 unless checked more strictly below.
_SCALARS = (
    "price_range",
    "buckets_count",
    "volatility_range_up",
    "volatility_range_down",
    "short_term_vega_power",
    "long_term_vega_power",
    "min_volatility_for_shock_up",
    "extended_table_factor",
    "delta_total_liq_shock_threshold",
    "max_delta_shock",
    "m_inc",
    "max_offsetable_pnl",
    "mm_factor",
)
#: Per-currency parameters ({"btc": x, "usd": y} or one number for both).
_PER_CURRENCY = ("extended_dampener", "pnl_offset", "annualised_move_risk", "min_annualised_move")
#: Published keys read for the identity only (cross-margin collateral treatment, X:PM).
_IGNORED = ("vol_scenarios_count", "haircut", "equity_side_impact", "correlation_set")
#: Not published by Deribit; a parameter with a default.
_OPTIONAL = {"dte_floor_days": 1.0}
#: Upper bounds (generous: Deribit publishes values below 1) that keep every margin finite: the
#: roll rate ``exp(annualised_move_risk x T) - 1``, the vega term structure ``(30 / DTE)^power``
#: and the delta shock rate. The native spec parser checks the same bounds.
_UPPER = {
    "short_term_vega_power": 10.0,
    "long_term_vega_power": 10.0,
    "max_delta_shock": 10.0,
    "annualised_move_risk": 10.0,
    "min_annualised_move": 10.0,
}

_KEYS = ("params", "name", "version")


def _number(path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _config_error(path, f"must be a finite number, got {value!r}")
    return float(value)


def _check_bounds(path: str, value: float, high: float) -> None:
    """``value`` in [0, high]: ``must be in [0, 10], got -1.0`` below the range as above it, or
    ``must be a number >= 0`` without an upper bound. The native spec parser words each bound
    the same way, naming the published parameter (``params.BTC.annualised_move_risk`` for its
    ``annualised_move_risk_coin`` and ``_usd`` fields)."""
    if not 0.0 <= value <= high:
        what = f"in [0, {high:g}]" if high < math.inf else "a number >= 0"
        raise _config_error(path, f"must be {what}, got {value!r}")


def _coin_key(path: str, value: Mapping[str, Any], underlying: str) -> str:
    """The coin entry of a per-currency dict: the underlying's lower-case name, or for ``"*"``
    the one entry that is not ``usd``."""
    if underlying != "*":
        return underlying.lower()
    coins = [k for k in value if k != "usd"]
    if len(coins) > 1:
        raise _config_error(path, f"under '*' give at most one coin entry besides 'usd', got {sorted(coins)}")
    return coins[0] if coins else ""


def flat_params(underlying: str, raw: Mapping[str, Any]) -> dict[str, float]:
    """One underlying's published ``model_params`` as the engines' flat record (docs/methods.md)."""
    prefix = f"params.{underlying}"
    if not isinstance(raw, Mapping):
        raise _config_error(prefix, f"must be a table of model_params, got {type(raw).__name__}")
    known = set(_SCALARS) | set(_PER_CURRENCY) | set(_IGNORED) | set(_OPTIONAL)
    for key in raw:
        if key not in known:
            raise _config_error(f"{prefix}.{key}", f"unknown parameter; expected one of {', '.join(sorted(known))}")
    out: dict[str, float] = {}
    for key in _SCALARS:
        if key not in raw:
            raise _config_error(f"{prefix}.{key}", "is required")
        out[key] = _number(f"{prefix}.{key}", raw[key])
    if "vol_scenarios_count" in raw and raw["vol_scenarios_count"] != 3:
        raise _config_error(f"{prefix}.vol_scenarios_count", f"must be 3, got {raw['vol_scenarios_count']!r}")
    n = raw["buckets_count"]
    if isinstance(n, bool) or (not isinstance(n, int) and not (isinstance(n, float) and n.is_integer())):
        raise _config_error(f"{prefix}.buckets_count", f"must be an integer, got {n!r}")
    if not 1 <= int(n) <= 1000:
        raise _config_error(f"{prefix}.buckets_count", f"must be in [1, 1000], got {n!r}")
    if not 0.0 < out["price_range"] < 1.0:
        raise _config_error(f"{prefix}.price_range", f"must be in (0, 1), got {out['price_range']!r}")
    if not 0.0 < out["mm_factor"] <= 1.0:
        raise _config_error(f"{prefix}.mm_factor", f"must be a number in (0, 1], got {out['mm_factor']!r}")
    for key in _SCALARS:
        _check_bounds(f"{prefix}.{key}", out[key], _UPPER.get(key, math.inf))
    for key in _PER_CURRENCY:
        value = raw.get(key, 0.0)
        path = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            coin = _coin_key(path, value, underlying)
            coin_v = _number(f"{path}.{coin}", value[coin]) if coin in value else 0.0
            usd_v = _number(f"{path}.usd", value["usd"]) if "usd" in value else None
        else:
            coin_v = _number(path, value)
            usd_v = coin_v
        if usd_v is None:
            usd_v = coin_v if key == "min_annualised_move" else 0.0
        high = 1.0 if key == "pnl_offset" else _UPPER.get(key, math.inf)
        for v in (coin_v, usd_v):
            _check_bounds(path, v, high)
        out[f"{key}_coin"] = coin_v
        out[f"{key}_usd"] = usd_v
    floor = _number(f"{prefix}.dte_floor_days", raw.get("dte_floor_days", _OPTIONAL["dte_floor_days"]))
    if floor <= 0.0:
        raise _config_error(f"{prefix}.dte_floor_days", f"must be > 0, got {floor!r}")
    out["dte_floor_days"] = floor
    out["buckets_count"] = int(n)
    return out


def _normalise(params: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(params, Mapping) or not params:
        raise _config_error("params", "must be a non-empty table of underlying -> model_params")
    if "price_range" in params:  # one flat model_params for every underlying
        return {"*": dict(params)}
    out: dict[str, dict[str, Any]] = {}
    for name, raw in params.items():
        if not isinstance(name, str) or not name:
            raise _config_error("params", f"underlying names must be non-empty strings, got {name!r}")
        if not isinstance(raw, Mapping):
            raise _config_error(f"params.{name}", f"must be a table of model_params, got {type(raw).__name__}")
        out[name] = dict(raw)
    return out


@register
@dataclass(frozen=True)
class DeribitModel:
    """Deribit portfolio margin (S:PM): per underlying and settlement currency (inverse contracts
    in the coin, linear ones in USD), the worst loss of the risk matrix (2n + 1 price moves x vol
    down / unchanged / up, and the extended table with its dampener; gains x ``pnl_offset``),
    plus the roll shock (per expiry, no netting across expiries) and the delta shock;
    maintenance = ``mm_factor`` x risk-matrix margin. ``params``: published ``model_params`` per
    underlying (default :data:`DEFAULT_MODEL_PARAMS`); ``name`` and ``version`` identify the
    set in every result (``parameter_set``)."""

    params: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: dict(DEFAULT_MODEL_PARAMS))
    name: str = DEFAULT_NAME
    version: str = DEFAULT_VERSION
    type: Literal["deribit"] = field(default="deribit", init=False)

    def __post_init__(self) -> None:
        if isinstance(self.version, datetime.date):  # a TOML date: its text, as SPAN reads it
            object.__setattr__(self, "version", str(self.version))
        params = _normalise(self.params)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "_flat", {u: flat_params(u, raw) for u, raw in params.items()})
        object.__setattr__(self, "_identity", str(identify(self.name, self.version, params)))

    @property
    def parameter_set(self) -> str:
        """``name@version#hash12`` of the parameters (:func:`pmargin.params.identify`)."""
        return str(self._identity)  # type: ignore[attr-defined]

    @property
    def flat(self) -> dict[str, dict[str, float]]:
        """The engines' flat parameter record per underlying (``"*"``: any other)."""
        return dict(self._flat)  # type: ignore[attr-defined]

    @property
    def mm_ratio(self) -> float:
        """``mm_factor`` of the first parameter set (each underlying applies its own)."""
        return float(next(iter(self.flat.values()))["mm_factor"])

    def to_spec(self) -> dict[str, Any]:
        return {"type": "deribit", "parameter_set": self.parameter_set, "params": self.flat}

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "deribit",
            "params": {u: dict(p) for u, p in self.params.items()},
            "name": self.name,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> DeribitModel:
        """From ``{"params": {...}, "name": ..., "version": ...}`` (``type = "deribit"`` optional)."""
        _check_keys(config, "deribit", _KEYS)
        kwargs = {k: config[k] for k in _KEYS if k in config}
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> DeribitModel:
        return cls.from_dict(_read_toml(path), base=Path(path).parent)
