"""Public entry points backed by the native engine (:mod:`pmargin._core`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import pyarrow as pa

from . import _core
from . import models as m
from .io import TableLike, to_table
from .market import Market
from .result import MarginResult

AnyModel = Any
"""A :class:`~pmargin.models.GridModel`, ``HistoricalModel`` or ``MonteCarloModel``."""


def _flat_matrix(correlation: Any) -> tuple[list[str], list[float]]:
    names = list(correlation.names)
    return names, [float(x) for row in correlation.matrix for x in row]


def _native_engine(instruments: pa.Table, market: Market, model: AnyModel) -> _core.Engine:
    """Build the native engine for ``model`` (dispatch on its type)."""
    common = (instruments, market.underlyings, market.vols, market.as_of_ns)
    if isinstance(model, m.GridModel):
        correlation = getattr(model, "correlation", None)
        names, matrix = _flat_matrix(correlation) if correlation is not None else (None, None)
        return _core.Engine.grid(
            *common,
            list(model.price_shocks),
            list(model.vol_shocks),
            model.vol_shock,
            model.cross,
            model.mm_ratio,
            correlation_names=names,
            correlation_matrix=matrix,
            floor_largest=bool(getattr(model, "floor_largest", False)),
        )
    historical = getattr(m, "HistoricalModel", None)
    if historical is not None and isinstance(model, historical):
        return _core.Engine.historical(
            *common,
            model.moves,
            model.stressed,
            model.measure,
            model.confidence,
            model.vol_shock,
            model.mm_ratio,
            ewma_lambda=model.ewma_lambda,
        )
    monte_carlo = getattr(m, "MonteCarloModel", None)
    if monte_carlo is not None and isinstance(model, monte_carlo):
        names, matrix = _flat_matrix(model.correlation)
        return _core.Engine.monte_carlo(
            *common,
            names,
            matrix,
            model.horizon_vols(),
            model.n_scenarios,
            model.seed,
            model.dof if model.distribution == "student_t" else None,
            model.measure,
            model.confidence,
            model.vol_of_vol,
            model.spot_vol_correlation,
            model.mm_ratio,
        )
    raise TypeError(
        f"model must be a pmargin GridModel, HistoricalModel or MonteCarloModel, got {type(model).__name__}"
    )


class MarginEngine:
    """Instruments and market validated once, every contract priced once per scenario.

    Reuse one engine to margin many books against the same market (pre-trade checks, chunked
    batch runs): each :meth:`margin` call only aggregates. The GIL is released while it works.
    """

    def __init__(self, instruments: TableLike, market: Market, model: AnyModel | None = None) -> None:
        if not isinstance(market, Market):
            raise TypeError(f"market must be a pmargin.Market, got {type(market).__name__}")
        self.model = model if model is not None else m.GridModel()
        self.market = market
        self._native = _native_engine(to_table(instruments, "instruments"), market, self.model)

    @property
    def n_instruments(self) -> int:
        return self._native.n_instruments

    def margin(self, positions: TableLike, *, by_position: bool = False) -> MarginResult:
        """Margin every account in ``positions`` (``account_id``, ``instrument_id``, ``quantity``).

        ``by_position=True`` adds ``.by_position`` (each position's contribution, standalone and
        incremental margin) and ``.explain`` (the driving scenario's P&L split by Greek), both
        computed from the risk arrays already built.
        """
        run = self._native.margin(to_table(positions, "positions"), by_position)
        accounts, by_underlying, by_position_table, explain = run.tables()
        return MarginResult(accounts, by_underlying, self.model, run.scenarios, by_position_table, explain)

    def greeks(self, positions: TableLike) -> GreeksResult:
        """Greeks of every netted position and per account and underlying."""
        by_position, by_underlying = self._native.greeks(to_table(positions, "positions"))
        return GreeksResult(by_position, by_underlying)


def margin(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    model: AnyModel | None = None,
    *,
    by_position: bool = False,
) -> MarginResult:
    """Portfolio margin of every account in ``positions`` under ``model`` (default grid)."""
    return MarginEngine(instruments, market, model).margin(positions, by_position=by_position)


def _valuation_engine(instruments: TableLike, market: Market) -> MarginEngine:
    """An engine with a single unshocked scenario: for prices and Greeks only."""
    return MarginEngine(instruments, market, m.GridModel(price_shocks=[0.0], vol_shocks=[0.0]))


def value(instruments: TableLike, market: Market) -> pa.Table:
    """Per instrument and per unit of quantity (multiplier included): ``instrument_id``,
    ``price``, ``delta`` (dV/dspot), ``gamma`` (d2V/dspot2), ``vega`` (dV/dvol per 1.00 of vol)
    and ``theta`` (dV/dt per year of calendar time, spot, rate and vol fixed). Every instrument
    must be priceable."""
    table: pa.Table = _valuation_engine(instruments, market)._native.values()
    return table


class GreeksResult(NamedTuple):
    """``positions``: per account and netted position, ``quantity``, ``value`` and quantity times
    each Greek. ``by_underlying``: per account and underlying, summed ``delta``, ``gamma``,
    ``vega``, ``theta`` and ``cash_delta`` = delta x spot, ``cash_gamma`` = 0.5 x gamma x
    (0.01 x spot)^2 (the gamma P&L of a 1% move), ``vega_1pct`` = vega / 100 (per vol point)."""

    positions: pa.Table
    by_underlying: pa.Table


def greeks(positions: TableLike, instruments: TableLike, market: Market) -> GreeksResult:
    """Greeks of a book: per position and per account and underlying."""
    return _valuation_engine(instruments, market).greeks(positions)


def monte_carlo_scenarios(model: Any) -> pa.Table:
    """The native Monte Carlo scenario table of ``model``: ``scenario``, ``underlying``,
    ``return``, ``vol_change`` (scenario-major, names in correlation order)."""
    names, matrix = _flat_matrix(model.correlation)
    table: pa.Table = _core.monte_carlo_scenarios(
        names,
        matrix,
        model.horizon_vols(),
        model.n_scenarios,
        model.seed,
        model.dof if model.distribution == "student_t" else None,
        model.vol_of_vol,
        model.spot_vol_correlation,
    )
    return table
