"""The command line selects the Deribit model by name (``--model deribit``) or from TOML
(``--config`` with ``type = "deribit"``) and writes the API's margins with the parameter set."""

from __future__ import annotations

from pathlib import Path

import pytest

import pmargin
from pmargin import sample
from pmargin.cli import main
from pmargin.io import read_table
from pmargin.presets import deribit


def test_model_by_name(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "accounts.parquet"
    assert main(["margin", *parquet_args, "--model", "deribit", "--out", str(out), "--quiet"]) == 0
    written = read_table(out, "accounts")
    expected = pmargin.margin(book.positions, book.instruments, book.market, deribit()).accounts
    assert written.column("initial_margin").to_pylist() == expected.column("initial_margin").to_pylist()
    assert set(written.column("parameter_set").to_pylist()) == {deribit().parameter_set}
    by_underlying = read_table(tmp_path / "accounts.by_underlying.parquet", "by_underlying")
    assert set(by_underlying.column("risk_vector").to_pylist()) <= {"btc_usd", "eth_usd"}


def test_model_and_config_together_is_an_error(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "grid.toml"
    config.write_text('type = "grid"\n')
    assert main(["margin", *parquet_args, "--model", "deribit", "--config", str(config)]) == 2
    assert "--model or --config" in capsys.readouterr().err
