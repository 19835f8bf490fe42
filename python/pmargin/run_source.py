"""What a margin result was computed from (kept by :meth:`pmargin.MarginEngine.margin`), so that
account services can re-margin the same book under a moved market with the same model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .errors import MarginInputError
from .limits import Limits
from .market import Market
from .types import AnyModel


@dataclass(frozen=True)
class RunSource:
    """The positions, instruments, market, model and limits of a run, and the engine class
    (``pmargin.MarginEngine``) that re-margins them: modules that only receive a result need not
    import the engine."""

    engine: Any
    positions: pa.Table
    instruments: pa.Table
    market: Market
    model: AnyModel
    limits: Limits


def source_of(result: Any) -> RunSource:
    """The inputs of ``result``, id columns as plain strings (:func:`plain_ids`); an error for a
    result not made by a :class:`MarginEngine`."""
    source = getattr(result, "source", None)
    if not isinstance(source, RunSource):
        raise MarginInputError(
            "this result does not carry its inputs (make it with pmargin.margin or MarginEngine.margin)", table="result"
        )
    positions, instruments = plain_ids(source.positions), plain_ids(source.instruments)
    if positions is source.positions and instruments is source.instruments:
        return source
    return dataclasses.replace(source, positions=positions, instruments=instruments)


#: The columns the account services filter, look up and match with pyarrow kernels.
ID_COLUMNS = ("account_id", "instrument_id")


def plain_column(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A large_string, string_view or dictionary-encoded id column as ``string`` (a dictionary of
    integers as its integers), its values unchanged: pyarrow has no ``is_in``, ``take`` or
    ``filter`` kernel for string_view (Polars' strings), nor for a dictionary of string_view."""
    t = column.type
    if pa.types.is_dictionary(t):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        # The dictionary's values are cast before it is decoded: decoding string_view needs take.
        values = pa.string() if pa.types.is_string_view(t.value_type) else t.value_type
        decoded = [
            pa.DictionaryArray.from_arrays(c.indices, c.dictionary.cast(values)).dictionary_decode() for c in chunks
        ]
        column = pa.chunked_array(decoded, values) if isinstance(column, pa.ChunkedArray) else decoded[0]
        t = column.type
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        try:
            return column.cast(pa.string())
        except pa.ArrowInvalid:  # more than 2 GiB of text in one chunk
            return column.cast(pa.large_string())
    return column


def plain_ids(table: pa.Table) -> pa.Table:
    """``table`` with its id columns as :func:`plain_column` and any other string_view column as
    large_string (``filter`` has no string_view kernel either): a copy of those columns only, the
    table itself when there are none. Results then equal those of plain ``string`` input."""
    for i, field in enumerate(table.schema):
        t = field.type
        if field.name in ID_COLUMNS and (pa.types.is_dictionary(t) or pa.types.is_large_string(t)):
            table = table.set_column(i, field.name, plain_column(table.column(i)))
        elif pa.types.is_string_view(t):
            column = table.column(i)
            table = table.set_column(
                i, field.name, plain_column(column) if field.name in ID_COLUMNS else column.cast(pa.large_string())
            )
    return table
