"""Shared fixtures: the worked examples of ``../shared/cases`` as ready-to-run inputs.

A test that takes the ``grid_case`` fixture runs once per file in ``../shared/cases/grid/`` and
is skipped, with the reason, when that folder is absent (the cases live beside the project, not
in it). ``within_tolerance`` applies a case's tolerance (relative and/or absolute: within either).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import settings

from pmargin.market import Market, to_epoch_ns
from pmargin.models import GridModel

# CI (the `CI` environment variable set) runs every property test on a fixed, reproducible set of
# examples; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

CASES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "cases"
GRID_CASES_DIR = CASES_DIR / "grid"

_INSTRUMENT_TYPES = {
    "instrument_id": pa.string(),
    "underlying": pa.string(),
    "kind": pa.string(),
    "option_type": pa.string(),
    "strike": pa.float64(),
    "expiry": pa.timestamp("ns", tz="UTC"),
    "multiplier": pa.float64(),
}
_UNDERLYING_TYPES = {"underlying": pa.string(), "spot": pa.float64(), "rate": pa.float64()}
_VOL_TYPES = {"instrument_id": pa.string(), "implied_vol": pa.float64()}
_POSITION_TYPES = {"account_id": pa.string(), "instrument_id": pa.string(), "quantity": pa.float64()}


@dataclass(frozen=True)
class GridCase:
    """One worked example: inputs as Arrow tables, the model, and what is expected."""

    id: str
    positions: pa.Table
    instruments: pa.Table
    market: Market
    model: GridModel
    expected: dict[str, Any]
    tolerance: dict[str, float]


def rows_to_table(rows: list[dict[str, Any]], types: dict[str, pa.DataType]) -> pa.Table:
    """A table of the columns in ``types`` that appear in any row (missing keys read as null);
    every column when there is no row."""
    present = [name for name in types if not rows or any(name in row for row in rows)]
    return pa.table({name: pa.array([row.get(name) for row in rows], types[name]) for name in present})


def load_grid_case(path: Path) -> GridCase:
    """Read one ``grid`` case file (format in ``../shared/cases/README.md``)."""
    data = json.loads(path.read_text())
    instruments = [
        {**row, "expiry": None if row.get("expiry") is None else to_epoch_ns(row["expiry"])}
        for row in data["instruments"]
    ]
    market = Market(
        data["as_of"],
        rows_to_table(data["underlyings"], _UNDERLYING_TYPES),
        rows_to_table(data["vols"], _VOL_TYPES),
    )
    return GridCase(
        id=data["id"],
        positions=rows_to_table(data["positions"], _POSITION_TYPES),
        instruments=rows_to_table(instruments, _INSTRUMENT_TYPES),
        market=market,
        model=GridModel.from_dict(data["model"]),
        expected=data["expected"],
        tolerance=data["tolerance"],
    )


def within_tolerance(actual: float, expected: float, tolerance: dict[str, float]) -> bool:
    """True when ``actual`` is within the case's relative or absolute tolerance of ``expected``."""
    rel = tolerance.get("relative", 0.0)
    absolute = tolerance.get("absolute", 0.0)
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=0.0) or abs(actual - expected) <= absolute


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses ``grid_case`` once per case file."""
    if "grid_case_path" not in metafunc.fixturenames:
        return
    paths = sorted(GRID_CASES_DIR.glob("*.json")) if GRID_CASES_DIR.is_dir() else []
    if paths:
        metafunc.parametrize("grid_case_path", paths, ids=[p.stem for p in paths], indirect=True)
    else:
        metafunc.parametrize("grid_case_path", [None], ids=["no-shared-cases"], indirect=True)


@pytest.fixture
def grid_case_path(request: pytest.FixtureRequest) -> Path | None:
    """Path of one case file (parametrized in :func:`pytest_generate_tests`)."""
    path: Path | None = request.param
    return path


@pytest.fixture
def grid_case(grid_case_path: Path | None) -> GridCase:
    """One worked example of ``../shared/cases/grid``; skipped when the folder is absent."""
    if grid_case_path is None:
        pytest.skip(
            f"no worked examples: {GRID_CASES_DIR} is absent (the cases live in ../shared/cases beside the project)"
        )
    return load_grid_case(grid_case_path)
