"""Correlated Monte Carlo (docs/methods.md, "Correlated Monte Carlo"), written from the definitions.

Every draw is a pure function of (seed, scenario index i, name index j): a SplitMix64 stream per
(i, j) seeded with ``sm(sm(sm(seed) ^ i) ^ j)``, whose n-th output is
``sm(state0 + (n - 1) * GAMMA)``. From it:

- uniform ``u = ((z >> 11) + 0.5) / 2**53``; normal (Box-Muller, two uniforms in order)
  ``sqrt(-2.0 * log(u1)) * cos(2.0 * pi * u2)``;
- ``e_j`` the first normal of stream j, ``eta_j`` its second (only when vol_of_vol > 0);
- ``z_j = (0.0 + L[j][0] * e_0 + ... + L[j][j] * e_j) * scale`` with L the semi-definite Cholesky
  factor (:func:`cholesky_lower`) and ``scale = 1.0`` (normal) or ``sqrt((nu - 2.0) / W)``
  (Student t), ``W = 2.0 * G``, ``G`` a Marsaglia-Tsang Gamma(nu / 2) draw from stream j = d;
- price factor ``exp(sigma_j * z_j)``; relative vol change
  ``exp(w * x_j - 0.5 * w * w) - 1.0`` with ``x_j = rho * z_j + sqrt(1.0 - rho * rho) * eta_j``
  (0 when vol_of_vol = 0).

Mirrors: rust/pmargin-core/src/scenarios/montecarlo.rs
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from ...errors import MarginInputError
from . import Window

if TYPE_CHECKING:
    from ...models import MonteCarloModel

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
TWO_POW_53 = 9_007_199_254_740_992.0


def exp_or_inf(x: float) -> float:
    """``exp(x)``, infinite (as in IEEE arithmetic) where Python's ``math.exp`` would raise."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def splitmix(x: int) -> int:
    """One SplitMix64 output from state ``x`` (all arithmetic mod 2**64)."""
    x = (x + GAMMA) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Stream:
    """The draws of one (seed, scenario, name)."""

    def __init__(self, seed: int, scenario: int, name: int) -> None:
        self.state = splitmix(splitmix(splitmix(seed) ^ scenario) ^ name)

    def next_u64(self) -> int:
        out = splitmix(self.state)
        self.state = (self.state + GAMMA) & MASK
        return out

    def uniform(self) -> float:
        """In (0, 1): never 0, so its log is finite."""
        return ((self.next_u64() >> 11) + 0.5) / TWO_POW_53

    def normal(self) -> float:
        """Box-Muller: one normal from two uniforms."""
        u1 = self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def gamma(self, shape: float) -> float:
        """Gamma(shape, 1) by Marsaglia-Tsang (``shape > 1``); ``v = t * t * t``."""
        dd = shape - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * dd)
        while True:
            x = self.normal()
            t = 1.0 + c * x
            v = t * t * t
            if v <= 0.0:
                continue
            u = self.uniform()
            if math.log(u) < 0.5 * x * x + dd - dd * v + dd * math.log(v):
                return dd * v


def cholesky_lower(a: Sequence[Sequence[float]]) -> list[list[float]]:
    """Lower factor of a PSD matrix, semi-definite pivots giving zero columns:
    ``s = A[j][m] - (0.0 + sum_{q<m} L[j][q] * L[m][q])``, ``L[j][m] = s / L[m][m]`` when
    ``L[m][m] > 0`` else 0; ``d2 = A[j][j] - (0.0 + sum_{q<j} L[j][q] * L[j][q])``,
    ``L[j][j] = sqrt(d2)`` when ``d2 > 1e-12`` else 0."""
    d = len(a)
    lower = [[0.0] * d for _ in range(d)]
    for j in range(d):
        for m in range(j):
            acc = 0.0
            for q in range(m):
                acc += lower[j][q] * lower[m][q]
            s = a[j][m] - acc
            lower[j][m] = s / lower[m][m] if lower[m][m] > 0.0 else 0.0
        acc = 0.0
        for q in range(j):
            acc += lower[j][q] * lower[j][q]
        d2 = a[j][j] - acc
        lower[j][j] = math.sqrt(d2) if d2 > 1e-12 else 0.0
    return lower


