"""One account under Deribit portfolio margin: its positions summed into risk vectors (one per
underlying and settlement, first-seen order), each vector's dampened and offset entries, worst
case, roll shock and delta shock, and the account's USD totals.

Mirrors: rust/pmargin-core/src/methods/deribit/aggregate.rs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...domain.book import Book
from ...risk.addons import delta_shock_rate, roll_charge, roll_rate
from .matrix import EXTENDED_MOVES, Params, moves

#: Roll key of perpetuals (spot has none: no roll).
PERPETUAL = "perpetual"


@dataclass(frozen=True)
class ContractRisk:
    """What aggregation reads per held contract."""

    params: str
    underlying: str
    inverse: bool
    row: list[float]
    forward_delta: float
    roll_key: int | str | None
    t: float


def contract_roll_rate(risk: ContractRisk, p: Params) -> float:
    """The roll rate of the contract's expiry bucket (0 for spot, which has no roll)."""
    if risk.roll_key is None:
        return 0.0
    suffix = "coin" if risk.inverse else "usd"
    t = None if risk.roll_key == PERPETUAL else risk.t
    return roll_rate(p[f"min_annualised_move_{suffix}"], p[f"annualised_move_risk_{suffix}"], t)


def contract_scale(risk: ContractRisk, p: Params, index: float) -> float:
    """The most one unit of the contract can add to a vector's charges: its largest row entry,
    or its roll and delta shocks at most, ``|delta| x (roll rate + max_delta_shock)`` (x the
    index for USD vectors)."""
    addons = abs(risk.forward_delta) * (contract_roll_rate(risk, p) + p["max_delta_shock"])
    addons = addons if risk.inverse else addons * index
    largest = max(abs(x) for x in risk.row)
    return largest if largest >= addons else addons


