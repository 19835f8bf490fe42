"""Numbers that no row order decides (docs/methods.md, "Canonical order"): for every model, any
permutation of the positions rows and any split into batches gives bit-identical per-account
numbers (compared by account), in both engines, and the engines agree on the shuffled book.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.models import GridModel, HistoricalModel
from pmargin.result import MarginResult
from tests.methods.models import historical_moves, mc_model

SEEDS = (1, 2, 3)


def shuffled_in_batches(table: pa.Table, seed: int) -> pa.Table:
    """The rows permuted, then cut into batches of random sizes (some empty)."""
    rng = np.random.default_rng(seed)
    rows = table.take(pa.array(rng.permutation(table.num_rows)))
    cuts = sorted(rng.integers(0, rows.num_rows + 1, size=4).tolist())
    bounds = [0, *cuts, rows.num_rows]
    batches = [b for lo, hi in itertools.pairwise(bounds) for b in rows.slice(lo, hi - lo).to_batches()]
    return pa.Table.from_batches(batches, schema=rows.schema)


def keyed(table: pa.Table | None, *key: str) -> dict[Any, list[dict[str, Any]]]:
    """Rows grouped by ``key`` (their order within a key kept: it is the canonical order)."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for row in [] if table is None else table.to_pylist():
        out.setdefault(tuple(row[k] for k in key), []).append(row)
    return out


