"""The Monte Carlo throughput case of issue 4, built deterministically from a seed.

- ``n_underlyings`` (default 20) underlyings with spots from 1 to 60,000, rates 0-5%, annual
  vols 40-110%, and a one-factor correlation matrix (rho_ij = b_i b_j, b_i in [0.4, 0.9]: PSD
  with a unit diagonal);
- ``n_contracts`` unique contracts spread evenly over the underlyings: per underlying, one future
  per expiry (8 expiries, 7 to 365 days) and calls and puts on a strike ladder per expiry
  (+/- 2.5 standard deviations around the forward), with a put-skewed smile of implied vols;
- ``n_accounts`` accounts of ``positions_per_account`` positions: each account trades 1, 2 or 3
  underlyings (probabilities 0.5, 0.3, 0.2) and holds random contracts on them, long or short
  1 to 20 units. Positions are grouped by account; every contract is held by some account
  (the first positions walk through all of them).
- The model: :class:`pmargin.models.MonteCarloModel`, ES at 97.5% over a 2-day horizon, with
  implied-vol shocks (vol of vol 0.2, spot-vol correlation -0.5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pmargin.correlation import Correlation
from pmargin.market import Market
from pmargin.models import MonteCarloModel

AS_OF = dt.datetime(2026, 6, 30, 8, 0, tzinfo=dt.UTC)
EXPIRY_DAYS = (7, 14, 30, 60, 91, 182, 273, 365)
HORIZON_DAYS = 2.0
MC_SEED = 20_260_630


@dataclass(frozen=True, eq=False)
class Case:
    positions: pa.Table
    instruments: pa.Table
    market: Market
    n_underlyings: int

    def model(self, n_scenarios: int, measure: str = "es", confidence: float = 0.975) -> MonteCarloModel:
        """The case's Monte Carlo model with ``n_scenarios`` scenarios (the first scenarios of a
        larger model are the same draws: they depend only on seed, scenario and name)."""
        return _model(self.market, self.n_underlyings, n_scenarios, measure, confidence)


def _names(n: int) -> list[str]:
    return [f"U{i:02d}" for i in range(n)]


def _market_params(n_underlyings: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    spots = np.round(np.exp(rng.uniform(0.0, np.log(60_000.0), n_underlyings)), 2) + 1.0
    rates = np.round(rng.uniform(0.0, 0.05, n_underlyings), 4)
    vols = np.round(rng.uniform(0.40, 1.10, n_underlyings), 3)
    betas = np.round(rng.uniform(0.4, 0.9, n_underlyings), 3)
    return spots, rates, vols, betas


def _model(market: Market, n_underlyings: int, n_scenarios: int, measure: str, confidence: float) -> MonteCarloModel:
    names = _names(n_underlyings)
    _, _, vols, betas = _market_params(n_underlyings)
    matrix = np.outer(betas, betas)
    np.fill_diagonal(matrix, 1.0)
    return MonteCarloModel(
        vols=pa.table({"underlying": names, "vol": vols}),
        correlation=Correlation(names, matrix.tolist()),
        n_scenarios=n_scenarios,
        seed=MC_SEED,
        measure=measure,  # type: ignore[arg-type]
        confidence=confidence,
        horizon_days=HORIZON_DAYS,
        vol_of_vol=0.2,
        spot_vol_correlation=-0.5,
    )


def build(
    n_accounts: int = 100_000,
    n_contracts: int = 10_000,
    n_underlyings: int = 20,
    positions_per_account: int = 10,
    seed: int = 11,
) -> Case:
    names = _names(n_underlyings)
    spots, rates, vols, _ = _market_params(n_underlyings)
    n_exp = len(EXPIRY_DAYS)

    # --- instruments: contracts per underlying, futures first, then options by expiry ---------
    per_u = np.full(n_underlyings, n_contracts // n_underlyings)
    per_u[: n_contracts % n_underlyings] += 1
    if per_u.min() < 1:
        raise ValueError("need at least one contract per underlying")
    ids: list[str] = []
    und: list[str] = []
    kind: list[str] = []
    opt_type: list[str | None] = []
    strike: list[float | None] = []
    expiry: list[dt.datetime] = []
    iv_ids: list[str] = []
    iv: list[float] = []
    first_contract = np.zeros(n_underlyings + 1, np.int64)
    for u, name in enumerate(names):
        first_contract[u + 1] = first_contract[u] + per_u[u]
        n_fut = min(n_exp, int(per_u[u]))
        n_opt = int(per_u[u]) - n_fut
        for e in range(n_fut):
            ids.append(f"{name}-{EXPIRY_DAYS[e]}D")
            und.append(name)
            kind.append("future")
            opt_type.append(None)
            strike.append(None)
            expiry.append(AS_OF + dt.timedelta(days=EXPIRY_DAYS[e]))
        per_exp = -(-n_opt // n_exp)  # options per expiry (calls and puts), the last expiry may get fewer
        n_strikes = max(1, -(-per_exp // 2))
        made = 0
        for e, days in enumerate(EXPIRY_DAYS):
            t = days / 365.0
            fwd = spots[u] * np.exp(rates[u] * t)
            sd = vols[u] * np.sqrt(t)
            x = np.linspace(-2.5, 2.5, n_strikes) if n_strikes > 1 else np.zeros(1)
            for j, xj in enumerate(x):
                k = float(fwd * np.exp(xj * sd))
                k = float(np.format_float_positional(k, precision=5, unique=False, fractional=False))
                for cp in ("C", "P"):
                    if made == n_opt or (e + 1) * per_exp <= made:
                        break
                    iid = f"{name}-{days}D-K{j:03d}-{cp}"
                    ids.append(iid)
                    und.append(name)
                    kind.append("option")
                    opt_type.append("call" if cp == "C" else "put")
                    strike.append(k)
                    expiry.append(AS_OF + dt.timedelta(days=days))
                    iv_ids.append(iid)
                    iv.append(
                        round(
                            float(vols[u] * (1.0 + 0.1 / np.sqrt(4 * t + 0.25)) * (1 - 0.06 * xj + 0.03 * xj * xj)), 4
                        )
                    )
                    made += 1
        while made < n_opt:  # rounding left a few: extra far-dated calls
            iid = f"{name}-X{made}-C"
            k = float(spots[u] * (1.0 + 0.05 * (made % 7)))
            ids.append(iid)
            und.append(name)
            kind.append("option")
            opt_type.append("call")
            strike.append(k)
            expiry.append(AS_OF + dt.timedelta(days=400))
            iv_ids.append(iid)
            iv.append(float(vols[u]))
            made += 1
    instruments = pa.table(
        {
            "instrument_id": pa.array(ids, pa.string()),
            "underlying": pa.array(und, pa.string()),
            "kind": pa.array(kind, pa.string()),
            "option_type": pa.array(opt_type, pa.string()),
            "strike": pa.array(strike, pa.float64()),
            "expiry": pa.array(expiry, pa.timestamp("ns", tz="UTC")),
            "multiplier": pa.array(np.ones(len(ids)), pa.float64()),
        }
    )
    underlyings = pa.table({"underlying": names, "spot": spots, "rate": rates})
    vol_table = pa.table({"instrument_id": pa.array(iv_ids, pa.string()), "implied_vol": pa.array(iv, pa.float64())})
    market = Market(AS_OF, underlyings, vol_table)

    # --- positions ------------------------------------------------------------------------
    rng = np.random.default_rng(seed)
    m = positions_per_account
    n_held_u = rng.choice([1, 2, 3], size=n_accounts, p=[0.5, 0.3, 0.2])
    # up to three underlyings per account: a random first one and two random (non-zero) steps
    u0 = rng.integers(0, n_underlyings, n_accounts)
    step1 = rng.integers(1, max(2, n_underlyings), n_accounts)
    step2 = rng.integers(1, max(2, n_underlyings), n_accounts)
    held = np.stack([u0, u0 + step1, u0 + step1 + step2], axis=1) % n_underlyings
    pick = rng.integers(0, 1 << 30, (n_accounts, m)) % n_held_u[:, None]
    u = held[np.arange(n_accounts)[:, None], pick].ravel()
    offset = rng.integers(0, 1 << 30, n_accounts * m) % per_u[u]
    contract = first_contract[u] + offset
    n_all = min(n_contracts, contract.size)
    contract[:n_all] = np.arange(n_all)  # every contract held at least once
    size = rng.integers(1, 21, contract.size).astype(np.float64)
    sign = np.where(rng.random(contract.size) < 0.5, -1.0, 1.0)
    account = np.repeat(np.arange(n_accounts), m)
    account_ids = pa.array([f"acct-{i:06d}" for i in range(n_accounts)], pa.string()).take(pa.array(account))
    positions = pa.table(
        {
            "account_id": account_ids,
            "instrument_id": instruments.column("instrument_id").take(pa.array(contract)),
            "quantity": pa.array(size * sign, pa.float64()),
        }
    )
    return Case(positions, instruments, market, n_underlyings)
