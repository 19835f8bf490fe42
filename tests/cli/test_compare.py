"""``pmargin compare``: the comparison written to a file equals pmargin.compare; printed summary;
bad model arguments exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

import pmargin
from pmargin import sample
from pmargin.cli import main
from pmargin.io import read_table
from pmargin.presets import span, tims


def test_compare_writes_the_table(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> None:
    (tmp_path / "tims.toml").write_text('type = "tims"\n[product_classes]\nBTC = "equity"\nETH = "equity"\n')
    out = tmp_path / "compare.parquet"
    args = ["compare", *parquet_args, "--model", "grid", "--model", "span", "--model", f"tims={tmp_path / 'tims.toml'}"]
    assert main([*args, "--out", str(out)]) == 0
    want = pmargin.compare(
        book.positions,
        book.instruments,
        book.market,
        {"grid": pmargin.GridModel(), "span": span(), "tims": tims({"BTC": "equity", "ETH": "equity"})},
    )
    assert read_table(out, "compare").equals(want)


def test_compare_prints_a_summary(parquet_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *parquet_args, "--model", "grid", "--model", "span"]) == 0
    printed = capsys.readouterr().out
    assert "pmargin-demo-span@2026-12-01#" in printed and "cheapest for" in printed


def test_an_unknown_model_name_exits_2(parquet_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *parquet_args, "--model", "prisma"]) == 2
    assert "error:" in capsys.readouterr().err
