"""Type stubs of the native extension ``pmargin._core`` (hand-written; checked by stubtest)."""

from typing import Any, final

import pyarrow as pa

__all__ = [
    "Engine",
    "MarginRun",
    "__version__",
    "column_addresses",
    "is_debug_build",
    "monte_carlo_scenarios",
]

__version__: str

@final
class Engine:
    @staticmethod
    def grid(
        instruments: Any,
        underlyings: Any,
        vols: Any,
        as_of_ns: int,
        price_shocks: list[float],
        vol_shocks: list[float],
        vol_shock: str,
        cross: str,
        mm_ratio: float,
        correlation_names: list[str] | None = None,
        correlation_matrix: list[float] | None = None,
        floor_largest: bool = False,
    ) -> Engine: ...
    @staticmethod
    def historical(
        instruments: Any,
        underlyings: Any,
        vols: Any,
        as_of_ns: int,
        moves: Any,
        stressed: Any | None,
        measure: str,
        confidence: float,
        vol_shock: str,
        mm_ratio: float,
        ewma_lambda: float | None = None,
    ) -> Engine: ...
    @staticmethod
    def monte_carlo(
        instruments: Any,
        underlyings: Any,
        vols: Any,
        as_of_ns: int,
        correlation_names: list[str],
        correlation_matrix: list[float],
        horizon_vols: list[float | None],
        n_scenarios: int,
        seed: int,
        dof: float | None,
        measure: str,
        confidence: float,
        vol_of_vol: float,
        spot_vol_correlation: float,
        mm_ratio: float,
    ) -> Engine: ...
    def margin(self, positions: Any, by_position: bool = False) -> MarginRun: ...
    def greeks(self, positions: Any) -> tuple[pa.Table, pa.Table]: ...
    def values(self) -> pa.Table: ...
    @property
    def n_instruments(self) -> int: ...

@final
class MarginRun:
    def accounts(self) -> pa.Table: ...
    def by_underlying(self) -> pa.Table: ...
    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table | None, pa.Table | None]: ...
    def attribution(self) -> tuple[pa.Table, pa.Table]: ...
    def scenarios(self, account: int) -> pa.Table: ...
    @property
    def n_accounts(self) -> int: ...

def monte_carlo_scenarios(
    correlation_names: list[str],
    correlation_matrix: list[float],
    horizon_vols: list[float | None],
    n_scenarios: int,
    seed: int,
    dof: float | None,
    vol_of_vol: float,
    spot_vol_correlation: float,
) -> pa.Table: ...
def column_addresses(table: Any) -> dict[str, list[int]]: ...
def is_debug_build() -> bool: ...
