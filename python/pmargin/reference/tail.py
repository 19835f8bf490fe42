"""VaR / ES margins of the historical and Monte Carlo models, written from the definitions.

Per account and scenario window (the normal one, and a stressed one when given):

- ``pnl_u[i] = 0.0 + q1 * ra1[i] + ...`` over the netted positions on ``u`` (the grid's netting
  and order); ``total[i] = 0.0 + pnl_u1[i] + pnl_u2[i] + ...`` over the account's underlyings in
  first-seen order;
- the account's measure is that of the losses ``0.0 - total[i]``; each underlying's alone that of
  ``0.0 - pnl_u[i]`` (:mod:`.measures`);
- initial margin = the largest window margin (the normal window on a tie, and it "binds");
  an underlying's requirement likewise over windows; maintenance = ``mm_ratio * initial``;
- undiversified = ``0.0 + requirement_u1 + ...``; diversification benefit = undiversified - initial;
- gross = ``0.0 + ...`` over netted positions of ``q * long`` (q > 0), ``-q * short`` (q < 0), 0
  (q == 0), with ``long`` / ``short`` the margin of one unit long (losses ``0.0 - ra[i]``) / short
  (losses ``ra[i] + 0.0``), each the max over windows folded from 0.0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from ..errors import MarginInputError
from ..market import Market
from ..models import HistoricalModel, MonteCarloModel
from ..result import MarginResult
from .grid import Book, make_contract, net_positions, underlying_order, underlying_pnl
from .historical import historical_window
from .measures import TailOutcome, measure_of, tail_count
from .montecarlo import monte_carlo_window
from .output import F64, account_ids
from .tables import Instrument, Underlying, check_held, read_instruments, read_positions, read_underlyings, read_vols
from .windows import Window, first_non_finite, window_risk_array

MeasureModel = HistoricalModel | MonteCarloModel


def model_windows(model: MeasureModel) -> list[Window]:
    """The normal window, then the stressed one when the model has it."""
    if isinstance(model, MonteCarloModel):
        return [monte_carlo_window(model)]
    windows = [historical_window(model.moves, "moves", model.vol_shock, model.ewma_lambda)]
    if model.stressed is not None:
        windows.append(historical_window(model.stressed, "stressed", model.vol_shock, None, "stressed"))
    return windows


@dataclass(frozen=True)
class WindowOutcome:
    """One account in one window: the whole account and each underlying alone."""

    total: TailOutcome
    per_underlying: list[TailOutcome]


@dataclass(frozen=True)
class MeasureAccount:
    """One account's tails in every window, its normal-window P&L matrix and gross margin."""

    account_id: object
    first_row: int
    underlyings: list[str]
    windows: list[WindowOutcome]
    pnl: list[list[float]]
    total: list[float]
    gross: float

    def binding(self) -> tuple[float, int]:
        """(initial margin, binding window): the largest margin, the first window on ties."""
        best, at = self.windows[0].total.margin, 0
        for w in range(1, len(self.windows)):
            if self.windows[w].total.margin > best:
                best, at = self.windows[w].total.margin, w
        return best, at

    def underlying_binding(self, k: int) -> tuple[float, int]:
        """(requirement, binding window) of the account's k-th underlying alone."""
        best, at = self.windows[0].per_underlying[k].margin, 0
        for w in range(1, len(self.windows)):
            if self.windows[w].per_underlying[k].margin > best:
                best, at = self.windows[w].per_underlying[k].margin, w
        return best, at

    def undiversified(self) -> float:
        total = 0.0
        for k in range(len(self.underlyings)):
            total += self.underlying_binding(k)[0]
        return total


def held_window_arrays(
    books: Sequence[Book],
    instruments: dict[str, Instrument],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
    window: Window,
) -> dict[str, list[float]]:
    """One risk array per held instrument under the window's scenarios. A value that is not
    finite is an error naming the instrument (``instruments.instrument_id``, its row; the first
    such instrument in table order) and the scenario."""
    arrays: dict[str, list[float]] = {}
    for book in books:
        for pos in book.positions:
            if pos.instrument_id not in arrays:
                inst = instruments[pos.instrument_id]
                contract = make_contract(inst, underlyings, vols, as_of_ns)
                arrays[pos.instrument_id] = window_risk_array(contract, inst.underlying, window)
    for iid in sorted(arrays, key=lambda i: instruments[i].row):
        bad = first_non_finite(arrays[iid])
        if bad is not None:
            raise MarginInputError(
                f"its value is not finite under scenario {bad}: the scenario's moves are too extreme",
                table="instruments",
                column="instrument_id",
                row=instruments[iid].row,
            )
    return arrays


def unit_margins(ra: Sequence[float], k: int, measure: str) -> tuple[float, float]:
    """Margin of one unit long and one unit short of a contract alone."""
    long = measure_of([0.0 - x for x in ra], k, measure).margin
    short = measure_of([x + 0.0 for x in ra], k, measure).margin
    return long, short


