"""OCC TIMS / FINRA 4210(g), written from the definitions (docs/tims.md): each account's
requirement in :mod:`.aggregate`, the result tables in :mod:`.tables`.

- Points of a class group with range ``(down, up)``: ``-down * k / 5`` for k = 5..1, then
  ``up * k / 5`` for k = 1..5; ``spot' = spot * (1 + point)``, vol unchanged (floored at
  ``VOL_FLOOR`` as in every scenario);
  ``ra[k] = value(point k) - value(base)``.

Mirrors: rust/pmargin-core/src/methods/tims/
"""

from __future__ import annotations

import pyarrow as pa

from ....errors import MarginInputError
from ....limits import Limits
from ....market import Market
from ....models.tims import TimsModel
from ....result import MarginResult
from ...domain.book import read_positions
from ...domain.instruments import Instrument, read_instruments
from ...domain.market import read_underlyings, read_vols
from ...output.failed import failed_table
from ...risk.arrays import check_scale, first_non_finite, non_finite_error
from ...scenarios.grid import shocked_vol
from ...valuation import base_value, contract_value, held_books, make_contract
from .. import reject_by_position
from .aggregate import TimsContract, account, point
from .tables import accounts_table, by_class_group_table, scenario_matrix

TYPES = ("tims",)
N = 10

__all__ = ["TYPES", "margin", "point"]


def margin(
    positions_table: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: TimsModel,
    *,
    by_position: bool,
    limits: Limits,
    on_error: str,
) -> MarginResult:
    """The TIMS requirements of every account (see :func:`pmargin.reference.margin`)."""
    model = model.bind(instruments)
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, limits.max_implied_vol)
    instrument_rows = read_instruments(instruments)
    position_rows = read_positions(positions_table)
    groups = model.class_groups()
    index = {g.underlying: i for i, g in enumerate(groups)}
    product_names = model.product_group_names()

    def pnl(inst: Instrument) -> list[float]:
        c = make_contract(inst, underlyings, vols, market.as_of_ns)
        g = groups[index[inst.underlying]]
        base = base_value(c)
        # Vol unchanged, floored as every scenario floors it.
        vol = None if c.vol is None else shocked_vol(c.vol, 0.0, "absolute")
        return [contract_value(c, c.spot * (1.0 + point(k, g.down, g.up)), vol) - base for k in range(N)]

    def no_class(underlying: str) -> MarginInputError | None:
        if underlying in index:
            return None
        return MarginInputError(
            f"underlying '{underlying}' is held but has no product class in parameter set '{model.parameter_set}'",
            table="instruments",
            column="product_class",
        )

    def value_problem(inst: Instrument) -> MarginInputError | None:
        bad = first_non_finite(pnl(inst))
        return None if bad is None else non_finite_error(inst.row, bad)

    books, failed = held_books(
        position_rows, instrument_rows, underlyings, vols, market.as_of_ns, no_class, on_error, value_problem
    )
    contracts: dict[str, TimsContract] = {}
    for book in books:
        for p in book.positions:
            if p.instrument_id not in contracts:
                inst = instrument_rows[p.instrument_id]
                c = make_contract(inst, underlyings, vols, market.as_of_ns)
                g = index[inst.underlying]
                minimum = model.minimum_per_contract * c.multiplier if inst.kind == "option" else 0.0
                contracts[p.instrument_id] = TimsContract(pnl(inst), g, groups[g].product_group, minimum, base_value(c))
    check_scale(position_rows, books, {iid: max(abs(x) for x in c.pnl) for iid, c in contracts.items()})
    reject_by_position(
        by_position,
        "TIMS results are per class and product group; by-position attribution is not defined for it",
    )
    outcomes = [account(model, book, contracts, product_names) for book in books]
    ids = positions_table.column("account_id")
    return MarginResult(
        accounts_table(outcomes, ids, model),
        by_class_group_table(outcomes, ids, model),
        model,
        lambda i: scenario_matrix(outcomes[i], model),
        failed=failed_table(failed, ids),
    )
