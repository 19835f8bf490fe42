"""CME SPAN as a model (:class:`SpanModel`): a SPAN parameter set (user data, docs/span.md) and,
optionally, published risk arrays. Both engines read the parsed parameter set below; the native
core gets it through :meth:`SpanModel.to_spec`.

Parameter-set layout (TOML or JSON; every rate is a parameter, nothing is built in)::

    name = "cme-demo"            # who published it
    version = "2026-12-01"       # edition or date
    credit_basis = "scan"        # or "price_risk" (the reading of the inter-commodity credit)
    vol_scan_mode = "absolute"   # vol scan range in vol points ("relative": a fraction of vol)

    [[combined_commodities]]
    name = "ES"
    underlyings = ["SPX"]        # instruments.underlying values in this combined commodity
    price_scan_range = 0.06      # fraction of the underlying price (optional with risk arrays)
    vol_scan_range = 0.04
    extreme_move = 2.0           # x price scan range (scenarios 15, 16)
    extreme_cover = 0.35         # fraction of the extreme loss counted
    short_option_minimum = 50.0  # per net short option (greater of calls and puts)
    delivery_charge = 0.0        # per unit of |net delta| in the delivery month
    delivery_days = 0            # a contract expiring within this many days is in it
    initial_ratio = 1.0          # initial = ratio x maintenance
    tiers = [45, 400]            # tier upper bounds, days to expiry
    intra_spreads = [{tiers = [1, 2], charge = 150.0}]   # priority order

    [[inter_spreads]]            # priority order
    credit_rate = 0.55
    legs = [{commodity = "C", delta_ratio = 2}, {commodity = "S", delta_ratio = 1}]
"""

from __future__ import annotations

import decimal
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from ..columns import required_column, text_values
from ..errors import MarginConfigError, MarginInputError
from ..io import to_table
from ..params import ParameterSetId, identify
from ._validate import _config_error, _read_toml, _table_value
from .registry import register

#: Top-level keys of a SPAN parameter set.
PARAM_KEYS = ("name", "version", "credit_basis", "vol_scan_mode", "combined_commodities", "inter_spreads")
COMMODITY_KEYS = (
    "name",
    "underlyings",
    "price_scan_range",
    "vol_scan_range",
    "extreme_move",
    "extreme_cover",
    "short_option_minimum",
    "delivery_charge",
    "delivery_days",
    "initial_ratio",
    "tiers",
    "intra_spreads",
)
#: Columns of a published risk-array table (losses per long unit, SPAN sign).
RISK_ARRAY_COLUMNS = ("instrument_id", *(f"risk_{s}" for s in range(1, 17)), "composite_delta")


@dataclass(frozen=True)
class IntraSpread:
    tier_a: int  # 0-based
    tier_b: int
    charge: float


@dataclass(frozen=True)
class Commodity:
    name: str
    underlyings: tuple[str, ...]
    price_scan_range: float | None
    vol_scan_range: float
    extreme_move: float
    extreme_cover: float
    short_option_minimum: float
    delivery_charge: float
    delivery_days: float
    initial_ratio: float
    tiers: tuple[float, ...]
    intra_spreads: tuple[IntraSpread, ...]


@dataclass(frozen=True)
class Leg:
    commodity: int
    delta_ratio: float
    side: float  # +1 side A, -1 side B


@dataclass(frozen=True)
class InterSpread:
    credit_rate: float
    legs: tuple[Leg, ...]


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _config_error(key, f"must be a finite number, got {value!r}")
    return float(value)


def _non_negative(key: str, value: Any) -> float:
    x = _number(key, value)
    if x < 0:
        raise _config_error(key, f"must be >= 0, got {x!r}")
    return x


