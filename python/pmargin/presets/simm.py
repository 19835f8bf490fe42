"""ISDA SIMM presets: ``simm(version="2.6")`` loads ``data/simm/<version>/<mpor>d.json``.

The parameter files are data, not code: adding a version is adding a file. v2.6 (10-day) ships
the interest rate, FX, equity and commodity risk classes, its numbers taken from ORE's published
tables (OpenSourceRisk/Engine, ``OREAnalytics/orea/simm/simmconfigurationisdav2_6.cpp`` and
``simmconcentrationisdav2_6.cpp``; tools/simm_params_from_ore.py rebuilds the file).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import MarginConfigError
from ..simm import SensitivityModel

DATA = Path(__file__).resolve().parent / "data" / "simm"


def versions() -> list[str]:
    """Versions with a parameter file."""
    return sorted(p.name for p in DATA.iterdir() if p.is_dir())


@cache
def _load(version: str, mpor_days: int) -> dict[str, Any]:
    path = DATA / version / f"{mpor_days}d.json"
    if not path.exists():
        raise MarginConfigError(
            f"no SIMM {version} {mpor_days}-day parameter file (have: {', '.join(versions())})",
            table="model",
            column="version",
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def simm(
    version: str = "2.6", *, mpor_days: int = 10, calculation_currency: str = "USD", side: str = "call"
) -> SensitivityModel:
    """The ISDA SIMM model at ``version`` with its published parameters."""
    # A copy: the model's parameters are the caller's to change, the cached file's are not.
    params = copy.deepcopy(_load(str(version), int(mpor_days)))
    return SensitivityModel(
        params,
        name="ISDA SIMM",
        version=f"{version}/{mpor_days}d",
        calculation_currency=calculation_currency,
        side=side,
    )
