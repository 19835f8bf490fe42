"""Public entry points backed by the native engine (:mod:`pmargin._core`).

The engine takes any registered model through its spec (``model.to_spec()``): there is no
dispatch on the model's class here, so a new methodology needs no change in this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from . import _core
from .errors import MODEL_EXPECTED, MarginInputError, run_flags, wrong_argument
from .io import to_table
from .limits import Limits
from .market import Market
from .models import GridModel, Model
from .result import GreeksResult, MarginResult
from .run_source import RunSource
from .types import AnyModel, TableLike
from .whatif import Trade, WhatIf, finite_equity, what_if


def _native_engine(instruments: pa.Table, market: Market, model: Model, limits: Limits) -> _core.Engine:
    # A model that reads instrument columns (TIMS: product_class) binds to the instruments first.
    bind = getattr(model, "bind", None)
    if callable(bind):
        model = bind(instruments)
    return _core.Engine(
        instruments, market.underlyings, market.vols, market.as_of_ns, model.to_spec(), limits.to_spec()
    )


class MarginEngine:
    """Instruments and market validated once, every contract priced once per scenario.

    Reuse one engine to margin many books against the same market (pre-trade checks, chunked
    batch runs): each :meth:`margin` call only aggregates. The GIL is released while it works.
    """

    def __init__(
        self, instruments: TableLike, market: Market, model: AnyModel | None = None, *, limits: Limits | None = None
    ) -> None:
        if not isinstance(market, Market):
            raise wrong_argument("market", "a pmargin.Market", market)
        chosen = model if model is not None else GridModel()
        if isinstance(chosen, type) or not callable(getattr(chosen, "to_spec", None)):
            raise wrong_argument("model", MODEL_EXPECTED, chosen)
        if limits is not None and not isinstance(limits, Limits):
            raise wrong_argument("limits", "a pmargin.Limits", limits)
        self.model: AnyModel = chosen
        self.market = market
        self.limits = limits if limits is not None else Limits()
        self.instruments = to_table(instruments, "instruments")
        self._mark_cache: dict[str, float] = {}
        self._native = _native_engine(self.instruments, market, chosen, self.limits)

    @property
    def n_instruments(self) -> int:
        return self._native.n_instruments

    def margin(self, positions: TableLike, *, by_position: bool = False, on_error: str = "raise") -> MarginResult:
        """Margin every account in ``positions`` (``account_id``, ``instrument_id``, ``quantity``).

        ``by_position=True`` adds ``.by_position`` (each position's contribution, standalone and
        incremental margin) and ``.explain`` (the driving scenario's P&L split by Greek), both
        computed from the risk arrays already built.

        ``on_error``: ``"raise"`` (default) fails the run at the first unknown instrument or held
        instrument that cannot be margined (expired, no vol, no market row); ``"isolate"``
        margins every other account and lists the failed ones, with their first problem, in
        ``result.failed``. Whole-table problems (a missing column, a bad type) always raise.
        """
        by_position, on_error = run_flags(by_position, on_error)
        table = to_table(positions, "positions")
        run = self._native.margin(table, by_position, on_error)
        accounts, by_underlying, by_position_table, explain = run.tables()
        result = MarginResult(
            accounts, by_underlying, self.model, run.scenarios, by_position_table, explain, failed=run.failed()
        )
        # What status, cascade and the report re-margin the book from (pmargin.accounts).
        result.source = RunSource(MarginEngine, table, self.instruments, self.market, self.model, self.limits)
        return result

    def what_if(
        self,
        positions: tuple[Sequence[str], Sequence[float]],
        trades: Sequence[Trade | tuple[Any, ...]],
        *,
        equity: float | None = None,
        collateral: Mapping[str, float] | None = None,
        assets: Any = None,
    ) -> WhatIf:
        """Pre-trade what-if of one account, without Arrow tables: ``positions`` is a pair
        ``(instrument_ids, quantities)`` (sequences or NumPy arrays), ``trades`` a sequence of
        :class:`~pmargin.accounts.Trade` (or ``(instrument_id, quantity, price[, fee])``).
        Margins come from the engine's risk arrays through the model's own aggregation, exactly
        as :meth:`margin` of the book with the trades added; ``equity`` (the account's equity
        before), or ``collateral`` ``{asset: amount}`` with ``assets`` (as in
        :func:`pmargin.status`; its haircut value is added to ``equity``, default 0), gives the
        equity and state after (docs/accounts.md)."""
        if collateral is not None:
            from .accounts.collateral import collateral_value, finite_number, read_assets

            if not isinstance(collateral, Mapping):
                raise wrong_argument("collateral", "a mapping {asset: amount}", collateral)
            table = read_assets(assets)
            for row, asset in enumerate(collateral):
                if asset not in table:
                    raise MarginInputError(
                        f"asset {asset!r} has no row in the assets table", table="collateral", column="asset", row=row
                    )
            amounts = [
                (a, finite_number(x, "collateral", "amount", row)) for row, (a, x) in enumerate(collateral.items())
            ]
            equity = (0.0 if equity is None else finite_equity(equity)) + collateral_value(amounts, table)
        return what_if(self._native, self._marks, positions, trades, equity)

    def _marks(self, ids: list[str]) -> list[float]:
        """Unit value (multiplier included) of each instrument, from the priced valuation."""
        cache = self._mark_cache
        try:
            return [cache[i] for i in ids]
        except (KeyError, TypeError):
            pass
        missing = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i not in cache))
        if missing:
            book = pa.table(
                {"account_id": ["m"] * len(missing), "instrument_id": missing, "quantity": [1.0] * len(missing)}
            )
            by_position = self._native.greeks(book)[0]
            cache.update(
                zip(
                    by_position.column("instrument_id").to_pylist(),
                    by_position.column("value").to_pylist(),
                    strict=True,
                )
            )
        return [cache[i] for i in ids]

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
    limits: Limits | None = None,
    on_error: str = "raise",
) -> MarginResult:
    """Portfolio margin of every account in ``positions`` under ``model`` (default grid);
    ``on_error="isolate"`` as in :meth:`MarginEngine.margin`."""
    run_flags(by_position, on_error)  # before the engine is built, as the reference checks them
    return MarginEngine(instruments, market, model, limits=limits).margin(
        positions, by_position=by_position, on_error=on_error
    )


def _valuation_engine(instruments: TableLike, market: Market, limits: Limits | None) -> MarginEngine:
    """An engine with a single unshocked scenario: for prices and Greeks only."""
    return MarginEngine(instruments, market, GridModel(price_shocks=[0.0], vol_shocks=[0.0]), limits=limits)


def value(instruments: TableLike, market: Market, *, limits: Limits | None = None) -> pa.Table:
    """Per instrument and per unit of quantity (multiplier included): ``instrument_id``,
    ``price``, ``delta`` (dV/dspot), ``gamma`` (d2V/dspot2), ``vega`` (dV/dvol per 1.00 of vol)
    and ``theta`` (dV/dt per year of calendar time, spot, rate and vol fixed). Every instrument
    must be priceable."""
    table: pa.Table = _valuation_engine(instruments, market, limits)._native.values()
    return table


def greeks(
    positions: TableLike, instruments: TableLike, market: Market, *, limits: Limits | None = None
) -> GreeksResult:
    """Greeks of a book: per position and per account and underlying."""
    return _valuation_engine(instruments, market, limits).greeks(positions)


def monte_carlo_scenarios(model: Model) -> pa.Table:
    """The native Monte Carlo scenario table of ``model``: ``scenario``, ``underlying``,
    ``return``, ``vol_change`` (scenario-major, names in correlation order)."""
    table: pa.Table = _core.monte_carlo_scenarios(model.to_spec())
    return table
