"""The grid model written with NumPy / SciPy, for the benchmark: Arrow tables in, result tables out.

Two implementations share the input decoding, the pricing and the final reductions; they differ
in how positions become per-(account, underlying) P&L vectors:

- :func:`margin_numpy` ("plain vectorised"): net per (account, contract) with ``np.unique`` and
  ``np.bincount``, gather a dense ``positions x scenarios`` block of ``quantity * risk array``
  (in chunks of rows, to bound memory) and add the rows of each (account, underlying) with
  ``np.add.reduceat``.
- :func:`margin_sparse`: a ``scipy.sparse`` CSR matrix (rows = (account, underlying) pairs,
  columns = held contracts, values = quantities; duplicates are summed, which nets them) times
  the dense ``contracts x scenarios`` risk array.

Both price each held contract once per scenario (Black-76 with ``scipy.special.ndtr``), in the
same formula order as the native core, and return the same margins as :func:`pmargin.margin` to
rounding (sums run in a different order). Differences from the native result tables, which the
benchmark does not depend on: ``by_underlying`` lists an account's underlyings in underlying-table
order (not first-seen), and account ids come back as a plain array of the input's type.
The inputs are assumed valid (no checks beyond unknown instruments and missing market data).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.special import ndtr

from pmargin.market import Market
from pmargin.models import VOL_FLOOR, GridModel, scenario_label

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Nanoseconds in a 365-day year (T = (expiry - as_of) / YEAR_NS), as in the native core.
YEAR_NS = 31_536_000e9
#: Rows of the dense positions x scenarios block gathered at once by :func:`margin_numpy`.
CHUNK_ROWS = 1 << 13


@dataclass
class NumpyResult:
    """``accounts`` and ``by_underlying`` tables (the native column names and meanings)."""

    accounts: pa.Table
    by_underlying: pa.Table


class Stages:
    """Optional wall-clock time per stage (seconds), filled when a dict is passed in."""

    def __init__(self, out: dict[str, float] | None) -> None:
        self.out = out
        self.last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        if self.out is not None:
            self.out[name] = self.out.get(name, 0.0) + now - self.last
        self.last = now


# --- inputs ---------------------------------------------------------------------------------


def column(table: pa.Table, name: str) -> pa.Array:
    """One column as a single Array (no copy when it has one chunk)."""
    col = table.column(name)
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def encode(array: pa.Array) -> tuple[npt.NDArray[np.int32], pa.Array]:
    """Codes in first-seen order (``pyarrow.compute.dictionary_encode``) and the distinct values."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    encoded = pc.dictionary_encode(array)
    return encoded.indices.to_numpy(), encoded.dictionary


def floats(array: pa.Array) -> F64:
    return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)


@dataclass
class Contracts:
    """Pricing inputs of the held contracts (one row per distinct held instrument id)."""

    underlying: I64  # row in the underlyings table
    underlying_names: pa.Array
    is_future: BoolArray
    is_option: BoolArray
    is_call: BoolArray
    strike: F64
    t: F64  # years to expiry (0 for spot and perpetuals)
    multiplier: F64
    spot: F64
    rate: F64
    vol: F64  # NaN for non-options


