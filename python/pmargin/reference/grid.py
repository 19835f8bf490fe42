"""Scenario revaluation and aggregation of the grid model, written from the definitions.

- Scenario ``s = (p, v)`` in :meth:`GridModel.scenario_shocks` order: ``spot' = spot * (1 + p)``;
  an option's vol becomes ``max(VOL_FLOOR, vol * (1 + v))`` (relative) or
  ``max(VOL_FLOOR, vol + v)`` (absolute); rate and ``T`` are unchanged.
- Risk array of a contract: ``ra[s] = value(shocked s) - value(base)``.
- Positions are netted per (account, instrument) in first-seen order of the pair; accounts and,
  within an account, underlyings come in first-seen order.
- ``pnl_u[s] = 0.0 + q1 * ra1[s] + q2 * ra2[s] + ...`` over the account's netted positions on
  ``u``; ``requirement_u`` is the largest loss ``max_s(-pnl_u[s])`` when positive, else 0, and the
  worst scenario is the first one attaining it (none when nothing loses).
- ``cross="sum"``: initial margin is the sum of the requirements; the account's worst is the
  underlying with the largest requirement (the first on ties). ``cross="joint"``:
  ``total[s] = 0.0 + pnl_u1[s] + pnl_u2[s] + ...`` and initial margin is its largest loss.
  ``cross="correlation"``: signed requirements ``r_u = -R_u`` when the worst scenario's price
  shock is > 0, else ``R_u``; ``T = 0.0``, then ``T += rho[i][j] * r_i * r_j`` (left to right)
  for i over the account's underlyings (first-seen), j within; ``IM = min(sqrt(max(0, T)),
  undiversified)`` and, with ``floor_largest``, ``IM = max(IM, R_u)`` over the underlyings in
  order. The account's worst scenario is the largest underlying's, as for ``"sum"``.
- Maintenance = ``mm_ratio * initial``; gross = the sum over netted positions of
  ``max(0, max_s(-(q * ra[s])))``, each position margined alone; diversification benefit =
  ``(0.0 + R_u1 + R_u2 + ...) - initial`` (``docs/methods.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..models import VOL_FLOOR, GridModel
from .pricing import Contract, base_value, contract_value, year_fraction
from .tables import AccountId, Instrument, Position, Underlying

Shock = tuple[float, float]


# --- risk arrays ----------------------------------------------------------------------------


def make_contract(
    inst: Instrument, underlyings: dict[str, Underlying], vols: dict[str, float], as_of_ns: int
) -> Contract:
    """The pricing inputs of a held instrument (its market data already checked)."""
    market = underlyings[inst.underlying]
    t = 0.0 if inst.expiry_ns is None else year_fraction(inst.expiry_ns, as_of_ns)
    return Contract(
        kind=inst.kind,
        is_call=inst.option_type == "call",
        strike=inst.strike if inst.strike is not None else 0.0,
        multiplier=inst.multiplier,
        spot=market.spot,
        rate=market.rate,
        t=t,
        vol=vols[inst.instrument_id] if inst.kind == "option" else None,
        payoff=inst.payoff,
        barrier_type=inst.barrier_type,
        barrier=inst.barrier if inst.barrier is not None else 0.0,
        rebate=inst.rebate,
    )


def shocked_vol(vol: float, shock: float, mode: str) -> float:
    """``max(VOL_FLOOR, vol * (1 + v))`` (relative) or ``max(VOL_FLOOR, vol + v)`` (absolute)."""
    raw = vol * (1 + shock) if mode == "relative" else vol + shock
    return max(VOL_FLOOR, raw)


def shocked_value(c: Contract, shock: Shock, mode: str) -> float:
    """Value of one unit of ``c`` in scenario ``(p, v)``: spot times ``1 + p``, vol shocked."""
    p, v = shock
    vol = None if c.vol is None else shocked_vol(c.vol, v, mode)
    return contract_value(c, c.spot * (1 + p), vol)


def risk_array(c: Contract, shocks: Sequence[Shock], mode: str) -> list[float]:
    """``ra[s] = value(shocked s) - value(base)`` for every scenario, in grid order."""
    base = base_value(c)
    return [shocked_value(c, shock, mode) - base for shock in shocks]


# --- netting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NettedPosition:
    """The net quantity an account holds of one instrument."""

    instrument_id: str
    quantity: float


@dataclass(frozen=True)
class Book:
    """One account's netted positions (first-seen order) and its first row in the positions table."""

    account_id: AccountId
    first_row: int
    positions: list[NettedPosition]


