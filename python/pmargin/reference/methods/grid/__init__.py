"""The grid method: the worst loss over a grid of price x vol scenarios, written from the definitions.

Scenarios in :mod:`pmargin.reference.scenarios.grid`, risk arrays in :mod:`pmargin.reference.risk.arrays`,
group P&L and worst losses in :mod:`pmargin.reference.risk.group_pnl` and
:mod:`pmargin.reference.risk.worst_loss`; what an account's margin is made of in :mod:`.outcome`,
the per-account aggregation in :mod:`.aggregate`, the correlation cross and the driving underlying
in :mod:`.cross` (its joint moves in :mod:`.ellipsoid`), what drives each margin in :mod:`.attribution` and the result tables in
:mod:`.tables`.

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
  ``cross="correlation"``: the largest total loss over the joint moves inside the correlation
  ellipsoid (:mod:`.ellipsoid`, :mod:`.cross`), at most the undiversified margin and, with
  ``floor_largest``, at least the largest ``R_u``; the account's worst scenario is that of the
  underlying losing most in the binding move.
- Maintenance = ``mm_ratio * initial``; gross = the sum over netted positions of
  ``max(0, max_s(-(q * ra[s])))``, each position margined alone. Two benefits, two names
  (``docs/methods.md``, "Netting benefit and cross-underlying benefit"): ``netting_benefit`` =
  ``gross - initial``; ``cross_underlying_benefit`` = ``(0.0 + R_u1 + R_u2 + ...) - initial``
  (the undiversified margin minus initial).

Mirrors: rust/pmargin-core/src/methods/grid/
"""

from __future__ import annotations

import pyarrow as pa

from ....errors import MarginInputError
from ....limits import Limits
from ....market import Market
from ....models import GridModel
from ....result import MarginResult
from ...domain.book import read_positions
from ...domain.instruments import Instrument, read_instruments
from ...domain.market import read_underlyings, read_vols
from ...output.failed import failed_table
from ...risk import budget
from ...risk.arrays import check_pnl_scale, grid_value_problem, held_risk_arrays
from ...valuation import held_books, make_contract, unit_greeks
from .. import reject_by_position
from .addons import forward_delta, with_addons
from .aggregate import account_risk
from .attribution import attribution_tables
from .ranges import shocks_for, underlying_scales
from .tables import accounts_table, by_underlying_table, scenario_matrix

#: The model types this method margins (``pmargin.reference.methods.method_for``).
TYPES = ("grid",)


def margin(
    positions_table: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: GridModel,
    *,
    by_position: bool,
    limits: Limits,
    on_error: str,
) -> MarginResult:
    """The grid margins of every account (see :func:`pmargin.reference.margin`)."""
    reject_by_position(
        by_position and model.has_addons,
        "attribution covers the scan only: margin a grid with add-ons without by_position",
    )
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, limits.max_implied_vol)
    instrument_rows = read_instruments(instruments)
    # The range column is read with the instruments, when the engine is built (before positions).
    scales, conflicts = underlying_scales(model, instruments, instrument_rows, underlyings)
    n_underlyings = market.underlyings.num_rows
    size = budget.WindowSize(model.n_scenarios, n_underlyings + 1)
    budget.check(limits, [size], n_underlyings, len(instrument_rows), 0, "memory_budget")
    position_rows = read_positions(positions_table)
    correlation = model.correlation if model.cross == "correlation" else None

    def uncorrelated(underlying: str) -> MarginInputError | None:
        if correlation is None or underlying in correlation:
            return None
        return MarginInputError(
            f"underlying {underlying!r} is held but is not in the correlation matrix", table="correlation"
        )

    shocks = {u: shocks_for(model, scale) for u, scale in scales.items()}
    non_finite = grid_value_problem(underlyings, vols, market.as_of_ns, model, shocks.__getitem__)

    def value_problem(inst: Instrument) -> MarginInputError | None:
        return conflicts.get(inst.instrument_id) or non_finite(inst)

    books, failed = held_books(
        position_rows, instrument_rows, underlyings, vols, market.as_of_ns, uncorrelated, on_error, value_problem
    )
    arrays = held_risk_arrays(books, instrument_rows, underlyings, vols, market.as_of_ns, model, shocks.__getitem__)
    check_pnl_scale(position_rows, books, [arrays])
    risks = [account_risk(book, instrument_rows, arrays, model) for book in books]
    if model.has_addons:
        held = {p.instrument_id for book in books for p in book.positions}
        contracts_held = {iid: make_contract(instrument_rows[iid], underlyings, vols, market.as_of_ns) for iid in held}
        fwd = {iid: forward_delta(c, unit_greeks(c).delta) for iid, c in contracts_held.items()}
        spot = {name: u.spot for name, u in underlyings.items()}
        risks = [
            with_addons(r, book, instrument_rows, arrays, fwd, spot, model)
            for r, book in zip(risks, books, strict=True)
        ]
    ids = positions_table.column("account_id")
    attribution: tuple[pa.Table, pa.Table] | tuple[None, None] = (None, None)
    if by_position:
        contracts = {iid: make_contract(instrument_rows[iid], underlyings, vols, market.as_of_ns) for iid in arrays}
        unit = {iid: unit_greeks(c) for iid, c in contracts.items()}
        attribution = attribution_tables(books, risks, ids, instrument_rows, arrays, contracts, unit, model, scales)
    return MarginResult(
        accounts_table(risks, ids, model, scales),
        by_underlying_table(risks, ids, model, scales),
        model,
        lambda index: scenario_matrix(risks[index], model),
        attribution[0],
        attribution[1],
        failed=failed_table(failed, ids),
    )