def contracts(held_ids: pa.Array, instruments: pa.Table, market: Market) -> Contracts:
    """Join the held instrument ids with the instruments table and the market."""
    rows = pc.index_in(held_ids, value_set=column(instruments, "instrument_id"))
    if rows.null_count:
        missing = held_ids.filter(rows.is_null())[0].as_py()
        raise ValueError(f"unknown instrument {missing!r}")
    inst = instruments.take(rows)
    names = column(market.underlyings, "underlying")
    u_rows = pc.index_in(column(inst, "underlying"), value_set=names)
    if u_rows.null_count:
        raise ValueError("an instrument's underlying has no market row")
    u = u_rows.to_numpy(zero_copy_only=False).astype(np.int64)
    spots = floats(column(market.underlyings, "spot"))
    n_u = len(names)
    has_rate = "rate" in market.underlyings.column_names
    rates = floats(column(market.underlyings, "rate")) if has_rate else np.zeros(n_u)
    kind = column(inst, "kind")
    is_option = pc.equal(kind, "option").to_numpy(zero_copy_only=False)
    is_future = pc.equal(kind, "future").to_numpy(zero_copy_only=False)
    n = len(held_ids)
    if is_option.any():
        is_call = pc.fill_null(pc.equal(column(inst, "option_type"), "call"), False).to_numpy(zero_copy_only=False)
        strike = floats(pc.fill_null(column(inst, "strike"), 1.0))
    else:
        is_call, strike = np.zeros(n, bool), np.ones(n)
    t = np.zeros(n)
    if "expiry" in inst.column_names:
        expiry = column(inst, "expiry")
        if pa.types.is_timestamp(expiry.type):
            expiry = expiry.cast(pa.timestamp("ns", expiry.type.tz))
        dated = (is_option | is_future) & expiry.is_valid().to_numpy(zero_copy_only=False)
        ns = expiry.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        t = np.where(dated, (ns - market.as_of_ns) / YEAR_NS, 0.0)
        if (t < 0).any():
            raise ValueError("a held contract has expired")
    multiplier = floats(column(inst, "multiplier")) if "multiplier" in inst.column_names else np.ones(n)
    vol_rows = pc.index_in(held_ids, value_set=column(market.vols, "instrument_id"))
    vols = floats(column(market.vols, "implied_vol"))
    vol = vols.take(vol_rows.fill_null(0).to_numpy(zero_copy_only=False)) if len(vols) else np.zeros(n)
    has_vol = vol_rows.is_valid().to_numpy(zero_copy_only=False)
    if (is_option & ~has_vol).any():
        raise ValueError("a held option has no implied vol")
    return Contracts(
        underlying=u,
        underlying_names=names,
        is_future=is_future,
        is_option=is_option,
        is_call=is_call,
        strike=strike,
        t=t,
        multiplier=multiplier,
        spot=spots[u],
        rate=rates[u],
        vol=np.where(is_option, vol, np.nan),
    )


# --- pricing --------------------------------------------------------------------------------


def values(c: Contracts, spot: F64, vol: F64) -> F64:
    """Value per unit (multiplier included) of every contract at ``spot`` and ``vol``: arrays of
    shape (contracts, k); same operation order as the native ``Contract::value``."""
    fwd = spot * np.exp(c.rate * c.t)[:, None]
    value = np.where(c.is_future[:, None], fwd, spot)
    opt = np.flatnonzero(c.is_option)
    if opt.size:
        f = fwd[opt]
        k = c.strike[opt, None]
        t = c.t[opt, None]
        call = c.is_call[opt, None]
        live = t > 0.0
        sd = vol[opt] * np.sqrt(np.where(live, t, 1.0))
        d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
        d2 = d1 - sd
        discount = np.exp(-c.rate[opt] * c.t[opt])[:, None]
        price = np.where(call, discount * (f * ndtr(d1) - k * ndtr(d2)), discount * (k * ndtr(-d2) - f * ndtr(-d1)))
        intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
        value[opt] = np.where(live, price, intrinsic)
    out: F64 = c.multiplier[:, None] * value
    return out


def scenario_grid(model: GridModel) -> tuple[F64, F64]:
    """Price and vol shock of every scenario, in grid order (price major)."""
    prices, vols = np.asarray(model.price_shocks), np.asarray(model.vol_shocks)
    return np.repeat(prices, vols.size), np.tile(vols, prices.size)


def risk_arrays(c: Contracts, model: GridModel) -> F64:
    """``(contracts, scenarios)``: shocked value minus base value of one unit."""
    p, v = scenario_grid(model)
    base = values(c, c.spot[:, None], c.vol[:, None])
    spot = c.spot[:, None] * (1.0 + p)[None, :]
    vol = c.vol[:, None] * (1.0 + v)[None, :] if model.vol_shock == "relative" else c.vol[:, None] + v[None, :]
    shocked = values(c, spot, np.maximum(vol, VOL_FLOOR))
    out: F64 = np.ascontiguousarray(shocked - base)
    return out


# --- shared steps ---------------------------------------------------------------------------


@dataclass
class Decoded:
    account: npt.NDArray[np.int32]  # account code per row, first-seen order
    account_ids: pa.Array  # distinct account ids, first-seen order
    contract: npt.NDArray[np.int32]  # held-contract code per row
    quantity: F64
    contracts: Contracts
    risk: F64


