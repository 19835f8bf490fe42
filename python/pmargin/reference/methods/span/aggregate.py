"""Each account's SPAN requirement, written from the definitions (docs/span.md):

- per combined commodity (parameter-set order): ``loss[s] = 0.0 + q1 * la1[s] + ...``; scan risk
  ``max(0, max_s loss[s])`` at the first scenario attaining it; time risk ``(loss[0] + loss[1]) / 2``;
  for an active scenario ``a < 14`` with its pair ``b = a xor 1``: volatility risk
  ``(loss[a] - loss[b]) / 2``, price risk ``(loss[a] + loss[b]) / 2 - time``; for ``a >= 14``:
  volatility 0, price ``loss[a] - time``;
- net delta per tier; intra spreads in priority order: when tiers ``a`` and ``b`` have opposite
  signs, ``n = min(|d_a|, |d_b|)`` spreads at ``charge`` each, both tiers move ``n`` toward 0;
- delivery charge ``rate * |net delta of delivery-month contracts|``; short option minimum
  ``rate * max(net short calls, net short puts)``; net option value ``sum q * value`` of options;
- inter credits in priority order over the commodities held: a spread forms when every leg's
  remaining net delta is non-zero with the sign of its side (side A the sign of the first leg);
  ``n = min |d_leg| / ratio_leg``; each leg's commodity gets ``rate * n * ratio * WPR`` where
  ``WPR = basis / |net delta|`` (basis: scan risk, or ``max(price risk, 0)``), and its remaining
  delta moves ``n * ratio`` toward 0 (to 0 when it would cross);
- total per commodity ``max(scan + intra + delivery - credit, short option minimum)``; account
  SPAN requirement the sum, initial the sum of ``initial_ratio * total``; maintenance margin
  ``max(0, requirement - NOV)``, initial margin ``max(0, initial - NOV)``; gross margin the sum of
  each netted position's initial margin alone (:func:`standalone`).

Mirrors: rust/pmargin-core/src/methods/span/aggregate.rs
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....models.span import IntraSpread, SpanModel
from ...domain.book import Book
from .arrays import N, SpanContract


@dataclass
class CommodityOutcome:
    commodity: int
    scenarios: list[float]
    scan: float
    active: int | None
    time_risk: float
    volatility_risk: float
    price_risk: float
    net_delta: float
    intra: float
    delivery: float
    credit: float
    short_option_minimum: float
    net_option_value: float
    total: float = 0.0


@dataclass
class AccountOutcome:
    first_row: int
    commodities: list[CommodityOutcome]
    span_requirement: float
    initial_requirement: float
    net_option_value: float
    gross: float

    @property
    def maintenance(self) -> float:
        return max(self.span_requirement - self.net_option_value, 0.0)

    @property
    def initial(self) -> float:
        return max(self.initial_requirement - self.net_option_value, 0.0)

    def sum(self, name: str) -> float:
        total = 0.0
        for c in self.commodities:
            total += getattr(c, name)
        return total


def scan(losses: list[float]) -> tuple[float, int | None, float, float, float]:
    worst, active = 0.0, None
    for s, loss in enumerate(losses):
        if loss > worst:
            worst, active = loss, s
    if active is None:
        return 0.0, None, 0.0, 0.0, 0.0
    time = (losses[0] + losses[1]) / 2.0
    if active < 14:
        pair = losses[active ^ 1]
        return worst, active, time, (worst - pair) / 2.0, (worst + pair) / 2.0 - time
    return worst, active, time, 0.0, worst - time


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def intra_charge(spreads: tuple[IntraSpread, ...], tiers: list[float]) -> float:
    charge = 0.0
    for s in spreads:
        a, b = tiers[s.tier_a], tiers[s.tier_b]
        if a * b >= 0.0:
            continue
        n = min(abs(a), abs(b))
        charge += n * s.charge
        tiers[s.tier_a] = a - _sign(a) * n
        tiers[s.tier_b] = b - _sign(b) * n
    return charge


def weighted_price_risk(basis: str, o: CommodityOutcome) -> float:
    if o.net_delta == 0.0:
        return 0.0
    risk = o.scan if basis == "scan" else max(o.price_risk, 0.0)
    return risk / abs(o.net_delta)


def inter_credits(model: SpanModel, outs: list[CommodityOutcome]) -> None:
    remaining = [o.net_delta for o in outs]
    wpr = [weighted_price_risk(model.credit_basis, o) for o in outs]
    held = [o.commodity for o in outs]
    for spread in model.inter_spreads:
        if not all(leg.commodity in held for leg in spread.legs):
            continue
        at = [held.index(leg.commodity) for leg in spread.legs]
        direction = _sign(remaining[at[0]]) * spread.legs[0].side
        if not all(
            remaining[i] != 0.0 and _sign(remaining[i]) == direction * leg.side
            for leg, i in zip(spread.legs, at, strict=True)
        ):
            continue
        n = min(abs(remaining[i]) / leg.delta_ratio for leg, i in zip(spread.legs, at, strict=True))
        for leg, i in zip(spread.legs, at, strict=True):
            used = n * leg.delta_ratio
            outs[i].credit += spread.credit_rate * used * wpr[i]
            left = abs(remaining[i]) - used
            remaining[i] = _sign(remaining[i]) * left if left > 0.0 else 0.0


def standalone(model: SpanModel, c: SpanContract, q: float) -> float:
    """Initial margin of one netted position alone: its own commodity, one tier, no spread."""
    commodity = model.commodities[c.commodity]
    scan = 0.0
    for x in c.loss:
        scan = max(scan, q * x)
    delivery = commodity.delivery_charge * abs(q * c.delta) if c.delivery else 0.0
    som = nov = 0.0
    if c.option_type is not None:
        som = commodity.short_option_minimum * -q if q < 0 else 0.0
        nov = q * c.value
    return max(commodity.initial_ratio * max(scan + delivery, som) - nov, 0.0)


def account(model: SpanModel, book: Book, contracts: dict[str, SpanContract]) -> AccountOutcome:
    accs: dict[int, dict[str, Any]] = {}
    gross = 0.0
    for p in book.positions:
        c = contracts[p.instrument_id]
        q = p.quantity
        gross += standalone(model, c, q)
        commodity = model.commodities[c.commodity]
        acc = accs.setdefault(
            c.commodity,
            {
                "scenarios": [0.0] * N,
                "tiers": [0.0] * max(len(commodity.tiers), 1),
                "net_delta": 0.0,
                "delivery_delta": 0.0,
                "short_calls": 0.0,
                "short_puts": 0.0,
                "nov": 0.0,
            },
        )
        for s in range(N):
            acc["scenarios"][s] += q * c.loss[s]
        delta = q * c.delta
        acc["tiers"][c.tier] += delta
        acc["net_delta"] += delta
        if c.delivery:
            acc["delivery_delta"] += delta
        if c.option_type is not None:
            if q < 0:
                acc["short_calls" if c.option_type == "call" else "short_puts"] -= q
            acc["nov"] += q * c.value
    outs = []
    for cc in sorted(accs):
        acc = accs[cc]
        commodity = model.commodities[cc]
        worst, active, time, vol, price = scan(acc["scenarios"])
        outs.append(
            CommodityOutcome(
                commodity=cc,
                scenarios=acc["scenarios"],
                scan=worst,
                active=active,
                time_risk=time,
                volatility_risk=vol,
                price_risk=price,
                net_delta=acc["net_delta"],
                intra=intra_charge(commodity.intra_spreads, acc["tiers"]),
                delivery=commodity.delivery_charge * abs(acc["delivery_delta"]),
                credit=0.0,
                short_option_minimum=commodity.short_option_minimum * max(acc["short_calls"], acc["short_puts"]),
                net_option_value=acc["nov"],
            )
        )
    inter_credits(model, outs)
    for o in outs:
        o.total = max(o.scan + o.intra + o.delivery - o.credit, o.short_option_minimum)
    requirement = initial = nov = 0.0
    for o in outs:
        requirement += o.total
        initial += model.commodities[o.commodity].initial_ratio * o.total
        nov += o.net_option_value
    return AccountOutcome(book.first_row, outs, requirement, initial, nov, gross)
