"""Arrow / Polars exchange and file I/O.

Every public entry point accepts any Arrow PyCapsule producer (pyarrow Table, RecordBatch,
RecordBatchReader, Polars DataFrame, ...), a ``pyarrow.dataset.Dataset`` (read with
``.to_table()``), a Polars ``LazyFrame`` (run with ``.collect()``), plus pandas DataFrames and
plain ``dict`` of columns for convenience; anything else is an error saying what to call. Arrow inputs are imported without copying their buffers: pyarrow objects are
used as they are, and Polars frames through ``__arrow_c_stream__`` (a Polars frame with several
chunks is merged into one batch by Polars itself; ``df.rechunk()`` first if that matters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from .errors import MarginInputError
from .types import TableLike as TableLike


def to_table(data: TableLike, name: str) -> pa.Table:
    """Return ``data`` as a pyarrow Table without copying its buffers."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    kind = f"{type(data).__module__}.{type(data).__name__}"
    loose: Any = data
    if kind.startswith("pyarrow._dataset.") and callable(getattr(loose, "to_table", None)):
        # A Dataset or a Scanner: read every fragment (a Dataset is files, not yet a table).
        table: pa.Table = loose.to_table()
        return table
    if kind.startswith("polars.") and type(data).__name__ == "LazyFrame":
        data = loose.collect()
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        try:
            return pa.table(data)
        except (TypeError, pa.ArrowException) as exc:
            raise MarginInputError(
                f"could not import it as an Arrow table: {exc}{_what_to_call(data)}", table=name
            ) from None
    if isinstance(data, dict):
        try:
            return pa.table(data)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise MarginInputError(f"could not build a table from the dict: {exc}", table=name) from None
    if type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame":
        return pa.Table.from_pandas(data, preserve_index=False)
    raise MarginInputError(
        f"expected a pyarrow Table / RecordBatch / RecordBatchReader / Dataset, a Polars DataFrame or "
        f"LazyFrame, a pandas DataFrame or a dict of columns, got {kind}{_what_to_call(data)}",
        table=name,
    )


def _what_to_call(data: object) -> str:
    """A hint for an object that is not a table itself but can make one."""
    for method in ("to_frame", "to_table", "collect", "to_arrow", "read_all"):
        if callable(getattr(data, method, None)):
            return f"; call .{method}() on it first"
    return "; build one with pyarrow.table(...)"


_READERS = (".parquet", ".pq", ".csv", ".arrow", ".feather", ".ipc")


def read_table(path: str | Path, name: str) -> pa.Table:
    """Read a Parquet, CSV or Arrow IPC file, chosen by the file's extension."""
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.exists():
        raise MarginInputError(f"file not found: {p}", table=name)
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(p)
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            # Empty cells are nulls (an option_type left blank for a future, say), not "".
            options = pcsv.ConvertOptions(strings_can_be_null=True)
            return pcsv.read_csv(p, convert_options=options)
        if suffix in (".arrow", ".feather", ".ipc"):
            import pyarrow.feather as feather

            return feather.read_table(p)
    except pa.ArrowException as exc:
        raise MarginInputError(f"cannot read {p}: {exc}", table=name) from None
    raise MarginInputError(f"unsupported file type {suffix!r} for {p}; use one of {', '.join(_READERS)}", table=name)


def write_table(table: pa.Table, path: str | Path) -> None:
    """Write Parquet, CSV or Arrow IPC, chosen by the file's extension."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        pq.write_table(table, p)
    elif suffix == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, p)
    elif suffix in (".arrow", ".feather", ".ipc"):
        import pyarrow.feather as feather

        feather.write_feather(table, p, compression="uncompressed")
    else:
        raise MarginInputError(
            f"unsupported output type {suffix!r} for {p}; use one of {', '.join(_READERS)}", table="out"
        )