def decode(positions: pa.Table, instruments: pa.Table, market: Market, model: GridModel, stages: Stages) -> Decoded:
    account, account_ids = encode(column(positions, "account_id"))
    contract, held_ids = encode(column(positions, "instrument_id"))
    quantity = floats(column(positions, "quantity"))
    stages.mark("decode Arrow")
    c = contracts(held_ids, instruments, market)
    risk = risk_arrays(c, model)
    stages.mark("risk arrays")
    return Decoded(account, account_ids, contract, quantity, c, risk)


def finish(
    d: Decoded,
    model: GridModel,
    pnl: F64,
    group_account: I64,
    group_underlying: I64,
    position_account: I64,
    position_contract: npt.NDArray[Any],
    net_quantity: F64,
    stages: Stages,
) -> NumpyResult:
    """Reductions from the per-(account, underlying) P&L (groups sorted by account) to the tables."""
    n_accounts = len(d.account_ids)
    n_groups, n_s = pnl.shape
    worst = pnl.argmin(axis=1)
    lowest = pnl[np.arange(n_groups), worst]
    requirement = np.maximum(-lowest, 0.0)
    loses = requirement > 0.0

    # gross: each netted position alone; the extreme of q * ra is q times an extreme of ra
    r_min, r_max = d.risk.min(axis=1), d.risk.max(axis=1)
    q = net_quantity
    alone = np.maximum(-np.where(q > 0.0, q * r_min[position_contract], q * r_max[position_contract]), 0.0)
    gross = np.bincount(position_account, weights=alone, minlength=n_accounts)

    account_starts = np.flatnonzero(np.r_[True, group_account[1:] != group_account[:-1]])
    # accounts holding something (one whose positions all net to zero has no group)
    present = group_account[account_starts]
    if model.cross == "sum":
        initial = np.bincount(group_account, weights=requirement, minlength=n_accounts)
        # driver: the underlying with the largest requirement (first on ties), when one loses
        largest = np.zeros(n_accounts)
        largest[present] = np.maximum.reduceat(requirement, account_starts)
        candidates = np.flatnonzero(loses & (requirement == largest[group_account]))
        ca = group_account[candidates]
        driver = candidates[np.r_[True, ca[1:] != ca[:-1]]]
        acct_has = np.zeros(n_accounts, bool)
        acct_has[group_account[driver]] = True
        acct_worst = np.zeros(n_accounts, np.int64)
        acct_worst[group_account[driver]] = worst[driver]
        acct_block = np.zeros(n_accounts, np.int64)
        acct_block[group_account[driver]] = group_underlying[driver]
    else:
        total = np.add.reduceat(pnl, account_starts, axis=0)
        acct_worst = np.zeros(n_accounts, np.int64)
        acct_worst[present] = total.argmin(axis=1)
        initial = np.zeros(n_accounts)
        initial[present] = np.maximum(-total[np.arange(present.size), acct_worst[present]], 0.0)
        acct_has = initial > 0.0
        acct_block = np.full(n_accounts, len(d.contracts.underlying_names), np.int64)
    stages.mark("reductions")

    p, v = scenario_grid(model)
    names = [*d.contracts.underlying_names.to_pylist(), None]
    labels = pa.array([scenario_label(n, ps, vs, model.vol_shock) for n in names for ps, vs in zip(p, v, strict=True)])

    def worst_columns(block: I64, scenario: I64, has: BoolArray) -> tuple[pa.Array, pa.Array, pa.Array]:
        label = labels.take(pa.array(block * n_s + scenario, mask=~has))
        return label, pa.array(p[scenario], mask=~has), pa.array(v[scenario], mask=~has)

    a_label, a_p, a_v = worst_columns(acct_block, acct_worst, acct_has)
    accounts = pa.table(
        {
            "account_id": d.account_ids,
            "initial_margin": initial,
            "maintenance_margin": model.mm_ratio * initial,
            "gross_margin": gross,
            "worst_scenario": a_label,
            "worst_price_shock": a_p,
            "worst_vol_shock": a_v,
        }
    )
    u_label, u_p, u_v = worst_columns(group_underlying, worst, loses)
    by_underlying = pa.table(
        {
            "account_id": d.account_ids.take(group_account),
            "underlying": d.contracts.underlying_names.take(group_underlying),
            "requirement": requirement,
            "worst_price_shock": u_p,
            "worst_vol_shock": u_v,
            "worst_scenario": u_label,
        }
    )
    stages.mark("result tables")
    return NumpyResult(accounts, by_underlying)