def draw_scenario(model: MonteCarloModel, lower: list[list[float]], i: int) -> tuple[list[float], list[float]]:
    """``z`` and the relative vol changes of scenario ``i``, one per correlation name."""
    d = len(lower)
    e = [0.0] * d
    eta = [0.0] * d
    for j in range(d):
        stream = Stream(model.seed, i, j)
        e[j] = stream.normal()
        if model.vol_of_vol > 0.0:
            eta[j] = stream.normal()
    scale = 1.0
    if model.distribution == "student_t":
        assert model.dof is not None
        w = 2.0 * Stream(model.seed, i, d).gamma(model.dof / 2.0)
        scale = math.sqrt((model.dof - 2.0) / w)
    z = [0.0] * d
    for j in range(d):
        s = 0.0
        for m in range(j + 1):
            s += lower[j][m] * e[m]
        z[j] = s * scale
    dv = [0.0] * d
    if model.vol_of_vol > 0.0:
        rho = model.spot_vol_correlation
        w = model.vol_of_vol
        for j in range(d):
            x = rho * z[j] + math.sqrt(1.0 - rho * rho) * eta[j]
            dv[j] = exp_or_inf(w * x - 0.5 * w * w) - 1.0
    return z, dv


def draws(model: MonteCarloModel) -> tuple[list[list[float]], list[list[float]]]:
    """``z[i][j]`` and ``dv[i][j]`` of every scenario i and correlation name j."""
    lower = cholesky_lower(model.correlation.matrix)
    pairs = [draw_scenario(model, lower, i) for i in range(model.n_scenarios)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def monte_carlo_window(model: MonteCarloModel) -> Window:
    """The scenario window of every correlation name that has a vol; an underlying outside the
    matrix (table ``correlation``) or without a vol (``mc_vols.underlying``) has none."""
    z, dv = draws(model)
    price_factor: dict[str, list[float]] = {}
    vol_change: dict[str, list[float]] = {}
    problems: dict[str, MarginInputError] = {}
    for j, (name, sigma) in enumerate(zip(model.correlation.names, model.horizon_vols(), strict=True)):
        if sigma is None:
            problems[name] = MarginInputError(
                f"underlying {name!r} is held but has no row in the Monte Carlo vols table",
                table="mc_vols",
                column="underlying",
            )
            continue
        price_factor[name] = [exp_or_inf(sigma * zi[j]) for zi in z]
        vol_change[name] = [dvi[j] for dvi in dv]

    def absent(u: str) -> MarginInputError:
        return MarginInputError(f"underlying {u!r} is held but is not in the correlation matrix", table="correlation")

    labels = [f"MC #{i}" for i in range(model.n_scenarios)]
    return Window("normal", labels, price_factor, vol_change, "relative", problems, absent)


def scenario_table(model: MonteCarloModel) -> pa.Table:
    """``scenario`` (int32), ``underlying``, ``return`` = ``exp(sigma z) - 1.0``, ``vol_change``:
    scenario-major, names in correlation order, only names with a vol."""
    z, dv = draws(model)
    sigmas = model.horizon_vols()
    rows: list[tuple[int, str, float, float]] = []
    for i in range(model.n_scenarios):
        for j, (name, sigma) in enumerate(zip(model.correlation.names, sigmas, strict=True)):
            if sigma is not None:
                rows.append((i, name, exp_or_inf(sigma * z[i][j]) - 1.0, dv[i][j]))
    return pa.table(
        {
            "scenario": pa.array([r[0] for r in rows], pa.int32()),
            "underlying": pa.array([r[1] for r in rows], pa.string()),
            "return": pa.array([r[2] for r in rows], pa.float64()),
            "vol_change": pa.array([r[3] for r in rows], pa.float64()),
        }
    )
