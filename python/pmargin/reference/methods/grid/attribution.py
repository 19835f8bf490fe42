"""What drives each account's grid margin, written from the definitions.

- **Driving scenario** of a netted position: its underlying's worst scenario (``cross="sum"``),
  the account's worst joint scenario (``cross="joint"``), or its underlying's scenario in the
  binding joint move (``cross="correlation"``, :mod:`.cross`); none when nothing loses.
- ``contribution = 0.0 - q * ra[s]`` at the driving scenario ``s`` (0 when there is none): the
  position's loss there. The contributions of an underlying add up to its requirement
  (``"sum"``), those of an account to its initial margin (``"joint"``, ``"correlation"``).
- ``standalone_margin``: the position margined alone, ``max(0, max_s(-(q * ra[s])))``.
- ``incremental_margin``: the account's initial margin minus the initial margin of the same
  account without the position, recomputed from scratch (for ``"sum"`` and ``"joint"`` the
  native core gets the latter by subtracting ``q * ra`` from its group's P&L, and for
  ``"correlation"`` also adds the rest of the block's least per grid point in another order, so
  the two agree to rounding of those sums).
- **Explain**, per account and underlying (first-seen), at the driving scenario ``s = (p, v)``:
  ``pnl`` = the underlying's P&L at ``s``; with ``dS = spot * ((1 + p) - 1)``, over the
  underlying's positions in netted order from 0.0: ``delta_pnl += q * delta * dS``,
  ``gamma_pnl += 0.5 * q * gamma * dS * dS`` and, for options with a non-zero vega,
  ``vega_pnl += q * vega * (shocked_vol - vol)`` (Greeks per unit, multiplier included, at the
  base market); ``residual = pnl - (delta_pnl + gamma_pnl + vega_pnl)``. Rows without a driving
  scenario have null ``scenario`` / shocks and zeros.

Mirrors: rust/pmargin-core/src/methods/grid/attribution.rs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from ....models import GridModel
from ...domain.book import Book
from ...domain.instruments import Instrument
from ...output.arrow import F64, account_ids
from ...pricing.greeks import Greeks
from ...risk.arrays import standalone
from ...scenarios.grid import shocked_vol
from ...valuation import Contract
from .aggregate import account_risk
from .outcome import AccountRisk
from .tables import Scale, worst_fields


@dataclass(frozen=True)
class PositionShare:
    """One netted position's contribution, standalone and incremental margin."""

    first_row: int
    instrument_id: str
    quantity: float
    contribution: float
    standalone: float
    incremental: float


@dataclass(frozen=True)
class Explain:
    """The driving scenario of one (account, underlying) and its P&L split by Greek."""

    first_row: int
    underlying: str
    scenario: int | None
    pnl: float
    delta_pnl: float
    gamma_pnl: float
    vega_pnl: float

    @property
    def residual(self) -> float:
        return self.pnl - (self.delta_pnl + self.gamma_pnl + self.vega_pnl)


def driving_scenario(risk: AccountRisk, underlying: str, model: GridModel) -> int | None:
    """The scenario that drives ``underlying``'s part of this account's margin."""
    if model.cross == "joint":
        return risk.worst
    for k, u in enumerate(risk.underlyings):
        if u.underlying == underlying:
            return risk.binding[k] if model.cross == "correlation" else u.worst
    raise KeyError(underlying)


def without(book: Book, index: int) -> Book:
    """The account without its ``index``-th netted position."""
    return Book(book.account_id, book.first_row, book.positions[:index] + book.positions[index + 1 :])


def position_shares(
    book: Book,
    risk: AccountRisk,
    instruments: dict[str, Instrument],
    arrays: dict[str, list[float]],
    model: GridModel,
) -> list[PositionShare]:
    """Contribution, standalone and incremental margin of each netted position, in order."""
    shares: list[PositionShare] = []
    for i, pos in enumerate(book.positions):
        ra = arrays[pos.instrument_id]
        s = driving_scenario(risk, instruments[pos.instrument_id].underlying, model)
        contribution = 0.0 if s is None else 0.0 - pos.quantity * ra[s]
        rest = account_risk(without(book, i), instruments, arrays, model)
        shares.append(
            PositionShare(
                book.first_row,
                pos.instrument_id,
                pos.quantity,
                contribution,
                standalone(pos.quantity, ra),
                risk.initial - rest.initial,
            )
        )
    return shares


