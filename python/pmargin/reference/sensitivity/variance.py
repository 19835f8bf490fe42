"""Portfolio volatility per account from cash deltas (and dollar gammas) under a covariance of
underlying returns over the horizon.

- ``x_u`` = sum of the account's cash deltas on underlying u, ``G_u`` its dollar gammas (both
  netted with ``math.fsum``); ``y = C x``; delta-gamma: ``z_u = sum_v 1/2 C_uv^2 G_v``.
- ``var = sum_u x_u y_u + G_u z_u`` (``z = 0`` delta-normal); ``vol = sqrt(max(var, 0))``.
- Per position on u: component ``(d_p y_u + g_p z_u) / vol``, marginal ``y_u / vol``, share
  ``component / vol`` (all 0 when vol is 0), stand-alone ``sqrt(d_p^2 C_uu + 1/2 g_p^2 C_uu^2)``.
- Per account: undiversified = fsum of stand-alone vols; diversification ratio = undiversified
  / vol (null when vol is 0).

Mirrors: rust/pmargin-core/src/sensitivity/variance.rs
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa


def portfolio_variance(
    account_index: Sequence[int],
    underlying_index: Sequence[int],
    cash_delta: Sequence[float],
    dollar_gamma: Sequence[float],
    spec: Mapping[str, Any],
) -> tuple[pa.Table, pa.Table]:
    """(positions, accounts) tables as the core builds them."""
    n = int(spec["n_underlyings"])
    cov = [float(v) for v in spec["covariance"]]
    dg = bool(spec.get("delta_gamma", False))
    gamma = [float(g) if dg else 0.0 for g in dollar_gamma]
    n_rows = len(cash_delta)
    by_account: list[list[int]] = [[] for _ in range(int(spec["n_accounts"]))]
    for r, a in enumerate(account_index):
        by_account[a].append(r)
    comp = [0.0] * n_rows
    marg = [0.0] * n_rows
    share = [0.0] * n_rows
    alone = [0.0] * n_rows
    vols: list[float] = []
    variances: list[float] = []
    undiv: list[float] = []
    ratio: list[float | None] = []
    for rows in by_account:
        names = sorted({underlying_index[r] for r in rows})
        slot = {u: i for i, u in enumerate(names)}
        m = len(names)
        xs: list[list[float]] = [[] for _ in range(m)]
        gs: list[list[float]] = [[] for _ in range(m)]
        for r in rows:
            xs[slot[underlying_index[r]]].append(float(cash_delta[r]))
            gs[slot[underlying_index[r]]].append(gamma[r])
        x = [math.fsum(v) for v in xs]
        g = [math.fsum(v) for v in gs]
        y = [0.0] * m
        z = [0.0] * m
        var = 0.0
        for i in range(m):
            for j in range(m):
                cij = cov[names[i] * n + names[j]]
                y[i] += cij * x[j]
                if dg:
                    z[i] += 0.5 * cij * cij * g[j]
            var += x[i] * y[i] + g[i] * z[i]
        vol = math.sqrt(max(var, 0.0))
        stand = []
        for r in rows:
            i = slot[underlying_index[r]]
            cuu = cov[names[i] * n + names[i]]
            d = float(cash_delta[r])
            s = math.sqrt(max(d * d * cuu + 0.5 * gamma[r] * gamma[r] * cuu * cuu * (1.0 if dg else 0.0), 0.0))
            stand.append(s)
            alone[r] = s
            if vol > 0.0:
                comp[r] = (d * y[i] + gamma[r] * z[i]) / vol
                marg[r] = y[i] / vol
                share[r] = comp[r] / vol
        u = math.fsum(stand)
        vols.append(vol)
        variances.append(max(var, 0.0))
        undiv.append(u)
        ratio.append(u / vol if vol > 0.0 else None)
    f64 = pa.float64()
    positions = pa.table(
        {
            "component": pa.array(comp, f64),
            "marginal": pa.array(marg, f64),
            "share": pa.array(share, f64),
            "standalone": pa.array(alone, f64),
        }
    )
    accounts = pa.table(
        {
            "volatility": pa.array(vols, f64),
            "variance": pa.array(variances, f64),
            "undiversified": pa.array(undiv, f64),
            "diversification_ratio": pa.array(ratio, f64),
        }
    )
    return positions, accounts
