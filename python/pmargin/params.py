"""Parameter-set identity: every venue preset's parameters carry a name, a version (or date) and a
content hash, and every result records the identity of the set that produced it.

Venues change parameters without notice; a number that cannot be traced to the exact parameters
behind it cannot be reconciled. The hash is SHA-256 over a canonical JSON form of the parameters
(keys sorted, no whitespace, floats in Python's shortest round-trip form), so the same values give
the same hash whatever their key order or source file, and any changed value changes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MarginConfigError

#: Hex digits of the SHA-256 kept in the short identity string.
SHORT_HASH = 12


def _canonical(value: Any, path: str) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, int, float, bool, None), or a config error
    naming the path of a value that has no canonical form."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise MarginConfigError(f"parameter keys must be strings, got {key!r}", table="params", column=path)
            out[key] = _canonical(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MarginConfigError(f"parameter is {value}, must be finite", table="params", column=path)
        return value
    if isinstance(value, Sequence):
        return [_canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return _canonical(item(), path)
    raise MarginConfigError(
        f"parameter of type {type(value).__name__} has no canonical form", table="params", column=path
    )


def content_hash(params: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON form of ``params``."""
    text = json.dumps(_canonical(params, ""), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ParameterSetId:
    """Who published a parameter set, which edition, and a hash of exactly what was used."""

    name: str
    version: str
    sha256: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}#{self.sha256[:SHORT_HASH]}"


def identify(name: str, version: str, params: Mapping[str, Any]) -> ParameterSetId:
    """The identity of ``params`` published as ``name`` at ``version``."""
    if not isinstance(name, str) or not name.strip():
        raise MarginConfigError("a parameter set needs a non-empty name", table="params", column="name")
    if not isinstance(version, str):
        raise MarginConfigError(
            f"a parameter set's version must be a string (an edition or date), got {type(version).__name__}",
            table="params",
            column="version",
        )
    if not version.strip():
        raise MarginConfigError("a parameter set needs a non-empty version or date", table="params", column="version")
    return ParameterSetId(name, version, content_hash(params))
