"""Portfolio volatility and variance contributions from a book's Greeks.

``portfolio_risk(positions, instruments, market, covariance=...)``: per account the delta-normal
(or delta-gamma) volatility of P&L over a horizon, from each position's cash delta
(delta x spot) and dollar gamma (gamma x spot^2) under a :class:`Covariance` of underlying
returns; per position its component (they add up to the volatility), marginal and share of
variance; per account the undiversified volatility (sum of stand-alone volatilities) and the
diversification ratio. ``what_if_variance`` gives an account's volatility after a proposed trade
from the account's per-underlying exposures, without revaluing the book. docs/simm.md
("Portfolio volatility") has the formulas; the native core computes, the reference mirrors it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from . import _core
from .correlation import Correlation
from .engine import greeks
from .errors import MarginConfigError, MarginInputError
from .history import read_moves
from .io import TableLike, to_table
from .market import Market
from .simm import _engine

METHODS = ("delta_normal", "delta_gamma")

#: An account id: an int for integer id columns, else a string.
Account = int | str

#: Symmetry tolerance of a covariance entry, relative to ``sqrt(C_ii C_jj)`` (the scale of C_ij).
SYMMETRY_TOLERANCE = 1e-12
#: Smallest eigenvalue allowed, relative to the largest variance on the diagonal.
EIGENVALUE_TOLERANCE = -1e-10


def _fail(reason: str, column: str | None = None, row: int | None = None) -> MarginInputError:
    return MarginInputError(reason, table="covariance", column=column, row=row)


def _is_number(x: Any) -> bool:
    """A real number (int, float, NumPy scalar, ...); booleans, strings and None are not."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _read_names(names: Any) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise _fail(f"names must be a sequence of strings, got {type(names).__name__}")
    out: list[str] = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise _fail(f"name {i} must be a string, got {name!r}", row=i)
        if name in out:
            raise _fail(f"duplicate name {name!r} (first at row {out.index(name)})", column=name, row=i)
        out.append(name)
    return tuple(out)


def _read_matrix(matrix: Any, names: tuple[str, ...]) -> tuple[float, ...]:
    """The row-major n x n entries: numbers, finite, a diagonal >= 0, symmetric, PSD."""
    n = len(names)
    if hasattr(matrix, "tolist"):
        matrix = matrix.tolist()
    if isinstance(matrix, (str, bytes)) or not isinstance(matrix, Iterable):
        raise _fail(f"the matrix must be a flat sequence of numbers, got {type(matrix).__name__}")
    cells = list(matrix)
    if len(cells) != n * n:
        raise _fail(f"the matrix has {len(cells)} entries; {n} names need {n * n} (row by row)")
    for k, x in enumerate(cells):
        i, j = divmod(k, n)
        if not _is_number(x):
            raise _fail(f"not a number: {x!r}", column=names[j], row=i)
        if not math.isfinite(x):
            raise _fail(f"{x} is not a finite number", column=names[j], row=i)
        if i == j and x < 0:
            raise _fail(f"diagonal entry is {x}: a variance must be >= 0", column=names[j], row=i)
    a = np.array(cells, dtype=np.float64).reshape(n, n)
    for i in range(n):
        for j in range(n):
            if abs(a[i, j] - a[j, i]) > SYMMETRY_TOLERANCE * math.sqrt(a[i, i] * a[j, j]):
                raise _fail(
                    f"not symmetric: {a[i, j]} here, {a[j, i]} at row {j}, column {names[i]!r}", column=names[j], row=i
                )
    # A PSD matrix's eigenvalues come out of floating point a few ulps of its norm below zero
    # (a perfect correlation, fewer dates than names), and a Correlation accepted down to -1e-10
    # gives vol-scaled eigenvalues down to -1e-10 x the largest variance: the tolerance is
    # relative to the largest variance, as covariances have no natural unit.
    tolerance = EIGENVALUE_TOLERANCE * float(a.diagonal().max(initial=0.0))
    lowest = float(np.linalg.eigvalsh(a).min(initial=0.0))
    if lowest < tolerance:
        # The smallest eigenvalue of a leading block never rises with its size (interlacing).
        at = next(k for k in range(n) if np.linalg.eigvalsh(a[: k + 1, : k + 1]).min() < tolerance)
        raise _fail(
            f"not positive semi-definite: smallest eigenvalue {lowest:.6g}, below {tolerance:.6g} (-1e-10 x the "
            f"largest variance); it fails from name {names[at]!r} on: the leading {at + 1} x {at + 1} block "
            "is not PSD",
            column=names[at],
            row=at,
        )
    return tuple(float(x) for x in cells)


