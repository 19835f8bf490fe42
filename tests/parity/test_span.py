"""SPAN, native against reference, on hypothesis books and parameter sets: random combined
commodities (some underlyings left out: the same named error), scan ranges, tiers, intra and inter
spread tables, either credit basis, and published arrays for some instruments."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.models.span import SpanModel
from tests.parity.venue import assert_same, outcome
from tests.strategies import Book, BrokenBook, books, broken_books

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
NAMES = ("BTC", "ETH", "SOL", "SPX", "XYZ", "é-ü")


@st.composite
def span_params(draw: st.DrawFn, names: tuple[str, ...] = NAMES) -> dict[str, Any]:
    pool = list(names)
    if draw(st.booleans()):
        pool = draw(st.permutations(pool))[: draw(st.integers(1, len(pool)))]
    n = draw(st.integers(1, len(pool)))
    commodities = []
    for i in range(n):
        members = pool[i::n]
        n_tiers = draw(st.integers(0, 4))
        tiers = sorted(draw(st.lists(st.integers(1, 800), min_size=n_tiers, max_size=n_tiers, unique=True)))
        pairs = [[a, b] for a in range(1, n_tiers + 1) for b in range(a + 1, n_tiers + 1)]
        spreads = draw(st.permutations(pairs))[: draw(st.integers(0, len(pairs)))] if pairs else []
        commodities.append(
            {
                "name": f"CC{i}",
                "underlyings": members,
                "price_scan_range": draw(st.floats(0.01, 0.3)),
                "vol_scan_range": draw(st.floats(0.0, 0.2)),
                "extreme_move": draw(st.sampled_from([2.0, 3.0])),
                "extreme_cover": draw(st.sampled_from([0.35, 0.33, 1.0])),
                "short_option_minimum": draw(st.sampled_from([0.0, 10.0, 500.0])),
                "delivery_charge": draw(st.sampled_from([0.0, 3.0])),
                "delivery_days": draw(st.sampled_from([0, 30, 400])),
                "initial_ratio": draw(st.sampled_from([1.0, 1.1])),
                "tiers": tiers,
                "intra_spreads": [{"tiers": p, "charge": draw(st.floats(0, 100))} for p in spreads],
            }
        )
    inter = []
    if n >= 2:
        for _ in range(draw(st.integers(0, 6))):
            a, b = draw(st.permutations([c["name"] for c in commodities]))[:2]
            inter.append(
                {
                    "credit_rate": draw(st.floats(0, 1)),
                    "legs": [
                        {"commodity": a, "delta_ratio": draw(st.sampled_from([0.5, 1.0, 3.0]))},
                        {
                            "commodity": b,
                            "delta_ratio": draw(st.sampled_from([1.0, 2.0])),
                            "side": draw(st.sampled_from(["A", "B"])),
                        },
                    ],
                }
            )
            if all(leg.get("side", "A") == "A" for leg in inter[-1]["legs"]):
                inter[-1]["legs"][1]["side"] = "B"
    return {
        "name": "hyp",
        "version": "1",
        "credit_basis": draw(st.sampled_from(["scan", "price_risk"])),
        "vol_scan_mode": draw(st.sampled_from(["absolute", "relative"])),
        "combined_commodities": commodities,
        "inter_spreads": inter,
    }


@st.composite
def supplied_arrays(draw: st.DrawFn, instruments: pa.Table) -> pa.Table | None:
    ids = instruments.column("instrument_id").to_pylist()
    chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=3)) if ids else []
    if not chosen:
        return None
    value = st.floats(-1e4, 1e4, allow_nan=False)
    columns: dict[str, Any] = {"instrument_id": chosen}
    for s in range(1, 17):
        columns[f"risk_{s}"] = [draw(value) for _ in chosen]
    columns["composite_delta"] = [draw(st.floats(-2, 2)) for _ in chosen]
    return pa.table(columns)


def both(book: Book, model: SpanModel) -> tuple[Any, Any]:
    market = book.market()
    native = outcome(lambda: pmargin.margin(book.positions, book.instruments, market, model))
    ref = outcome(lambda: reference.margin(book.positions, book.instruments, market, model))
    return native, ref


@HYPOTHESIS
@given(book=books(), params=span_params(), data=st.data())
def test_native_matches_reference_on_random_books(book: Book, params: dict[str, Any], data: st.DataObject) -> None:
    arrays = data.draw(supplied_arrays(book.instruments)) if data.draw(st.booleans()) else None
    native, ref = both(book, SpanModel(params, arrays))
    assert_same(native, ref, "span_requirement")


@HYPOTHESIS
@given(broken=broken_books(), params=span_params(NAMES))
def test_broken_books_fail_alike(broken: BrokenBook, params: dict[str, Any]) -> None:
    native, ref = both(broken.book, SpanModel(params))
    assert native == ref


SPREAD_DAYS = (5, 45, 120, 400)


@st.composite
def spread_books(draw: st.DrawFn) -> tuple[pa.Table, pa.Table, pmargin.Market]:
    """Two underlyings, futures in four tiers and options, random long/short quantities: books that
    form intra-commodity spreads, delivery-month positions and inter-commodity spreads."""
    as_of = pmargin.market.to_epoch_ns("2026-06-30T00:00:00Z")
    day = 86_400 * 10**9
    ids, unders, kinds, types, strikes, expiries, vol_ids = [], [], [], [], [], [], []
    spots = {"A": 100.0, "B": 40.0}
    for u, spot in spots.items():
        for d in SPREAD_DAYS:
            ids.append(f"{u}F{d}"), unders.append(u), kinds.append("future"), types.append(None)
            strikes.append(None), expiries.append(as_of + d * day)
        for t in ("call", "put"):
            for k in (0.9, 1.1):
                ids.append(f"{u}{t[0]}{k}"), unders.append(u), kinds.append("option"), types.append(t)
                strikes.append(spot * k), expiries.append(as_of + 60 * day), vol_ids.append(ids[-1])
    instruments = pa.table(
        {
            "instrument_id": ids,
            "underlying": unders,
            "kind": kinds,
            "option_type": types,
            "strike": strikes,
            "expiry": pa.array(expiries, pa.timestamp("ns", tz="UTC")),
        }
    )
    market = pmargin.Market(
        "2026-06-30T00:00:00Z",
        pa.table({"underlying": ["A", "B"], "spot": [100.0, 40.0], "rate": [draw(st.sampled_from([0.0, 0.03])), 0.0]}),
        pa.table({"instrument_id": vol_ids, "implied_vol": [draw(st.floats(0.1, 0.8)) for _ in vol_ids]}),
    )
    rows = draw(
        st.lists(
            st.tuples(st.sampled_from(["x", "y"]), st.sampled_from(ids), st.integers(-5, 5)), min_size=1, max_size=14
        )
    )
    positions = pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": [float(r[2]) for r in rows],
        }
    )
    return positions, instruments, market


@st.composite
def spread_params(draw: st.DrawFn) -> dict[str, Any]:
    pairs = [[1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]]
    commodities = [
        {
            "name": u,
            "underlyings": [u],
            "price_scan_range": draw(st.floats(0.02, 0.2)),
            "vol_scan_range": draw(st.floats(0.0, 0.1)),
            "short_option_minimum": draw(st.sampled_from([0.0, 1.0, 50.0])),
            "delivery_charge": draw(st.sampled_from([0.0, 2.0])),
            "delivery_days": 10,
            "tiers": [30, 90, 365, 3650],
            "intra_spreads": [{"tiers": p, "charge": draw(st.floats(0, 5))} for p in draw(st.permutations(pairs))],
        }
        for u in ("A", "B")
    ]
    legs = [
        {"commodity": "A", "delta_ratio": draw(st.sampled_from([1.0, 2.5]))},
        {"commodity": "B", "delta_ratio": 1.0},
    ]
    return {
        "name": "spreads",
        "version": "1",
        "credit_basis": draw(st.sampled_from(["scan", "price_risk"])),
        "combined_commodities": commodities,
        "inter_spreads": [{"credit_rate": draw(st.floats(0, 1)), "legs": legs}],
    }


@HYPOTHESIS
@given(book=spread_books(), params=spread_params())
def test_native_matches_reference_on_spread_books(
    book: tuple[pa.Table, pa.Table, pmargin.Market], params: dict[str, Any]
) -> None:
    positions, instruments, market = book
    model = SpanModel(params)
    native = outcome(lambda: pmargin.margin(positions, instruments, market, model))
    ref = outcome(lambda: reference.margin(positions, instruments, market, model))
    assert_same(native, ref, "span_requirement")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(book=spread_books(), params=spread_params(), k=st.sampled_from([0.5, 2.0, 7.0]))
def test_scaling_and_stand_alone_properties_on_spread_books(
    book: tuple[pa.Table, pa.Table, pmargin.Market], params: dict[str, Any], k: float
) -> None:
    """Scaling every quantity by k scales every part by k; with intra charges no larger than the
    cheapest outright (here: none), the requirement is never above the sum of the positions alone."""
    positions, instruments, market = book
    for c in params["combined_commodities"]:
        for s in c["intra_spreads"]:
            s["charge"] = 0.0
    model = SpanModel(params)
    base = pmargin.margin(positions, instruments, market, model).accounts
    scaled_positions = positions.set_column(2, "quantity", pa.compute.multiply(positions.column("quantity"), k))
    scaled = pmargin.margin(scaled_positions, instruments, market, model).accounts
    for column in ("initial_margin", "maintenance_margin", "gross_margin", "scanning_risk", "inter_credit"):
        for a, b in zip(base.column(column).to_pylist(), scaled.column(column).to_pylist(), strict=True):
            assert math.isclose(b, k * a, rel_tol=1e-9, abs_tol=1e-9 * (1 + abs(k * a)))
    for initial, gross in zip(
        base.column("initial_margin").to_pylist(), base.column("gross_margin").to_pylist(), strict=True
    ):
        assert initial <= gross * (1 + 1e-12) + 1e-9
