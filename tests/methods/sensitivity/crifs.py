"""Hypothesis strategies for CRIF tables over the risk types pmargin computes (shared by the
parity and method tests)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

TENORS = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"]
COLUMNS = ("Portfolio", "ProductClass", "RiskType", "Qualifier", "Bucket", "Label1", "Label2", "AmountUSD")

amounts = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),  # below every concentration threshold
    st.floats(-1e10, 1e10, allow_nan=False),  # above many
    st.floats(-1e18, 1e18, allow_nan=False),  # up to the bound on amounts
    st.sampled_from([0.0, 1.0, -1.0]),
)


@st.composite
def crif_rows(draw: st.DrawFn, amount: st.SearchStrategy[float] = amounts) -> tuple[Any, ...]:
    kind = draw(st.sampled_from(["ir", "irv", "fx", "fxv", "eq", "eqv", "cm", "cmv"]))
    a = draw(amount)
    tenor = draw(st.sampled_from(TENORS))
    if kind == "ir":
        return (
            "RatesFX",
            "Risk_IRCurve",
            draw(st.sampled_from(["USD", "EUR", "JPY", "BRL", "AUD"])),
            "",
            tenor,
            draw(st.sampled_from(["OIS", "Libor3m", "Municipal"])),
            a,
        )
    if kind == "irv":
        return ("RatesFX", "Risk_IRVol", draw(st.sampled_from(["USD", "JPY", "BRL"])), "", tenor, "", a)
    if kind == "fx":
        return ("RatesFX", "Risk_FX", draw(st.sampled_from(["EUR", "JPY", "BRL", "USD", "CNY"])), "", "", "", a)
    if kind == "fxv":
        return (
            "RatesFX",
            "Risk_FXVol",
            draw(st.sampled_from(["EURUSD", "USDJPY", "BRLUSD", "CNYZAR"])),
            "",
            tenor,
            "",
            a,
        )
    pc = "Equity" if kind.startswith("eq") else "Commodity"
    buckets = ["1", "5", "11", "12", "Residual"] if pc == "Equity" else ["1", "2", "10", "16", "17"]
    q = draw(st.sampled_from(["X", "Y", "Z", "BTC"]))
    b = draw(st.sampled_from(buckets))
    if kind in ("eq", "cm"):
        return (pc, f"Risk_{pc}", q, b, draw(st.sampled_from(["", "3y"])), "", a)
    return (pc, f"Risk_{pc}Vol", q, b, tenor, "", a)


@st.composite
def crifs(draw: st.DrawFn, max_rows: int = 40, accounts: int = 3) -> pa.Table:
    rows = draw(st.lists(crif_rows(), min_size=0, max_size=max_rows))
    names = [draw(st.sampled_from([f"P{i}" for i in range(accounts)])) for _ in rows]
    return table([(n, *r) for n, r in zip(names, rows, strict=True)])


def table(rows: list[tuple[Any, ...]]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in COLUMNS]
    data = {
        c: pa.array(list(v), pa.float64() if c == "AmountUSD" else pa.string())
        for c, v in zip(COLUMNS, cols, strict=True)
    }
    return pa.table(data)
