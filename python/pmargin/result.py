"""The results: of a margin run (pyarrow tables plus per-account scenario drill-down), and of a
Greeks run."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from .errors import MarginInputError

if TYPE_CHECKING:
    import polars as pl

    from .models import AnyModel


class PolarsResult(NamedTuple):
    """Every table of a :class:`MarginResult` as Polars DataFrames, by name (``frames.accounts``)
    or unpacked in this order::

        accounts, by_underlying, by_position, explain, scenarios, failed = result.to_polars()

    ``by_position`` and ``explain`` are None unless the run had ``by_position=True``;
    ``scenarios(account_id)`` is :meth:`MarginResult.scenarios` as a DataFrame; ``failed`` is
    :attr:`MarginResult.failed` (the accounts an ``on_error="isolate"`` run left out; empty
    otherwise)."""

    accounts: pl.DataFrame
    by_underlying: pl.DataFrame
    by_position: pl.DataFrame | None
    explain: pl.DataFrame | None
    scenarios: Callable[[Any], pl.DataFrame]
    failed: pl.DataFrame


class GreeksPolars(NamedTuple):
    """Both tables of a :class:`GreeksResult` as Polars DataFrames (same names and order)."""

    positions: pl.DataFrame
    by_underlying: pl.DataFrame


def _polars(table: pa.Table) -> pl.DataFrame:
    import polars as pl

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def empty_failed(account_type: pa.DataType) -> pa.Table:
    """The failed-accounts table of a run where nothing failed."""
    return pa.table(
        {
            "account_id": pa.array([], account_type),
            "table": pa.array([], pa.string()),
            "column": pa.array([], pa.string()),
            "row": pa.array([], pa.int64()),
            "reason": pa.array([], pa.string()),
        }
    )


class MarginResult:
    """Margins of every account.

    ``accounts``: one row per account in first-seen order: ``account_id`` (the input's type),
    ``initial_margin``, ``maintenance_margin``, ``gross_margin`` (each position margined alone,
    summed), ``worst_scenario`` (label; null when nothing loses), ``worst_price_shock``,
    ``worst_vol_shock``, ``netting_benefit`` (gross minus initial: what margining the account as a
    whole saves over margining each position alone) and ``cross_underlying_benefit`` (the sum of
    the per-underlying requirements minus the initial margin: what offsets across underlyings
    save; 0 under ``cross="sum"`` and for an account on one underlying).

    ``by_underlying``: per account and underlying held (first-seen order within the account):
    ``account_id``, ``underlying``, ``requirement``, ``worst_price_shock``, ``worst_vol_shock``,
    ``worst_scenario``.

    (Before 0.2 the ``accounts`` column ``cross_underlying_benefit`` was called
    ``diversification_benefit``; the two benefits now have two names everywhere.)

    Under a VaR / ES model (:class:`~pmargin.models.HistoricalModel`,
    :class:`~pmargin.models.MonteCarloModel`) ``accounts`` has ``account_id``,
    ``initial_margin``, ``maintenance_margin``, ``gross_margin``, ``undiversified_margin`` (the
    sum of each underlying's margin alone), ``netting_benefit`` (gross minus initial),
    ``cross_underlying_benefit`` (undiversified minus initial), ``measure_scenario`` (int32: the
    VaR scenario, or ES's worst tail scenario; null when the margin is 0),
    ``measure_scenario_label`` (its date, or ``MC #i``), ``tail_scenarios`` (only when the model
    has ``tail_scenarios=True`` or ``n``: list of int32, ES's k tail scenarios in tail order, the
    worst n of them when capped, or ``[the VaR scenario]``; empty when the margin is 0) and
    ``binding_window`` (``"normal"`` or
    ``"stressed"`` when a stressed window is given, else null; the scenario columns refer to the
    binding window). ``by_underlying`` has ``account_id``, ``underlying``, ``requirement`` (the
    measure of that underlying alone, the max over windows), ``measure_scenario``,
    ``measure_scenario_label``; :meth:`scenarios` gives ``scenario``, ``label``, one P&L column
    per underlying and ``total`` over the normal window.
    """

    def __init__(
        self,
        accounts: pa.Table,
        by_underlying: pa.Table,
        model: AnyModel,
        scenario_matrix: Callable[[int], pa.Table],
        by_position: pa.Table | None = None,
        explain: pa.Table | None = None,
        failed: pa.Table | None = None,
    ) -> None:
        self.accounts = accounts
        #: The accounts left out of a run made with ``on_error="isolate"`` (one row each, its first
        #: problem): ``account_id``, ``table``, ``column``, ``row``, ``reason``; empty otherwise.
        self.failed = failed if failed is not None else empty_failed(accounts.schema.field("account_id").type)
        #: With ``margin(..., by_position=True)``: per netted position ``account_id``,
        #: ``instrument_id``, ``quantity``, ``contribution`` (its loss in the scenario driving its
        #: requirement), ``standalone_margin`` and ``incremental_margin``; else None.
        self.by_position = by_position
        #: With ``by_position=True``: per account and underlying, the driving scenario
        #: (``scenario``, ``price_shock``, ``vol_shock``) and its P&L (``pnl``) split into
        #: ``delta_pnl``, ``gamma_pnl``, ``vega_pnl`` and the ``residual``; else None.
        self.explain = explain
        self.by_underlying = by_underlying
        self.model = model
        self._scenario_matrix = scenario_matrix
        self._index: dict[Any, int] | None = None
        #: The run's inputs (``pmargin.run_source.RunSource``) when made by an engine: status,
        #: cascade and the HTML report re-margin the book from them; else None.
        self.source: Any = None

    def account_index(self, account_id: Any) -> int:
        """Row of ``account_id`` in :attr:`accounts`."""
        if self._index is None:
            self._index = {a: i for i, a in enumerate(self.accounts.column("account_id").to_pylist())}
        try:
            return self._index[account_id]
        except (KeyError, TypeError):
            raise MarginInputError(f"unknown account {account_id!r}", table="positions", column="account_id") from None

    def scenarios(self, account_id: Any) -> pa.Table:
        """The account's P&L in every scenario: the risk matrix.

        Columns: ``scenario`` (0-based, grid order), ``price_shock``, ``vol_shock`` (grid; VaR /
        ES models: ``scenario`` and ``label`` of the normal window), one column per underlying
        the account holds (first-seen order) and ``total`` (the sum across underlyings: the P&L
        when the scenario hits every underlying at once).
        """
        return self._scenario_matrix(self.account_index(account_id))

    # Totals are correctly rounded sums (math.fsum): no order of the accounts changes them.
    @property
    def total_initial_margin(self) -> float:
        return math.fsum(self.accounts.column("initial_margin").to_pylist())

    def _column(self, name: str) -> list[Any]:
        """An ``accounts`` column, or a config error naming the model that does not report it
        (a venue model reports its own components instead, e.g. Deribit has no gross margin)."""
        if name not in self.accounts.column_names:
            from .errors import MarginConfigError

            kind = getattr(self.model, "type", type(self.model).__name__)
            raise MarginConfigError(f"the {kind} model does not report {name}", table="accounts", column=name)
        values: list[Any] = self.accounts.column(name).to_pylist()
        return values

    @property
    def total_gross_margin(self) -> float:
        return math.fsum(self._column("gross_margin"))

    @property
    def netting_benefit(self) -> float:
        """Gross minus initial margin, summed over accounts: what margining each account as a
        whole saves over margining each position alone (the ``netting_benefit`` column's sum)."""
        return self.total_gross_margin - self.total_initial_margin

    @property
    def cross_underlying_benefit(self) -> float:
        """The ``cross_underlying_benefit`` column's sum: per-underlying requirements minus
        initial margin, what offsets across underlyings save."""
        return float(sum(self._column("cross_underlying_benefit")))

    @property
    def diversification_benefit(self) -> float:
        """Kept for compatibility: the same as :attr:`netting_benefit` (gross minus initial margin,
        summed over accounts), which it always meant. The cross-underlying part is
        :attr:`cross_underlying_benefit`."""
        return self.netting_benefit

    def to_polars(self) -> PolarsResult:
        """Every table as a Polars DataFrame (``scenarios`` as a function of the account id):
        a :class:`PolarsResult` of ``accounts``, ``by_underlying``, ``by_position``, ``explain``,
        ``scenarios`` and ``failed``."""
        return PolarsResult(
            accounts=_polars(self.accounts),
            by_underlying=_polars(self.by_underlying),
            by_position=None if self.by_position is None else _polars(self.by_position),
            explain=None if self.explain is None else _polars(self.explain),
            scenarios=lambda account_id: _polars(self.scenarios(account_id)),
            failed=_polars(self.failed),
        )

    def to_html(self, path: Any, **kwargs: Any) -> None:
        """Write the self-contained offline HTML risk report (:func:`pmargin.report.write_html`)."""
        from .report import write_html

        write_html(self, path, **kwargs)

    def __repr__(self) -> str:
        return (
            f"MarginResult({self.accounts.num_rows} accounts, initial margin {self.total_initial_margin:,.2f}, "
            f"gross {self.total_gross_margin:,.2f})"
        )


class GreeksResult(NamedTuple):
    """``positions``: per account and netted position, ``quantity``, ``value`` and quantity times
    each Greek. ``by_underlying``: per account and underlying, summed ``delta``, ``gamma``,
    ``vega``, ``theta`` and ``cash_delta`` = delta x spot, ``cash_gamma`` = 0.5 x gamma x
    (0.01 x spot)^2 (the gamma P&L of a 1% move), ``vega_1pct`` = vega / 100 (per vol point)."""

    positions: pa.Table
    by_underlying: pa.Table

    def to_polars(self) -> GreeksPolars:
        """Both tables as Polars DataFrames: ``positions, by_underlying = greeks.to_polars()``."""
        return GreeksPolars(positions=_polars(self.positions), by_underlying=_polars(self.by_underlying))