@dataclass(frozen=True)
class Covariance:
    """Covariance of underlying returns over ``horizon_days`` (row-major ``matrix``).

    Validated when built, whichever way: ``names`` unique strings; ``matrix`` ``len(names)**2``
    finite numbers with a diagonal >= 0, symmetric (to 1e-12 of ``sqrt(C_ii C_jj)``) and positive
    semi-definite (no eigenvalue below -1e-10 x the largest variance), else a
    :class:`~pmargin.errors.MarginInputError` at ``covariance.<name>, row i``;
    ``horizon_days`` finite and > 0, else a :class:`~pmargin.errors.MarginConfigError` at
    ``covariance.horizon_days``.
    """

    names: tuple[str, ...]
    matrix: tuple[float, ...]
    horizon_days: float

    def __post_init__(self) -> None:
        names = _read_names(self.names)
        h = self.horizon_days
        if not _is_number(h) or not math.isfinite(h) or h <= 0:
            raise MarginConfigError(
                f"horizon_days must be a finite number > 0, got {h!r}", table="covariance", column="horizon_days"
            )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "matrix", _read_matrix(self.matrix, names))
        object.__setattr__(self, "horizon_days", float(h))

    @classmethod
    def from_vols(
        cls, vols: Mapping[str, float | np.floating[Any] | np.integer[Any]], correlation: Correlation | None = None
    ) -> Covariance:
        """From annualised vols and a :class:`~pmargin.Correlation` (identity when None), which
        must cover every name: ``C_uv = vol_u vol_v rho_uv`` over 365 days."""
        names = tuple(vols)
        for u in names:
            v = vols[u]
            if not _is_number(v):
                raise _fail(f"vol must be a number, got {v!r}", column=u)
            if not math.isfinite(v) or v < 0:
                raise _fail(f"vol {float(v)} must be finite and >= 0", column=u)
            if correlation is not None and u not in correlation:
                covered = ", ".join(correlation.names)
                raise _fail(f"{u!r} has a vol but no correlation (the correlation covers {covered})", column=u)
        n = len(names)
        m = [[float(vols[u]) * float(vols[u]) if i == j else 0.0 for j in range(n)] for i, u in enumerate(names)]
        if correlation is not None:
            at = [correlation.index(u) for u in names]
            for i in range(n):
                for j in range(i + 1, n):
                    # The upper triangle, mirrored: a Correlation is symmetric only to 1e-12.
                    rho = correlation.get(min(at[i], at[j]), max(at[i], at[j]))
                    m[i][j] = m[j][i] = float(vols[names[i]]) * float(vols[names[j]]) * rho
        return cls(names, tuple(x for row in m for x in row), 365.0)

    @classmethod
    def from_history(
        cls, moves: TableLike, *, horizon_days: float = 1.0, ewma_lambda: float | None = None
    ) -> Covariance:
        """Estimated from a historical moves table (:mod:`pmargin.history` layout: ``date``,
        ``underlying``, ``return``), each move over ``horizon_days``. Dates where any underlying
        lacks a move are left out. Sample covariance (mean removed, ``n - 1``), or with
        ``ewma_lambda`` the EWMA ``sum_t w_t r_t r_t'``, ``w_t = (1 - l) l^(T-1-t) / (1 - l^T)``
        (zero mean, weights summing to one)."""
        table = to_table(moves, "moves")
        mv = read_moves(table, "moves")
        names = tuple(mv.slots)
        dates = [d for d in range(len(mv.labels)) if all(mv.slots[u][d] is not None for u in names)]
        if len(dates) < 2:
            raise MarginInputError("need at least two dates with a move for every underlying", table="moves")
        series = [[mv.slots[u][d][0] for d in dates] for u in names]  # type: ignore[index]
        n, t = len(names), len(dates)
        if ewma_lambda is None:
            means = [math.fsum(s) / t for s in series]
            m = [
                math.fsum((series[i][k] - means[i]) * (series[j][k] - means[j]) for k in range(t)) / (t - 1)
                for i in range(n)
                for j in range(n)
            ]
        else:
            if not 0.0 < ewma_lambda < 1.0:
                raise MarginConfigError("ewma_lambda must be in (0, 1)", table="model", column="ewma_lambda")
            norm = 1.0 - ewma_lambda**t
            w = [(1.0 - ewma_lambda) * ewma_lambda ** (t - 1 - k) / norm for k in range(t)]
            m = [math.fsum(w[k] * series[i][k] * series[j][k] for k in range(t)) for i in range(n) for j in range(n)]
        return cls(names, tuple(m), horizon_days)

    def scaled(self, horizon_days: float) -> list[float]:
        f = horizon_days / self.horizon_days
        return [v * f for v in self.matrix]


