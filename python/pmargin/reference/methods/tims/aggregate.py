"""Each account's TIMS requirement, written from the definitions:

- class group P&L at point ``k``: ``0.0 + q1 * ra1[k] + ...`` over the positions on its underlying;
  class group risk ``max(0, max_k -pnl[k])`` at the first point attaining it;
- product group at point ``k``: ``losses + offset * gains`` where ``losses`` sums the negative and
  ``gains`` the positive class group P&Ls (class groups in parameter-set order); product group
  risk ``max(0, max_k -that)``;
- product group minimum: ``sum |q| * 0.375 * multiplier`` over its options, a long option's at most
  its value; requirement ``max(risk, minimum)``; account requirement the sum over product groups
  (no offset across them); initial = maintenance; gross margin the sum of each netted position's
  requirement alone (:func:`standalone`).

Mirrors: rust/pmargin-core/src/methods/tims/aggregate.rs
"""

from __future__ import annotations

from dataclasses import dataclass

from ....models.tims import TimsModel
from ...domain.book import Book

N = 10


@dataclass(frozen=True)
class TimsContract:
    pnl: list[float]
    class_group: int
    product_group: str
    minimum: float  # per unit
    value: float


@dataclass
class ClassOutcome:
    class_group: int
    pnl: list[float]
    risk: float
    worst: int | None


@dataclass
class ProductOutcome:
    product_group: int
    risk: float
    minimum: float
    requirement: float


@dataclass
class AccountOutcome:
    first_row: int
    classes: list[ClassOutcome]
    products: list[ProductOutcome]
    requirement: float
    gross: float


def point(k: int, down: float, up: float) -> float:
    """Move of point ``k`` (0-based): ``-down * (5 - k) / 5`` for k < 5, else ``up * (k - 4) / 5``."""
    return -down * float(5 - k) / 5.0 if k < 5 else up * float(k - 4) / 5.0


def worst(pnl: list[float]) -> tuple[float, int | None]:
    loss, at = 0.0, None
    for k, x in enumerate(pnl):
        if -x > loss:
            loss, at = -x, k
    return loss, at


def minimum_of(c: TimsContract, q: float) -> float:
    """The minimum of ``|q|`` units (0 for non-options); a long option's at most its value."""
    if c.minimum <= 0.0:
        return 0.0
    floor = min(c.minimum, max(c.value, 0.0)) if q > 0 else c.minimum
    return abs(q) * floor


def standalone(c: TimsContract, q: float) -> float:
    """Requirement of one netted position alone: its worst loss, at least its minimum."""
    loss = 0.0
    for x in c.pnl:
        loss = max(loss, -(q * x))
    return max(loss, minimum_of(c, q))


def account(model: TimsModel, book: Book, contracts: dict[str, TimsContract], products: list[str]) -> AccountOutcome:
    pnl: dict[int, list[float]] = {}
    minimum = [0.0] * len(products)
    gross = 0.0
    for p in book.positions:
        c = contracts[p.instrument_id]
        q = p.quantity
        gross += standalone(c, q)
        row = pnl.setdefault(c.class_group, [0.0] * N)
        for k in range(N):
            row[k] += q * c.pnl[k]
        if c.minimum > 0.0:
            minimum[products.index(c.product_group)] += minimum_of(c, q)
    classes = []
    for g in sorted(pnl):
        risk, at = worst(pnl[g])
        classes.append(ClassOutcome(g, pnl[g], risk, at))
    groups = model.class_groups()
    outs = []
    for pi, name in enumerate(products):
        members = [c for c in classes if groups[c.class_group].product_group == name]
        if not members:
            continue
        offset = model.offsets.get(name, 0.0)  # type: ignore[union-attr]
        combined = []
        for k in range(N):
            losses = gains = 0.0
            for m in members:
                x = m.pnl[k]
                if x < 0.0:
                    losses += x
                else:
                    gains += x
            combined.append(losses + offset * gains)
        risk, _ = worst(combined)
        outs.append(ProductOutcome(pi, risk, minimum[pi], max(risk, minimum[pi])))
    requirement = 0.0
    for o in outs:
        requirement += o.requirement
    return AccountOutcome(book.first_row, classes, outs, requirement, gross)
