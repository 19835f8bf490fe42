"""CME SPAN, written from the definitions (docs/span.md): risk arrays in :mod:`.arrays`, each
account's requirement in :mod:`.aggregate`, the result tables in :mod:`.tables`.

Mirrors: rust/pmargin-core/src/methods/span/
"""

from __future__ import annotations

import pyarrow as pa

from ....limits import Limits
from ....market import Market
from ....models.span import SpanModel
from ....result import MarginResult
from ...domain.book import read_positions
from ...domain.instruments import read_instruments
from ...domain.market import read_underlyings, read_vols
from ...output.failed import failed_table
from ...risk.arrays import check_scale
from ...valuation import held_books
from .. import reject_by_position
from .aggregate import account
from .arrays import read_supplied, span_contract, span_problem
from .tables import accounts_table, by_commodity_table, scenario_matrix

TYPES = ("span",)


def margin(
    positions_table: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: SpanModel,
    *,
    by_position: bool,
    limits: Limits,
    on_error: str,
) -> MarginResult:
    """The SPAN requirements of every account (see :func:`pmargin.reference.margin`)."""
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, limits.max_implied_vol)
    instrument_rows = read_instruments(instruments)
    supplied = read_supplied(model.risk_arrays, instrument_rows)
    position_rows = read_positions(positions_table)
    problem = span_problem(model, supplied, underlyings, vols, market.as_of_ns)
    books, failed = held_books(
        position_rows, instrument_rows, underlyings, vols, market.as_of_ns, None, on_error, problem
    )
    held = {p.instrument_id for b in books for p in b.positions}
    contracts = {
        iid: span_contract(instrument_rows[iid], model, supplied, underlyings, vols, market.as_of_ns) for iid in held
    }
    check_scale(position_rows, books, {iid: max(abs(x) for x in c.loss) for iid, c in contracts.items()})
    reject_by_position(
        by_position,
        "SPAN results are per combined commodity; by-position attribution is not defined for it",
    )
    outcomes = [account(model, book, contracts) for book in books]
    ids = positions_table.column("account_id")
    return MarginResult(
        accounts_table(outcomes, ids, model),
        by_commodity_table(outcomes, ids, model),
        model,
        lambda index: scenario_matrix(outcomes[index], model),
        failed=failed_table(failed, ids),
    )
