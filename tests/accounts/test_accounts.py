"""pmargin.accounts under every model (grid, historical, Monte Carlo): what-if equal to the
book with the trade, status consistent with the state rule, cascade reproduced by the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import Trade, sample
from pmargin.reference.accounts import cascade as reference_cascade
from tests.methods.models import mc_model

HISTORY = pa.table(
    {
        "date": pa.array([d for d in range(6) for _ in range(2)], pa.int32()).cast(pa.date32()),
        "underlying": ["BTC", "ETH"] * 6,
        "return": [-0.08, -0.1, 0.05, 0.06, -0.03, 0.02, 0.04, -0.05, -0.12, -0.15, 0.02, 0.01],
    }
)


def models() -> list[Any]:
    return [
        pmargin.GridModel(cross="joint"),
        pmargin.HistoricalModel(HISTORY, measure="es", confidence=0.8),
        mc_model(n=200, seed=3),
    ]


@pytest.mark.parametrize("model", models(), ids=["grid-joint", "historical", "montecarlo"])
def test_account_services_work_with_every_model(model: Any) -> None:
    book = sample.book(n_accounts=5, seed=9)
    engine = pmargin.MarginEngine(book.instruments, book.market, model)
    result = engine.margin(book.positions)
    first = book.positions.filter(pa.compute.equal(book.positions.column("account_id"), "acct-000001"))
    held = (first.column("instrument_id").to_pylist(), first.column("quantity").to_numpy())
    trade = Trade("ETH-PERP", -4.0, 3000.0)
    w = engine.what_if(held, [trade], equity=1e6)
    after = pa.concat_tables(
        [first, pa.table({"account_id": ["acct-000001"], "instrument_id": ["ETH-PERP"], "quantity": [-4.0]})]
    )
    expected = engine.margin(after).accounts.column("initial_margin")[0].as_py()
    assert abs(w.initial_after - expected) <= 1e-9 * max(1.0, expected)

    ids = result.accounts.column("account_id").to_pylist()
    im = np.array(result.accounts.column("initial_margin").to_pylist())
    collateral = pa.table(
        {"account_id": ids, "asset": ["USD"] * len(ids), "amount": list(im * [1.5, 0.9, 0.6, 0.3, 2.0])}
    )
    status = pmargin.status(result, collateral, {"USD": (1.0, 0.0)}, step=0.05, tolerance=1e-3)
    for row in status.accounts.to_pylist():
        assert row["state"] == pmargin.accounts.state_of(
            row["equity"], row["initial_margin"], row["maintenance_margin"]
        )
        assert (row["distance_to_call"] == 0.0) == (row["state"] != "ok")

    kwargs = {"shock": -0.2, "depth": {"BTC": 1e6, "ETH": 5e5}, "max_rounds": 4}
    native = pmargin.cascade(
        book.positions, book.instruments, book.market, model, collateral, {"USD": (1.0, 0.0)}, **kwargs
    )
    reference = reference_cascade(
        book.positions, book.instruments, book.market, model, collateral, {"USD": (1.0, 0.0)}, **kwargs
    )
    assert (
        native.accounts.column("liquidated_round").to_pylist()
        == reference.accounts.column("liquidated_round").to_pylist()
    )
    assert reference.total_shortfall == pytest.approx(native.total_shortfall, rel=1e-9, abs=1e-9)
    for x, y in zip(
        native.rounds.column("price_after").to_pylist(), reference.rounds.column("price_after").to_pylist(), strict=True
    ):
        assert y == pytest.approx(x, rel=1e-9)
