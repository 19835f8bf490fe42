"""OCC TIMS / FINRA Rule 4210(g) customer portfolio margin as a model (:class:`TimsModel`).

Published (FINRA 4210(g), Cboe): ten equidistant valuation points, five down and five up, over a
range set by the product class (:data:`PRODUCT_CLASS_RANGES`); 100% offset within a class group
(all positions on one underlying); a percentage of gains offsets losses between the class groups of
one product group; no offset across product groups; a minimum of $0.375 x multiplier per option
contract (not above market value for a long option). Not published (OCC sets them): the offset
percentage of each product group and which classes form one, so both are parameters
(:data:`DEMO_OFFSETS` are illustrative).

Each underlying is one class group; its product class comes from the mapping given here
(``product_classes={underlying: class}``) or from an instruments column ``product_class``
(:meth:`TimsModel.bind`, which both engines call with the run's instruments). Product groups
default to one per index product class (all high-cap broad-based indices together, all other
broad-based indices together) and one per underlying for equities and narrow indices.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from decimal import Decimal
from os import PathLike
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from ..columns import is_string_type, text_values
from ..errors import MarginConfigError
from ..params import ParameterSetId, identify
from ._validate import _config_error
from .registry import register

#: Range of each product class as (down, up) fractions, as published.
PRODUCT_CLASS_RANGES: dict[str, tuple[float, float]] = {
    "high_cap_index": (0.08, 0.06),
    "broad_index": (0.10, 0.10),
    "narrow_index": (0.15, 0.15),
    "equity": (0.15, 0.15),
}
#: Index product classes whose class groups form one product group by default.
GROUPED_CLASSES = ("high_cap_index", "broad_index")
#: Illustrative offsets of gains between class groups of a product group (OCC's are not public).
DEMO_OFFSETS: dict[str, float] = {"high_cap_index": 0.9, "broad_index": 0.9}
#: FINRA 4210(g): per option contract, times the multiplier.
MINIMUM_PER_CONTRACT = 0.375


@dataclass(frozen=True)
class ClassGroup:
    underlying: str
    down: float
    up: float
    product_group: str


def _real(value: Any) -> float | None:
    """A finite Python, NumPy or Decimal real number as a float (not a bool); else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, Decimal)):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    try:
        x = float(value)
    except (OverflowError, ValueError):  # an int beyond float's range
        return None
    return x if math.isfinite(x) else None


def _range_pair(cls: str, pair: Any) -> tuple[float, float]:
    """``ranges[cls]`` as (down, up): any ordered two-item iterable (tuple, list, NumPy array) of real
    numbers (Python, NumPy or Decimal; not bools), finite, with down in (0, 1) and up > 0."""
    error = _config_error(f"ranges.{cls}", f"must be (down, up), two finite numbers, got {pair!r}")
    if isinstance(pair, (str, bytes, Mapping, AbstractSet)):  # (a set has no order)
        raise error
    try:
        items = list(pair)
    except TypeError:  # not iterable (a number; a 0-d array)
        raise error from None
    values = [_real(x) for x in items]
    if len(values) != 2:
        raise error
    down, up = values
    if down is None or up is None:
        raise error
    if not (0 < down < 1 and up > 0):
        raise _config_error(f"ranges.{cls}", f"must be (down, up) with down in (0, 1) and up > 0, got {pair!r}")
    return down, up


