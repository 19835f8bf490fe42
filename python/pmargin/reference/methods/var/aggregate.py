"""One account's VaR / ES in every scenario window: the whole account and each underlying alone,
and the gross margin from one unit long and short of each contract (definitions in
:mod:`pmargin.reference.methods.var`).

Mirrors: rust/pmargin-core/src/methods/var/aggregate.rs
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ....models import HistoricalModel, MonteCarloModel
from ...domain.book import Book
from ...domain.instruments import Instrument
from ...risk.group_pnl import pnl_scale, underlying_order, underlying_pnl
from ...risk.tail import TailOutcome, measure_of
from ...risk.worst_loss import is_noise
from ...scenarios import Window

MeasureModel = HistoricalModel | MonteCarloModel


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


def unit_margins(ra: Sequence[float], k: int, measure: str) -> tuple[float, float]:
    """Margin of one unit long and one unit short of a contract alone."""
    long = measure_of([0.0 - x for x in ra], k, measure).margin
    short = measure_of([x + 0.0 for x in ra], k, measure).margin
    return long, short


def above_noise(outcome: TailOutcome, scale: float) -> TailOutcome:
    """A positive measure at or below the noise floor of its positions' P&L scale (in this
    window) is no margin: its value becomes 0.0."""
    if outcome.value > 0.0 and is_noise(outcome.value, scale):
        return TailOutcome(0.0, outcome.tail)
    return outcome


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
                above_noise(
                    measure_of([0.0 - p for p in total], ks[w], measure), pnl_scale(book, None, instruments, arrays[w])
                ),
                [
                    above_noise(
                        measure_of([0.0 - p for p in row], ks[w], measure), pnl_scale(book, u, instruments, arrays[w])
                    )
                    for u, row in zip(names, pnl, strict=True)
                ],
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