@dataclass(frozen=True)
class PortfolioRiskResult:
    """``positions``: account_id, instrument_id, underlying, cash_delta, dollar_gamma,
    component, marginal, share, standalone. ``accounts``: account_id, volatility, variance,
    undiversified, diversification_ratio. ``exposures``: per account and underlying, the summed
    cash_delta and dollar_gamma (what :func:`what_if_variance` starts from)."""

    positions: pa.Table
    accounts: pa.Table
    exposures: pa.Table
    covariance: Covariance
    horizon_days: float
    method: str


def _spots(market: Market) -> dict[str, float]:
    u = market.underlyings
    return dict(zip(u.column("underlying").to_pylist(), u.column("spot").to_pylist(), strict=True))


class _Rows(NamedTuple):
    """Per netted position: account, instrument, underlying, cash delta, dollar gamma; and the
    type of the account ids (int64 for integer ids, else string, as :func:`pmargin.margin`)."""

    accounts: list[Account]
    ids: list[str]
    unds: list[str]
    cd: list[float]
    dg: list[float]
    id_type: pa.DataType


def _exposure_rows(positions: TableLike, instruments: TableLike, market: Market, engine: str) -> _Rows:
    _engine(engine)  # SensitivityModel.margin's check: "native" or "reference", else an error
    if engine == "reference":
        from . import reference

        g = reference.greeks(positions, instruments, market).positions
    else:
        g = greeks(positions, instruments, market).positions
    inst = to_table(instruments, "instruments")
    und = dict(zip(inst.column("instrument_id").to_pylist(), inst.column("underlying").to_pylist(), strict=True))
    spots = _spots(market)
    ids = g.column("instrument_id").to_pylist()
    unds = [und[i] for i in ids]
    cd = [d * spots[u] for d, u in zip(g.column("delta").to_pylist(), unds, strict=True)]
    dg = [x * spots[u] ** 2 for x, u in zip(g.column("gamma").to_pylist(), unds, strict=True)]
    return _Rows(g.column("account_id").to_pylist(), ids, unds, cd, dg, g.schema.field("account_id").type)


def _check_covered(instruments: TableLike, ids: Sequence[str], unds: Sequence[str], cov: Covariance) -> None:
    """Every held instrument's underlying has a covariance; else an error naming the first such
    instrument's ``underlying`` cell in ``instruments`` (the table as given: the rows of the
    netted positions are pmargin's own)."""
    covered = set(cov.names)
    missing = {i for i, u in zip(ids, unds, strict=True) if u not in covered}
    if not missing:
        return
    inst = to_table(instruments, "instruments")
    inst_ids = inst.column("instrument_id").to_pylist()
    row = next(r for r, i in enumerate(inst_ids) if i in missing)
    underlying = inst.column("underlying")[row].as_py()
    names = ", ".join(cov.names[:10]) + (f" and {len(cov.names) - 10} more" if len(cov.names) > 10 else "")
    raise MarginInputError(
        f"underlying {underlying!r} of held instrument {inst_ids[row]!r} has no covariance "
        f"(the covariance covers {names or 'no underlying'})",
        table="instruments",
        column="underlying",
        row=row,
    )


def _indices(
    names: Sequence[Account], accounts: Sequence[Account], unds: Sequence[str], cov: Covariance
) -> tuple[list[int], list[int]]:
    """Account numbers (in ``names``) and covariance numbers of the rows; every underlying is
    covered ([`_check_covered`])."""
    a_idx = {a: i for i, a in enumerate(names)}
    u_idx = {u: i for i, u in enumerate(cov.names)}
    return [a_idx[a] for a in accounts], [u_idx[u] for u in unds]


def _run(
    acc: list[int], und: list[int], cd: list[float], dg: list[float], spec: dict[str, Any], engine: str
) -> tuple[pa.Table, pa.Table]:
    if engine == "reference":
        from .reference.sensitivity import portfolio_variance

        return portfolio_variance(acc, und, cd, dg, spec)
    table = pa.table(
        {
            "account_index": pa.array(acc, pa.int64()),
            "underlying_index": pa.array(und, pa.int64()),
            "cash_delta": pa.array(cd, pa.float64()),
            "dollar_gamma": pa.array(dg, pa.float64()),
        }
    )
    positions, accounts = _core.portfolio_variance(table, spec)
    return positions, accounts


def _spec(n_accounts: int, cov: Covariance, horizon_days: float, method: str) -> dict[str, Any]:
    if method not in METHODS:
        raise MarginConfigError(f"method must be one of {', '.join(METHODS)}", table="model", column="method")
    if not math.isfinite(horizon_days) or horizon_days <= 0:
        raise MarginConfigError("horizon_days must be > 0", table="model", column="horizon_days")
    return {
        "n_accounts": n_accounts,
        "n_underlyings": len(cov.names),
        "covariance": cov.scaled(horizon_days),
        "delta_gamma": method == "delta_gamma",
    }


