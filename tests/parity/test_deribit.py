"""Deribit portfolio margin: the native engine against the pure-Python reference on random books
(random settlement, random published-style parameters): every table, column type, row order and
number (1e-9 relative, or 1e-9 x the account's USD scale absolute), and the same error on a book
holding an underlying without parameters."""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.errors import MarginInputError
from pmargin.models.deribit import DeribitModel
from tests.methods.deribit.strategies import deribit_books, deribit_models
from tests.strategies import Book

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same(native: pa.Table, ref: pa.Table, what: str) -> None:
    assert native.schema == ref.schema, (what, native.schema, ref.schema)
    assert native.num_rows == ref.num_rows, what
    scale = max([abs(x) for c in native.columns if pa.types.is_floating(c.type) for x in c.to_pylist() if x] + [1.0])
    for name in native.column_names:
        a, b = native.column(name).to_pylist(), ref.column(name).to_pylist()
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12 * scale), (what, name, x, y)
            else:
                assert x == y, (what, name, x, y)


def margins(book: Book, model: DeribitModel) -> tuple[pmargin.MarginResult, pmargin.MarginResult]:
    args = (book.positions, book.instruments, book.market(), model)
    return pmargin.margin(*args), reference.margin(*args)


@HYPOTHESIS
@given(book=deribit_books(), model=deribit_models())
def test_native_equals_reference(book: Book, model: DeribitModel) -> None:
    native, ref = margins(book, model)
    assert_same(native.accounts, ref.accounts, "accounts")
    assert_same(native.by_underlying, ref.by_underlying, "by_underlying")
    for account in native.accounts.column("account_id").to_pylist()[:2]:
        assert_same(native.scenarios(account), ref.scenarios(account), f"risk vectors of {account}")


@settings(max_examples=40, deadline=None)
@given(book=deribit_books(), data=st.data())
def test_an_underlying_without_parameters_is_the_same_error(book: Book, data: st.DataObject) -> None:
    """Both raise at the same cell, or (nothing held nets to non-zero) both margin the book."""
    model = DeribitModel(params={"NOPE": data.draw(deribit_models()).params["*"]})
    outcomes: list[object] = []
    for engine in (pmargin.margin, reference.margin):
        try:
            result = engine(book.positions, book.instruments, book.market(), model)
            outcomes.append(result.accounts.column("initial_margin").to_pylist())
        except MarginInputError as e:
            outcomes.append((e.table, e.column, e.row))
    assert outcomes[0] == outcomes[1]
    if isinstance(outcomes[0], tuple):
        assert outcomes[0][:2] in {("instruments", "underlying"), ("positions", "instrument_id")}
