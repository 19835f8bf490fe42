"""The terms that make a contract an option beyond call or put: the barrier types (their
spellings in the instruments table) and the two predicates every barrier rule uses.

Mirrors: rust/pmargin-core/src/domain/option_terms.rs
"""

from __future__ import annotations

#: The instruments column's spellings.
BARRIER_TYPES = ("down-and-in", "down-and-out", "up-and-in", "up-and-out")


def is_down(barrier_type: str) -> bool:
    """The barrier is below the spot."""
    return barrier_type.startswith("down")


def is_knock_in(barrier_type: str) -> bool:
    """The option comes alive when the barrier is hit."""
    return barrier_type.endswith("-in")
