"""Scan ranges per product on the grid (GridModel price_ranges / vol_ranges / range_column): the
native engine against the reference on random books, by underlying and by a product-group
column, with attribution; and the same error on an underlying split across two groups."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.errors import MarginInputError
from pmargin.models import GridModel
from tests.parity.test_grid import assert_same_result
from tests.strategies import Book, books, grid_models

HYPOTHESIS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def with_groups(book: Book, groups: dict[str, str]) -> Book:
    names = book.instruments.column("underlying").to_pylist()
    column = pa.array([groups.get(str(u), "other") for u in names], pa.string())
    return book._replace(instruments=book.instruments.append_column("product_group", column))


@st.composite
def ranged(draw: st.DrawFn) -> tuple[Book, GridModel]:
    book = draw(books(max_rows=30, max_underlyings=3))
    base = draw(grid_models())
    names = sorted(set(book.underlyings.column("underlying").to_pylist()) | {"other", "alts"})
    by_column = draw(st.booleans())
    groups = {u: draw(st.sampled_from(["alts", "majors"])) for u in names}
    price = {n: draw(st.floats(0.05, 0.6)) for n in draw(st.lists(st.sampled_from(names), max_size=3, unique=True))}
    vol = {n: draw(st.floats(0.05, 0.6)) for n in draw(st.lists(st.sampled_from(names), max_size=2, unique=True))}
    largest = max(abs(p) for p in base.price_shocks)
    price = {n: r for n, r in price.items() if all(p * (r / largest) > -1.0 for p in base.price_shocks)}
    vlargest = max([abs(v) for v in base.vol_shocks] + [0.0])
    ok = vlargest > 0 and (
        base.vol_shock == "absolute" or all(v * (r / vlargest) > -1.0 for v in base.vol_shocks for r in vol.values())
    )
    model = replace(
        base,
        price_ranges=price or None,
        vol_ranges=(vol or None) if ok else None,
        range_column="product_group" if by_column else None,
    )
    return (with_groups(book, groups) if by_column else book), model


@HYPOTHESIS
@given(case=ranged(), by_position=st.booleans())
def test_native_matches_reference_with_ranges(case: tuple[Book, GridModel], by_position: bool) -> None:
    book, model = case
    args = (book.positions, book.instruments, book.market(), model)
    assert_same_result(pmargin.margin(*args, by_position=by_position), reference.margin(*args, by_position=by_position))


def test_an_underlying_in_two_groups_is_the_same_error() -> None:
    book = pmargin.sample.book(50, seed=3)
    names = book.instruments.column("underlying").to_pylist()
    groups = ["majors" if u == "BTC" else "alts" for u in names]
    groups[names.index("ETH") + 1] = "defi"
    instruments = book.instruments.append_column("product_group", pa.array(groups))
    model = GridModel(price_ranges={"alts": 0.4}, range_column="product_group")
    found = []
    for engine in (pmargin.margin, reference.margin):
        try:
            engine(book.positions, instruments, book.market, model)
            found.append(None)
        except MarginInputError as e:
            found.append((e.table, e.column, e.row))
    assert found[0] == found[1]
