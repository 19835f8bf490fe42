"""SPAN risk arrays, written from the definitions (docs/span.md):

- scenario ``s`` (0-based) of a combined commodity with price scan range ``PSR``: for ``s < 14``
  spot factor ``1 + PSR * k / 3`` with ``k`` = 0, 0, 1, 1, -1, -1, 2, 2, -2, -2, 3, 3, -3, -3 and
  vol change ``+VSR`` (even ``s``) or ``-VSR`` (odd); ``s = 14, 15``: factor
  ``1 +/- extreme_move * PSR``, vol unchanged;
- loss per long unit ``-(value(scenario) - value(base))``, times ``extreme_cover`` for 14 and 15;
  a published array (``risk_arrays``) is used as given instead;
- composite delta: 1 for spot, futures and perpetuals; an option's delta to its forward per unit of
  multiplier, ``delta / (multiplier * e^(rT))``;
- tier: the first tier whose bound (days) the days to expiry ``365 T`` do not exceed, else the last;
  delivery month: a future or option with ``365 T <= delivery_days``.

Mirrors: rust/pmargin-core/src/methods/span/arrays.rs
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from ....columns import required_numbers, required_strings
from ....errors import MarginInputError
from ....models.span import Commodity, SpanModel
from ...domain.instruments import Instrument
from ...domain.market import Underlying
from ...risk.arrays import first_non_finite, non_finite_error
from ...scenarios.grid import shocked_vol
from ...valuation import Contract, base_value, contract_value, make_contract, unit_greeks

N = 16
THIRDS = (0, 0, 1, 1, -1, -1, 2, 2, -2, -2, 3, 3, -3, -3)


def scenario(s: int, psr: float, extreme_move: float) -> tuple[float, float]:
    """Spot factor and vol direction of scenario ``s``."""
    if s < 14:
        return 1.0 + psr * float(THIRDS[s]) / 3.0, 1.0 if s % 2 == 0 else -1.0
    sign = 1.0 if s == 14 else -1.0
    return 1.0 + sign * extreme_move * psr, 0.0


def label(s: int) -> str:
    if s >= 14:
        return "extreme up" if s == 14 else "extreme down"
    t = THIRDS[s]
    price = "price 0" if t == 0 else f"price {'+' if t > 0 else '-'}{abs(t)}/3"
    return f"{price} vol {'up' if s % 2 == 0 else 'down'}"


def tier_of(tiers: tuple[float, ...], days: float) -> int:
    for i, bound in enumerate(tiers):
        if days <= bound:
            return i
    return max(len(tiers) - 1, 0)


@dataclass(frozen=True)
class SpanContract:
    loss: list[float]
    delta: float
    commodity: int
    tier: int
    delivery: bool
    option_type: str | None
    value: float


def read_supplied(table: pa.Table | None, instruments: dict[str, Instrument]) -> dict[str, tuple[list[float], float]]:
    """Published arrays by instrument id, checked as the core checks them."""
    if table is None:
        return {}
    ids = required_strings(table, "risk_arrays", "instrument_id")
    columns = [required_numbers(table, "risk_arrays", f"risk_{s}") for s in range(1, N + 1)]
    deltas = required_numbers(table, "risk_arrays", "composite_delta")
    out: dict[str, tuple[list[float], float]] = {}
    for row, iid in enumerate(ids):
        if iid not in instruments:
            raise MarginInputError(
                f"'{iid}' is not in the instruments table", table="risk_arrays", column="instrument_id", row=row
            )
        if iid in out:
            raise MarginInputError(f"'{iid}' has two risk arrays", table="risk_arrays", column="instrument_id", row=row)
        out[iid] = ([col[row] for col in columns], deltas[row])
    return out


def commodity_of(model: SpanModel) -> dict[str, int]:
    return {u: i for i, c in enumerate(model.commodities) for u in c.underlyings}


def no_commodity(model: SpanModel, underlying: str) -> MarginInputError:
    return MarginInputError(
        f"underlying '{underlying}' is held but no combined commodity of parameter set '{model.parameter_set}' lists it",
        table="span_parameters",
        column="combined_commodities",
    )


def computed_array(c: Contract, commodity: Commodity, mode: str) -> list[float]:
    """P&L per unit under the 16 scenarios (pmargin's own revaluation)."""
    assert commodity.price_scan_range is not None
    base = base_value(c)
    out = []
    for s in range(N):
        factor, direction = scenario(s, commodity.price_scan_range, commodity.extreme_move)
        vol = None if c.vol is None else shocked_vol(c.vol, direction * commodity.vol_scan_range, mode)
        out.append(contract_value(c, c.spot * factor, vol) - base)
    return out


def composite_delta(c: Contract) -> float:
    if c.kind != "option":
        return 1.0
    return unit_greeks(c).delta / (c.multiplier * math.exp(c.rate * c.t))


def span_problem(
    model: SpanModel,
    supplied: dict[str, tuple[list[float], float]],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
) -> Callable[[Instrument], MarginInputError | None]:
    """Why a held instrument (with a usable market) cannot be margined under ``model``."""
    where = commodity_of(model)

    def problem(inst: Instrument) -> MarginInputError | None:
        cc = where.get(inst.underlying)
        if cc is None:
            return no_commodity(model, inst.underlying)
        if inst.instrument_id in supplied:
            return None
        commodity = model.commodities[cc]
        if commodity.price_scan_range is None:
            return MarginInputError(
                f"combined commodity '{commodity.name}' has no price_scan_range and a held contract on "
                f"'{inst.underlying}' has no supplied risk array",
                table="span_parameters",
                column="combined_commodities",
            )
        ra = computed_array(make_contract(inst, underlyings, vols, as_of_ns), commodity, model.vol_scan_mode)
        bad = first_non_finite(ra)
        return None if bad is None else non_finite_error(inst.row, bad)

    return problem


def span_contract(
    inst: Instrument,
    model: SpanModel,
    supplied: dict[str, tuple[list[float], float]],
    underlyings: dict[str, Underlying],
    vols: dict[str, float],
    as_of_ns: int,
) -> SpanContract:
    c = make_contract(inst, underlyings, vols, as_of_ns)
    cc = commodity_of(model)[inst.underlying]
    commodity = model.commodities[cc]
    if inst.instrument_id in supplied:
        loss, delta = supplied[inst.instrument_id]
    else:
        pnl = computed_array(c, commodity, model.vol_scan_mode)
        loss = [-x * commodity.extreme_cover if s >= 14 else -x for s, x in enumerate(pnl)]
        delta = composite_delta(c)
    days = c.t * 365.0
    return SpanContract(
        loss=list(loss),
        delta=delta,
        commodity=cc,
        tier=tier_of(commodity.tiers, days),
        delivery=inst.kind in ("future", "option") and days <= commodity.delivery_days,
        option_type=inst.option_type if inst.kind == "option" else None,
        value=base_value(c),
    )