def _str_mapping(key: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _config_error(key, "must map names to names")
    return dict(value)


@register
@dataclass(frozen=True)
class TimsModel:
    """TIMS / FINRA 4210(g) portfolio margin (module docstring). ``product_classes``: underlying ->
    product class (a key of ``ranges``); ``product_groups``: underlying -> product group name
    (defaults above); ``offsets``: product group -> fraction of gains offset (0 when not given);
    ``ranges``: product class -> (down, up). Initial = maintenance (one number under the rule)."""

    product_classes: Mapping[str, str] | None = None
    product_groups: Mapping[str, str] | None = None
    offsets: Mapping[str, float] | None = None
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(PRODUCT_CLASS_RANGES))
    minimum_per_contract: float = MINIMUM_PER_CONTRACT
    name: str = "finra-4210g"
    version: str = "2026"
    type: Literal["tims"] = field(default="tims", init=False)
    parameter_set: ParameterSetId = field(init=False, repr=False)

    def __post_init__(self) -> None:
        classes = _str_mapping("product_classes", self.product_classes)
        groups = _str_mapping("product_groups", self.product_groups)
        offsets = dict(DEMO_OFFSETS if self.offsets is None else self.offsets)
        ranges: dict[str, tuple[float, float]] = {}
        if not isinstance(self.ranges, Mapping):
            raise _config_error("ranges", "must map product classes to (down, up)")
        for cls, pair in self.ranges.items():
            down, up = _range_pair(cls, pair)
            ranges[cls] = (down, up)
        for group, offset in offsets.items():
            if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not 0 <= offset <= 1:
                raise _config_error(f"offsets.{group}", f"must be in [0, 1], got {offset!r}")
        for underlying, cls in classes.items():
            if cls not in ranges:
                raise MarginConfigError(
                    f"unknown product class {cls!r} for underlying {underlying!r}; known: {', '.join(ranges)}",
                    table="model",
                    column="product_class",
                )
        m = self.minimum_per_contract
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not m >= 0:
            raise _config_error("minimum_per_contract", f"must be >= 0, got {m!r}")
        object.__setattr__(self, "product_classes", classes)
        object.__setattr__(self, "product_groups", groups)
        object.__setattr__(self, "offsets", {k: float(v) for k, v in offsets.items()})
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "minimum_per_contract", float(m))
        ident = identify(
            self.name,
            self.version,
            {
                "product_classes": classes,
                "product_groups": groups,
                "offsets": self.offsets,
                "ranges": {k: list(v) for k, v in ranges.items()},
                "minimum_per_contract": float(m),
            },
        )
        object.__setattr__(self, "parameter_set", ident)

    @property
    def mm_ratio(self) -> float:
        return 1.0

    def bind(self, instruments: pa.Table) -> TimsModel:
        """This model with the product classes of an instruments column ``product_class`` added
        (the mapping given to the model wins); an unknown class or one underlying with two
        classes is a named error. Without the column, the model itself."""
        if "product_class" not in instruments.column_names or "underlying" not in instruments.column_names:
            return self  # (a missing underlying column is the engines' named error)
        underlying = instruments.column("underlying")
        if not is_string_type(underlying.type):
            return self  # (the engines' named error: instruments.underlying must be strings)
        found: dict[str, str] = {}
        underlyings = text_values(underlying, "instruments", "underlying")
        classes = text_values(instruments.column("product_class"), "instruments", "product_class")
        for row, (u, cls) in enumerate(zip(underlyings, classes, strict=True)):
            if cls is None or u is None:
                continue
            if not isinstance(cls, str) or cls not in self.ranges:
                raise MarginConfigError(
                    f"unknown product class {cls!r}; known: {', '.join(self.ranges)}",
                    table="instruments",
                    column="product_class",
                    row=row,
                )
            if found.setdefault(u, cls) != cls:
                raise MarginConfigError(
                    f"underlying {u!r} has two product classes ({found[u]!r}, {cls!r}); a class group has one",
                    table="instruments",
                    column="product_class",
                    row=row,
                )
        merged = {**found, **self.product_classes}  # type: ignore[dict-item]
        if merged == self.product_classes:
            return self
        return replace(self, product_classes=merged)

    def class_groups(self) -> list[ClassGroup]:
        """Every class group (underlying) with a product class, in the mapping's order."""
        out = []
        for underlying, cls in self.product_classes.items():  # type: ignore[union-attr]
            down, up = self.ranges[cls]
            default = cls if cls in GROUPED_CLASSES else f"{cls}:{underlying}"
            out.append(ClassGroup(underlying, down, up, self.product_groups.get(underlying, default)))  # type: ignore[union-attr]
        return out

    def product_group_names(self) -> list[str]:
        names: list[str] = []
        for g in self.class_groups():
            if g.product_group not in names:
                names.append(g.product_group)
        return names

    def to_spec(self) -> dict[str, Any]:
        groups = self.class_groups()
        return {
            "type": "tims",
            "parameter_set": str(self.parameter_set),
            "minimum_per_contract": self.minimum_per_contract,
            "product_groups": [
                {"name": p, "offset": self.offsets.get(p, 0.0)}  # type: ignore[union-attr]
                for p in self.product_group_names()
            ],
            "class_groups": [
                {"underlying": g.underlying, "down": g.down, "up": g.up, "product_group": g.product_group}
                for g in groups
            ],
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> TimsModel:
        keys = ("product_classes", "product_groups", "offsets", "ranges", "minimum_per_contract", "name", "version")
        if not isinstance(config, Mapping):
            raise MarginConfigError("a model configuration must be a table of keys", table="model")
        for key in config:
            if key != "type" and key not in keys:
                raise _config_error(key, f"unknown key (known: type, {', '.join(keys)})")
        kwargs = {k: config[k] for k in keys if k in config}
        return cls(**kwargs)
