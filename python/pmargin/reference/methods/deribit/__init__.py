"""Deribit portfolio margin, written from the definitions (docs/methods.md, "Deribit portfolio
margin"): each held contract's row of P&L per unit (:mod:`.matrix`), each account's risk vectors
and charges (:mod:`.aggregate`, with the add-ons of :mod:`pmargin.reference.risk.addons`) and the
result tables (:mod:`.tables`).

Mirrors: rust/pmargin-core/src/methods/deribit/
"""

from __future__ import annotations

import math

import pyarrow as pa

from ....errors import MarginInputError
from ....limits import Limits
from ....market import Market
from ....models.deribit import DeribitModel
from ....result import MarginResult
from ...domain.book import read_positions
from ...domain.instruments import Instrument, read_instruments
from ...domain.market import read_underlyings, read_vols
from ...output.failed import failed_table
from ...risk.arrays import check_scale, non_finite_error
from ...valuation import base_value, held_books, make_contract, unit_greeks
from .. import reject_by_position
from .aggregate import PERPETUAL, ContractRisk, account_outcome, contract_roll_rate, contract_scale, raw_vectors
from .matrix import contract_row, forward_delta
from .tables import accounts_table, by_underlying_table, scenario_matrix

#: The model types this method margins.
TYPES = ("deribit",)

#: A contract whose roll rate overflows (``{}``: the underlying's parameter set).
ROLL_OVERFLOW = (
    "its roll rate exp(annualised_move_risk x T) - 1 is not finite: params.{}.annualised_move_risk "
    "is too large for an expiry this far out"
)


def margin(
    positions_table: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: DeribitModel,
    *,
    by_position: bool,
    limits: Limits,
    on_error: str,
) -> MarginResult:
    """The Deribit margins of every account (see :func:`pmargin.reference.margin`)."""
    reject_by_position(
        by_position,
        "the deribit model has no per-position attribution; margin without by_position",
    )
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, limits.max_implied_vol)
    instrument_rows = read_instruments(instruments)
    position_rows = read_positions(positions_table)
    flat = model.flat

    def params_of(underlying: str) -> str | None:
        return underlying if underlying in flat else ("*" if "*" in flat else None)

    def no_params(underlying: str) -> MarginInputError | None:
        return None

    rows: dict[str, ContractRisk | None] = {}

    def risk_of(inst: Instrument) -> ContractRisk | None:
        if inst.instrument_id not in rows:
            key = params_of(inst.underlying)
            assert key is not None
            c = make_contract(inst, underlyings, vols, market.as_of_ns)
            inverse = inst.settlement == "inverse"
            row = contract_row(flat[key], c, base_value(c), inverse)
            ok = all(x == x and abs(x) != float("inf") for x in row)
            roll_key: int | str | None
            if inst.kind == "spot":
                roll_key = None
            elif inst.kind == "perpetual":
                roll_key = PERPETUAL
            else:
                roll_key = inst.expiry_ns
            rows[inst.instrument_id] = (
                ContractRisk(key, inst.underlying, inverse, row, forward_delta(c, unit_greeks(c).delta), roll_key, c.t)
                if ok
                else None
            )
        return rows[inst.instrument_id]

    def value_problem(inst: Instrument) -> MarginInputError | None:
        if params_of(inst.underlying) is None:
            return MarginInputError(
                f"underlying {inst.underlying!r} has no Deribit parameters (the model's params have no "
                f"{inst.underlying!r} and no '*')",
                table="instruments",
                column="underlying",
                row=inst.row,
            )
        r = risk_of(inst)
        if r is None:
            row = rows_of_problem(inst)
            return non_finite_error(inst.row, row)
        if not math.isfinite(contract_roll_rate(r, flat[r.params])):
            return MarginInputError(ROLL_OVERFLOW.format(r.params), table="instruments", column="expiry", row=inst.row)
        return None

    def rows_of_problem(inst: Instrument) -> int:
        key = params_of(inst.underlying)
        assert key is not None
        c = make_contract(inst, underlyings, vols, market.as_of_ns)
        row = contract_row(flat[key], c, base_value(c), inst.settlement == "inverse")
        return next(i for i, x in enumerate(row) if not (x == x and abs(x) != float("inf")))

    books, failed = held_books(
        position_rows, instrument_rows, underlyings, vols, market.as_of_ns, no_params, on_error, value_problem
    )
    risk = {p.instrument_id: risk_of(instrument_rows[p.instrument_id]) for b in books for p in b.positions}
    held = {iid: r for iid, r in risk.items() if r is not None}
    spot = {name: u.spot for name, u in underlyings.items()}
    check_scale(
        position_rows,
        books,
        {iid: contract_scale(r, flat[r.params], spot[r.underlying]) for iid, r in held.items()},
    )
    outcomes = [account_outcome(b, held, flat, spot) for b in books]
    ids = positions_table.column("account_id")
    return MarginResult(
        accounts_table(outcomes, ids, model.parameter_set),
        by_underlying_table(outcomes, ids, flat),
        model,
        lambda index: scenario_matrix(raw_vectors(books[index], held), flat, spot),
        failed=failed_table(failed, ids),
    )
