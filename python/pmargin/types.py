"""Types of the public API: what a table input may be, and the model union.

Every table argument accepts an Arrow PyCapsule producer (anything with ``__arrow_c_stream__``
or ``__arrow_c_array__``: pyarrow Table / RecordBatch / RecordBatchReader, Polars DataFrame,
DuckDB and arro3 results, ...), a pandas DataFrame or a ``dict`` of columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from .models import DeribitModel, GridModel, HistoricalModel, MonteCarloModel, SpanModel, TimsModel


@runtime_checkable
class ArrowStreamExportable(Protocol):
    """An Arrow C stream producer (the Arrow PyCapsule interface)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


@runtime_checkable
class ArrowArrayExportable(Protocol):
    """An Arrow C array producer (a record batch as a struct array)."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...


TableLike: TypeAlias = "ArrowStreamExportable | ArrowArrayExportable | dict[str, Any] | Any"
"""A table input: an Arrow producer, a pandas DataFrame (no stub of its own) or a dict of columns."""

AnyModel: TypeAlias = "GridModel | HistoricalModel | MonteCarloModel | SpanModel | TimsModel | DeribitModel"
"""Every model class (``pmargin.models``)."""