def portfolio_risk(
    positions: TableLike,
    instruments: TableLike,
    market: Market,
    covariance: Covariance,
    *,
    horizon_days: float = 1.0,
    method: str = "delta_normal",
    engine: str = "native",
) -> PortfolioRiskResult:
    """Volatility of each account's P&L over ``horizon_days`` (see the module docstring)."""
    accounts, ids, unds, cd, dg, id_type = _exposure_rows(positions, instruments, market, engine)
    _check_covered(instruments, ids, unds, covariance)
    # The Greeks list the accounts as margin() does: in the order of their first position row.
    names = list(dict.fromkeys(accounts))
    acc, und = _indices(names, accounts, unds, covariance)
    spec = _spec(len(names), covariance, horizon_days, method)
    pos, acct = _run(acc, und, cd, dg, spec, engine)
    positions_out = pa.table(
        {
            "account_id": pa.array(accounts, id_type),
            "instrument_id": pa.array(ids, pa.string()),
            "underlying": pa.array(unds, pa.string()),
            "cash_delta": pa.array(cd, pa.float64()),
            "dollar_gamma": pa.array(dg, pa.float64()),
        }
    )
    for name in pos.column_names:
        positions_out = positions_out.append_column(name, pos.column(name))
    accounts_out = pa.table({"account_id": pa.array(names, id_type)})
    for name in acct.column_names:
        accounts_out = accounts_out.append_column(name, acct.column(name))
    agg: dict[tuple[Account, str], list[list[float]]] = {}
    for a, u, x, g in zip(accounts, unds, cd, dg, strict=True):
        slot = agg.setdefault((a, u), [[], []])
        slot[0].append(x)
        slot[1].append(g)
    order = {a: i for i, a in enumerate(names)}
    keys = sorted(agg, key=lambda k: (order[k[0]], k[1]))
    exposures = pa.table(
        {
            "account_id": pa.array([k[0] for k in keys], id_type),
            "underlying": pa.array([k[1] for k in keys], pa.string()),
            "cash_delta": pa.array([math.fsum(agg[k][0]) for k in keys], pa.float64()),
            "dollar_gamma": pa.array([math.fsum(agg[k][1]) for k in keys], pa.float64()),
        }
    )
    return PortfolioRiskResult(positions_out, accounts_out, exposures, covariance, horizon_days, method)


def what_if_variance(
    risk: PortfolioRiskResult, trades: TableLike, instruments: TableLike, market: Market, *, engine: str = "native"
) -> pa.Table:
    """Each traded account's volatility before and after ``trades`` (positions layout), from
    its per-underlying exposures in ``risk`` plus the trades' own Greeks: ``account_id`` (in the
    order of the accounts' first trade), ``volatility_before``, ``volatility_after``, ``change``."""
    t_acc, t_ids, t_und, t_cd, t_dg, id_type = _exposure_rows(trades, instruments, market, engine)
    _check_covered(instruments, t_ids, t_und, risk.covariance)
    e = risk.exposures
    book_type = e.schema.field("account_id").type
    if t_acc and e.num_rows and book_type != id_type:
        raise MarginInputError(
            f"account ids are {id_type} but the book's are {book_type}: no trade would match an account",
            table="trades",
            column="account_id",
        )
    touched = set(t_acc)
    base = [
        (a, u, x, g)
        for a, u, x, g in zip(
            e.column("account_id").to_pylist(),
            e.column("underlying").to_pylist(),
            e.column("cash_delta").to_pylist(),
            e.column("dollar_gamma").to_pylist(),
            strict=True,
        )
        if a in touched
    ]
    rows_a = [b[0] for b in base] + t_acc
    rows_u = [b[1] for b in base] + t_und
    rows_x = [b[2] for b in base] + t_cd
    rows_g = [b[3] for b in base] + t_dg
    names = list(dict.fromkeys(t_acc))
    acc, und = _indices(names, rows_a, rows_u, risk.covariance)
    spec = _spec(len(names), risk.covariance, risk.horizon_days, risk.method)
    _, after = _run(acc, und, rows_x, rows_g, spec, engine)
    before_map = dict(
        zip(risk.accounts.column("account_id").to_pylist(), risk.accounts.column("volatility").to_pylist(), strict=True)
    )
    after_vol = after.column("volatility").to_pylist()
    before = [float(before_map.get(a, 0.0)) for a in names]
    return pa.table(
        {
            "account_id": pa.array(names, id_type),
            "volatility_before": pa.array(before, pa.float64()),
            "volatility_after": pa.array(after_vol, pa.float64()),
            "change": pa.array([b - a for a, b in zip(before, after_vol, strict=True)], pa.float64()),
        }
    )
