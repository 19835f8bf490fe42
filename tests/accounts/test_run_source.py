"""pmargin.run_source: the source of a result as the account services read it, id columns of any
string encoding (Polars' string_view, large_string, dictionary) as plain strings."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pmargin
from pmargin.run_source import plain_column, plain_ids, source_of

from .conftest import ENCODINGS, GRID, book, encoded, instruments, market


@pytest.mark.parametrize("how", ENCODINGS)
def test_id_columns_become_plain_strings(how: str) -> None:
    positions = book([("a", "PA", 1.0), ("b", "PB", 2.0), ("a", "CA", -1.0)])
    table = plain_ids(pa.table(encoded(positions, how)))
    assert table.schema == positions.schema
    assert table.to_pylist() == positions.to_pylist()
    # The kernels the services use take the result (string_view has none of them).
    assert table.filter(pc.is_in(table.column("account_id"), value_set=pa.array(["a"]))).num_rows == 2
    source = source_of(pmargin.margin(encoded(positions, how), instruments(), market(), GRID))
    assert source.positions.schema.field("account_id").type == pa.string()


def test_other_columns_and_integer_ids() -> None:
    view = pa.array(["x", "y"], pa.string_view())
    table = plain_ids(pa.table({"account_id": pa.array([1, 2]).dictionary_encode(), "note": view}))
    assert table.schema == pa.schema([("account_id", pa.int64()), ("note", pa.large_string())])
    assert table.filter(pa.array([False, True])).to_pylist() == [{"account_id": 2, "note": "y"}]
    plain = pa.table({"account_id": ["a"]})
    assert plain_ids(plain) is plain  # nothing to convert: no copy
    dictionary = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1]), pa.array(["p", "q"], pa.string_view()))
    assert plain_column(dictionary).to_pylist() == ["q", "p", "q"]
