"""Cascade parity: pmargin.cascade (native engine) equals pmargin.reference.accounts.cascade
(reference engine) on hypothesis-generated books, collateral, shocks, impact laws and grid
models: same liquidation rounds, prices, notionals, equities and shortfalls to 1e-9. Collateral
and P&L rows of accounts without positions (a balances file's cash-only accounts) are no error
and take no part: the accounts table is the book's accounts only."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin.reference.accounts import cascade as reference_cascade
from tests.accounts.conftest import assert_same_cascade, instruments, market
from tests.strategies import grid_models

quantity = st.one_of(st.just(0.0), st.floats(-20.0, 20.0).map(lambda q: round(q, 2)))


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    rows = []
    for a in range(n):
        for inst in draw(st.lists(st.sampled_from(["PA", "PB", "CA"]), min_size=1, max_size=4)):
            rows.append({"account_id": f"a{a}", "instrument_id": inst, "quantity": draw(quantity)})
    # Accounts n .. n + flat - 1 hold collateral (a loan, maybe) but no positions.
    flat = draw(st.integers(0, 2))
    cash = [draw(st.floats(-50.0 if a >= n else 0.0, 400.0)) for a in range(n + flat)]
    in_a = [draw(st.booleans()) for _ in range(n + flat)]
    return {
        "positions": pa.Table.from_pylist(rows),
        "pnl": {f"a{a}": draw(st.floats(-5.0, 5.0)) for a in draw(st.lists(st.integers(0, n + 2), unique=True))},
        "collateral": pa.table(
            {
                "account_id": [f"a{a}" for a in range(n + flat)],
                "asset": ["A" if x else "USD" for x in in_a],
                "amount": [c / 100.0 if x else c for c, x in zip(cash, in_a, strict=True)],
            }
        ),
        "model": draw(grid_models()),
        "shock": draw(st.floats(-0.5, 0.5)),
        "impact": draw(st.sampled_from(["sqrt", "linear"])),
        "depth": {"A": draw(st.floats(100.0, 1e5)), "B": draw(st.floats(100.0, 1e5))},
        "max_rounds": draw(st.integers(1, 6)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_cascade_native_equals_reference(case: dict[str, Any]) -> None:
    assets = {"USD": (1.0, 0.0), "A": (100.0, 0.2)}
    args = (case["positions"], instruments(), market(), case["model"], case["collateral"], assets)
    kwargs = {k: case[k] for k in ("shock", "impact", "depth", "max_rounds", "pnl")}
    native = pmargin.cascade(*args, **kwargs)
    reference = reference_cascade(*args, **kwargs)
    assert_same_cascade(native, reference)
    assert native.accounts.column("account_id").to_pylist() == list(
        dict.fromkeys(case["positions"].column("account_id").to_pylist())
    )
