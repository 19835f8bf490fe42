"""The memory a run needs, estimated before anything large is built, against the user's budget
(:class:`pmargin.Limits` ``memory_budget``): the core's estimate and error, byte for byte.

For n_u underlyings-table rows and n_c instruments-table rows, each scenario window of S
scenarios counts: 16 x n_u x S (price factors and vol changes) + 40 bytes per label (n_u + 1
labels per scenario for the grid, 1 for a VaR window); 16 x d x S Monte Carlo draws (d correlation
names); 8 x n_c x S risk arrays. Once a VaR / ES book is known, its tail state (:func:`tail_state`)
counts too. Over the budget is a :class:`~pmargin.MarginConfigError` on ``n_scenarios`` (Monte
Carlo) or ``memory_budget``.

Mirrors: rust/pmargin-core/src/risk/budget.rs
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import MarginConfigError
from ...limits import Limits

#: Accounts whose tails the core streams at once (``risk::tail_stream::SUPER``).
SUPER = 4096


@dataclass(frozen=True)
class WindowSize:
    n_scenarios: int
    labels: int
    draws: int = 0


def estimate(windows: Sequence[WindowSize], n_underlyings: int, n_contracts: int) -> tuple[int, int, int]:
    """Bytes before any book, by part: (scenario sets and labels, draws, risk arrays)."""
    scenarios = draws = arrays = 0
    for w in windows:
        s = w.n_scenarios
        scenarios += 16 * n_underlyings * s + 40 * w.labels * s
        draws += 16 * w.draws * s
        arrays += 8 * n_contracts * s
    return scenarios, draws, arrays


def tail_state(streamed: Sequence[int], ks: Sequence[int]) -> int:
    """Bytes of a VaR / ES book's tail state: 16 x k_max x the streamed tails of the SUPER
    accounts with the most (``streamed``: per account, 1 + its underlying groups of two or more
    netted positions), plus 4 x k per account and window (``ks``: each window's tail count)."""
    at_once = sum(sorted(streamed, reverse=True)[:SUPER])
    return 16 * max(ks, default=0) * at_once + sum(4 * k * len(streamed) for k in ks)


def check(
    limits: Limits, windows: Sequence[WindowSize], n_underlyings: int, n_contracts: int, tail: int, field: str
) -> None:
    """Raise a :class:`MarginConfigError` on ``field`` when the run (with ``tail`` bytes of tail
    state) does not fit the budget."""
    parts = (*estimate(windows, n_underlyings, n_contracts), tail)
    need = sum(parts)
    budget = limits.memory_budget
    if need <= budget:
        return
    n = sum(w.n_scenarios for w in windows)
    if field == "n_scenarios":
        hint = (
            f"lower n_scenarios (about {n * budget // need} fit), margin against fewer instruments at once, "
            "or raise pmargin.Limits(memory_budget=...)"
        )
    else:
        hint = (
            "use fewer scenarios, margin against fewer instruments at once, or raise pmargin.Limits(memory_budget=...)"
        )
    raise MarginConfigError(
        f"this run needs about {byte_count(need)} ({n} scenarios x {n_contracts} instruments: risk arrays "
        f"{byte_count(parts[2])}, scenarios {byte_count(parts[0])}, draws {byte_count(parts[1])}, tail state "
        f"{byte_count(parts[3])}), over the memory budget of {byte_count(budget)}; {hint}",
        table="model",
        column=field,
    )


def byte_count(b: int) -> str:
    """``"34.0 GiB"``, ``"1.5 MiB"``, ``"12 bytes"``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if b >= 1 << shift:
            return f"{b / (1 << shift):.1f} {unit}"
    return f"{b} bytes"
