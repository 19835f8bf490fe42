"""The account state rules (docs/accounts.md): ``liquidation`` when equity < maintenance margin,
else ``margin_call`` when equity < initial margin, else ``ok`` (an account exactly at a margin is
not below it)."""

from __future__ import annotations

import math

from .errors import MarginInputError

OK, MARGIN_CALL, LIQUIDATION = "ok", "margin_call", "liquidation"
#: States from best to worst.
STATES = (OK, MARGIN_CALL, LIQUIDATION)


def state_of(equity: float, initial: float, maintenance: float) -> str:
    """The account state at ``equity`` against its margins. A NaN equity compares False both ways
    and would be ``ok``: a non-finite equity is an input error instead."""
    if not math.isfinite(equity):
        raise MarginInputError(f"must be a finite number, got {equity!r}", table="account", column="equity")
    if equity < maintenance:
        return LIQUIDATION
    if equity < initial:
        return MARGIN_CALL
    return OK


def margin_ratio(equity: float, maintenance: float) -> float | None:
    """Maintenance margin over equity; None when equity is not positive (no meaningful ratio)."""
    return maintenance / equity if equity > 0 else None