# --- the two implementations ----------------------------------------------------------------


def margin_numpy(
    positions: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: GridModel | None = None,
    stages: dict[str, float] | None = None,
) -> NumpyResult:
    """Plain vectorised NumPy: np.unique netting, dense gather, np.add.reduceat segment sums."""
    model = model if model is not None else GridModel()
    st = Stages(stages)
    d = decode(positions, instruments, market, model, st)
    c = d.contracts
    n_held, n_u = len(c.underlying), len(c.underlying_names)

    # rank contracts by underlying, so sorting by (account, rank) sorts by (account, underlying)
    by_underlying = np.argsort(c.underlying, kind="stable")
    rank = np.empty(n_held, np.int64)
    rank[by_underlying] = np.arange(n_held)
    key = d.account.astype(np.int64) * n_held + rank[d.contract]
    netted, inverse = np.unique(key, return_inverse=True)
    net_quantity = np.bincount(inverse.ravel(), weights=d.quantity, minlength=netted.size)
    held = net_quantity != 0.0  # a position netting to zero is not held (docs/methods.md)
    netted, net_quantity = netted[held], net_quantity[held]
    position_account = netted // n_held
    position_contract = by_underlying[netted % n_held]
    pair = position_account * n_u + c.underlying[position_contract]
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    st.mark("netting and grouping")

    # per (account, underlying): sum of quantity x risk array, gathered densely in chunks of rows
    n_pos, n_groups = net_quantity.size, starts.size
    bounds = np.r_[starts, n_pos]
    pnl = np.empty((n_groups, d.risk.shape[1]))
    g0 = 0
    while g0 < n_groups:
        g1 = max(g0 + 1, int(np.searchsorted(bounds, bounds[g0] + CHUNK_ROWS, side="right")) - 1)
        g1 = min(g1, n_groups)
        r0, r1 = bounds[g0], bounds[g1]
        block = d.risk[position_contract[r0:r1]]
        block *= net_quantity[r0:r1, None]
        np.add.reduceat(block, starts[g0:g1] - r0, axis=0, out=pnl[g0:g1])
        g0 = g1
    st.mark("P&L per (account, underlying)")
    group_account = position_account[starts]
    group_underlying = c.underlying[position_contract[starts]]
    return finish(d, model, pnl, group_account, group_underlying, position_account, position_contract, net_quantity, st)


def margin_sparse(
    positions: pa.Table,
    instruments: pa.Table,
    market: Market,
    model: GridModel | None = None,
    stages: dict[str, float] | None = None,
) -> NumpyResult:
    """NumPy + scipy.sparse: CSR (pairs x contracts, net quantities) @ risk arrays."""
    model = model if model is not None else GridModel()
    st = Stages(stages)
    d = decode(positions, instruments, market, model, st)
    c = d.contracts
    n_held, n_u, n_accounts = len(c.underlying), len(c.underlying_names), len(d.account_ids)

    # rows: every possible (account, underlying) pair; duplicates (account, contract) are summed
    pair = d.account.astype(np.int64) * n_u + c.underlying[d.contract]
    m = sparse.csr_matrix((d.quantity, (pair, d.contract)), shape=(n_accounts * n_u, n_held))
    m.eliminate_zeros()  # a position netting to zero is not held (docs/methods.md)
    counts = np.diff(m.indptr)
    rows = np.flatnonzero(counts)  # pairs held
    indptr = np.r_[m.indptr[rows], m.indptr[-1]]
    m = sparse.csr_matrix((m.data, m.indices, indptr), shape=(rows.size, n_held))
    group_account, group_underlying = np.divmod(rows, n_u)
    position_account = np.repeat(group_account, counts[rows])
    st.mark("netting and grouping")

    pnl = np.asarray(m @ d.risk)
    st.mark("P&L per (account, underlying)")
    return finish(d, model, pnl, group_account, group_underlying, position_account, m.indices, m.data, st)


IMPLEMENTATIONS: dict[str, Callable[..., NumpyResult]] = {"numpy": margin_numpy, "scipy.sparse": margin_sparse}
