"""The Deribit worked examples of ``tests/cases/deribit`` (format in ``tests/cases/deribit/README.md``) as
ready-to-run inputs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from pmargin import Market
from pmargin.models.deribit import DeribitModel

CASES_DIR = Path(__file__).resolve().parents[2] / "cases" / "deribit"


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class DeribitCase(NamedTuple):
    id: str
    positions: pa.Table
    instruments: pa.Table
    market: Market
    model: DeribitModel
    expected: dict[str, Any]
    tolerance: float


def load(path: Path) -> DeribitCase:
    data = json.loads(path.read_text())
    rows = data["instruments"]
    columns: dict[str, pa.Array] = {
        "instrument_id": pa.array([r["instrument_id"] for r in rows], pa.string()),
        "underlying": pa.array([r["underlying"] for r in rows], pa.string()),
        "kind": pa.array([r["kind"] for r in rows], pa.string()),
        "option_type": pa.array([r.get("option_type") for r in rows], pa.string()),
        "strike": pa.array([r.get("strike") for r in rows], pa.float64()),
        "expiry": pa.array([_time(r.get("expiry")) for r in rows], pa.timestamp("ns", tz="UTC")),
        "settlement": pa.array([r.get("settlement") for r in rows], pa.string()),
    }
    vols = data["vols"]
    market = Market(
        _time(data["as_of"]),
        pa.table(
            {
                "underlying": pa.array([u["underlying"] for u in data["underlyings"]], pa.string()),
                "spot": pa.array([u["spot"] for u in data["underlyings"]], pa.float64()),
                "rate": pa.array([u["rate"] for u in data["underlyings"]], pa.float64()),
            }
        ),
        pa.table(
            {
                "instrument_id": pa.array([v["instrument_id"] for v in vols], pa.string()),
                "implied_vol": pa.array([v["implied_vol"] for v in vols], pa.float64()),
            }
        ),
    )
    positions = pa.table(
        {
            "account_id": pa.array([p["account_id"] for p in data["positions"]], pa.string()),
            "instrument_id": pa.array([p["instrument_id"] for p in data["positions"]], pa.string()),
            "quantity": pa.array([p["quantity"] for p in data["positions"]], pa.float64()),
        }
    )
    model = DeribitModel.from_dict(data["model"])
    return DeribitCase(
        data["id"], positions, pa.table(columns), market, model, data["expected"], data["tolerance"]["absolute"]
    )


def all_cases() -> list[Path]:
    return sorted(CASES_DIR.glob("*.json"))
