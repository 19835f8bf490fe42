"""Correlated Monte Carlo (:class:`MonteCarloModel`): VaR / ES over simulated joint moves."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal, cast

import pyarrow as pa

from ..columns import check_spelling, read_ids, required_numbers
from ..correlation import Correlation
from ..io import TableLike, to_table
from ..limits import Limits
from ._validate import (
    DistributionName,
    MeasureName,
    _bool,
    _check_keys,
    _config_error,
    _correlation_value,
    _integer,
    _is_number,
    _table_value,
    _tail_scenarios,
    _tail_settings,
    tail_count,
)
from .registry import register

#: Bytes :meth:`MonteCarloModel.scenarios` takes per scenario and name at its peak: 16 of draws,
#: about 36 of rows being built and 28 of the table's columns.
SCENARIO_TABLE_BYTES = 80

_MONTE_CARLO_KEYS = (
    "vols",
    "correlation",
    "repair_correlation",
    "n_scenarios",
    "seed",
    "distribution",
    "dof",
    "measure",
    "confidence",
    "horizon_days",
    "vol_of_vol",
    "spot_vol_correlation",
    "mm_ratio",
    "tail_scenarios",
)


@register
@dataclass(frozen=True, eq=False)
class MonteCarloModel:
    """Correlated Monte Carlo: VaR or ES over ``n_scenarios`` simulated joint moves.

    ``vols``: a table (``underlying``, ``vol`` > 0): the volatility of each underlying's log
    return over the margin horizon, or an annual vol when ``horizon_days`` is given (scaled by
    ``sqrt(horizon_days / 365)``). ``correlation``: a :class:`Correlation` between the names; an
    underlying held must be in it and have a vol (extra names and rows are fine).
    ``distribution``: ``"normal"`` or ``"student_t"`` (``dof`` > 2, scaled to unit variance).
    Scenario price: ``spot * exp(sigma * z)``. ``vol_of_vol`` > 0 adds a relative implied-vol
    change per scenario, correlated with the price move by ``spot_vol_correlation``.
    Scenarios are a pure function of (``seed``, scenario index, name index): see docs/methods.md.
    ``tail_scenarios``: False (default: no ``tail_scenarios`` column in ``accounts``), True (each
    account's whole tail) or n (its worst n tail scenarios); see :class:`~pmargin.MarginResult`.
    """

    vols: TableLike
    correlation: Correlation
    n_scenarios: int
    seed: int
    distribution: DistributionName = "normal"
    dof: float | None = None
    measure: MeasureName = "es"
    confidence: float = 0.975
    horizon_days: float | None = None
    vol_of_vol: float = 0.0
    spot_vol_correlation: float = 0.0
    mm_ratio: float = 0.75
    tail_scenarios: bool | int = False
    type: Literal["montecarlo"] = field(default="montecarlo", init=False)
    _horizon_vols: tuple[float | None, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.correlation, Correlation):
            raise _config_error("correlation", f"must be a pmargin.Correlation, got {type(self.correlation).__name__}")
        n = _integer("n_scenarios", self.n_scenarios, 1, 2**31 - 1)
        seed = _integer("seed", self.seed, 0, 2**64 - 1)
        if self.distribution not in ("normal", "student_t"):
            raise _config_error("distribution", f"must be 'normal' or 'student_t', got {self.distribution!r}")
        dof: Any = self.dof
        if self.distribution == "student_t":
            if not _is_number(dof) or not dof > 2:
                raise _config_error("dof", f"student_t needs dof > 2 (a finite variance), got {dof!r}")
            dof = float(dof)
        elif dof is not None:
            raise _config_error("dof", "dof applies only to distribution='student_t'")
        measure, confidence, mm = _tail_settings(self.measure, self.confidence, self.mm_ratio)
        tail_count(n, confidence)
        horizon: float | None = None
        if self.horizon_days is not None:
            if not _is_number(self.horizon_days) or not self.horizon_days > 0:
                raise _config_error("horizon_days", f"must be a number > 0, got {self.horizon_days!r}")
            horizon = float(self.horizon_days)
        if not _is_number(self.vol_of_vol) or not self.vol_of_vol >= 0:
            raise _config_error("vol_of_vol", f"must be a number >= 0, got {self.vol_of_vol!r}")
        rho = self.spot_vol_correlation
        if not _is_number(rho) or not -1 <= rho <= 1:
            raise _config_error("spot_vol_correlation", f"must be a number in [-1, 1], got {rho!r}")

        vols = to_table(self.vols, "mc_vols")
        check_spelling(vols, "mc_vols", ("underlying", "vol"))
        names = read_ids(vols, "mc_vols", "underlying")
        values = required_numbers(vols, "mc_vols", "vol", positive=True)
        by_name = dict(zip(names, values, strict=True))
        scale = 1.0 if horizon is None else math.sqrt(horizon / 365.0)
        sigmas = tuple(
            None if name not in by_name else (by_name[name] if horizon is None else by_name[name] * scale)
            for name in self.correlation.names
        )
        for key, value in (
            ("vols", vols),
            ("n_scenarios", n),
            ("seed", seed),
            ("dof", dof),
            ("measure", measure),
            ("confidence", confidence),
            ("horizon_days", horizon),
            ("vol_of_vol", float(self.vol_of_vol)),
            ("spot_vol_correlation", float(rho)),
            ("mm_ratio", mm),
            ("tail_scenarios", _tail_scenarios(self.tail_scenarios)),
        ):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_horizon_vols", sigmas)

    def horizon_vols(self) -> list[float | None]:
        """The horizon vol of each name of :attr:`correlation` (``vol``, or the annual vol times
        ``sqrt(horizon_days / 365)``); None where the vols table has no row for it."""
        return list(self._horizon_vols)

    def to_spec(self) -> dict[str, Any]:
        """The native engine's spec: horizon vols per correlation name, the correlation flattened,
        ``dof`` only for Student t."""
        return {
            "type": "montecarlo",
            "correlation": {
                "names": list(self.correlation.names),
                "matrix": [float(x) for row in self.correlation.matrix for x in row],
            },
            "horizon_vols": self.horizon_vols(),
            "n_scenarios": self.n_scenarios,
            "seed": self.seed,
            "dof": self.dof if self.distribution == "student_t" else None,
            "measure": self.measure,
            "confidence": self.confidence,
            "vol_of_vol": self.vol_of_vol,
            "spot_vol_correlation": self.spot_vol_correlation,
            "mm_ratio": self.mm_ratio,
            "tail_scenarios": self.tail_scenarios,
        }

    def scenarios(self, *, limits: Limits | None = None) -> pa.Table:
        """The simulated scenarios, drawn by the native generator (the reference draws the same
        numbers: ``pmargin.reference.scenarios.montecarlo``): ``scenario``
        (int32), ``underlying``, ``return`` (``exp(sigma z) - 1``), ``vol_change`` (relative);
        scenario-major, names in correlation order (those with a vol). Over the memory budget of
        ``limits`` (default :class:`~pmargin.Limits`), a config error naming ``n_scenarios``."""
        from .. import _core

        budget = (limits if limits is not None else Limits()).memory_budget
        names = len(self.correlation.names)
        # Draws (two floats per scenario and name), the rows being built and the table's columns.
        need = SCENARIO_TABLE_BYTES * self.n_scenarios * max(names, 1)
        if need > budget:
            raise _config_error(
                "n_scenarios",
                f"the scenario table of {self.n_scenarios:,} scenarios x {names} names needs about "
                f"{need / 2**30:.1f} GiB, over the memory budget of {budget / 2**30:.1f} GiB; lower "
                f"n_scenarios (about {budget // (SCENARIO_TABLE_BYTES * max(names, 1)):,} fit) or raise "
                "pmargin.Limits(memory_budget=...)",
            )
        table: pa.Table = _core.monte_carlo_scenarios(self.to_spec())
        return table

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: str | PathLike[str] | None = None) -> MonteCarloModel:
        """Build from a mapping: ``vols`` and ``correlation`` are tables or file paths (relative
        to ``base``; ``correlation`` may also be ``{"names", "matrix"}``); ``repair_correlation``
        repairs a matrix that is not PSD; other keys as the constructor's."""
        _check_keys(config, "montecarlo", _MONTE_CARLO_KEYS)
        folder = None if base is None else Path(base)
        for key in ("vols", "correlation", "n_scenarios", "seed"):
            if key not in config:
                raise _config_error(key, f"a Monte Carlo model needs {key}")
        repair = _bool("repair_correlation", config.get("repair_correlation", False))
        kwargs = {k: config[k] for k in _MONTE_CARLO_KEYS[3:] if k in config}
        return cls(
            vols=_table_value("vols", config["vols"], folder, "mc_vols"),
            correlation=_correlation_value("correlation", config["correlation"], folder, repair),
            **kwargs,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MonteCarloModel):
            return NotImplemented
        # Every configuration key but the vols table (compared as a table) and the repair flag
        # (its effect lives in the correlation).
        keys = [k for k in _MONTE_CARLO_KEYS if k not in ("vols", "repair_correlation")]
        return cast(pa.Table, self.vols).equals(cast(pa.Table, other.vols)) and all(
            getattr(self, k) == getattr(other, k) for k in keys
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        dof = f", dof={self.dof}" if self.dof is not None else ""
        return (
            f"MonteCarloModel({len(self.correlation)} names, n_scenarios={self.n_scenarios}, seed={self.seed}, "
            f"distribution={self.distribution!r}{dof}, measure={self.measure!r}, confidence={self.confidence})"
        )
