"""The venue worked examples of ``tests/cases/span`` and ``tests/cases/tims`` (each file cites its
source) as ready-to-run inputs, and a runner that margins one through either engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

import pmargin
from pmargin import reference
from pmargin.market import Market, to_epoch_ns
from pmargin.models import model_class
from pmargin.result import MarginResult
from tests.conftest import rows_to_table

CASES = Path(__file__).resolve().parents[1] / "cases"

_INSTRUMENT_TYPES = {
    "instrument_id": pa.string(),
    "underlying": pa.string(),
    "kind": pa.string(),
    "option_type": pa.string(),
    "strike": pa.float64(),
    "expiry": pa.timestamp("ns", tz="UTC"),
    "multiplier": pa.float64(),
    "product_class": pa.string(),
}
_UNDERLYING_TYPES = {"underlying": pa.string(), "spot": pa.float64(), "rate": pa.float64()}
_VOL_TYPES = {"instrument_id": pa.string(), "implied_vol": pa.float64()}
_POSITION_TYPES = {"account_id": pa.string(), "instrument_id": pa.string(), "quantity": pa.float64()}
_ARRAY_TYPES = {
    "instrument_id": pa.string(),
    **{f"risk_{s}": pa.float64() for s in range(1, 17)},
    "composite_delta": pa.float64(),
}


@dataclass(frozen=True)
class VenueCase:
    id: str
    source: str
    positions: pa.Table
    instruments: pa.Table
    market: Market
    model: Any
    expected: dict[str, Any]
    absolute: float


def case_paths(kind: str) -> list[Path]:
    return sorted((CASES / kind).glob("*.json"))


def load(path: Path) -> VenueCase:
    data = json.loads(path.read_text())
    instruments = [
        {**row, "expiry": None if row.get("expiry") is None else to_epoch_ns(row["expiry"])}
        for row in data["instruments"]
    ]
    config = dict(data["model"])
    if "risk_arrays" in data:
        config["risk_arrays"] = rows_to_table(data["risk_arrays"], _ARRAY_TYPES)
    model = model_class(config["type"]).from_dict(config)  # type: ignore[attr-defined]
    return VenueCase(
        id=data["id"],
        source=data["source"],
        positions=rows_to_table(data["positions"], _POSITION_TYPES),
        instruments=rows_to_table(instruments, _INSTRUMENT_TYPES),
        market=Market(
            data["as_of"],
            rows_to_table(data["underlyings"], _UNDERLYING_TYPES),
            rows_to_table(data["vols"], _VOL_TYPES),
        ),
        model=model,
        expected=data["expected"],
        absolute=data["tolerance"]["absolute"],
    )


def run(case: VenueCase, engine: str) -> MarginResult:
    margin = pmargin.margin if engine == "native" else reference.margin
    return margin(case.positions, case.instruments, case.market, case.model)


def check(case: VenueCase, result: MarginResult) -> None:
    """Every expected number of the case, within its absolute tolerance (0 means exact)."""
    for table_name in ("accounts", "by_underlying"):
        table = getattr(result, table_name).to_pylist()
        for want in case.expected.get(table_name, []):
            keys = [k for k in ("account_id", "combined_commodity", "underlying") if k in want]
            rows = [r for r in table if all(r[k] == want[k] for k in keys)]
            assert len(rows) == 1, (case.id, table_name, want)
            for column, value in want.items():
                if column in keys:
                    continue
                got = rows[0][column]
                if isinstance(value, float):
                    assert abs(got - value) <= case.absolute, (case.id, column, got, value)
                else:
                    assert got == value, (case.id, column, got, value)
    for account, columns in case.expected.get("scenarios", {}).items():
        matrix = result.scenarios(account)
        for column, values in columns.items():
            got = matrix.column(column).to_pylist()
            assert all(abs(g - v) <= case.absolute for g, v in zip(got, values, strict=True)), (case.id, got)
