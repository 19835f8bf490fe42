"""Status parity: pmargin.status (native engine) equals pmargin.reference.accounts.status
(reference engine): equity, state and every distance, on hypothesis-generated small books, with
accounts that have collateral or P&L but no positions (reported after the others, margins 0)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin.reference.accounts.status import status as reference_status
from tests.accounts.conftest import GRID, instruments, market

ASSETS = {"USD": (1.0, 0.0), "A": (100.0, 0.2)}


@st.composite
def cases(draw: Any) -> tuple[pa.Table, pa.Table, dict[str, float]]:
    rows = [
        {"account_id": f"a{a}", "instrument_id": inst, "quantity": draw(st.floats(-10, 10).map(lambda q: round(q, 1)))}
        for a in range(draw(st.integers(1, 2)))
        for inst in draw(st.lists(st.sampled_from(["PA", "PB", "CA"]), min_size=1, max_size=3))
    ]
    # Cash-only accounts (no positions), some with a loan: listed in any order.
    flat = draw(st.lists(st.sampled_from(["z", "f", "c9"]), unique=True, max_size=3))
    ids = sorted({r["account_id"] for r in rows}) + flat
    collateral = pa.table(
        {
            "account_id": ids,
            "asset": [draw(st.sampled_from(["USD", "A"])) for _ in ids],
            "amount": [draw(st.floats(-5.0, 60.0)) for _ in ids],
        }
    )
    pnl = {a: draw(st.floats(-10.0, 10.0)) for a in draw(st.lists(st.sampled_from(["a0", "p", "z"]), unique=True))}
    return pa.Table.from_pylist(rows), collateral, pnl


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_status_native_equals_reference(case: tuple[pa.Table, pa.Table, dict[str, float]]) -> None:
    positions, collateral, pnl = case
    search = {"max_move": 0.5, "step": 0.05, "tolerance": 1e-3}
    result = pmargin.margin(positions, instruments(), market(), GRID)
    native = pmargin.status(result, collateral, ASSETS, pnl=pnl, **search)
    reference = reference_status(positions, instruments(), market(), GRID, collateral, ASSETS, pnl=pnl, **search)
    rows = native.accounts.to_pylist()
    margined = result.accounts.column("account_id").to_pylist()
    flat = sorted({*collateral.column("account_id").to_pylist(), *pnl} - set(margined))
    assert [r["account_id"] for r in rows] == margined + flat == [r["account_id"] for r in reference]
    for r in rows[len(margined) :]:
        assert (r["initial_margin"], r["maintenance_margin"], r["excess"]) == (0.0, 0.0, r["equity"])
    for n, r in zip(rows, reference, strict=True):
        assert n["equity"] == pytest.approx(r["equity"], rel=1e-9, abs=1e-9)
        assert n["state"] == r["state"]
    for d in native.distances.to_pylist():
        call, liquidation = next(r for r in reference if r["account_id"] == d["account_id"])["distances"][
            (d["underlying"], d["direction"])
        ]
        for x, y in ((d["to_call"], call), (d["to_liquidation"], liquidation)):
            assert (x is None) == (y is None)
            if x is not None:
                assert x == pytest.approx(y, rel=1e-9, abs=1e-12)
