"""Type stubs of the native extension ``pmargin._core`` (hand-written; checked by stubtest).

Table arguments are Arrow PyCapsule producers (tables, batches or streams); a model is its spec
``model.to_spec()``: a dict with ``type`` and the model's own keys."""

from collections.abc import Sequence
from typing import Any, final

import pyarrow as pa

from .types import ArrowArrayExportable, ArrowStreamExportable

__all__ = [
    "AccountSet",
    "Engine",
    "MarginRun",
    "__version__",
    "column_addresses",
    "group_by_partition",
    "is_debug_build",
    "monte_carlo_scenarios",
    "portfolio_variance",
    "simm",
]

__version__: str

_Arrow = ArrowStreamExportable | ArrowArrayExportable

@final
class Engine:
    def __new__(
        cls,
        instruments: _Arrow,
        underlyings: _Arrow,
        vols: _Arrow,
        as_of_ns: int,
        spec: dict[str, Any],
        limits: dict[str, Any] | None = None,
    ) -> Engine: ...
    def margin(self, positions: _Arrow, by_position: bool = False, on_error: str = "raise") -> MarginRun: ...
    def greeks(self, positions: _Arrow) -> tuple[pa.Table, pa.Table]: ...
    def values(self) -> pa.Table: ...
    def what_if(
        self,
        position_ids: Sequence[str],
        position_quantities: Sequence[float],
        trade_ids: Sequence[str],
        trade_quantities: Sequence[float],
    ) -> tuple[tuple[float, float], tuple[float, float], list[tuple[float, float]]]: ...
    @property
    def n_instruments(self) -> int: ...

@final
class MarginRun:
    def accounts(self) -> pa.Table: ...
    def by_underlying(self) -> pa.Table: ...
    def failed(self) -> pa.Table: ...
    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table | None, pa.Table | None]: ...
    def attribution(self) -> tuple[pa.Table, pa.Table]: ...
    def scenarios(self, account: int) -> pa.Table: ...
    @property
    def n_accounts(self) -> int: ...

def monte_carlo_scenarios(spec: dict[str, Any]) -> pa.Table: ...
def column_addresses(table: _Arrow) -> dict[str, list[int]]: ...
def is_debug_build() -> bool: ...
def simm(crif: _Arrow, spec: dict[str, Any]) -> dict[str, pa.Table]: ...
def portfolio_variance(positions: _Arrow, spec: dict[str, Any]) -> tuple[pa.Table, pa.Table]: ...

# Streaming helpers (python/pmargin/stream.py, rust/pmargin-py/src/stream.rs).
def group_by_partition(data: _Arrow, n: int, seed: int) -> list[pa.RecordBatch]: ...

@final
class AccountSet:
    def __new__(cls) -> AccountSet: ...
    def add_new(self, ids: _Arrow) -> int | None: ...
    def __len__(self) -> int: ...
