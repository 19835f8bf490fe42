"""VaR / ES margins of the historical and Monte Carlo models, written from the definitions.

Per account and scenario window (the normal one, and a stressed one when given):

- ``pnl_u[i] = 0.0 + q1 * ra1[i] + ...`` over the netted positions on ``u`` (the grid's netting
  and order); ``total[i] = 0.0 + pnl_u1[i] + pnl_u2[i] + ...`` over the account's underlyings in
  first-seen order;
- the account's measure is that of the losses ``0.0 - total[i]``; each underlying's alone that of
  ``0.0 - pnl_u[i]`` (:mod:`pmargin.reference.risk.tail`);
- initial margin = the largest window margin (the normal window on a tie, and it "binds");
  an underlying's requirement likewise over windows; maintenance = ``mm_ratio * initial``;
- undiversified = ``0.0 + requirement_u1 + ...``; ``cross_underlying_benefit`` = undiversified -
  initial;
- gross = ``0.0 + ...`` over netted positions of ``q * long`` (q > 0), ``-q * short`` (q < 0), 0
  (q == 0), with ``long`` / ``short`` the margin of one unit long (losses ``0.0 - ra[i]``) / short
  (losses ``ra[i] + 0.0``), each the max over windows folded from 0.0; ``netting_benefit`` =
  gross - initial.

Scenario windows in :mod:`pmargin.reference.scenarios`, risk arrays in
:mod:`pmargin.reference.risk.arrays`; one account's tails in :mod:`.aggregate` and the result
tables in :mod:`.tables`.

Mirrors: rust/pmargin-core/src/methods/var/
"""

from __future__ import annotations

import pyarrow as pa

from ....errors import MarginInputError
from ....limits import Limits
from ....market import Market
from ....models import MonteCarloModel
from ....result import MarginResult
from ...domain.book import Book, read_positions
from ...domain.instruments import Instrument, read_instruments
from ...domain.market import read_underlyings, read_vols
from ...output.failed import failed_table
from ...risk import budget
from ...risk.arrays import check_pnl_scale, held_window_arrays, window_value_problem
from ...risk.tail import tail_count
from ...scenarios import Window
from ...scenarios.historical import historical_window
from ...scenarios.montecarlo import monte_carlo_window
from ...valuation import held_books
from .. import reject_by_position
from .aggregate import MeasureModel, measure_account, unit_margins
from .tables import measure_accounts_table, measure_by_underlying_table, scenario_matrix_of


def model_windows(model: MeasureModel) -> list[Window]:
    """The normal window, then the stressed one when the model has it."""
    if isinstance(model, MonteCarloModel):
        return [monte_carlo_window(model)]
    windows = [historical_window(model.moves, "moves", model.vol_shock, model.ewma_lambda)]
    if model.stressed is not None:
        windows.append(historical_window(model.stressed, "stressed", model.vol_shock, None, "stressed"))
    return windows


def group_sizes(book: Book, instruments: dict[str, Instrument]) -> dict[str, int]:
    """Netted positions per underlying of one account."""
    sizes: dict[str, int] = {}
    for pos in book.positions:
        u = instruments[pos.instrument_id].underlying
        sizes[u] = sizes.get(u, 0) + 1
    return sizes


def measure_margin(
    positions: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: MeasureModel,
    limits: Limits,
    on_error: str = "raise",
) -> MarginResult:
    """Margins of every account under a VaR / ES model.

    Checks, in order: underlyings, vols, instruments, the model's windows (moves then stressed;
    the Monte Carlo draws) with the memory estimate (before the draws for Monte Carlo, after
    reading the moves for historical), the tail count of each window, the positions, then each
    position in row order for an unknown instrument, or a held one (non-zero net) with a market
    problem, an underlying that a window cannot move (normal window first) or a value that is not
    finite under a window (normal first)."""
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, limits.max_implied_vol)
    instrument_rows = read_instruments(instruments)
    n_u, n_c = market.underlyings.num_rows, len(instrument_rows)
    field = "n_scenarios" if isinstance(model, MonteCarloModel) else "memory_budget"
    if isinstance(model, MonteCarloModel):
        sizes = [budget.WindowSize(model.n_scenarios, 1, len(model.correlation.names))]
        budget.check(limits, sizes, n_u, n_c, 0, field)
    windows = model_windows(model)
    if not isinstance(model, MonteCarloModel):
        sizes = [budget.WindowSize(w.n, 1) for w in windows]
        budget.check(limits, sizes, n_u, n_c, 0, field)
    ks = [tail_count(w.n, model.confidence) for w in windows]
    position_rows = read_positions(positions)

    def scenario_problem(underlying: str) -> MarginInputError | None:
        for window in windows:
            problem = window.problem(underlying)
            if problem is not None:
                return problem
        return None

    value_problem = window_value_problem(underlyings, vols, market.as_of_ns, windows)
    books, failed = held_books(
        position_rows, instrument_rows, underlyings, vols, market.as_of_ns, scenario_problem, on_error, value_problem
    )
    arrays = [
        held_window_arrays(books, instrument_rows, underlyings, vols, market.as_of_ns, window) for window in windows
    ]
    check_pnl_scale(position_rows, books, arrays)
    # The tail state grows with the book and k: checked now that the book is known.
    streamed = [1 + sum(1 for size in group_sizes(b, instrument_rows).values() if size >= 2) for b in books]
    budget.check(limits, sizes, n_u, n_c, budget.tail_state(streamed, ks), field)
    units: dict[str, tuple[float, float]] = {}
    for iid in arrays[0]:
        long, short = 0.0, 0.0
        for w in range(len(windows)):
            one_long, one_short = unit_margins(arrays[w][iid], ks[w], model.measure)
            long, short = max(long, one_long), max(short, one_short)
        units[iid] = (long, short)
    accounts = [measure_account(b, instrument_rows, arrays, windows, ks, units, model.measure) for b in books]
    ids = positions.column("account_id")
    return MarginResult(
        measure_accounts_table(accounts, ids, windows, model),
        measure_by_underlying_table(accounts, ids, windows, model.measure),
        model,
        scenario_matrix_of(accounts, windows[0]),
        failed=failed_table(failed, ids),
    )


#: The model types this method margins (``pmargin.reference.methods.method_for``).
TYPES = ("historical", "montecarlo")


def margin(
    positions: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: MeasureModel,
    *,
    by_position: bool,
    limits: Limits,
    on_error: str,
) -> MarginResult:
    """The VaR / ES margins of every account (see :func:`pmargin.reference.margin`)."""
    result = measure_margin(positions, instruments, market, model, limits, on_error)
    reject_by_position(
        by_position,
        "by_position is available for the grid model only (historical and Monte Carlo report their tail "
        "scenarios instead)",
    )
    return result
