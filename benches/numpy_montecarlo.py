"""Correlated Monte Carlo ES / VaR margin written with NumPy + scipy.sparse, for the throughput
benchmark: Arrow tables in, result tables out.

The same method as the native core (docs/methods.md), on the same scenarios (the scenario table
comes from the native generator, ``pmargin.engine.monte_carlo_scenarios``):

1. every held contract is revalued once per scenario, vectorised (Black-76 with
   ``scipy.special.ndtr``, calls and puts priced apart so each needs two ``ndtr`` calls, in
   sub-blocks that stay in cache), into a block-major risk array (one contiguous
   ``contracts x BLOCK`` array per block of scenarios);
2. per chunk of accounts, the P&L vectors are sparse x dense products block by block:
   ``G_b = Mg @ R_b`` for every (account, underlying) group of two or more positions in an
   account with two or more underlyings (the per-underlying breakdown), and
   ``T_b = Mp @ R_b + Mg' @ G_b`` for the account totals (``Mp``: the positions not in such a
   group; ``Mg'``: the groups), written into the chunk's full ``accounts x scenarios`` matrix;
3. ES (or VaR) per row by ``ndarray.partition`` at ``k`` on the chunk's full vectors (the k
   smallest P&Ls are the k largest losses);
4. a group of one position, and gross margin, use positive homogeneity: ``|q|`` times the
   measure of one unit long or short of the contract, computed once per contract.

Outputs: ``accounts`` (``account_id``, ``initial_margin``, ``maintenance_margin``,
``gross_margin``) and ``by_underlying`` (``account_id``, ``underlying``, ``requirement``).
Unlike the native result, it does not report the tail scenarios (only the margins), so the
comparison favours this implementation. Sums run in a different order than native's, so
margins agree to rounding. Inputs are assumed valid (vanilla options, futures, spot and
perpetuals; every held underlying has scenarios).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.special import ndtr

from numpy_grid import Stages, column, contracts, encode, floats
from pmargin.market import Market
from pmargin.models import VOL_FLOOR

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Scenarios per block of the risk array (a block of 10,000 contracts is 10 MB, L3-resident;
#: 128 was the fastest width for scipy's CSR x dense product on the benchmark machine).
BLOCK = 128
#: Contracts priced at once within a block (temporaries of PRICE_ROWS x BLOCK stay in L2).
PRICE_ROWS = 256
#: Accounts whose full P&L vectors are held at once (8,192 x 10,000 scenarios = 655 MB).
CHUNK_ACCOUNTS = 8192


@dataclass
class NumpyResult:
    accounts: pa.Table
    by_underlying: pa.Table


def tail_count(n: int, confidence: float) -> int:
    """k of docs/methods.md (the nearest integer when within 1e-9, else the ceiling)."""
    x = n * (1.0 - confidence)
    if x < 1.0 - 1e-9:
        raise ValueError(f"{n} scenarios are too few for confidence {confidence}")
    r = math.floor(x + 0.5)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, x) else math.ceil(x)


def scenario_matrices(scenarios: pa.Table, market: Market) -> tuple[F64, F64]:
    """``(price factor, vol change)``, each ``(underlyings-table rows, scenarios)``, from the
    scenario table (scenario-major, names in correlation order); NaN for unmoved underlyings."""
    names = column(scenarios, "underlying")
    n_s = int(pc.max(column(scenarios, "scenario")).as_py()) + 1
    n_names = len(names) // n_s
    ret = floats(column(scenarios, "return")).reshape(n_s, n_names).T
    dv = floats(column(scenarios, "vol_change")).reshape(n_s, n_names).T
    table_names = column(market.underlyings, "underlying").to_pylist()
    index = {n: i for i, n in enumerate(table_names)}
    factor = np.full((len(table_names), n_s), np.nan)
    change = np.full((len(table_names), n_s), np.nan)
    for j, name in enumerate(names.slice(0, n_names).to_pylist()):
        if name in index:
            factor[index[name]] = 1.0 + ret[j]
            change[index[name]] = dv[j]
    return factor, change


# --- pricing --------------------------------------------------------------------------------


def _options(c: Any, rows: I64, factor: F64, change: F64, is_call: bool) -> F64:
    """Value per unit of the options ``rows`` (all calls or all puts, T > 0) under the scenario
    columns of ``factor`` / ``change``: native operation order (pricing/black76.rs)."""
    u = c.underlying[rows]
    growth = np.exp(c.rate[rows] * c.t[rows])[:, None]
    f = c.spot[rows, None] * factor[u]
    f *= growth
    vol = c.vol[rows, None] * (1.0 + change[u])
    np.maximum(vol, VOL_FLOOR, out=vol)
    sd = vol
    sd *= np.sqrt(c.t[rows])[:, None]
    k = c.strike[rows, None]
    d1 = np.log(f / k)
    d1 += 0.5 * sd * sd
    d1 /= sd
    d2 = d1 - sd
    if is_call:
        price = f * ndtr(d1)
        price -= k * ndtr(d2)
    else:
        np.negative(d1, out=d1)
        np.negative(d2, out=d2)
        price = k * ndtr(d2)
        price -= f * ndtr(d1)
    price *= np.exp(-c.rate[rows] * c.t[rows])[:, None]
    price *= c.multiplier[rows, None]
    return price


def _linear(c: Any, rows: I64, factor: F64) -> F64:
    spot = c.spot[rows, None] * factor[c.underlying[rows]]
    growth = np.where(c.is_future[rows], np.exp(c.rate[rows] * c.t[rows]), 1.0)[:, None]
    value: F64 = c.multiplier[rows, None] * np.where(c.is_future[rows, None], spot * growth, spot)
    return value


def _expired(c: Any, rows: I64, factor: F64) -> F64:
    f = c.spot[rows, None] * factor[c.underlying[rows]]
    k = c.strike[rows, None]
    payoff = np.where(c.is_call[rows, None], np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    value: F64 = c.multiplier[rows, None] * payoff
    return value


@dataclass
class Pricer:
    c: Any
    groups: list[tuple[str, I64]]  # ("call" | "put" | "linear" | "expired", rows)
    base: F64

    @classmethod
    def of(cls, c: Any) -> Pricer:
        opt, live = c.is_option, c.t > 0.0
        groups = [
            ("call", np.flatnonzero(opt & live & c.is_call)),
            ("put", np.flatnonzero(opt & live & ~c.is_call)),
            ("linear", np.flatnonzero(~opt)),
            ("expired", np.flatnonzero(opt & ~live)),
        ]
        pricer = cls(c, [(g, r) for g, r in groups if r.size], np.zeros(len(c.underlying)))
        one = np.ones((len(c.underlying_names), 1))
        pricer.base = pricer.values(one, np.zeros_like(one))[:, 0]
        return pricer

    def values(self, factor: F64, change: F64) -> F64:
        """``(contracts, scenario columns)`` values per unit."""
        out = np.empty((len(self.c.underlying), factor.shape[1]))
        for group, rows in self.groups:
            for r0 in range(0, rows.size, PRICE_ROWS):
                sub = rows[r0 : r0 + PRICE_ROWS]
                if group in ("call", "put"):
                    out[sub] = _options(self.c, sub, factor, change, group == "call")
                elif group == "linear":
                    out[sub] = _linear(self.c, sub, factor)
                else:
                    out[sub] = _expired(self.c, sub, factor)
        return out

    def risk_block(self, factor: F64, change: F64) -> F64:
        out = self.values(factor, change)
        out -= self.base[:, None]
        return out


# --- tails ----------------------------------------------------------------------------------


def low_tail_sum(pnl: F64, k: int) -> F64:
    """Per row, the sum of the k smallest entries (partitions ``pnl`` in place)."""
    pnl.partition(k - 1, axis=1)
    out: F64 = pnl[:, :k].sum(axis=1)
    return out


def measure_values(pnl: F64, k: int, measure: str) -> F64:
    """ES or VaR of the losses ``-pnl`` of every row (``pnl`` is partitioned in place)."""
    if measure == "var":
        pnl.partition(k - 1, axis=1)
        out: F64 = -pnl[:, k - 1]
        return out
    return -low_tail_sum(pnl, k) / k


def unit_values(blocks: list[F64], k: int, measure: str) -> tuple[F64, F64]:
    """Measure of one unit long (losses ``-ra``) and one unit short (losses ``ra``) per contract."""
    n_c = blocks[0].shape[0]
    n_s = sum(b.shape[1] for b in blocks)
    long, short = np.empty(n_c), np.empty(n_c)
    kth = sorted({k - 1, n_s - k})
    for r0 in range(0, n_c, 512):
        rows = np.concatenate([b[r0 : r0 + 512] for b in blocks], axis=1)
        rows.partition(kth, axis=1)
        if measure == "var":
            long[r0 : r0 + 512] = -rows[:, k - 1]
            short[r0 : r0 + 512] = rows[:, n_s - k]
        else:
            long[r0 : r0 + 512] = -rows[:, :k].sum(axis=1) / k
            short[r0 : r0 + 512] = rows[:, n_s - k :].sum(axis=1) / k
    return long, short


# --- the implementation ---------------------------------------------------------------------


def margin_numpy(
    positions: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: Any,
    scenarios: pa.Table,
    stages: dict[str, float] | None = None,
    chunk_accounts: int = CHUNK_ACCOUNTS,
) -> NumpyResult:
    """Monte Carlo (or any VaR / ES window given as a scenario table) margins of every account."""
    st = Stages(stages)
    account, account_ids = encode(column(positions, "account_id"))
    contract, held_ids = encode(column(positions, "instrument_id"))
    quantity = floats(column(positions, "quantity"))
    n_a, n_c = len(account_ids), len(held_ids)
    c = contracts(held_ids, instruments, market)
    factor, change = scenario_matrices(scenarios, market)
    if np.isnan(factor[np.unique(c.underlying)]).any():
        raise ValueError("a held underlying has no scenarios")
    n_s = factor.shape[1]
    k = tail_count(n_s, model.confidence)
    st.mark("decode inputs")

    # 1. risk arrays, block-major
    pricer = Pricer.of(c)
    blocks = [pricer.risk_block(factor[:, s : s + BLOCK], change[:, s : s + BLOCK]) for s in range(0, n_s, BLOCK)]
    if not all(np.isfinite(b).all() for b in blocks):
        raise ValueError("a risk array is not finite")
    st.mark("risk arrays (pricing)")
    long, short = unit_values(blocks, k, model.measure)
    st.mark("unit measures")

    # 2. netting and grouping: CSR accounts x contracts sums duplicates, i.e. nets
    m = sparse.csr_matrix((quantity, (account, contract)), shape=(n_a, n_c))
    m.sum_duplicates()
    m.eliminate_zeros()  # a position netting to zero is not held (docs/methods.md)
    pos_account = np.repeat(np.arange(n_a), np.diff(m.indptr))
    pos_contract, pos_q = m.indices.astype(np.int64), m.data
    n_u = int(factor.shape[0])
    key = pos_account * n_u + c.underlying[pos_contract]
    group_key, pos_group, group_size = np.unique(key, return_inverse=True, return_counts=True)
    pos_group = pos_group.ravel()
    group_account = group_key // n_u
    groups_of_account = np.bincount(group_account, minlength=n_a)
    streamed = (group_size >= 2) & (groups_of_account[group_account] >= 2)
    stream_row = np.cumsum(streamed) - 1  # row of a streamed group in Mg
    n_g = int(streamed.sum())
    stream_account = group_account[streamed]
    in_stream = streamed[pos_group]
    mg = sparse.csr_matrix(
        (pos_q[in_stream], (stream_row[pos_group[in_stream]], pos_contract[in_stream])), shape=(n_g, n_c)
    )
    mp = sparse.csr_matrix((pos_q[~in_stream], (pos_account[~in_stream], pos_contract[~in_stream])), shape=(n_a, n_c))
    st.mark("netting and grouping")

    # 3. P&L vectors per chunk of accounts and their measures
    total_value = np.empty(n_a)
    group_value = np.empty(n_g)
    # one buffer per kind, reused by every chunk (no fresh pages to fault in per chunk)
    most_groups = max(
        (
            int(np.searchsorted(stream_account, a0 + chunk_accounts) - np.searchsorted(stream_account, a0))
            for a0 in range(0, n_a, chunk_accounts)
        ),
        default=0,
    )
    total_buffer = np.empty((min(chunk_accounts, n_a), n_s))
    group_buffer = np.empty((most_groups, n_s))
    for a0 in range(0, n_a, chunk_accounts):
        a1 = min(a0 + chunk_accounts, n_a)
        g0, g1 = np.searchsorted(stream_account, [a0, a1])
        mg_c, mp_c = mg[g0:g1], mp[a0:a1]
        mt_c = sparse.csr_matrix(
            (np.ones(g1 - g0), (stream_account[g0:g1] - a0, np.arange(g1 - g0))), shape=(a1 - a0, g1 - g0)
        )
        totals = total_buffer[: a1 - a0]
        per_group = group_buffer[: g1 - g0]
        for b, block in enumerate(blocks):
            cols = slice(b * BLOCK, b * BLOCK + block.shape[1])
            t_b = mp_c @ block
            if g1 > g0:
                g_b = mg_c @ block
                t_b += mt_c @ g_b
                per_group[:, cols] = g_b
            totals[:, cols] = t_b
        st.mark("P&L (sparse x dense, blocked)")
        total_value[a0:a1] = measure_values(totals, k, model.measure)
        if g1 > g0:
            group_value[g0:g1] = measure_values(per_group, k, model.measure)
        del totals, per_group
        st.mark("ES per account (partition)")

    # 4. reductions
    initial = np.maximum(total_value, 0.0)
    unit = np.where(pos_q < 0.0, short[pos_contract], long[pos_contract])
    alone = np.maximum(np.abs(pos_q) * unit, 0.0)
    gross = np.bincount(pos_account, weights=alone, minlength=n_a)
    requirement = np.zeros(group_key.size)
    single = groups_of_account[group_account] == 1
    requirement[single] = initial[group_account[single]]
    requirement[streamed] = np.maximum(group_value, 0.0)
    alone_groups = ~single & ~streamed  # one position: its stand-alone margin
    first_pos = np.zeros(group_key.size, np.int64)
    first_pos[pos_group] = np.arange(pos_group.size)  # any position of the group: it has one
    requirement[alone_groups] = alone[first_pos[alone_groups]]
    accounts = pa.table(
        {
            "account_id": account_ids,
            "initial_margin": initial,
            "maintenance_margin": model.mm_ratio * initial,
            "gross_margin": gross,
        }
    )
    by_underlying = pa.table(
        {
            "account_id": account_ids.take(pa.array(group_account)),
            "underlying": c.underlying_names.take(pa.array(group_key % n_u)),
            "requirement": requirement,
        }
    )
    st.mark("result tables")
    return NumpyResult(accounts, by_underlying)
