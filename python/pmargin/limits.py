"""Limits of a run: bounds that catch implausible inputs, and the memory a run may take.

Both engines apply the same limits; the native core checks them itself (``Limits`` in
``rust/pmargin-core/src/spec.rs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import MarginConfigError

#: Implied vols above this (annualised, as a fraction: 0.55 is 55%) are rejected by default: a
#: vol of 55.0 is almost always 55% written as a percent.
DEFAULT_MAX_IMPLIED_VOL = 5.0
#: Bytes a run may allocate for its scenario and risk arrays by default (8 GiB).
DEFAULT_MEMORY_BUDGET = 8 << 30


@dataclass(frozen=True)
class Limits:
    """``max_implied_vol``: implied vols above it are input errors (None: no bound).
    ``memory_budget``: bytes a run may allocate for scenarios and risk arrays; a run that needs
    more is a :class:`~pmargin.MarginConfigError` saying how much it needs."""

    max_implied_vol: float | None = DEFAULT_MAX_IMPLIED_VOL
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    def __post_init__(self) -> None:
        vol = self.max_implied_vol
        if vol is not None and (isinstance(vol, bool) or not isinstance(vol, (int, float)) or not vol > 0):
            raise MarginConfigError(
                f"must be a number > 0 or None, got {vol!r}", table="model", column="max_implied_vol"
            )
        if vol is not None and not math.isfinite(vol):
            object.__setattr__(self, "max_implied_vol", None)
        budget = self.memory_budget
        if isinstance(budget, bool) or not isinstance(budget, int) or not 0 < budget < 2**64:
            raise MarginConfigError(
                f"must be a whole number of bytes > 0, got {budget!r}", table="model", column="memory_budget"
            )

    def to_spec(self) -> dict[str, Any]:
        """The native engine's form."""
        return {"max_implied_vol": self.max_implied_vol, "memory_budget": self.memory_budget}
