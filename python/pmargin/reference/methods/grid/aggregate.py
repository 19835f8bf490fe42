"""Per-account aggregation of the grid: the worst loss per underlying (none at or below the noise
floor of its P&L scale, :mod:`pmargin.reference.risk.worst_loss`; the joint worst loss likewise
with the account's scale), the underlyings'
requirements combined by the cross rule (``"sum"``, ``"joint"``, ``"correlation"``), maintenance,
gross margin and the undiversified sum (definitions in :mod:`pmargin.reference.methods.grid`).

Mirrors: rust/pmargin-core/src/methods/grid/aggregate.rs
"""

from __future__ import annotations

from collections.abc import Sequence

from ....models import GridModel
from ...domain.book import Book
from ...domain.instruments import Instrument
from ...risk.arrays import standalone
from ...risk.group_pnl import pnl_scale, underlying_order, underlying_pnl
from ...risk.worst_loss import is_noise, worst_loss_above_noise
from .cross import correlation_cross, largest_requirement
from .outcome import AccountRisk, UnderlyingRisk


def underlying_risk(underlying: str, pnl: list[float], scale: float) -> UnderlyingRisk:
    """Requirement and worst scenario of one underlying's P&L vector (none below the noise floor
    of its P&L scale)."""
    requirement, worst = worst_loss_above_noise(pnl, scale)
    return UnderlyingRisk(underlying, pnl, requirement, worst)


def cross_total(risks: Sequence[UnderlyingRisk], n: int) -> list[float]:
    """``total[s] = 0.0 + pnl_u1[s] + pnl_u2[s] + ...`` in underlying order."""
    total = [0.0] * n
    for risk in risks:
        for s in range(n):
            total[s] += risk.pnl[s]
    return total


def undiversified(risks: Sequence[UnderlyingRisk]) -> float:
    """``0.0 + R_u1 + R_u2 + ...``: the requirements summed in underlying order, each underlying
    margined alone (``cross="sum"``'s initial margin)."""
    total = 0.0
    for risk in risks:
        total += risk.requirement
    return total


def gross_margin(book: Book, risk_arrays: dict[str, list[float]]) -> float:
    """Sum of the standalone margins, in netted-position order, from 0.0."""
    gross = 0.0
    for pos in book.positions:
        gross += standalone(pos.quantity, risk_arrays[pos.instrument_id])
    return gross


def account_risk(
    book: Book, instruments: dict[str, Instrument], risk_arrays: dict[str, list[float]], model: GridModel
) -> AccountRisk:
    """Margins of one account under ``model``."""
    n = model.n_scenarios
    risks = [
        underlying_risk(
            u, underlying_pnl(book, u, instruments, risk_arrays, n), pnl_scale(book, u, instruments, risk_arrays)
        )
        for u in underlying_order(book, instruments)
    ]
    total = cross_total(risks, n)
    alone = undiversified(risks)
    worst_underlying: str | None
    binding: tuple[int | None, ...] = ()
    if model.cross == "sum":
        initial = alone
        largest = largest_requirement(risks)
        worst_underlying = largest.underlying if largest is not None else None
        worst = largest.worst if largest is not None else None
    elif model.cross == "correlation":
        outcome = correlation_cross(risks, model, alone)
        initial, worst_underlying, worst, binding = (
            outcome.initial,
            outcome.worst_underlying,
            outcome.worst,
            outcome.binding,
        )
        # The account's noise floor, as for joint moves (docs/methods.md, "Noise").
        if is_noise(initial, pnl_scale(book, None, instruments, risk_arrays)):
            initial, worst_underlying, worst, binding = 0.0, None, None, (None,) * len(risks)
    elif model.cross == "joint":
        initial, worst = worst_loss_above_noise(total, pnl_scale(book, None, instruments, risk_arrays))
        worst_underlying = None
    else:
        raise NotImplementedError(f"the reference implements cross='sum' and 'joint', not {model.cross!r}")
    return AccountRisk(
        account_id=book.account_id,
        first_row=book.first_row,
        underlyings=risks,
        total=total,
        initial=initial,
        maintenance=model.mm_ratio * initial,
        gross=gross_margin(book, risk_arrays),
        undiversified=alone,
        worst_underlying=worst_underlying,
        worst=worst,
        binding=binding,
    )