def _mapping(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _config_error(key, f"must be a table of keys, got {type(value).__name__}")
    return value


def _items(key: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise _config_error(key, f"must be a list, got {type(value).__name__}")
    return list(value)


def _known(at: str, value: Mapping[str, Any], keys: Sequence[str]) -> None:
    for key in value:
        if key not in keys:
            raise _config_error(f"{at}{key}", f"unknown key (known: {', '.join(keys)})")


def _commodity(at: str, raw: Any) -> Commodity:
    c = _mapping(at, raw)
    _known(f"{at}.", c, COMMODITY_KEYS)
    if not isinstance(c.get("name"), str) or not c["name"]:
        raise _config_error(f"{at}.name", "is required (a non-empty string)")
    underlyings = _items(f"{at}.underlyings", c.get("underlyings"))
    if not underlyings or not all(isinstance(u, str) for u in underlyings):
        raise _config_error(f"{at}.underlyings", "must be a non-empty list of underlying names")
    psr = c.get("price_scan_range")
    if psr is not None:
        psr = _number(f"{at}.price_scan_range", psr)
        if not 0 < psr < 1:
            raise _config_error(f"{at}.price_scan_range", f"must be in (0, 1), got {psr!r}")
    extreme = _non_negative(f"{at}.extreme_move", c.get("extreme_move", 2.0))
    if psr is not None and extreme * psr >= 1:
        raise _config_error(f"{at}.extreme_move", "extreme_move x price_scan_range must be below 1")
    ratio = _number(f"{at}.initial_ratio", c.get("initial_ratio", 1.0))
    if ratio < 1:
        raise _config_error(f"{at}.initial_ratio", f"must be >= 1, got {ratio!r}")
    tiers = tuple(_number(f"{at}.tiers[{i}]", t) for i, t in enumerate(_items(f"{at}.tiers", c.get("tiers"))))
    if any(b <= a for a, b in itertools.pairwise(tiers)):
        raise _config_error(f"{at}.tiers", "tier bounds (days to expiry) must be strictly ascending")
    spreads = []
    for i, raw_spread in enumerate(_items(f"{at}.intra_spreads", c.get("intra_spreads"))):
        sat = f"{at}.intra_spreads[{i}]"
        s = _mapping(sat, raw_spread)
        _known(f"{sat}.", s, ("tiers", "charge"))
        pair = _items(f"{sat}.tiers", s.get("tiers"))
        if len(pair) != 2:
            raise _config_error(f"{sat}.tiers", "must name two tiers")
        index = []
        for t in pair:
            if (
                isinstance(t, bool)
                or not isinstance(t, (int, float))
                or (isinstance(t, float) and not t.is_integer())
                or not 1 <= t <= len(tiers)
            ):
                raise _config_error(f"{sat}.tiers", f"tier {t!r} is not one of 1..{len(tiers)}")
            index.append(int(t) - 1)
        if index[0] == index[1]:
            raise _config_error(f"{sat}.tiers", "must name two different tiers")
        spreads.append(IntraSpread(index[0], index[1], _non_negative(f"{sat}.charge", s.get("charge"))))
    return Commodity(
        name=c["name"],
        underlyings=tuple(underlyings),
        price_scan_range=psr,
        vol_scan_range=_non_negative(f"{at}.vol_scan_range", c.get("vol_scan_range", 0.0)),
        extreme_move=extreme,
        extreme_cover=_non_negative(f"{at}.extreme_cover", c.get("extreme_cover", 0.35)),
        short_option_minimum=_non_negative(f"{at}.short_option_minimum", c.get("short_option_minimum", 0.0)),
        delivery_charge=_non_negative(f"{at}.delivery_charge", c.get("delivery_charge", 0.0)),
        delivery_days=_non_negative(f"{at}.delivery_days", c.get("delivery_days", 0.0)),
        initial_ratio=ratio,
        tiers=tiers,
        intra_spreads=tuple(spreads),
    )


def _inter(at: str, raw: Any, commodities: Sequence[Commodity]) -> InterSpread:
    s = _mapping(at, raw)
    _known(f"{at}.", s, ("credit_rate", "legs"))
    rate = _number(f"{at}.credit_rate", s.get("credit_rate"))
    if not 0 <= rate <= 1:
        raise _config_error(f"{at}.credit_rate", f"must be in [0, 1], got {rate!r}")
    legs = []
    for i, raw_leg in enumerate(_items(f"{at}.legs", s.get("legs"))):
        lat = f"{at}.legs[{i}]"
        leg = _mapping(lat, raw_leg)
        _known(f"{lat}.", leg, ("commodity", "delta_ratio", "side"))
        name = leg.get("commodity")
        names = [c.name for c in commodities]
        if name not in names:
            raise _config_error(f"{lat}.commodity", f"{name!r} is not a combined commodity of the set")
        ratio = _number(f"{lat}.delta_ratio", leg.get("delta_ratio"))
        if ratio <= 0:
            raise _config_error(f"{lat}.delta_ratio", f"must be > 0, got {ratio!r}")
        side = leg.get("side", "A" if i == 0 else "B")
        if side not in ("A", "B"):
            raise _config_error(f"{lat}.side", "must be 'A' or 'B'")
        legs.append(Leg(names.index(name), ratio, 1.0 if side == "A" else -1.0))
    if len(legs) < 2 or not any(leg.side > 0 for leg in legs) or not any(leg.side < 0 for leg in legs):
        raise _config_error(f"{at}.legs", "a spread needs at least one leg on side A and one on side B")
    return InterSpread(rate, tuple(legs))


def parse_params(params: Mapping[str, Any]) -> tuple[str, str, tuple[Commodity, ...], tuple[InterSpread, ...]]:
    """``(credit_basis, vol_scan_mode, commodities, inter_spreads)`` of a parameter set, checked."""
    p = _mapping("params", params)
    _known("", p, PARAM_KEYS)
    basis = p.get("credit_basis", "scan")
    if basis not in ("scan", "price_risk"):
        raise _config_error("credit_basis", f"must be 'scan' or 'price_risk', got {basis!r}")
    vol_mode = p.get("vol_scan_mode", "absolute")
    if vol_mode not in ("absolute", "relative"):
        raise _config_error("vol_scan_mode", f"must be 'relative' or 'absolute', got {vol_mode!r}")
    raw = _items("combined_commodities", p.get("combined_commodities"))
    commodities = tuple(_commodity(f"combined_commodities[{i}]", c) for i, c in enumerate(raw))
    for i, c in enumerate(commodities):
        for j, d in enumerate(commodities[:i]):
            if c.name == d.name:
                raise _config_error(f"combined_commodities[{i}].name", f"'{c.name}' is also combined commodity {j}")
            both = [u for u in c.underlyings if u in d.underlyings]
            if both:
                raise _config_error(
                    f"combined_commodities[{i}].underlyings",
                    f"underlying '{both[0]}' is also in combined commodity '{d.name}'",
                )
    inter = tuple(
        _inter(f"inter_spreads[{i}]", s, commodities)
        for i, s in enumerate(_items("inter_spreads", p.get("inter_spreads")))
    )
    return basis, vol_mode, commodities, inter


def load_params(source: Mapping[str, Any] | str | PathLike[str]) -> dict[str, Any]:
    """A parameter set from a mapping, or a TOML / JSON file."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MarginConfigError(f"{path}: cannot read the parameter set: {exc}", table="params") from None
    else:
        data = _read_toml(path)
    return dict(_mapping("params", data))


def _arrays_identity(table: pa.Table) -> list[list[Any]]:
    """The published arrays as rows of plain values, for the identity hash (a decimal as the
    nearest float). Text that is not UTF-8, a null loss or delta, or one that is not finite is an
    error at its cell, in the native core's words."""
    columns = []
    for name in RISK_ARRAY_COLUMNS:
        values = text_values(required_column(table, "risk_arrays", name), "risk_arrays", name)
        if name != "instrument_id":
            values = [float(v) if isinstance(v, decimal.Decimal) else v for v in values]
            for row, v in enumerate(values):
                if v is None:
                    raise MarginInputError("null is not allowed", table="risk_arrays", column=name, row=row)
                if isinstance(v, float) and not math.isfinite(v):
                    raise MarginInputError(f"not a finite number: {v!r}", table="risk_arrays", column=name, row=row)
        columns.append(values)
    return [list(row) for row in zip(*columns, strict=True)]


@register
@dataclass(frozen=True)
class SpanModel:
    """CME SPAN under a parameter set (docs/span.md). ``params``: a mapping or a TOML / JSON
    file in the layout of this module's docstring; ``risk_arrays``: optional published arrays
    (``instrument_id``, ``risk_1`` .. ``risk_16`` as losses per long unit with the extreme
    scenarios already scaled by their cover, ``composite_delta``), used instead of pmargin's own
    revaluation for the instruments they list. ``parameter_set`` is the set's identity
    (``name@version#hash12``; the hash covers the arrays too), recorded on every result."""

    params: Mapping[str, Any] | str | PathLike[str]
    risk_arrays: pa.Table | None = None
    type: Literal["span"] = field(default="span", init=False)
    parameter_set: ParameterSetId = field(init=False, repr=False)
    credit_basis: str = field(init=False, repr=False)
    vol_scan_mode: str = field(init=False, repr=False)
    commodities: tuple[Commodity, ...] = field(init=False, repr=False)
    inter_spreads: tuple[InterSpread, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        params = load_params(self.params)
        basis, vol_mode, commodities, inter = parse_params(params)
        arrays = self.risk_arrays
        if arrays is not None:
            if not isinstance(arrays, pa.Table):
                arrays = to_table(arrays, "risk_arrays")
            missing = [c for c in RISK_ARRAY_COLUMNS if c not in arrays.column_names]
            if missing:
                raise MarginConfigError("is required", table="risk_arrays", column=missing[0])
        identity_params = {k: v for k, v in params.items() if k not in ("name", "version")}
        if arrays is not None:
            identity_params["risk_arrays"] = _arrays_identity(arrays)
        name, version = params.get("name"), params.get("version")
        ident = identify(name, str(version) if version is not None else "", identity_params)  # type: ignore[arg-type]
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "risk_arrays", arrays)
        object.__setattr__(self, "parameter_set", ident)
        object.__setattr__(self, "credit_basis", basis)
        object.__setattr__(self, "vol_scan_mode", vol_mode)
        object.__setattr__(self, "commodities", commodities)
        object.__setattr__(self, "inter_spreads", inter)

    @property
    def mm_ratio(self) -> float:
        """SPAN computes maintenance; initial is maintenance x each commodity's initial_ratio."""
        return 1.0

    def commodity_names(self) -> list[str]:
        return [c.name for c in self.commodities]

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": "span",
            "parameter_set": str(self.parameter_set),
            "credit_basis": self.credit_basis,
            "vol_scan_mode": self.vol_scan_mode,
            "combined_commodities": [
                {
                    "name": c.name,
                    "underlyings": list(c.underlyings),
                    "price_scan_range": c.price_scan_range,
                    "vol_scan_range": c.vol_scan_range,
                    "extreme_move": c.extreme_move,
                    "extreme_cover": c.extreme_cover,
                    "short_option_minimum": c.short_option_minimum,
                    "delivery_charge": c.delivery_charge,
                    "delivery_days": c.delivery_days,
                    "initial_ratio": c.initial_ratio,
                    "tiers": list(c.tiers),
                    "intra_spreads": [
                        {"tiers": [float(s.tier_a + 1), float(s.tier_b + 1)], "charge": s.charge}
                        for s in c.intra_spreads
                    ],
                }
                for c in self.commodities
            ],
            "inter_spreads": [
                {
                    "credit_rate": s.credit_rate,
                    "legs": [
                        {
                            "commodity": self.commodities[leg.commodity].name,
                            "delta_ratio": leg.delta_ratio,
                            "side": "A" if leg.side > 0 else "B",
                        }
                        for leg in s.legs
                    ],
                }
                for s in self.inter_spreads
            ],
            "risk_arrays": self.risk_arrays,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"type": "span", "params": dict(self.params)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> SpanModel:
        """``params`` (a table of keys, or a TOML / JSON file relative to ``base``) and an
        optional ``risk_arrays`` table file."""
        if not isinstance(config, Mapping):
            raise MarginConfigError("a model configuration must be a table of keys", table="model")
        for key in config:
            if key not in ("type", "params", "risk_arrays"):
                raise _config_error(key, "unknown key (known: type, params, risk_arrays)")
        if "params" not in config:
            raise _config_error("params", "is required (a table of keys or a parameter file)")
        folder = None if base is None else Path(base)
        params = config["params"]
        if isinstance(params, (str, PathLike)) and folder is not None and not Path(params).is_absolute():
            params = folder / params
        arrays = config.get("risk_arrays")
        if arrays is not None:
            arrays = _table_value("risk_arrays", arrays, folder, "risk_arrays")
        return cls(params, arrays)
