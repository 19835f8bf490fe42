"""The memory budget (rust/pmargin-core/src/risk/budget.rs, pmargin/reference/risk/budget.py): a
run's memory is estimated before anything large is allocated; over ``Limits.memory_budget`` both
engines raise the same MarginConfigError, naming ``n_scenarios`` (Monte Carlo) or
``memory_budget``, with the same message; no setting aborts the process."""

from __future__ import annotations

import math
from typing import Any

import pytest

import pmargin
from pmargin import reference
from pmargin.reference.risk import budget
from tests.methods.models import historical_moves, mc_model, sample_book

BOOK = sample_book()
N_U, N_C = BOOK.market.underlyings.num_rows, BOOK.instruments.num_rows


def both_raise(model: Any, limits: pmargin.Limits | None = None) -> pmargin.MarginConfigError:
    """Both engines raise the same config error; returns the native one."""
    with pytest.raises(pmargin.MarginConfigError) as native:
        pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, model, limits=limits)
    with pytest.raises(pmargin.MarginConfigError) as ref:
        reference.margin(BOOK.positions, BOOK.instruments, BOOK.market, model, limits=limits)
    n, r = native.value, ref.value
    assert (n.table, n.column, n.row, str(n)) == (r.table, r.column, r.row, str(r))
    return n


@pytest.mark.parametrize("n_scenarios", [10**8, 2**31 - 1])
def test_a_huge_monte_carlo_is_a_config_error_not_an_abort(n_scenarios: int) -> None:
    err = both_raise(mc_model(n_scenarios))
    assert err.column == "n_scenarios"
    need = sum(budget.estimate([budget.WindowSize(n_scenarios, 1, 3)], N_U, N_C))
    assert need > 100 << 30
    assert str(err).startswith(f"model.n_scenarios: this run needs about {budget.byte_count(need)} (")
    assert "over the memory budget of 8.0 GiB; lower n_scenarios (about " in str(err)
    fit = int(str(err).split("(about ")[1].split()[0])
    assert 0 < fit < n_scenarios and fit == n_scenarios * (8 << 30) // need


def streamed_tails(book: Any) -> list[int]:
    """Per account: 1 + its underlying groups of two or more held (non-zero net) positions."""
    ids, names = book.instruments.column("instrument_id").to_pylist(), book.instruments.column("underlying").to_pylist()
    underlying = dict(zip(ids, names, strict=True))
    net: dict[Any, dict[str, list[float]]] = {}
    for a, i, q in zip(
        book.positions.column("account_id").to_pylist(),
        book.positions.column("instrument_id").to_pylist(),
        book.positions.column("quantity").to_pylist(),
        strict=True,
    ):
        net.setdefault(a, {}).setdefault(i, []).append(q)
    out = []
    for positions in net.values():
        groups: dict[str, int] = {}
        for i, qs in positions.items():
            if math.fsum(qs) != 0.0:
                groups[underlying[i]] = groups.get(underlying[i], 0) + 1
        out.append(1 + sum(n >= 2 for n in groups.values()))
    return out


def test_the_budget_is_exact_in_both_engines() -> None:
    model = mc_model(1000)
    streamed = streamed_tails(BOOK)
    k = 25  # 1000 scenarios at 97.5%
    tail = 16 * k * sum(streamed) + 4 * k * len(streamed)
    assert budget.tail_state(streamed, [k]) == tail and len(streamed) == 400
    need = sum(budget.estimate([budget.WindowSize(1000, 1, 3)], N_U, N_C)) + tail
    # risk arrays 8 x 188 x 1000, scenarios (16 x 3 + 40) x 1000, draws 16 x 3 x 1000, and the tails.
    assert need == 8 * N_C * 1000 + (16 * N_U + 40) * 1000 + 16 * 3 * 1000 + tail
    fits = pmargin.Limits(memory_budget=need)
    native = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, model, limits=fits)
    ref = reference.margin(BOOK.positions, BOOK.instruments, BOOK.market, model, limits=fits)
    assert native.accounts.column("initial_margin").to_pylist() == pytest.approx(
        ref.accounts.column("initial_margin").to_pylist(), rel=1e-9
    )
    err = both_raise(model, pmargin.Limits(memory_budget=need - 1))
    assert err.column == "n_scenarios"
    # Over the budget only because of the book's tail state: raised when margining, by both.
    engine = pmargin.MarginEngine(BOOK.instruments, BOOK.market, model, limits=pmargin.Limits(memory_budget=need - 1))
    with pytest.raises(pmargin.MarginConfigError, match="tail state"):
        engine.margin(BOOK.positions)
    small = BOOK.positions.slice(0, 5)
    assert engine.margin(small).accounts.num_rows >= 1


def test_a_grid_or_historical_run_over_the_budget_names_memory_budget() -> None:
    err = both_raise(pmargin.GridModel(), pmargin.Limits(memory_budget=10_000))
    assert err.column == "memory_budget"
    assert "over the memory budget of 9.8 KiB; use fewer scenarios" in str(err)
    err = both_raise(pmargin.HistoricalModel(historical_moves(120)), pmargin.Limits(memory_budget=100_000))
    assert err.column == "memory_budget"
    assert "(120 scenarios x 188 instruments" in str(err)
    # With a stressed window both windows count.
    stressed = pmargin.HistoricalModel(historical_moves(120), stressed=historical_moves(80))
    err = both_raise(stressed, pmargin.Limits(memory_budget=100_000))
    assert "(200 scenarios x 188 instruments" in str(err)


def test_the_budget_comes_before_the_draws() -> None:
    """The check runs before anything is drawn: even the reference (which draws in pure
    Python) answers at once for 2**31 - 1 scenarios."""
    import time

    started = time.perf_counter()
    both_raise(mc_model(2**31 - 1))
    assert time.perf_counter() - started < 5.0
