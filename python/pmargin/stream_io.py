"""Files in and out of a streaming run (the ``pmargin margin`` command).

In: a positions file, a directory of Parquet files or a glob, as a lazy stream with its row
count (from the Parquet footers, before any row is read). Out: every result table written batch
by batch (a Parquet row group per batch) to a temporary file beside its destination, all moved
into place at the end (``os.replace``) or all removed on error.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from .errors import MarginInputError
from .io import read_table

#: Suffixes of the Parquet files of a directory or glob.
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Read as dictionaries from Parquet: a few thousand instruments repeat over millions of rows, and
#: the engine resolves each distinct id once.
DICTIONARY_COLUMNS = ("instrument_id",)


def is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def positions_files(path: Path) -> list[Path]:
    """The files of ``--positions``: the file, the Parquet files under a directory (sorted), or
    the files matching a glob (sorted)."""
    text = str(path)
    if is_pattern(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise MarginInputError(f"no file matches {text}", table="positions")
        return files
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES)
        if not files:
            raise MarginInputError(f"no Parquet file (.parquet, .pq) in the directory {path}", table="positions")
        return files
    if not path.exists():
        raise MarginInputError(f"file not found: {path}", table="positions")
    return [path]


def open_positions(path: Path, batch_rows: int = 1 << 17) -> tuple[Any, int | None]:
    """A lazy stream of the positions at ``path`` and its row count (None when unknown): Parquet
    files are read batch by batch (``instrument_id`` as a dictionary); one CSV or Arrow IPC
    file is read whole (they are not the large-book formats)."""
    files = positions_files(path)
    if all(f.suffix.lower() in PARQUET_SUFFIXES for f in files):
        import pyarrow.dataset as ds

        try:
            schema = ds.dataset([str(f) for f in files[:1]], format="parquet").schema
            dictionary = [c for c in DICTIONARY_COLUMNS if c in schema.names]
            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=dictionary))
            dataset = ds.dataset([str(f) for f in files], format=fmt)
            total = dataset.count_rows()  # from the footers' metadata
            return dataset.scanner(batch_size=batch_rows), total
        except (pa.ArrowException, OSError) as exc:
            raise MarginInputError(f"cannot read {path}: {exc}", table="positions") from None
    if len(files) > 1:
        raise MarginInputError(
            f"{path} matches {len(files)} files: only Parquet files can be streamed together", table="positions"
        )
    table = read_table(files[0], "positions")
    return table, table.num_rows


def is_directory_output(out: Path) -> bool:
    """``--out`` names a directory: an existing one, or a path without an extension."""
    return out.is_dir() or out.suffix == ""


def output_path(out: Path, name: str) -> Path:
    """Where table ``name`` goes: ``<dir>/<name>.parquet`` for a directory output, else
    ``accounts`` at ``out`` and every other table beside it as ``<stem>.<name><suffix>``."""
    if is_directory_output(out):
        return out / f"{name}.parquet"
    return out if name == "accounts" else out.with_name(f"{out.stem}.{name}{out.suffix}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _same(table: pa.Table) -> pa.Table:
    return table


class _Writer:
    """Batches of one table into one file, in the format of the destination's extension."""

    def __init__(self, path: Path, schema: pa.Schema, convert: Callable[[pa.Table], pa.Table]) -> None:
        suffix = path.suffix.lower()
        self.writer_path = path
        self.convert = convert if suffix == ".csv" else _same
        schema = self.convert(schema.empty_table()).schema
        self.schema = schema
        self.writer: Any
        if suffix in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(str(path), schema)
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            self.writer = pcsv.CSVWriter(str(path), schema)
        else:
            self.writer = pa.ipc.new_file(str(path), schema)

    def write(self, batch: pa.RecordBatch) -> None:
        table = self.convert(pa.Table.from_batches([batch]))
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


class AtomicOutputs:
    """Temporary files beside each destination, written batch by batch; on a clean exit each is
    moved over its destination (after all are complete), on error all are removed and no
    destination is touched."""

    def __init__(
        self, destinations: dict[str, Path], schemas: dict[str, pa.Schema], convert: Callable[[pa.Table], pa.Table]
    ) -> None:
        self.destinations, self.schemas, self.convert = destinations, schemas, convert
        self.temporary: dict[str, Path] = {}
        self.writers: dict[str, _Writer] = {}

    def __enter__(self) -> AtomicOutputs:
        try:
            for name, path in self.destinations.items():
                handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
                os.close(handle)
                self.temporary[name] = Path(temp)
                os.chmod(temp, 0o666 & ~_umask())  # as an ordinary new file (mkstemp makes it 0600)
                self.writers[name] = _Writer(Path(temp), self.schemas[name], self.convert)
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, name: str, batch: pa.RecordBatch) -> None:
        self.writers[name].write(batch)

    def write_all(self, batches: Iterable[tuple[str, pa.RecordBatch]]) -> None:
        for name, batch in batches:
            self.write(name, batch)

    def _discard(self) -> None:
        for writer in self.writers.values():
            with contextlib.suppress(OSError, pa.ArrowException):
                writer.close()
        for temp in self.temporary.values():
            temp.unlink(missing_ok=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self._discard()
            return
        try:
            for writer in self.writers.values():
                writer.close()
            for name, temp in self.temporary.items():
                os.replace(temp, self.destinations[name])
        finally:
            for temp in self.temporary.values():
                temp.unlink(missing_ok=True)
