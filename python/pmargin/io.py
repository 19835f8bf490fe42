"""Arrow / Polars exchange and file I/O.

Every public entry point accepts any Arrow PyCapsule producer (pyarrow Table, RecordBatch,
RecordBatchReader, Polars DataFrame, ...), a ``pyarrow.dataset.Dataset`` (read with
``.to_table()``), a Polars ``LazyFrame`` (run with ``.collect()``), plus pandas DataFrames and
plain ``dict`` of columns for convenience; anything else is an error saying what to call. Arrow inputs are imported without copying their buffers: pyarrow objects are
used as they are, and Polars frames through ``__arrow_c_stream__`` (a Polars frame with several
chunks is merged into one batch by Polars itself; ``df.rechunk()`` first if that matters).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from .columns import is_string_type, iso_epoch_ns, text_number_hint
from .columns import plain_number as plain_number
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
    "collateral": ("amount",),
    "assets": ("price", "haircut"),
    "statement": ("initial_margin", "maintenance_margin"),
}
#: Time columns of a CSV file, by table: read as text and parsed cell by cell with one rule
#: (:func:`csv_times`), so a cell in another spelling is an error at its row wherever it lies.
CSV_TIMES: dict[str, tuple[str, ...]] = {"instruments": ("expiry",)}
#: pyarrow's default null spellings: a null in a CSV number or time column (only an empty cell is
#: a null text).
CSV_NULLS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"}
    | {"N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"}
)
#: The time spellings a CSV time column accepts (those of ``--as-of``), for its error message.
CSV_TIME_FORMATS = (
    "ISO 8601: a date (2026-09-25, midnight UTC) or a date and time (2026-09-25T08:00:00, naive = UTC, "
    "or with Z or an offset such as +02:00; up to 9 digits of a second)"
)
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

            check_unique_names(pq.read_schema(p).names, p, name)
            return check_number_types(pq.read_table(p), name)
        if suffix == ".csv":
            return read_csv(p, name, text_columns)
        if suffix in (".arrow", ".feather", ".ipc"):
            return check_number_types(read_ipc(p), name)
    except pa.ArrowException as exc:
        raise unreadable(name, str(p), exc) from exc
    raise MarginInputError(f"unsupported file type {suffix!r} for {p}; use one of {', '.join(_READERS)}", table=name)


def check_unique_names(names: Sequence[str], path: str | Path, name: str) -> None:
    """A file that holds a column name twice (a join's output) is an error naming the column and
    the file (pyarrow's own error would name its internal columns)."""
    for column in dict.fromkeys(names):
        count = names.count(column)
        if count > 1:
            raise MarginInputError(
                f"column {column!r} appears {count} times in {path}: rename or drop the extra ones",
                table=name,
                column=column,
            )


def check_number_types(table: pa.Table, name: str) -> pa.Table:
    """A Parquet or Arrow table whose number column (:data:`CSV_NUMBERS`; a CRIF's ``AmountUSD``)
    holds text is an error saying so, with the first cell that is not a number, or that every cell
    is a number written as text (the engine would say only that the type is wrong)."""
    numbers = ("AmountUSD",) if name == "crif" else CSV_NUMBERS.get(name, ())
    for column in numbers:
        if table.column_names.count(column) == 1 and is_string_type(table.schema.field(column).type):
            col = table.column(column)
            raise MarginInputError(
                f"expected a number column, got text ({col.type}){text_number_hint(col)}",
                table=name,
                column=column,
            )
    return table


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
    null spellings, ``NA``, ``NULL``, ``nan``, ..., are nulls as well).

    A known number column (:data:`CSV_NUMBERS`) is first read as text and every cell checked with
    :func:`plain_number` (so ``0x10`` is an error at its row, never an integer), then inferred; a
    known time column (:data:`CSV_TIMES`) is parsed cell by cell (:func:`csv_times`). Excel's
    ``sep=,`` first line is skipped and a trailing DOS end-of-file byte (``\\x1a``) dropped; a
    semicolon- or tab-separated file, another ``sep=`` line and a row with too few or too many
    cells are errors naming the file (and the row)."""
    import io as bytes_io

    import pyarrow.csv as pcsv

    text = {*CSV_ID_COLUMNS, *CSV_TEXT_COLUMNS.get(name, ()), *text_columns}
    checked = {*CSV_NUMBERS.get(name, ()), *CSV_TIMES.get(name, ())} - text
    source: Path | bytes_io.BytesIO = path
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
        size = f.seek(0, 2)
        f.seek(max(0, size - 4))
        tail = f.read()
    not_text = binary_kind(head)
    if not_text is not None:  # the parser's error would quote the file's bytes
        raise MarginInputError(f"{path} does not look like CSV text: {not_text}", table=name)
    skip = csv_layout(head, path, name)
    dos_eof = tail.rstrip(b"\r\n").endswith(b"\x1a")
    if dos_eof or (size > 0 and tail[-1:] not in (b"\n", b"\r")):
        # A last line without its newline (a header alone is otherwise "empty"), or a DOS
        # end-of-file byte after the last line.
        data = path.read_bytes()
        if dos_eof:
            data = data.rstrip(b"\r\n").rstrip(b"\x1a")
        source = bytes_io.BytesIO(data + b"\n")

    def parse(**convert: Any) -> pa.Table:
        if isinstance(source, bytes_io.BytesIO):
            source.seek(0)
        try:
            return pcsv.read_csv(
                source,
                read_options=pcsv.ReadOptions(skip_rows=skip),
                convert_options=pcsv.ConvertOptions(**convert),
            )
        except pa.ArrowInvalid as exc:
            raise csv_parse_error(exc, source, skip, path, name) from exc

    def read(text: set[str]) -> pa.Table:
        # Bytes as written: checked as UTF-8 afterwards, so a bad byte is named with its row.
        types = {c: pa.binary() for c in text | checked}
        return parse(column_types=types, strings_can_be_null=True, null_values=[""])

    table = read(text)
    # Text columns known only by the header (every column of a table that is not a number): the
    # guessed type lost what was written (00123 -> 123), so read again with them as strings.
    guessed = {
        f.name
        for f in table.schema
        if f.name not in text | checked
        and csv_text_column(name, f.name)
        and not (pa.types.is_string(f.type) or pa.types.is_binary(f.type) or pa.types.is_null(f.type))
    }
    if guessed:
        text |= guessed
        table = read(text)
    for i, f in enumerate(table.schema):
        if pa.types.is_binary(f.type):
            table = table.set_column(i, f.name, utf8_text(table.column(i), name, f.name))
    names = table.column_names
    for c in CSV_TIMES.get(name, ()):
        if c in checked and names.count(c) == 1:
            i = names.index(c)
            table = table.set_column(i, c, csv_times(table.column(i), name, c))
    # The number columns (checked as text: pyarrow would read 0x10 as 16) and the other columns
    # with a null spelling besides the empty cell came back as strings: read them again with
    # pyarrow's null spellings, as numbers or times where they are.
    numbers = CSV_NUMBERS.get(name, ())
    again = []
    for c, f in zip(names, table.schema, strict=True):
        if names.count(c) != 1 or not pa.types.is_string(f.type) or c in text:
            continue
        if c in numbers:
            first_non_number(table.column(c), name, c, nulls=CSV_NULLS)
        again.append(c)
    if again:
        inferred = parse(include_columns=again, strings_can_be_null=True)
        for c in again:
            table = table.set_column(names.index(c), c, inferred.column(c))
    return table


def csv_layout(head: bytes, path: Path, name: str) -> int:
    """The rows to skip before a CSV file's header: 1 after Excel's ``sep=,`` line, else 0. Another
    ``sep=`` line, or a header that is one column holding semicolons or tabs, is an error saying
    what the file looks like (pmargin reads comma-separated CSV)."""
    lines = re.split(rb"\r\n|\r|\n", head.removeprefix(b"\xef\xbb\xbf"), maxsplit=2)
    found = re.fullmatch(rb"sep=(.)", lines[0].strip(), re.IGNORECASE)
    if found is None:
        semicolon_file(lines[0].decode("utf-8", "replace"), path, name)
        return 0
    if found[1] != b",":
        sep = found[1].decode("latin-1")
        raise MarginInputError(
            f"{path} starts with Excel's {lines[0].strip().decode('latin-1')!r} line: it looks {_SEPARATORS.get(sep, repr(sep))}-"
            f"separated; pmargin reads comma-separated CSV: save it as CSV with commas (and no 'sep=' line)",
            table=name,
        )
    if len(lines) > 1:
        semicolon_file(lines[1].decode("utf-8", "replace"), path, name)
    return 1


#: Separators a CSV file from a European Excel or a database export may use instead of commas.
_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def semicolon_file(header: str, path: Path, name: str) -> None:
    """A header that is one column holding a semicolon (or a tab, or a pipe): the file uses
    another separator."""
    if "," in header:
        return
    for sep, what in _SEPARATORS.items():
        if sep in header:
            raise MarginInputError(
                f"{path} looks {what}-separated (its header is one column: {header!r}); pmargin reads "
                f"comma-separated CSV: save it as CSV with commas",
                table=name,
            )


def csv_parse_error(exc: pa.ArrowInvalid, source: Any, skip: int, path: Path, name: str) -> MarginInputError:
    """pyarrow's CSV parse error as pmargin's: the file, and the row (0-based, as every row
    number of pmargin: the row after the header is row 0) of a row with too few or too many
    cells, found by a second, serial parse."""
    import pyarrow.csv as pcsv

    message = str(exc)
    if "straddling object straddles two block boundaries" in message:
        return MarginInputError(
            f"cannot read {path}: a row is longer than pyarrow's 1 MiB CSV block, or a quote is never closed",
            table=name,
        )
    if not message.startswith("CSV parse error"):
        return unreadable(name, str(path), exc)
    bad: list[Any] = []

    def first_bad(row: Any) -> str:
        bad.append(row)
        return "error"

    if hasattr(source, "seek"):
        source.seek(0)
    with contextlib.suppress(pa.ArrowInvalid):  # raised at the first bad row, recorded
        pcsv.read_csv(
            source,
            read_options=pcsv.ReadOptions(skip_rows=skip, use_threads=False),
            parse_options=pcsv.ParseOptions(invalid_row_handler=first_bad),
        )
    if not bad or bad[0].number < 2 + skip:
        return unreadable(name, str(path), exc)
    row = bad[0]
    return MarginInputError(
        f"cannot read {path}: {row.actual_columns} cells where the header has {row.expected_columns}: {row.text!r}",
        table=name,
        row=row.number - 2 - skip,
    )


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


def first_non_number(col: pa.ChunkedArray, table: str, column: str, nulls: frozenset[str] = frozenset()) -> None:
    """A CSV number column read as text: the error at its first cell that is not a number (a
    column's type would name no row); a cell spelt as in ``nulls`` is a null. Cells of the
    usual decimal form are passed in bulk; the others are looked at one by one, in row order."""
    import pyarrow.compute as pc

    usual = pc.fill_null(pc.match_substring_regex(col, _DECIMAL), True)
    if pc.all(usual).as_py() is not False:
        return
    rows = pc.indices_nonzero(pc.invert(usual)).to_pylist()
    for row, value in zip(rows, col.take(rows).to_pylist(), strict=True):
        if value not in nulls and not plain_number(value):
            raise MarginInputError(f"not a number: {value!r}", table=table, column=column, row=row)


#: The usual spelling of a decimal number (a subset of what :func:`plain_number` accepts).
_DECIMAL = r"^[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*$"


def csv_times(col: pa.ChunkedArray, table: str, column: str) -> pa.Array:
    """A CSV time column read as text, parsed cell by cell as ``--as-of`` is
    (:func:`pmargin.columns.iso_epoch_ns`: ISO 8601, naive = UTC, a date alone is midnight UTC), as
    ``timestamp[ns, UTC]``; pyarrow's null spellings are nulls (a column of nulls stays a null
    column). A cell that is not such a time is an error naming its row and the formats."""
    values = col.to_pylist()
    parsed: dict[str, int] = {}
    out: list[int | None] = []
    for row, value in enumerate(values):
        if value is None or value in CSV_NULLS:
            out.append(None)
            continue
        ns = parsed.get(value)
        if ns is None:
            try:
                ns = parsed[value] = iso_epoch_ns(value, table, column, row)
            except MarginInputError as exc:
                if not exc.reason.startswith("not an ISO 8601 time"):
                    raise
                reason = f"{exc.reason}; expected {CSV_TIME_FORMATS}"
                raise MarginInputError(reason, table=table, column=column, row=row) from None
        out.append(ns)
    if all(v is None for v in out):
        return pa.nulls(len(out))
    return pa.array(out, pa.timestamp("ns", tz="UTC"))


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
