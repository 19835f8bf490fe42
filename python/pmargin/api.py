"""Public entry points backed by the native engine (:mod:`pmargin._core`)."""

from __future__ import annotations

import pyarrow as pa

from . import _core
from .io import TableLike, to_table
from .market import Market
from .models import GridModel
from .result import MarginResult


class MarginEngine:
    """Instruments and market validated once, every contract priced once per scenario.

    Reuse one engine to margin many books against the same market (pre-trade checks, chunked
    batch runs): each :meth:`margin` call only aggregates. The GIL is released while it works.
    """

    def __init__(self, instruments: TableLike, market: Market, model: GridModel | None = None) -> None:
        if not isinstance(market, Market):
            raise TypeError(f"market must be a pmargin.Market, got {type(market).__name__}")
        self.model = model if model is not None else GridModel()
        if not isinstance(self.model, GridModel):
            raise TypeError(f"model must be a pmargin.GridModel, got {type(self.model).__name__}")
        self.market = market
        self._native = _core.GridEngine(
            to_table(instruments, "instruments"),
            market.underlyings,
            market.vols,
            market.as_of_ns,
            list(self.model.price_shocks),
            list(self.model.vol_shocks),
            self.model.vol_shock,
            self.model.cross,
            self.model.mm_ratio,
        )

    @property
    def n_instruments(self) -> int:
        return self._native.n_instruments

    def margin(self, positions: TableLike) -> MarginResult:
        """Margin every account in ``positions`` (``account_id``, ``instrument_id``, ``quantity``)."""
        run = self._native.margin(to_table(positions, "positions"))
        accounts: pa.Table = run.accounts()
        by_underlying: pa.Table = run.by_underlying()
        return MarginResult(accounts, by_underlying, self.model, run.scenarios)


def margin(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    model: GridModel | None = None,
) -> MarginResult:
    """Portfolio margin of every account in ``positions`` under ``model`` (default grid)."""
    return MarginEngine(instruments, market, model).margin(positions)


def value(instruments: TableLike, market: Market) -> pa.Table:
    """``instrument_id``, ``price``: each instrument's value per unit of quantity (multiplier
    included) at the current market. Every instrument must be priceable."""
    engine = MarginEngine(instruments, market, GridModel(price_shocks=[0.0], vol_shocks=[0.0]))
    table: pa.Table = engine._native.values()
    return table
