"""Arrow / Polars exchange and file I/O.

Every public entry point accepts any Arrow PyCapsule producer (pyarrow Table, RecordBatch,
RecordBatchReader, Polars DataFrame, ...), a ``pyarrow.dataset.Dataset`` (read with
``.to_table()``), a Polars ``LazyFrame`` (run with ``.collect()``), plus pandas DataFrames and
plain ``dict`` of columns for convenience; anything else is an error saying what to call. Arrow inputs are imported without copying their buffers: pyarrow objects are
used as they are, and Polars frames through ``__arrow_c_stream__`` (a Polars frame with several
chunks is merged into one batch by Polars itself; ``df.rechunk()`` first if that matters).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from .errors import MarginInputError, reading, unreadable
from .types import TableLike as TableLike


def to_table(data: TableLike, name: str) -> pa.Table:
    """Return ``data`` as a pyarrow Table without copying its buffers. What the caller's source
    raises while it is read (a corrupt file of a Dataset, a failing LazyFrame query) is an input
    error at table ``name``, chained to the original (:func:`pmargin.errors.reading`)."""
    with reading(name, data):
        return _as_table(data, name)


def _as_table(data: TableLike, name: str) -> pa.Table:
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

#: Columns read as text from a CSV file in every table: ids are kept exactly as written (``00123``
#: and ``123`` are two accounts, ``0x1F`` stays ``0x1F``), never guessed as numbers.
CSV_ID_COLUMNS = ("account_id", "instrument_id", "underlying", "asset")
#: A CRIF's text columns (both SIMM engines read them as strings).
CRIF_TEXT_COLUMNS = ("ProductClass", "RiskType", "Qualifier", "Bucket", "Label1", "Label2", "AmountCurrency")
#: More text columns of a CSV file, by the name the table is read under.
CSV_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "instruments": ("kind", "option_type", "payoff", "barrier_type", "settlement"),
    "crif": (
        "Portfolio",
        "PortfolioID",
        "TradeID",
        *CRIF_TEXT_COLUMNS,
        "IMModel",
        "PostRegulation",
        "CollectRegulation",
        "EndDate",
    ),
}
#: Tables whose CSV columns are all text except these numbers and times (an extra column, such
#: as the instruments' ``range_column`` group, is text too).
CSV_NUMBER_COLUMNS: dict[str, tuple[str, ...]] = {
    "positions": ("quantity",),
    "instruments": ("strike", "expiry", "barrier", "rebate", "multiplier"),
    "underlyings": ("spot", "rate"),
    "vols": ("implied_vol",),
}
#: Number columns (not times) of a CSV file, by table: one the reader could only read as text has
#: a cell that is not a number, named with its row.
CSV_NUMBERS: dict[str, tuple[str, ...]] = {
    "positions": ("quantity",),
    "instruments": ("strike", "barrier", "rebate", "multiplier"),
    "underlyings": ("spot", "rate"),
    "vols": ("implied_vol",),
    "crif": ("AmountUSD", "Amount"),
}
#: Names of a CRIF's account column under other spellings, compared by :func:`account_like` (CSV
#: reads them as text; :func:`pmargin.simm.checked_account_column` refuses to ignore them).
CRIF_ACCOUNT_NAMES = frozenset(
    {"portfolio", "portfolioid", "account", "accountid", "counterparty", "counterpartyid", "nettingset", "nettingsetid"}
)


def account_like(column: str) -> bool:
    """Whether a CRIF column's name, case, ``_`` and spaces aside, is an account column's."""
    return column.lower().replace("_", "").replace(" ", "") in CRIF_ACCOUNT_NAMES


def read_table(path: str | Path, name: str, text_columns: Sequence[str] = ()) -> pa.Table:
    """Read a Parquet, CSV or Arrow IPC file, chosen by the file's extension.

    A CSV file's text columns (:func:`csv_text_column`, and ``text_columns``) are read as strings
    exactly as written, an empty cell as null; other columns have their types inferred."""
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.exists():
        raise MarginInputError(f"file not found: {p}", table=name)
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(p)
        if suffix == ".csv":
            return read_csv(p, name, text_columns)
        if suffix in (".arrow", ".feather", ".ipc"):
            return read_ipc(p)
    except pa.ArrowException as exc:
        raise unreadable(name, str(p), exc) from exc
    raise MarginInputError(f"unsupported file type {suffix!r} for {p}; use one of {', '.join(_READERS)}", table=name)


def read_ipc(path: Path) -> pa.Table:
    """An Arrow IPC file, or an Arrow IPC stream (what ``write_ipc_stream`` writes) under the same
    extensions."""
    import pyarrow.feather as feather

    try:
        return feather.read_table(path)
    except pa.ArrowInvalid:
        with pa.OSFile(str(path)) as f:
            return pa.ipc.open_stream(f).read_all()


def csv_text_column(name: str, column: str) -> bool:
    """Whether ``column`` of table ``name`` is read from CSV as text (no type inference)."""
    if column in CSV_ID_COLUMNS or column in CSV_TEXT_COLUMNS.get(name, ()):
        return True
    if name in CSV_NUMBER_COLUMNS:
        return column not in CSV_NUMBER_COLUMNS[name]
    return name == "crif" and account_like(column)


def read_csv(path: Path, name: str, text_columns: Sequence[str] = ()) -> pa.Table:
    """A CSV file as a table: the text columns as strings exactly as written (only an empty cell
    is null: ``NA`` or ``null`` may be an id), the others inferred (numbers, times; there pyarrow's
    null spellings, ``NA``, ``NULL``, ``nan``, ..., are nulls as well)."""
    import io as bytes_io

    import pyarrow.csv as pcsv

    text = {*CSV_ID_COLUMNS, *CSV_TEXT_COLUMNS.get(name, ()), *text_columns}
    source: Path | bytes_io.BytesIO = path
    with path.open("rb") as f:
        not_text = binary_kind(f.read(_SNIFF_BYTES))
        ends_bare = f.seek(0, 2) > 0 and f.seek(-1, 2) >= 0 and f.read(1) not in (b"\n", b"\r")
    if not_text is not None:  # the parser's error would quote the file's bytes
        raise MarginInputError(f"{path} does not look like CSV text: {not_text}", table=name)
    if ends_bare:  # a last line without its newline (a header alone is otherwise "empty")
        source = bytes_io.BytesIO(path.read_bytes() + b"\n")

    def read(text: set[str]) -> pa.Table:
        # Bytes as written: checked as UTF-8 afterwards, so a bad byte is named with its row.
        types = {c: pa.binary() for c in text}
        options = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True, null_values=[""])
        if isinstance(source, bytes_io.BytesIO):
            source.seek(0)
        return pcsv.read_csv(source, convert_options=options)

    table = read(text)
    # Text columns known only by the header (every column of a table that is not a number): the
    # guessed type lost what was written (00123 -> 123), so read again with them as strings.
    guessed = {
        f.name
        for f in table.schema
        if f.name not in text
        and csv_text_column(name, f.name)
        and not (pa.types.is_string(f.type) or pa.types.is_binary(f.type) or pa.types.is_null(f.type))
    }
    if guessed:
        text |= guessed
        table = read(text)
    # The other columns with a null spelling besides the empty cell came back as strings: read
    # them again with pyarrow's null spellings, as numbers or times where they are.
    names = table.column_names
    again = [
        c
        for c, f in zip(names, table.schema, strict=True)
        if c not in text and pa.types.is_string(f.type) and names.count(c) == 1
    ]
    if again:
        options = pcsv.ConvertOptions(include_columns=again, strings_can_be_null=True)
        if isinstance(source, bytes_io.BytesIO):
            source.seek(0)
        inferred = pcsv.read_csv(source, convert_options=options)
        for c in again:
            table = table.set_column(names.index(c), c, inferred.column(c))
    for i, f in enumerate(table.schema):
        if pa.types.is_binary(f.type):
            table = table.set_column(i, f.name, utf8_text(table.column(i), name, f.name))
        elif f.name in CSV_NUMBERS.get(name, ()) and pa.types.is_string(f.type):
            first_non_number(table.column(i), name, f.name)
    return table


#: Bytes of a CSV file looked at for a binary file under a .csv name.
_SNIFF_BYTES = 4096
#: Leading bytes of the binary formats a table is likely to be in instead.
_MAGIC = (
    (b"PAR1", "it is a Parquet file (name it .parquet)"),
    (b"ARROW1", "it is an Arrow IPC file (name it .arrow)"),
    (b"\xff\xfe", "it is UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "it is UTF-16 text (save it as UTF-8)"),
)


def binary_kind(head: bytes) -> str | None:
    """Why a file starting with ``head`` is not CSV text (a Parquet or Arrow file, or another
    binary file: a NUL byte), or None when it may be."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\0" in head:
        return "it is a binary file (it holds NUL bytes)"
    return None


def utf8_text(col: pa.ChunkedArray, table: str, column: str) -> pa.ChunkedArray:
    """A binary column of text as strings; the first value that is not UTF-8 is an error at its row."""
    try:
        return col.cast(pa.string())
    except pa.ArrowInvalid:
        for row, value in enumerate(col.to_pylist()):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    raise MarginInputError("not valid UTF-8 text", table=table, column=column, row=row) from None
        raise


def first_non_number(col: pa.ChunkedArray, table: str, column: str) -> None:
    """A number column the CSV reader could only read as text: the error at its first cell that is
    not a number (the whole column's type would name no row)."""
    for row, value in enumerate(col.to_pylist()):
        if value is not None and not plain_number(value):
            raise MarginInputError(f"not a number: {value!r}", table=table, column=column, row=row)


def plain_number(text: str) -> bool:
    """Whether a CSV reader reads ``text`` as a number: ``float()`` also takes ``1_000`` and digits
    of other scripts, which a CSV reader does not."""
    if not text.isascii() or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


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
