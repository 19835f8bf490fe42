"""README.md's Python examples that use ``to_polars`` run as written (in order, in one namespace:
the Results section's snippet reads the quick start's ``result``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_the_readme_to_polars_snippets_run_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [b for b in python_blocks() if "to_polars" in b]
    # The quick start (frames by name) and the Results section (unpacked).
    assert len(blocks) == 2
    assert "frames = result.to_polars()" in blocks[0]
    assert "accounts, by_underlying, by_position, explain, scenarios, failed = result.to_polars()" in blocks[1]
    namespace: dict[str, Any] = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "BTC -15.0% vol +30%" in out and "BTC +15.0% vol +30%" in out

    frames = namespace["frames"]
    assert frames.accounts.select("account_id", "initial_margin", "gross_margin", "worst_scenario").to_dicts() == [
        {
            "account_id": "alice",
            "initial_margin": 65494.95991060147,
            "gross_margin": 162160.5597102329,
            "worst_scenario": "BTC -15.0% vol +30%",
        },
        {
            "account_id": "bob",
            "initial_margin": 72160.55971023289,
            "gross_margin": 72160.55971023289,
            "worst_scenario": "BTC +15.0% vol +30%",
        },
    ]
    # The unpacked names are the same frames.
    assert namespace["accounts"].equals(frames.accounts)
    assert namespace["by_underlying"].equals(frames.by_underlying)
    assert namespace["by_underlying"]["requirement"].to_list() == [65494.95991060147, 72160.55971023289]
    assert namespace["by_position"] is None and namespace["explain"] is None
    assert namespace["failed"].shape == (0, 5)
    alice = namespace["scenarios"]("alice")
    assert isinstance(alice, pl.DataFrame)
    assert alice.columns == ["scenario", "price_shock", "vol_shock", "BTC", "total"]
    assert alice.height == 63
    assert alice["total"].min() == -65494.95991060147
