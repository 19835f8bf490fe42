"""Native == reference under ``cross="correlation"`` with the default 21 price shocks, on random
books over 1 to 4 underlyings and random correlation matrices (sometimes the identity or two
names perfectly (anti-)correlated): margins, ``by_position`` and ``explain``. The two engines
enumerate the same joint moves in the same order with the same tolerance, so the margins agree to
1e-9 (tolerances in :mod:`tests.parity.scales`).
"""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import reference
from pmargin.models import GridModel
from tests.parity.test_attribution import assert_same_attribution
from tests.parity.test_grid import assert_same_result
from tests.strategies import Book, correlations, payoff_books


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(book=payoff_books(max_rows=12, max_underlyings=4), data=st.data())
def test_native_matches_reference_on_default_shocks(book: Book, data: st.DataObject) -> None:
    names = list(dict.fromkeys(book.underlyings.column("underlying").to_pylist()))
    model = GridModel(
        vol_shocks=[-0.3, 0.3],
        cross="correlation",
        correlation=data.draw(correlations(data.draw(st.permutations(names)))),
        floor_largest=data.draw(st.booleans()),
    )
    market = book.market()
    native = pmargin.margin(book.positions, book.instruments, market, model, by_position=True)
    ref = reference.margin(book.positions, book.instruments, market, model, by_position=True)
    assert_same_result(native, ref)
    assert_same_attribution(native, ref, book, model)


def assert_same_margins_and_attribution(
    positions: pa.Table, instruments: pa.Table, market: pmargin.Market, model: GridModel
) -> None:
    """Both engines with ``by_position=True``: the same result, contributions, standalone and
    incremental margins to 1e-9 of the largest, and the same explain scenarios."""
    native = pmargin.margin(positions, instruments, market, model, by_position=True)
    ref = reference.margin(positions, instruments, market, model, by_position=True)
    assert_same_result(native, ref)
    assert native.by_position is not None and ref.by_position is not None
    for column in ("contribution", "standalone_margin", "incremental_margin"):
        a = native.by_position.column(column).to_pylist()
        b = ref.by_position.column(column).to_pylist()
        scale = max([abs(x) for x in b] + [1.0])
        assert all(abs(x - y) <= 1e-9 * scale for x, y in zip(a, b, strict=True)), column
    assert native.explain is not None and ref.explain is not None
    assert native.explain.column("scenario").to_pylist() == ref.explain.column("scenario").to_pylist()


NAMES = ["U0", "U1", "U2", "U3"]


@st.composite
def multi_underlying_books(draw: st.DrawFn) -> tuple[pa.Table, pa.Table, pmargin.Market]:
    """Accounts holding 1 to 4 of four underlyings: perpetuals and 30-day calls and puts at random
    strikes, random quantities (some exactly opposite, some tiny)."""
    spots = [draw(st.floats(10.0, 1000.0)) for _ in NAMES]
    ids, und, kinds, types, strikes, vols = [], [], [], [], [], []
    for u, s in zip(NAMES, spots, strict=True):
        for kind, opt in [("perpetual", None), ("option", "call"), ("option", "put")]:
            ids.append(f"{u}-{opt or 'PERP'}")
            und.append(u)
            kinds.append(kind)
            types.append(opt)
            strikes.append(s * draw(st.floats(0.8, 1.2)) if opt else None)
            vols.append(draw(st.floats(0.1, 1.0)))
    instruments = pa.table(
        {
            "instrument_id": ids,
            "underlying": und,
            "kind": kinds,
            "option_type": types,
            "strike": pa.array(strikes, pa.float64()),
            "expiry": pa.array([None if k == "perpetual" else "2026-07-30T08:00:00" for k in kinds]).cast(
                pa.timestamp("s")
            ),
        }
    )
    options = [i for i, k in zip(ids, kinds, strict=True) if k == "option"]
    market = pmargin.Market(
        "2026-06-30T08:00:00Z",
        pa.table({"underlying": NAMES, "spot": spots}),
        pa.table(
            {"instrument_id": options, "implied_vol": [v for v, k in zip(vols, kinds, strict=True) if k == "option"]}
        ),
    )
    rows = []
    for a in range(draw(st.integers(1, 3))):
        held = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
        for _ in range(draw(st.integers(len(held), 6))):
            instrument = f"{draw(st.sampled_from(held))}-{draw(st.sampled_from(['PERP', 'call', 'put']))}"
            q = draw(st.one_of(st.floats(-50.0, 50.0), st.sampled_from([1.0, -1.0, 1e-9])))
            rows.append((f"a{a}", instrument, q))
    positions = pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": pa.array([r[2] for r in rows], pa.float64()),
        }
    )
    return positions, instruments, market


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(inputs=multi_underlying_books(), data=st.data())
def test_native_matches_reference_on_one_to_four_underlyings(
    inputs: tuple[pa.Table, pa.Table, pmargin.Market], data: st.DataObject
) -> None:
    positions, instruments, market = inputs
    shocks = data.draw(st.sampled_from([None, [-0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15], [-0.2, 0.1, 0.3]]))
    model = GridModel(
        **({"price_shocks": shocks} if shocks is not None else {}),
        vol_shocks=[-0.3, 0.0, 0.3],
        cross="correlation",
        correlation=data.draw(correlations(data.draw(st.permutations(NAMES)))),
        floor_largest=data.draw(st.booleans()),
    )
    assert_same_margins_and_attribution(positions, instruments, market, model)


MANY = ["U0", "U1", "U2", "U3", "U4", "U5"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_native_matches_reference_when_the_names_need_several_blocks(data: st.DataObject) -> None:
    """Six names on the default grid, or four on 81 price shocks: more than one block fits the
    budget, so both engines must split the names alike (pairs by |rho|, ties by name, whatever
    the listing order) and margin each block of every held set exactly."""
    fine = data.draw(st.booleans())
    names = MANY[:4] if fine else MANY
    listing = data.draw(st.permutations(names))
    ids, und = [f"{u}-PERP" for u in names], list(names)
    instruments = pa.table({"instrument_id": ids, "underlying": und, "kind": ["perpetual"] * len(names)})
    spots = [data.draw(st.floats(10.0, 1000.0)) for _ in names]
    market = pmargin.Market("2026-06-30T08:00:00Z", pa.table({"underlying": names, "spot": spots}))
    rows = []
    for a in range(4):
        for u in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)):
            rows.append((f"a{a}", f"{u}-PERP", data.draw(st.sampled_from([1.0, -1.0, 2.5, -0.3, 1e-9]))))
    positions = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("account_id", "instrument_id", "quantity"))})
    shocks = [round(x, 6) for x in (i * 0.15 / 40 for i in range(-40, 41))] if fine else None
    model = GridModel(
        **({"price_shocks": shocks} if shocks is not None else {}),
        vol_shocks=[0.0],
        cross="correlation",
        correlation=data.draw(correlations(listing)),
    )
    # Attribution over several blocks: each position's block, its place in it and the binding move.
    assert_same_margins_and_attribution(positions, instruments, market, model)
