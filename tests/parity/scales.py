"""Tolerances of the native == reference comparisons on payoff books: 1e-9 relative, with
absolute floors: 1e-9 x (account gross margin + 1) for margins (as in
:mod:`tests.parity.test_grid`), 1e-9 x :func:`pnl_scales` for the incremental margin and the sums
of contributions (the engines round P&L sums in different orders there), 1e-12 x the natural
scale of each Greek (:func:`unit_scales`).
"""

from __future__ import annotations

import math
from typing import Any

from pmargin.models import GridModel
from pmargin.reference.domain.book import net_positions, read_positions
from pmargin.reference.domain.instruments import read_instruments
from pmargin.reference.domain.market import read_underlyings, read_vols
from pmargin.reference.risk.arrays import held_risk_arrays
from pmargin.reference.valuation import Contract, make_contract
from tests.pricing import test_payoffs as qlt
from tests.strategies import Book

REL = 1e-9

#: Absolute floor of Greek parity, times the Greek's natural scale (:func:`unit_scales`).
GREEK_FLOOR = 1e-12

GREEKS = ("price", "delta", "gamma", "vega", "theta")


def instrument_underlyings(book: Book) -> dict[str, str]:
    return dict(
        zip(
            book.instruments.column("instrument_id").to_pylist(),
            book.instruments.column("underlying").to_pylist(),
            strict=True,
        )
    )


def unit_scales(c: Contract) -> dict[str, float]:
    """Natural sizes of one unit's price and Greeks (multiplier included), for absolute floors:
    a vanilla's plus a digital's at-the-money orders (test_pricing_quantlib's scales); a linear
    contract's price and delta."""
    m = c.multiplier
    size = max(c.spot, c.strike)
    if c.kind != "option" or c.t == 0.0 or c.vol is None:
        return {
            "price": m * size,
            "delta": m * math.exp(abs(c.rate) * c.t),
            "gamma": 0.0,
            "vega": 0.0,
            "theta": m * abs(c.rate) * size,
        }
    vanilla = qlt.vanilla_scales(c.spot, c.strike, c.t, c.rate, c.vol)
    digital = qlt.digital_scales(c.spot, c.t, c.rate, c.vol)
    return {name: m * (a + b) for name, a, b in zip(GREEKS, vanilla, digital, strict=True)}


def contracts_of(book: Book) -> dict[str, Contract]:
    """Every instrument of the book that can be priced, as the reference's contract."""
    market = book.market()
    underlyings = read_underlyings(market.underlyings)
    vols = read_vols(market.vols, None)
    out: dict[str, Contract] = {}
    for iid, inst in read_instruments(book.instruments).items():
        if inst.underlying in underlyings and (inst.kind != "option" or iid in vols):
            out[iid] = make_contract(inst, underlyings, vols, market.as_of_ns)
    return out


def pnl_scales(book: Book, model: GridModel) -> dict[Any, float]:
    """Per account, ``1 + sum over its netted positions of max_s |q ra[s]|``: the size of the P&L
    sums that the engines may round in different orders (the native incremental margin subtracts
    ``q ra`` from the group's P&L; the reference re-sums the other positions; contributions are
    summed per position, the requirement per group). A hedged account can have a gross margin
    near 0 beside P&L terms of 1e7, where the two differ by an ulp of 1e7, about 2e-9."""
    market = book.market()
    instruments = read_instruments(book.instruments)
    books = net_positions(read_positions(book.positions), {iid: inst.row for iid, inst in instruments.items()})
    underlyings, vols = read_underlyings(market.underlyings), read_vols(market.vols, None)
    arrays = held_risk_arrays(books, instruments, underlyings, vols, market.as_of_ns, model)
    return {
        b.account_id: 1.0 + sum(max(abs(p.quantity * x) for x in arrays[p.instrument_id]) for p in b.positions)
        for b in books
    }
