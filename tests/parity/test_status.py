"""Status parity: pmargin.status (native engine) equals pmargin.reference.accounts.status
(reference engine): equity, state and every distance, on hypothesis-generated small books."""

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
def cases(draw: Any) -> tuple[pa.Table, pa.Table]:
    rows = [
        {"account_id": f"a{a}", "instrument_id": inst, "quantity": draw(st.floats(-10, 10).map(lambda q: round(q, 1)))}
        for a in range(draw(st.integers(1, 2)))
        for inst in draw(st.lists(st.sampled_from(["PA", "PB", "CA"]), min_size=1, max_size=3))
    ]
    ids = sorted({r["account_id"] for r in rows})
    collateral = pa.table(
        {
            "account_id": ids,
            "asset": [draw(st.sampled_from(["USD", "A"])) for _ in ids],
            "amount": [draw(st.floats(0.0, 60.0)) for _ in ids],
        }
    )
    return pa.Table.from_pylist(rows), collateral


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_status_native_equals_reference(case: tuple[pa.Table, pa.Table]) -> None:
    positions, collateral = case
    search = {"max_move": 0.5, "step": 0.05, "tolerance": 1e-3}
    result = pmargin.margin(positions, instruments(), market(), GRID)
    native = pmargin.status(result, collateral, ASSETS, **search)
    reference = reference_status(positions, instruments(), market(), GRID, collateral, ASSETS, **search)
    rows = native.accounts.to_pylist()
    assert [r["account_id"] for r in rows] == [r["account_id"] for r in reference]
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