def explain_rows(
    book: Book,
    risk: AccountRisk,
    instruments: dict[str, Instrument],
    contracts: dict[str, Contract],
    greeks: dict[str, Greeks],
    model: GridModel,
    scales: Mapping[str, Scale] | None = None,
) -> list[Explain]:
    """The explain of each underlying the account holds, first-seen order (each underlying at
    its own shocks under per-product ``scales``)."""
    shocks = model.scenario_shocks()
    rows: list[Explain] = []
    for u in risk.underlyings:
        s = driving_scenario(risk, u.underlying, model)
        if s is None:
            rows.append(Explain(book.first_row, u.underlying, None, 0.0, 0.0, 0.0, 0.0))
            continue
        p, v = shocks[s]
        if scales is not None:
            a, b = scales[u.underlying]
            p, v = p * a, v * b
        delta_pnl, gamma_pnl, vega_pnl = 0.0, 0.0, 0.0
        for pos in book.positions:
            if instruments[pos.instrument_id].underlying != u.underlying:
                continue
            c = contracts[pos.instrument_id]
            g = greeks[pos.instrument_id]
            q = pos.quantity
            ds = c.spot * ((1 + p) - 1.0)
            delta_pnl += q * g.delta * ds
            gamma_pnl += 0.5 * q * g.gamma * ds * ds
            if g.vega != 0.0 and c.vol is not None:
                vega_pnl += q * g.vega * (shocked_vol(c.vol, v, model.vol_shock) - c.vol)
        rows.append(Explain(book.first_row, u.underlying, s, u.pnl[s], delta_pnl, gamma_pnl, vega_pnl))
    return rows


def by_position_table(shares: Sequence[PositionShare], id_column: pa.ChunkedArray) -> pa.Table:
    """``by_position``: one row per netted position, accounts in order."""
    return pa.table(
        {
            "account_id": account_ids(id_column, [x.first_row for x in shares]),
            "instrument_id": pa.array([x.instrument_id for x in shares], pa.string()),
            "quantity": pa.array([x.quantity for x in shares], F64),
            "contribution": pa.array([x.contribution for x in shares], F64),
            "standalone_margin": pa.array([x.standalone for x in shares], F64),
            "incremental_margin": pa.array([x.incremental for x in shares], F64),
        }
    )


def explain_table(
    rows: Sequence[Explain], id_column: pa.ChunkedArray, model: GridModel, scales: Mapping[str, Scale] | None = None
) -> pa.Table:
    """``explain``: one row per (account, underlying held); the label is the underlying's own."""
    worst = [worst_fields(model, x.underlying, x.scenario, scales) for x in rows]
    return pa.table(
        {
            "account_id": account_ids(id_column, [x.first_row for x in rows]),
            "underlying": pa.array([x.underlying for x in rows], pa.string()),
            "scenario": pa.array([w[0] for w in worst], pa.string()),
            "price_shock": pa.array([w[1] for w in worst], F64),
            "vol_shock": pa.array([w[2] for w in worst], F64),
            "pnl": pa.array([x.pnl for x in rows], F64),
            "delta_pnl": pa.array([x.delta_pnl for x in rows], F64),
            "gamma_pnl": pa.array([x.gamma_pnl for x in rows], F64),
            "vega_pnl": pa.array([x.vega_pnl for x in rows], F64),
            "residual": pa.array([x.residual for x in rows], F64),
        }
    )


def attribution_tables(
    books: Sequence[Book],
    risks: Sequence[AccountRisk],
    id_column: pa.ChunkedArray,
    instruments: dict[str, Instrument],
    arrays: dict[str, list[float]],
    contracts: dict[str, Contract],
    greeks: dict[str, Greeks],
    model: GridModel,
    scales: Mapping[str, Scale] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """``(by_position, explain)`` of every account."""
    shares: list[PositionShare] = []
    explains: list[Explain] = []
    for book, risk in zip(books, risks, strict=True):
        shares += position_shares(book, risk, instruments, arrays, model)
        explains += explain_rows(book, risk, instruments, contracts, greeks, model, scales)
    return by_position_table(shares, id_column), explain_table(explains, id_column, model, scales)
