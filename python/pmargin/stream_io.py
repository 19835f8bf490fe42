"""Files in and out of a streaming run (the ``pmargin margin`` command).

In: a positions file, a directory of Parquet files or a glob, as a lazy stream with its row
count (from the Parquet footers, before any row is read). Out: every result table written batch
by batch (a Parquet row group per batch) to a temporary file beside its destination, all moved
into place at the end (``os.replace``) or all removed on error (:func:`commit`: every destination
is checked first, and a move that still fails puts back the files already moved). No destination
may replace an input, nor be a file a later run would read as positions: a Parquet file inside the
positions folder, or a file its glob matches (:func:`check_not_inputs`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from .columns import is_string_type
from .errors import MarginInputError, unreadable
from .io import check_unique_names, read_table, write_table

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
            schema = _part_schema(files[0], ds.ParquetFileFormat())
            dictionary = [c for c in DICTIONARY_COLUMNS if c in schema.names]
            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=dictionary))
            # Every part's own schema, widened to one (float32 and float64 quantities read as
            # float64, decimals at the widest scale, text of any encoding as large_string): a
            # dataset would cast every part to the first part's types, rounding later quantities
            # without a word.
            parts = _same_text([_part_schema(f, fmt) for f in files])
            try:
                unified = pa.unify_schemas(parts, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise MarginInputError(
                    f"the Parquet files under {path} disagree on a column's type: {exc}", table="positions"
                ) from exc
            # Every field nullable: a column one part declares non-nullable (REQUIRED) and another
            # lacks is null in the other's rows.
            unified = pa.schema([f.with_nullable(True) for f in unified], metadata=unified.metadata)
            dataset = ds.dataset([str(f) for f in files], format=fmt, schema=unified)
            total = dataset.count_rows()  # from the footers' metadata
            batches = _scan_files(files, fmt, unified, batch_rows)
            return pa.RecordBatchReader.from_batches(unified, batches), total
        except (pa.ArrowException, OSError) as exc:
            raise unreadable("positions", path, exc) from exc
    if len(files) > 1:
        raise MarginInputError(
            f"{path} matches {len(files)} files: only Parquet files can be streamed together", table="positions"
        )
    table = read_table(files[0], "positions")
    return table, table.num_rows


def _same_text(parts: Sequence[pa.Schema]) -> list[pa.Schema]:
    """The parts' schemas with every text column the parts store in different encodings
    (:func:`pmargin.columns.is_string_type`: one part's pandas ``category``, another's plain or large strings, Polars'
    string views) read as ``large_string`` in every part; text is text. Dictionaries that differ
    only in their index width are left to :func:`pyarrow.unify_schemas` (which widens the index),
    and a column that is text in one part and not in another is left to it too (an error)."""
    kinds: dict[str, set[pa.DataType]] = {}
    for schema in parts:
        for field in schema:
            kinds.setdefault(field.name, set()).add(field.type)
    recode = set()
    for name, types in kinds.items():
        if len(types) < 2 or not all(is_string_type(kind) for kind in types):
            continue
        if all(pa.types.is_dictionary(kind) for kind in types) and len({kind.value_type for kind in types}) == 1:
            continue
        recode.add(name)
    if not recode:
        return list(parts)
    return [
        pa.schema([f.with_type(pa.large_string()) if f.name in recode else f for f in schema], metadata=schema.metadata)
        for schema in parts
    ]


def _part_schema(file: Path, fmt: Any) -> pa.Schema:
    """One Parquet file's schema (from its footer); an error names the file, and a column name
    the file holds twice (a join's output) is named as such."""
    import pyarrow.dataset as ds

    try:
        return ds.dataset(str(file), format=fmt).schema
    except (pa.ArrowException, OSError) as exc:
        _check_unique_names(file)
        raise unreadable("positions", file, exc) from exc


def _check_unique_names(file: Path) -> None:
    """Refuse a Parquet file that holds a column name twice (the error names the column and the
    file, as the engine does for a table in memory); a file whose footer cannot be read is left
    to the caller's error."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(str(file)).names
    except (pa.ArrowException, OSError):
        return
    check_unique_names(names, file, "positions")


def _scan_files(files: Sequence[Path], fmt: Any, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The batches of every file in turn, as ``schema``; a read error (a corrupt page) names the
    file."""
    import pyarrow.dataset as ds

    for file in files:
        try:
            yield from ds.dataset(str(file), format=fmt, schema=schema).scanner(batch_size=batch_rows).to_reader()
        except (pa.ArrowException, OSError) as exc:
            raise unreadable("positions", file, exc) from exc


def is_directory_output(out: Path) -> bool:
    """``--out`` names a directory: an existing one, or a path without an extension."""
    return out.is_dir() or out.suffix == ""


def beside(out: Path, name: str) -> Path:
    """``beside(Path("result.parquet"), "explain")`` -> ``result.explain.parquet``."""
    return out.with_name(f"{out.stem}.{name}{out.suffix}")


def output_path(out: Path, name: str) -> Path:
    """Where table ``name`` goes: ``<dir>/<name>.parquet`` for a directory output, else
    ``accounts`` at ``out`` and every other table beside it as ``<stem>.<name><suffix>``."""
    if is_directory_output(out):
        return out / f"{name}.parquet"
    return out if name == "accounts" else beside(out, name)


def folder_problem(path: Path) -> str | None:
    """Why a file cannot be created at ``path`` because of its folder, or None: a missing folder
    (``"the folder F of P does not exist; create it first"``), or one that is a file (``"cannot
    write P: F is not a folder"``, naming the nearest existing ancestor: a path under a regular
    file is no folder to create)."""
    folder = path.parent
    if folder.is_dir():
        return None
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if ancestor.is_dir():
                break
            return f"cannot write {path}: {ancestor} is not a folder"
    return f"the folder {folder} of {path} does not exist; create it first"


def check_targets(paths: Iterable[Path]) -> None:
    """Refuse destinations that cannot be replaced by a file: an existing folder, or a path whose
    folder is missing or not a folder (:func:`folder_problem`); the error names the destination."""
    for path in paths:
        if path.is_dir():
            raise MarginInputError(f"cannot write {path}: it is an existing folder", table="out")
        problem = folder_problem(path)
        if problem is not None:
            raise MarginInputError(problem, table="out")


def temporary_beside(path: Path) -> Path:
    """A new empty file in ``path``'s folder (hidden, with ``path``'s suffix), made with the
    permissions of an ordinary new file (``mkstemp`` makes it 0600); an error names ``path``."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(handle)
        os.chmod(name, 0o666 & ~_umask())
    except OSError as exc:
        raise MarginInputError(f"cannot write {path}: {exc.strerror or exc}", table="out") from None
    return Path(name)


def commit(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move each complete temporary file over its destination (``(temporary, destination)``
    pairs, each ``os.replace``), all or none. Every destination is checked first
    (:func:`check_targets`); if a move still fails, the destinations already replaced get back
    their previous file (or are removed if they had none) and the error names the destination.
    The temporary files are removed in every case."""
    placed: list[tuple[Path, Path | None]] = []  # (destination replaced, its previous file kept aside)
    target = moves[0][1] if moves else None
    try:
        check_targets(destination for _, destination in moves)
        for temporary, destination in moves:
            target = destination
            previous = _keep_aside(destination) if os.path.lexists(destination) else None
            try:
                os.replace(temporary, destination)
            except OSError:
                if previous is not None:  # put the previous file back (and drop its second name)
                    placed.append((destination, previous))
                raise
            placed.append((destination, previous))
    except OSError as exc:
        _put_back(placed)
        raise MarginInputError(f"cannot write {target}: {exc.strerror or exc}", table="out") from None
    except BaseException:
        _put_back(placed)
        raise
    finally:
        for temporary, _ in moves:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
    for _, previous in placed:
        if previous is not None:
            with contextlib.suppress(OSError):
                previous.unlink()


def _keep_aside(destination: Path) -> Path:
    """A second name, in its folder, for the file at ``destination`` (a hard link: the
    destination stays in place until it is replaced; moved there where links are not supported)."""
    aside = temporary_beside(destination)
    try:
        aside.unlink()
        try:
            os.link(destination, aside, follow_symlinks=False)
        except (OSError, NotImplementedError):
            os.replace(destination, aside)
    except OSError:
        aside.unlink(missing_ok=True)
        raise
    return aside


def _put_back(placed: Sequence[tuple[Path, Path | None]]) -> None:
    """Undo :func:`commit`'s moves, last first: each destination gets its previous file back,
    or is removed when it had none."""
    for destination, previous in reversed(placed):
        with contextlib.suppress(OSError):
            if previous is not None:
                os.replace(previous, destination)
            else:
                destination.unlink(missing_ok=True)


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
    moved over its destination (after all are complete, by :func:`commit`: all or none), on error
    all are removed and no destination is touched. The destinations are checked on entry, before
    any work."""

    def __init__(
        self, destinations: dict[str, Path], schemas: dict[str, pa.Schema], convert: Callable[[pa.Table], pa.Table]
    ) -> None:
        self.destinations, self.schemas, self.convert = destinations, schemas, convert
        self.temporary: dict[str, Path] = {}
        self.writers: dict[str, _Writer] = {}

    def __enter__(self) -> AtomicOutputs:
        check_targets(self.destinations.values())  # before any work; checked again at the end
        try:
            for name, path in self.destinations.items():
                self.temporary[name] = temporary_beside(path)
                self.writers[name] = _Writer(self.temporary[name], self.schemas[name], self.convert)
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
        except BaseException:
            self._discard()
            raise
        commit([(temp, self.destinations[name]) for name, temp in self.temporary.items()])


#: The formats an output file may have, by extension.
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".arrow", ".feather", ".ipc")


def check_output_path(out: Path) -> None:
    """Refuse an output that cannot be written (an unknown format, a missing folder, a folder in
    its place: :func:`pmargin.stream_io.check_targets`), before any work is done."""
    if is_directory_output(out):  # a directory of <table>.parquet files
        if out.exists() and not out.is_dir():
            raise MarginInputError(
                f"{out} is not a folder: an output without an extension is a folder of <table>.parquet files",
                table="out",
            )
        problem = None if out.is_dir() else folder_problem(out)
        if problem is not None:
            raise MarginInputError(problem, table="out")
        out.mkdir(exist_ok=True)
        return
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise MarginInputError(
            f"unsupported output type {out.suffix!r} for {out}; use one of {', '.join(OUTPUT_SUFFIXES)}", table="out"
        )
    check_targets([out])


def input_options(args: Any, *names: str) -> dict[str, Path | None]:
    """The input files of a command by option, ``{"--positions": args.positions, ...}``, for
    :func:`check_not_inputs` (``names`` as argparse stores them: ``spill_dir`` for ``--spill-dir``)."""
    return {f"--{name.replace('_', '-')}": getattr(args, name, None) for name in names}


def check_not_inputs(outputs: Iterable[Path], inputs: Mapping[str, Path | str | None]) -> None:
    """Refuse an output that would replace an input, or be read as one by a later run, before
    any work. Refused:

    - a destination that is an input file, or one of the files an input folder or glob reads
      (:func:`positions_files`), also through a link, a hard link or another spelling
      (:func:`os.path.samefile`; a glob's files also through a symlinked folder after a wildcard);
    - a Parquet destination (:data:`PARQUET_SUFFIXES`) inside an input folder, whose Parquet files
      are all read (a CSV, Arrow or HTML file there is never read, and is allowed);
    - a destination an input glob matches (any type: a glob reads every file it matches), spelled
      as typed, without links, or through a folder the glob reaches.

    ``inputs``: each input by its option (None when not given); the error names the destination
    and the input."""
    given = [_Input(option, str(path)) for option, path in inputs.items() if path is not None]
    for output in outputs:
        for item in given:
            problem = item.problem(output)
            if problem is not None:
                raise MarginInputError(
                    f"cannot write {output}: {problem}; write the results somewhere else", table="out"
                )


class _Input:
    """One input of :func:`check_not_inputs`: a file, a folder or a glob; the files a folder or
    glob reads are listed once, on first use."""

    def __init__(self, option: str, text: str) -> None:
        self.option, self.text = option, text
        self.kind = "pattern" if is_pattern(text) else "folder" if Path(text).is_dir() else "file"
        self._files: dict[tuple[int, int], Path] | None = None

    def files(self) -> dict[tuple[int, int], Path]:
        """The files the folder or glob reads (:func:`positions_files`), by device and inode."""
        if self._files is None:
            try:
                listed = positions_files(Path(self.text))
            except MarginInputError:  # nothing to read: the run reports it
                listed = []
            self._files = {}
            for file in listed:
                identity = _identity(file)
                if identity is not None:
                    self._files.setdefault(identity, file)
        return self._files

    def problem(self, output: Path) -> str | None:
        """Why ``output`` may not be written, or None."""
        if self.kind == "file":
            return f"it is the {self.option} file {self.text}" if _same_file(output, Path(self.text)) else None
        identity = _identity(output)
        if identity is not None and identity in self.files():
            return f"it is {self.files()[identity]}, which the {self.option} {self.kind} {self.text} reads as input"
        if self.kind == "pattern":
            folders = {file.parent for file in self.files().values()}
            if _matches_pattern(output, self.text, folders):
                return f"it matches the {self.option} pattern {self.text}"
            return None
        if output.suffix.lower() in PARQUET_SUFFIXES and _inside(output, Path(self.text)):
            return f"it is inside the {self.option} folder {self.text}, whose Parquet files are all read as input"
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (through links), None when there is none."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return (stat.st_dev, stat.st_ino)


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (a link, another spelling), or would once created."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (existing or not) is ``folder`` or lies somewhere under it."""
    resolved = Path(os.path.realpath(path))
    return any(_same_file(ancestor, folder) for ancestor in (resolved, *resolved.parents) if ancestor.exists())


def _matches_pattern(path: Path, pattern: str, folders: Iterable[Path] = ()) -> bool:
    """Whether the glob ``pattern`` would match ``path`` (existing or not; ``**``: any number of
    folders; a wildcard matches no dot-file, as :func:`glob.glob`). ``path`` is tried as typed
    (absolute), without links, and in each of ``folders`` (the folders of the files the glob
    reads) that is its own folder; the pattern as typed (absolute) and with links resolved in
    its folders before the first wildcard."""
    parts = Path(os.path.abspath(pattern)).parts
    # The folders before the first wildcard, without links.
    fixed = next((i for i, part in enumerate(parts) if is_pattern(part)), len(parts))
    patterns = {parts, Path(os.path.realpath(Path(*parts[:fixed]))).parts + parts[fixed:]}
    spellings = {Path(os.path.abspath(path)), Path(os.path.realpath(path))}
    spellings |= {Path(os.path.abspath(folder / path.name)) for folder in folders if _same_file(folder, path.parent)}
    return any(_match_parts(spelling.parts, pattern) for spelling in spellings for pattern in patterns)


def _match_parts(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":  # any number of folders, none hidden
        return any(_match_parts(parts[i:], pattern[1:]) for i in range(len(parts) + 1) if not _hidden(parts[:i]))
    return bool(parts) and _match_name(parts[0], pattern[0]) and _match_parts(parts[1:], pattern[1:])


def _match_name(name: str, pattern: str) -> bool:
    """A name against one part of a glob: a wildcard part matches no dot-file unless it starts
    with a dot (as :func:`glob.glob`)."""
    if is_pattern(pattern) and name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _hidden(names: Sequence[str]) -> bool:
    return any(name.startswith(".") for name in names)


def write_outputs(tables: Sequence[tuple[Path, pa.Table]]) -> None:
    """Write every table atomically: each to a temporary file in its own folder first, then,
    once all are written, each moved over its destination (:func:`pmargin.stream_io.commit`:
    every destination is checked first, and a move that fails puts back the files already
    moved). On any error the temporary files are removed: no output file is created, changed or
    left half-written."""
    check_targets(path for path, _ in tables)
    written: list[tuple[Path, Path]] = []
    try:
        for path, table in tables:
            written.append((temporary_beside(path), path))
            write_output(table, written[-1][0])
    except BaseException:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise
    commit(written)


def write_output(table: pa.Table, path: Path) -> None:
    """Write ``table`` in the format of ``path``; in CSV a list column (``tail_scenarios``) is
    written as its items separated by spaces."""
    if path.suffix.lower() == ".csv":
        table = flatten_lists(table)
    write_table(table, path)


def flatten_lists(table: pa.Table) -> pa.Table:
    """List columns as strings of their items separated by spaces (``[3, 17]`` -> ``"3 17"``)."""
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            items = table.column(i).cast(pa.list_(pa.string()))
            table = table.set_column(i, pa.field(field.name, pa.string()), pc.binary_join(items, " "))
    return table