def net_positions(positions: Sequence[Position]) -> list[Book]:
    """Net the rows per (account, instrument), summing quantities in row order from 0.0.

    Accounts and, within each, instruments keep first-seen order; zero net quantities are kept.
    """
    first_rows: dict[AccountId, int] = {}
    nets: dict[AccountId, dict[str, float]] = {}
    for pos in positions:
        if pos.account_id not in nets:
            first_rows[pos.account_id] = pos.row
            nets[pos.account_id] = {}
        held = nets[pos.account_id]
        held[pos.instrument_id] = held.get(pos.instrument_id, 0.0) + pos.quantity
    return [
        Book(account, first_rows[account], [NettedPosition(iid, q) for iid, q in held.items()])
        for account, held in nets.items()
    ]


# --- aggregation ----------------------------------------------------------------------------


def worst_loss(pnl: Sequence[float]) -> tuple[float, int | None]:
    """Largest loss ``max_s(-pnl[s])`` and the first scenario attaining it (strict ``>`` scan);
    ``(0.0, None)`` when no scenario loses."""
    loss, at = -pnl[0], 0
    for s in range(1, len(pnl)):
        if -pnl[s] > loss:
            loss, at = -pnl[s], s
    if loss > 0.0:
        return loss, at
    return 0.0, None


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
    scenario's index, None when nothing loses."""

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


def underlying_order(book: Book, instruments: dict[str, Instrument]) -> list[str]:
    """The underlyings of the account's netted positions, first-seen."""
    return list(dict.fromkeys(instruments[p.instrument_id].underlying for p in book.positions))


def underlying_pnl(
    book: Book, underlying: str, instruments: dict[str, Instrument], risk_arrays: dict[str, list[float]], n: int
) -> list[float]:
    """``pnl[s] = 0.0``, then ``pnl[s] += q * ra[s]`` over the netted positions on ``underlying``."""
    pnl = [0.0] * n
    for pos in book.positions:
        if instruments[pos.instrument_id].underlying != underlying:
            continue
        ra = risk_arrays[pos.instrument_id]
        for s in range(n):
            pnl[s] += pos.quantity * ra[s]
    return pnl


def underlying_risk(underlying: str, pnl: list[float]) -> UnderlyingRisk:
    """Requirement and worst scenario of one underlying's P&L vector."""
    requirement, worst = worst_loss(pnl)
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


def largest_requirement(risks: Sequence[UnderlyingRisk]) -> UnderlyingRisk | None:
    """The underlying with the largest requirement, the first on ties; None when none is positive."""
    largest: UnderlyingRisk | None = None
    for risk in risks:
        if risk.requirement > (largest.requirement if largest is not None else 0.0):
            largest = risk
    return largest


def correlation_cross(risks: Sequence[UnderlyingRisk], model: GridModel, alone: float) -> float:
    """``cross="correlation"``: the signed requirements aggregated with the correlation matrix
    (module docstring), capped at the undiversified margin ``alone``, floored at the largest
    requirement when ``model.floor_largest``."""
    rho = model.correlation
    assert rho is not None, "cross='correlation' comes with a correlation matrix"
    shocks = model.scenario_shocks()
    signed: list[tuple[int, float]] = []
    for risk in risks:
        short = risk.worst is not None and shocks[risk.worst][0] > 0.0
        signed.append((rho.index(risk.underlying), -risk.requirement if short else risk.requirement))
    t = 0.0
    for i, ri in signed:
        for j, rj in signed:
            t += rho.matrix[i][j] * ri * rj
    initial = min(math.sqrt(max(0.0, t)), alone)
    if model.floor_largest:
        for risk in risks:
            initial = max(initial, risk.requirement)
    return initial


def standalone(quantity: float, ra: Sequence[float]) -> float:
    """Margin of one netted position alone: ``max(0, max_s(-(q * ra[s])))``."""
    return max(0.0, max(-(quantity * r) for r in ra))


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
        underlying_risk(u, underlying_pnl(book, u, instruments, risk_arrays, n))
        for u in underlying_order(book, instruments)
    ]
    total = cross_total(risks, n)
    alone = undiversified(risks)
    worst_underlying: str | None
    if model.cross in ("sum", "correlation"):
        initial = alone if model.cross == "sum" else correlation_cross(risks, model, alone)
        largest = largest_requirement(risks)
        worst_underlying = largest.underlying if largest is not None else None
        worst = largest.worst if largest is not None else None
    elif model.cross == "joint":
        initial, worst = worst_loss(total)
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
    )


def held_risk_arrays(
    books: Sequence[Book],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    model: GridModel,
) -> dict[str, list[float]]:
    """One risk array per held instrument (each unique contract priced once per scenario)."""
    shocks = model.scenario_shocks()
    arrays: dict[str, list[float]] = {}
    for book in books:
        for pos in book.positions:
            if pos.instrument_id not in arrays:
                contract = make_contract(instruments[pos.instrument_id], underlyings, vols, as_of_ns)
                arrays[pos.instrument_id] = risk_array(contract, shocks, model.vol_shock)
    return arrays
