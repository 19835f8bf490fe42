"""What the grid method finds per account: each underlying's P&L, requirement and worst scenario,
the initial margin under the cross rule, and the scenario that drives it.

Mirrors: rust/pmargin-core/src/methods/grid/outcome.rs
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...domain.book import AccountId


@dataclass(frozen=True)
class UnderlyingRisk:
    """An account's P&L per scenario on one underlying, its requirement and worst scenario."""

    underlying: str
    pnl: list[float]
    requirement: float
    worst: int | None


@dataclass(frozen=True)
class AccountRisk:
    """An account's margins. ``undiversified`` is the sum of its underlyings' requirements;
    ``worst_underlying`` is None for a joint worst (``cross="joint"``); ``worst`` is the worst
    scenario's index, None when nothing loses. ``binding`` (``cross="correlation"`` only, else
    empty) is each underlying's scenario in the binding joint move, in ``underlyings`` order."""

    account_id: AccountId
    first_row: int
    underlyings: list[UnderlyingRisk]
    total: list[float]
    initial: float
    maintenance: float
    gross: float
    undiversified: float
    worst_underlying: str | None
    worst: int | None
    binding: tuple[int | None, ...] = ()
    #: The add-ons (:mod:`.addons`), when the model has any: ``initial`` then includes them.
    addons: Any = None
