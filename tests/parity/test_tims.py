"""TIMS, native against reference, on hypothesis books: random product classes (some underlyings
without one: the same named error), product groups and offsets, and broken books."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.models.tims import PRODUCT_CLASS_RANGES, TimsModel
from tests.parity.venue import assert_same, outcome
from tests.strategies import Book, BrokenBook, books, broken_books

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
NAMES = ("BTC", "ETH", "SOL", "SPX", "XYZ", "é-ü")


@st.composite
def tims_models(draw: st.DrawFn) -> TimsModel:
    names = [n for n in NAMES if draw(st.integers(0, 9)) > 0]
    classes = {n: draw(st.sampled_from(sorted(PRODUCT_CLASS_RANGES))) for n in names}
    groups = {n: draw(st.sampled_from(["g1", "g2"])) for n in names if draw(st.booleans())}
    offsets = {g: draw(st.floats(0, 1)) for g in ("g1", "g2", "high_cap_index", "broad_index")}
    minimum = draw(st.sampled_from([0.375, 0.0, 5.0]))
    return TimsModel(classes, product_groups=groups, offsets=offsets, minimum_per_contract=minimum)


def both(book: Book, model: TimsModel) -> tuple[Any, Any]:
    market = book.market()
    native = outcome(lambda: pmargin.margin(book.positions, book.instruments, market, model))
    ref = outcome(lambda: reference.margin(book.positions, book.instruments, market, model))
    return native, ref


@HYPOTHESIS
@given(book=books(), model=tims_models())
def test_native_matches_reference_on_random_books(book: Book, model: TimsModel) -> None:
    native, ref = both(book, model)
    assert_same(native, ref, "maintenance_margin")


@HYPOTHESIS
@given(broken=broken_books(), model=tims_models())
def test_broken_books_fail_alike(broken: BrokenBook, model: TimsModel) -> None:
    native, ref = both(broken.book, model)
    assert native == ref
