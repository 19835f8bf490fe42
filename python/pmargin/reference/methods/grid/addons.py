"""Add-ons on the grid, written from the definitions (docs/methods.md, "Add-ons on the grid"):
per account and underlying a calendar / basis charge on the matched spread between expiry buckets
(spot, perpetuals, each expiry), a delta-shock charge on the net delta and a short option minimum;
the account's margin is ``max(scan + calendar + delta shock, short option minimum)``.

Mirrors: rust/pmargin-core/src/methods/grid/addons.rs
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ....models import GridModel
from ...domain.book import Book
from ...domain.instruments import Instrument
from ...risk.addons import delta_shock_rate, short_option_minimum
from ...risk.arrays import standalone
from ...valuation import Contract
from .outcome import AccountRisk

SPOT = "spot"
PERPETUAL = "perpetual"


@dataclass
class AddonOutcome:
    scan: float
    calendar: float = 0.0
    delta_shock: float = 0.0
    short_option_minimum: float = 0.0
    #: Per underlying (the account's order): calendar charge, delta shock, short option minimum.
    per_underlying: list[tuple[float, float, float]] = field(default_factory=list)


def forward_delta(c: Contract, spot_delta: float) -> float:
    """dV/dF per unit: the multiplier for linear contracts, ``delta / exp(rate T)`` for options."""
    return spot_delta / math.exp(c.rate * c.t) if c.kind == "option" else c.multiplier


def bucket(inst: Instrument) -> int | str:
    if inst.kind == "spot":
        return SPOT
    if inst.kind == "perpetual":
        return PERPETUAL
    assert inst.expiry_ns is not None
    return inst.expiry_ns


def delta_shock(model: GridModel, delta: float, spot: float) -> float:
    if model.delta_shock is None:
        return 0.0
    d = model.delta_shock
    return abs(delta) * spot * delta_shock_rate(abs(delta), spot, d["threshold"], d["m_inc"], d["max_shock"])


def with_addons(
    risk: AccountRisk,
    book: Book,
    instruments: dict[str, Instrument],
    arrays: dict[str, list[float]],
    fwd_delta: dict[str, float],
    spot: dict[str, float],
    model: GridModel,
) -> AccountRisk:
    order = [u.underlying for u in risk.underlyings]
    buckets: list[dict[int | str, float]] = [{} for _ in order]
    net = [0.0] * len(order)
    short_units = [0.0] * len(order)
    gross = 0.0
    for pos in book.positions:
        inst = instruments[pos.instrument_id]
        k = order.index(inst.underlying)
        q = pos.quantity
        s = spot[inst.underlying]
        delta = q * fwd_delta[pos.instrument_id]
        net[k] += delta
        key = bucket(inst)
        buckets[k][key] = buckets[k].get(key, 0.0) + delta
        units = -q * inst.multiplier if q < 0.0 and inst.kind == "option" else 0.0
        short_units[k] += units
        alone = standalone(q, arrays[pos.instrument_id]) + delta_shock(model, delta, s)
        som = short_option_minimum(units, model.short_option_minimum * s)
        gross += som if som > alone else alone
    out = AddonOutcome(risk.initial)
    charges, minimum = 0.0, 0.0
    for k, u in enumerate(order):
        s = spot[u]
        long, short = 0.0, 0.0
        for delta in buckets[k].values():
            if delta > 0.0:
                long += delta
            if delta < 0.0:
                short -= delta
        spread = short if short < long else long
        calendar = model.calendar_rate * s * spread
        shock = delta_shock(model, net[k], s)
        som = short_option_minimum(short_units[k], model.short_option_minimum * s)
        out.calendar += calendar
        out.delta_shock += shock
        out.short_option_minimum += som
        charges += calendar + shock
        minimum += som
        out.per_underlying.append((calendar, shock, som))
    scan_total = risk.initial + charges
    initial = minimum if minimum > scan_total else scan_total
    undiversified = risk.undiversified + charges
    undiversified = minimum if minimum > undiversified else undiversified
    return replace(
        risk,
        initial=initial,
        maintenance=model.mm_ratio * initial,
        gross=gross,
        undiversified=undiversified,
        addons=out,
    )
