"""pmargin.compare: one book under several models, one row per account and model, the cheapest
marked; every number is the model's own run."""

from __future__ import annotations

import pyarrow as pa
import pytest

import pmargin
from pmargin import sample
from pmargin.errors import MarginConfigError
from pmargin.presets import span, tims

CLASSES = {"BTC": "equity", "ETH": "equity"}


@pytest.fixture(scope="module")
def book() -> sample.SampleBook:
    return sample.book(60, seed=3)


def models() -> dict[str, object]:
    return {"grid": pmargin.GridModel(), "span": span(), "tims": tims(CLASSES)}


def test_one_row_per_account_and_model(book: sample.SampleBook) -> None:
    table = pmargin.compare(book.positions, book.instruments, book.market, models())
    assert table.column_names == [
        "account_id",
        "model",
        "type",
        "initial_margin",
        "maintenance_margin",
        "parameter_set",
        "excess_over_cheapest",
        "cheapest",
    ]
    runs = {
        name: pmargin.margin(book.positions, book.instruments, book.market, m).accounts for name, m in models().items()
    }
    ids = runs["grid"].column("account_id").to_pylist()
    assert table.num_rows == 3 * len(ids)
    assert table.column("account_id").to_pylist() == [a for a in ids for _ in range(3)]
    assert table.column("model").to_pylist()[:3] == ["grid", "span", "tims"]
    rows = table.to_pylist()
    for i in range(len(ids)):
        group = rows[3 * i : 3 * i + 3]
        for row in group:
            run = runs[row["model"]]
            assert row["initial_margin"] == run.column("initial_margin")[i].as_py()
            assert row["maintenance_margin"] == run.column("maintenance_margin")[i].as_py()
        lowest = min(r["initial_margin"] for r in group)
        assert [r["cheapest"] for r in group].count(True) == 1
        winner = next(r for r in group if r["cheapest"])
        assert winner["initial_margin"] == lowest and winner is next(r for r in group if r["initial_margin"] == lowest)
        assert all(r["excess_over_cheapest"] == pytest.approx(r["initial_margin"] - lowest) for r in group)
    sets = {r["model"]: r["parameter_set"] for r in rows[:3]}
    assert sets["grid"] is None
    assert sets["span"] == str(span().parameter_set) and sets["tims"] == str(tims(CLASSES).parameter_set)


def test_bad_models_are_named() -> None:
    book = sample.book(2, seed=1)
    with pytest.raises(MarginConfigError):
        pmargin.compare(book.positions, book.instruments, book.market, {})
    with pytest.raises(MarginConfigError) as err:
        pmargin.compare(book.positions, book.instruments, book.market, {"x": "grid"})
    assert err.value.column == "models"


def test_ties_mark_the_first_model() -> None:
    book = sample.book(5, seed=2)
    table = pmargin.compare(
        book.positions, book.instruments, book.market, {"a": pmargin.GridModel(), "b": pmargin.GridModel()}
    )
    assert table.column("cheapest").to_pylist() == [True, False] * 5
    assert pa.compute.sum(table.column("excess_over_cheapest")).as_py() == 0.0
