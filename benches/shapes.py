"""Books of chosen shapes for the benchmarks: accounts sorted or shuffled, integer or string
account ids, few or many underlyings, few or many contracts.

``shaped_book(shape)`` builds a seeded random book of ``shape.accounts`` accounts of
``shape.positions_per_account`` positions (distinct contracts within an account) over
``shape.contracts`` contracts on ``shape.underlyings`` underlyings: a third futures, the rest
calls and puts around the money with 7 to 180 days to expiry. The same shape and seed always give
the same tables; a shuffled book holds the same rows as the sorted one in a random order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pmargin.market import Market

AS_OF = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Shape:
    order: str = "sorted"  # "sorted" (accounts contiguous) or "shuffled"
    # "int" (int64 account ids), "str" (string ids of one numbered pattern, "acct-0001234", as
    # brokers number accounts) or "text" (account and instrument ids ending in a letter,
    # "acct-0001234x" and "C01145x": no numbered pattern, so both are hashed; not among
    # all_shapes). Instrument ids are "C01145" otherwise.
    ids: str = "int"
    underlyings: int = 3
    contracts: int = 200
    accounts: int = 100_000
    positions_per_account: int = 10

    @property
    def name(self) -> str:
        return f"{self.order}/{self.ids}/{self.underlyings}u/{self.contracts}c"


@dataclass(frozen=True)
class ShapedBook:
    positions: pa.Table
    instruments: pa.Table
    market: Market


def shaped_book(shape: Shape, seed: int = 11) -> ShapedBook:
    rng = np.random.default_rng(seed)
    n_u, n_c = shape.underlyings, shape.contracts
    names = [f"U{u:02d}" for u in range(n_u)]
    spots = 100.0 * np.exp(rng.normal(0.0, 1.0, n_u))
    underlying = rng.integers(0, n_u, n_c)
    kind = np.where(np.arange(n_c) % 3 == 0, "future", "option")
    is_option = kind == "option"
    option_type = np.where(np.arange(n_c) % 2 == 0, "call", "put")
    strike = spots[underlying] * rng.uniform(0.8, 1.2, n_c)
    days = rng.integers(7, 181, n_c)
    expiry = [AS_OF + dt.timedelta(days=int(d)) for d in days]
    suffix = "x" if shape.ids == "text" else ""
    ids = [f"C{c:05d}{suffix}" for c in range(n_c)]
    instruments = pa.table(
        {
            "instrument_id": pa.array(ids, pa.string()),
            "underlying": pa.array([names[u] for u in underlying], pa.string()),
            "kind": pa.array(kind.tolist(), pa.string()),
            "option_type": pa.array(
                [t if o else None for t, o in zip(option_type, is_option, strict=True)], pa.string()
            ),
            "strike": pa.array([float(k) if o else None for k, o in zip(strike, is_option, strict=True)], pa.float64()),
            "expiry": pa.array(expiry, pa.timestamp("ns", tz="UTC")),
            "multiplier": pa.array(np.ones(n_c), pa.float64()),
        }
    )
    option_rows = np.flatnonzero(is_option)
    vols = pa.table(
        {
            "instrument_id": pa.array([ids[c] for c in option_rows], pa.string()),
            "implied_vol": pa.array(rng.uniform(0.3, 1.0, option_rows.size), pa.float64()),
        }
    )
    underlyings = pa.table(
        {
            "underlying": pa.array(names, pa.string()),
            "spot": pa.array(spots, pa.float64()),
            "rate": pa.array(np.full(n_u, 0.03), pa.float64()),
        }
    )
    k = min(shape.positions_per_account, n_c)
    n_a = shape.accounts
    # k distinct contracts per account: a random offset and stride modulo n_c (no duplicates).
    start = rng.integers(0, n_c, n_a)[:, None]
    step = rng.integers(1, max(2, n_c // k), n_a)[:, None]
    contract = ((start + step * np.arange(k)[None, :]) % n_c).ravel()
    account = np.repeat(np.arange(n_a), k)
    quantity = np.round(rng.normal(0.0, 10.0, account.size), 2)
    if shape.order == "shuffled":
        order = rng.permutation(account.size)
        account, contract, quantity = account[order], contract[order], quantity[order]
    account_ids = (
        pa.array(account, pa.int64())
        if shape.ids == "int"
        else pa.array([f"acct-{a:07d}{suffix}" for a in account.tolist()], pa.string())
    )
    positions = pa.table(
        {
            "account_id": account_ids,
            "instrument_id": pa.array(ids, pa.string()).take(pa.array(contract)),
            "quantity": pa.array(quantity, pa.float64()),
        }
    )
    return ShapedBook(positions, instruments, Market(AS_OF, underlyings, vols))


def all_shapes(accounts: int) -> list[Shape]:
    """Every combination the issue asks for: sorted / shuffled, integer / string ids, 2 / 10
    underlyings, 200 / 2,000 contracts."""
    return [
        Shape(order, ids, n_u, n_c, accounts)
        for order in ("sorted", "shuffled")
        for ids in ("int", "str")
        for n_u in (2, 10)
        for n_c in (200, 2000)
    ]