def bits(value: Any) -> Any:
    """Floats by their bits (so -0.0 != 0.0 and NaN == NaN), lists and dicts recursively."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, list):
        return [bits(v) for v in value]
    if isinstance(value, dict):
        return {k: bits(v) for k, v in value.items()}
    return value


def assert_bit_identical(a: MarginResult, b: MarginResult) -> None:
    assert bits(keyed(a.accounts, "account_id")) == bits(keyed(b.accounts, "account_id"))
    assert bits(keyed(a.by_underlying, "account_id")) == bits(keyed(b.by_underlying, "account_id"))
    assert bits(keyed(a.by_position, "account_id")) == bits(keyed(b.by_position, "account_id"))
    assert bits(keyed(a.explain, "account_id")) == bits(keyed(b.explain, "account_id"))
    for account in a.accounts.column("account_id").to_pylist()[:5]:
        assert bits(a.scenarios(account).to_pylist()) == bits(b.scenarios(account).to_pylist())
    assert (a.total_initial_margin, a.total_gross_margin) == (b.total_initial_margin, b.total_gross_margin)


def grid_models() -> list[GridModel]:
    rho = pmargin.Correlation(["BTC", "ETH"], [[1.0, 0.7], [0.7, 1.0]])
    return [GridModel(), GridModel(cross="joint"), GridModel(cross="correlation", correlation=rho)]


def var_models() -> list[Any]:
    return [
        HistoricalModel(historical_moves(), measure="es", confidence=0.95),
        HistoricalModel(historical_moves(), measure="var", confidence=0.99),
        mc_model(n=3000, measure="es"),
    ]


@pytest.fixture(scope="module")
def book() -> pmargin.sample.SampleBook:
    return pmargin.sample.book(n_accounts=300, seed=29)


@pytest.mark.parametrize("model", grid_models(), ids=["sum", "joint", "correlation"])
def test_grid_numbers_do_not_depend_on_row_order(book: pmargin.sample.SampleBook, model: GridModel) -> None:
    engine = pmargin.MarginEngine(book.instruments, book.market, model)
    base = engine.margin(book.positions, by_position=True)
    greeks = engine.greeks(book.positions)
    for seed in SEEDS:
        rows = shuffled_in_batches(book.positions, seed)
        assert_bit_identical(base, engine.margin(rows, by_position=True))
        other = pmargin.greeks(rows, book.instruments, book.market)
        assert bits(keyed(other.positions, "account_id")) == bits(keyed(greeks.positions, "account_id"))
        assert bits(keyed(other.by_underlying, "account_id")) == bits(keyed(greeks.by_underlying, "account_id"))


@pytest.mark.parametrize("model", var_models(), ids=["historical-es", "historical-var", "montecarlo-es"])
def test_var_numbers_do_not_depend_on_row_order(book: pmargin.sample.SampleBook, model: Any) -> None:
    engine = pmargin.MarginEngine(book.instruments, book.market, model)
    base = engine.margin(book.positions)
    for seed in SEEDS:
        assert_bit_identical(base, engine.margin(shuffled_in_batches(book.positions, seed)))


def small_book() -> pmargin.sample.SampleBook:
    return pmargin.sample.book(n_accounts=12, seed=5)


@pytest.mark.parametrize(
    "model", [*grid_models(), *var_models()[:1]], ids=["sum", "joint", "correlation", "historical-es"]
)
def test_the_reference_follows_the_canonical_order(model: Any) -> None:
    book = small_book()
    by_position = isinstance(model, GridModel)
    run: Callable[[pa.Table], MarginResult] = lambda rows: reference.margin(  # noqa: E731
        rows, book.instruments, book.market, model, by_position=by_position
    )
    base = run(book.positions)
    rows = shuffled_in_batches(book.positions, 7)
    assert_bit_identical(base, run(rows))
    native = pmargin.margin(rows, book.instruments, book.market, model, by_position=by_position)
    for name in ("accounts", "by_underlying", "by_position"):
        n, r = getattr(native, name), getattr(base, name)
        if r is None:
            continue
        for key, ref_rows in keyed(r, "account_id").items():
            for got, want in zip(keyed(n, "account_id")[key], ref_rows, strict=True):
                for column, value in want.items():
                    if isinstance(value, float):
                        assert math.isclose(got[column], value, rel_tol=1e-9, abs_tol=1e-6), (name, key, column)
                    else:
                        assert got[column] == value, (name, key, column)


def pair_market() -> tuple[pa.Table, pmargin.Market]:
    instruments = pa.table(
        {
            "instrument_id": ["BTC-PERP", "ETH-PERP"],
            "underlying": ["BTC", "ETH"],
            "kind": ["perpetual", "perpetual"],
        }
    )
    market = pmargin.Market("2026-06-30T08:00:00Z", pa.table({"underlying": ["BTC", "ETH"], "spot": [60000.0, 3000.0]}))
    return instruments, market


def test_a_large_opposite_pair_nets_exactly_in_any_order() -> None:
    """+1e6 / -1e6 with small quantities: the net is the correctly rounded sum (math.fsum) for
    every order of the rows, in both engines."""
    instruments, market = pair_market()
    quantities = [1e6, 0.1, -1e6, 0.2, 3.0, -3.0]
    expected = math.fsum(quantities)
    assert expected == 0.30000000000000004
    for engine in (pmargin.margin, reference.margin):
        results = []
        for seed in SEEDS:
            order = np.random.default_rng(seed).permutation(len(quantities)).tolist()
            rows = pa.table(
                {
                    "account_id": ["x"] * len(order) + ["y"],
                    "instrument_id": ["BTC-PERP"] * len(order) + ["ETH-PERP"],
                    "quantity": [quantities[i] for i in order] + [-0.1],
                }
            )
            result = engine(rows, instruments, market, GridModel(cross="joint"), by_position=True)
            assert result.by_position is not None
            assert result.by_position.column("quantity").to_pylist() == [expected, -0.1]
            results.append(result)
        for other in results[1:]:
            assert_bit_identical(results[0], other)


def test_near_tied_tail_scenarios_do_not_swap() -> None:
    """Two dates whose losses are equal in exact arithmetic (BTC and ETH legs of equal value,
    moves swapped between them) and legs split over many rows: the tail is the same for every
    order of the rows, in both engines."""
    instruments, market = pair_market()
    moves = []
    for d, (btc, eth) in enumerate([(-0.01, -0.03), (-0.03, -0.01), (0.02, 0.01), (0.005, -0.004)]):
        date = f"2024-01-{d + 1:02d}"
        moves += [
            {"date": date, "underlying": "BTC", "return": btc},
            {"date": date, "underlying": "ETH", "return": eth},
        ]
    model = HistoricalModel(pa.Table.from_pylist(moves), measure="es", confidence=0.5, tail_scenarios=True)
    legs = [("BTC-PERP", q) for q in (0.3, 0.7, 1e3, -1e3, 0.1 / 3)] + [("ETH-PERP", q) for q in (2.0, 18.0, 2 / 3)]
    tails = set()
    for engine in (pmargin.margin, reference.margin):
        for seed in range(6):
            order = np.random.default_rng(seed).permutation(len(legs)).tolist()
            rows = pa.table(
                {
                    "account_id": ["t"] * len(legs),
                    "instrument_id": [legs[i][0] for i in order],
                    "quantity": [legs[i][1] for i in order],
                }
            )
            accounts = engine(rows, instruments, market, model).accounts.to_pylist()[0]
            tails.add((tuple(accounts["tail_scenarios"]), accounts["initial_margin"].hex()))
    assert len(tails) == 1, tails