@dataclass
class RawVector:
    underlying: str
    inverse: bool
    params: str
    pnl: list[float]
    net_delta: float = 0.0
    #: roll key -> [T, delta], first-seen order.
    buckets: dict[int | str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Worst:
    extended: bool
    index: int


@dataclass(frozen=True)
class VectorOutcome:
    underlying: str
    inverse: bool
    params: str
    index_price: float
    worst_case: float
    worst: Worst | None
    roll_shock: float
    delta_shock: float
    net_delta: float
    risk_matrix_margin: float
    maintenance: float
    margin_usd: float
    maintenance_usd: float

    def usd(self, x: float) -> float:
        return x * self.index_price if self.inverse else x


@dataclass(frozen=True)
class AccountOutcome:
    first_row: int
    vectors: list[VectorOutcome]
    initial: float
    maintenance: float
    worst_case: float
    roll_shock: float
    delta_shock: float


def raw_vectors(book: Book, risk: Mapping[str, ContractRisk]) -> list[RawVector]:
    """``pnl = 0.0 + q1 * row1 + q2 * row2 + ...`` per (underlying, settlement), canonical order."""
    out: list[RawVector] = []
    for pos in book.positions:
        r = risk[pos.instrument_id]
        q = pos.quantity
        found = [v for v in out if v.underlying == r.underlying and v.inverse == r.inverse]
        if found:
            v = found[0]
        else:
            v = RawVector(r.underlying, r.inverse, r.params, [0.0] * len(r.row))
            out.append(v)
        for j, x in enumerate(r.row):
            v.pnl[j] += q * x
        delta = q * r.forward_delta
        v.net_delta += delta
        if r.roll_key is not None:
            bucket = v.buckets.setdefault(r.roll_key, [r.t, 0.0])
            bucket[1] += delta
    return out


def adjusted(raw: RawVector, p: Params, index: float) -> list[float]:
    """Extended entries dampened toward zero by ``(|e|/R - 1) * dampener`` (USD; divided by
    ``(1 + sign(e) R) * index`` for coin), then gains x ``pnl_offset``, capped at
    ``max_offsetable_pnl`` (USD) when that is > 0."""
    n_standard = len(raw.pnl) - len(EXTENDED_MOVES)
    r = p["price_range"]
    suffix = "coin" if raw.inverse else "usd"
    damp, offset = p[f"extended_dampener_{suffix}"], p[f"pnl_offset_{suffix}"]
    cap = p["max_offsetable_pnl"] / index if raw.inverse else p["max_offsetable_pnl"]
    out = []
    for j, v in enumerate(raw.pnl):
        if j >= n_standard:
            e = EXTENDED_MOVES[j - n_standard]
            sign = -1.0 if e < 0.0 else 1.0
            # USD dampener; for a coin vector, in coin at the standard table's edge price.
            d = (abs(e) / r - 1.0) * damp / ((1.0 + sign * r) * index) if raw.inverse else (abs(e) / r - 1.0) * damp
            if v > 0.0:
                v -= d if d < v else v
            elif v < 0.0:
                v += d if d < -v else -v
        if v > 0.0:
            v *= offset
            if p["max_offsetable_pnl"] > 0.0 and v > cap:
                v = cap
        out.append(v)
    return out


def least(entries: Sequence[float]) -> tuple[float, Worst]:
    """The least entry: standard moves in order (within a move unchanged vol, then down, up),
    then the extended entries; the first strictly least."""
    n_standard = len(entries) - len(EXTENDED_MOVES)
    best, at = entries[1], Worst(False, 1)
    for i in range(n_standard // 3):
        for k in (1, 0, 2):
            j = 3 * i + k
            if entries[j] < best:
                best, at = entries[j], Worst(False, j)
    for j in range(len(EXTENDED_MOVES)):
        if entries[n_standard + j] < best:
            best, at = entries[n_standard + j], Worst(True, j)
    return best, at


def vector_outcome(raw: RawVector, params: Mapping[str, Params], spot: Mapping[str, float]) -> VectorOutcome:
    p = params[raw.params]
    index = spot[raw.underlying]
    low, at = least(adjusted(raw, p, index))
    worst_case, worst = (-low, at) if low < 0.0 else (0.0, None)
    suffix = "coin" if raw.inverse else "usd"
    min_move, annual = p[f"min_annualised_move_{suffix}"], p[f"annualised_move_risk_{suffix}"]
    buckets = [
        (delta, roll_rate(min_move, annual, None if key == PERPETUAL else t)) for key, (t, delta) in raw.buckets.items()
    ]

    def to_ccy(x: float) -> float:
        return x if raw.inverse else x * index

    roll_shock = to_ccy(roll_charge(buckets))
    abs_delta = abs(raw.net_delta)
    rate = delta_shock_rate(abs_delta, index, p["delta_total_liq_shock_threshold"], p["m_inc"], p["max_delta_shock"])
    delta_shock = to_ccy(abs_delta * rate)
    rmm = worst_case + roll_shock + delta_shock
    mm = p["mm_factor"] * rmm
    factor = index if raw.inverse else None
    return VectorOutcome(
        raw.underlying,
        raw.inverse,
        raw.params,
        index,
        worst_case,
        worst,
        roll_shock,
        delta_shock,
        raw.net_delta,
        rmm,
        mm,
        rmm * factor if factor is not None else rmm,
        mm * factor if factor is not None else mm,
    )


def account_outcome(
    book: Book, risk: Mapping[str, ContractRisk], params: Mapping[str, Params], spot: Mapping[str, float]
) -> AccountOutcome:
    vectors = [vector_outcome(raw, params, spot) for raw in raw_vectors(book, risk)]

    def total(values: Sequence[float]) -> float:
        s = 0.0
        for x in values:
            s += x
        return s

    return AccountOutcome(
        book.first_row,
        vectors,
        total([v.margin_usd for v in vectors]),
        total([v.maintenance_usd for v in vectors]),
        total([v.usd(v.worst_case) for v in vectors]),
        total([v.usd(v.roll_shock) for v in vectors]),
        total([v.usd(v.delta_shock) for v in vectors]),
    )


def move_of(p: Params, worst: Worst) -> float:
    return EXTENDED_MOVES[worst.index] if worst.extended else moves(p)[worst.index // 3]
