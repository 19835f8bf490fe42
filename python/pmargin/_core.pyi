"""Type stubs of the native extension ``pmargin._core`` (hand-written; checked by stubtest)."""

from typing import Any

import pyarrow as pa

__version__: str

class GridEngine:
    def __init__(
        self,
        instruments: Any,
        underlyings: Any,
        vols: Any,
        as_of_ns: int,
        price_shocks: list[float],
        vol_shocks: list[float],
        vol_shock: str,
        cross: str,
        mm_ratio: float,
    ) -> None: ...
    def margin(self, positions: Any) -> MarginRun: ...
    def values(self) -> pa.Table: ...
    @property
    def n_instruments(self) -> int: ...
    @property
    def n_scenarios(self) -> int: ...

class MarginRun:
    def accounts(self) -> pa.Table: ...
    def by_underlying(self) -> pa.Table: ...
    def scenarios(self, account: int) -> pa.Table: ...
    @property
    def n_accounts(self) -> int: ...

def column_addresses(table: Any) -> dict[str, list[int]]: ...
def is_debug_build() -> bool: ...