def measure_account(
    book: Book,
    instruments: dict[str, Instrument],
    arrays: Sequence[dict[str, list[float]]],
    windows: Sequence[Window],
    ks: Sequence[int],
    units: dict[str, tuple[float, float]],
    measure: str,
) -> MeasureAccount:
    """Tails of one account in every window (module docstring)."""
    names = underlying_order(book, instruments)
    outcomes: list[WindowOutcome] = []
    normal_pnl: list[list[float]] = []
    normal_total: list[float] = []
    for w, window in enumerate(windows):
        pnl = [underlying_pnl(book, u, instruments, arrays[w], window.n) for u in names]
        total = [0.0] * window.n
        for row in pnl:
            for i in range(window.n):
                total[i] += row[i]
        outcomes.append(
            WindowOutcome(
                measure_of([0.0 - p for p in total], ks[w], measure),
                [measure_of([0.0 - p for p in row], ks[w], measure) for row in pnl],
            )
        )
        if w == 0:
            normal_pnl, normal_total = pnl, total
    gross = 0.0
    for pos in book.positions:
        long, short = units[pos.instrument_id]
        q = pos.quantity
        gross += q * long if q > 0.0 else (-q * short if q < 0.0 else 0.0)
    return MeasureAccount(book.account_id, book.first_row, names, outcomes, normal_pnl, normal_total, gross)


def measure_margin(positions: pa.Table, instruments: pa.Table, market: Market, model: MeasureModel) -> MarginResult:
    """Margins of every account under a VaR / ES model.

    Checks, in order: underlyings, vols, instruments, the model's windows (moves then stressed;
    the Monte Carlo draws), the tail count of each window, the positions, then each position in
    row order for an unknown instrument, a market problem or an underlying that a window cannot
    move (normal window first)."""
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols)
    instrument_rows = read_instruments(instruments)
    windows = model_windows(model)
    ks = [tail_count(w.n, model.confidence) for w in windows]
    position_rows = read_positions(positions)

    def scenario_problem(underlying: str) -> MarginInputError | None:
        for window in windows:
            problem = window.problem(underlying)
            if problem is not None:
                return problem
        return None

    check_held(position_rows, instrument_rows, underlyings, vols, market.as_of_ns, scenario_problem)
    books = net_positions(position_rows)
    arrays = [
        held_window_arrays(books, instrument_rows, underlyings, vols, market.as_of_ns, window) for window in windows
    ]
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
    )


# --- result tables --------------------------------------------------------------------------


def measure_accounts_table(
    accounts: Sequence[MeasureAccount], id_column: pa.ChunkedArray, windows: Sequence[Window], model: MeasureModel
) -> pa.Table:
    """``accounts`` of a VaR / ES model (see :class:`~pmargin.result.MarginResult`)."""
    initial: list[float] = []
    undiversified: list[float] = []
    scenario: list[int | None] = []
    label: list[str | None] = []
    tails: list[list[int]] = []
    binding: list[str | None] = []
    for acc in accounts:
        margin, w = acc.binding()
        initial.append(margin)
        undiversified.append(acc.undiversified())
        s, tail = acc.windows[w].total.reported(model.measure)
        scenario.append(s)
        label.append(None if s is None else windows[w].labels[s])
        tails.append(tail)
        binding.append(windows[w].name if len(windows) > 1 else None)
    return pa.table(
        {
            "account_id": account_ids(id_column, [a.first_row for a in accounts]),
            "initial_margin": pa.array(initial, F64),
            "maintenance_margin": pa.array([model.mm_ratio * m for m in initial], F64),
            "gross_margin": pa.array([a.gross for a in accounts], F64),
            "undiversified_margin": pa.array(undiversified, F64),
            "diversification_benefit": pa.array([u - m for u, m in zip(undiversified, initial, strict=True)], F64),
            "measure_scenario": pa.array(scenario, pa.int32()),
            "measure_scenario_label": pa.array(label, pa.string()),
            "tail_scenarios": pa.array(tails, pa.list_(pa.int32())),
            "binding_window": pa.array(binding, pa.string()),
        }
    )


def measure_by_underlying_table(
    accounts: Sequence[MeasureAccount], id_column: pa.ChunkedArray, windows: Sequence[Window], measure: str
) -> pa.Table:
    """``by_underlying`` of a VaR / ES model: per account and underlying held (first-seen)."""
    rows: list[int] = []
    names: list[str] = []
    requirement: list[float] = []
    scenario: list[int | None] = []
    label: list[str | None] = []
    for acc in accounts:
        for k, u in enumerate(acc.underlyings):
            margin, w = acc.underlying_binding(k)
            s, _ = acc.windows[w].per_underlying[k].reported(measure)
            rows.append(acc.first_row)
            names.append(u)
            requirement.append(margin)
            scenario.append(s)
            label.append(None if s is None else windows[w].labels[s])
    return pa.table(
        {
            "account_id": account_ids(id_column, rows),
            "underlying": pa.array(names, pa.string()),
            "requirement": pa.array(requirement, F64),
            "measure_scenario": pa.array(scenario, pa.int32()),
            "measure_scenario_label": pa.array(label, pa.string()),
        }
    )


def scenario_matrix_of(accounts: Sequence[MeasureAccount], window: Window) -> Callable[[int], pa.Table]:
    """The drill-down of the normal window: ``scenario``, ``label``, one P&L column per
    underlying held (first-seen) and ``total``."""

    def matrix(index: int) -> pa.Table:
        acc = accounts[index]
        table = pa.table(
            {
                "scenario": pa.array(range(window.n), pa.int32()),
                "label": pa.array(window.labels, pa.string()),
            }
        )
        for u, pnl in zip(acc.underlyings, acc.pnl, strict=True):
            table = table.append_column(pa.field(u, F64), pa.array(pnl, F64))
        return table.append_column(pa.field("total", F64), pa.array(acc.total, F64))

    return matrix
