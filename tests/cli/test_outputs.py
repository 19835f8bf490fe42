"""The command line's sensitivity outputs.

``pmargin margin --by-position --greeks`` writes four extra tables beside ``--out`` (or prints
summaries), equal to what the Python API returns, also in chunked runs; ``pmargin demo`` prints the
positions that drive the largest account's margin.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import sample
from pmargin.batch import margin_in_chunks
from pmargin.cli import beside, drivers, flatten_lists, main, money, quantity
from pmargin.io import read_table
from tests.cli.conftest import write_inputs

FORMATS = [".parquet", ".csv", ".arrow"]

EXTRA_TABLES = ("by_position", "explain", "greeks", "greeks_by_underlying")


@pytest.fixture(scope="module")
def with_positions(book: sample.SampleBook) -> pmargin.MarginResult:
    return pmargin.margin(book.positions, book.instruments, book.market, by_position=True)


def column(table: pa.Table, name: str) -> list[Any]:
    return list(table.column(name).to_pylist())


def assert_same_table(got: pa.Table, want: pa.Table) -> None:
    """Same columns and rows; numbers to 1e-15 relative (text formats round-trip floats), strings
    equal with CSV's empty string read as null."""
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        if pa.types.is_floating(want.schema.field(name).type):
            g, w = column(got, name), column(want, name)
            assert [x is None for x in g] == [x is None for x in w], name
            keep = [y is not None for y in w]
            np.testing.assert_allclose(
                np.compress(keep, g).astype(float), np.compress(keep, w).astype(float), rtol=1e-15, atol=0, err_msg=name
            )
        else:
            assert [v if v != "" else None for v in column(got, name)] == column(want, name), name


@pytest.mark.parametrize("suffix", FORMATS)
def test_by_position_and_greeks_are_written_beside_the_output(
    book: sample.SampleBook,
    with_positions: pmargin.MarginResult,
    book_greeks: pmargin.GreeksResult,
    tmp_path: Path,
    suffix: str,
) -> None:
    out = tmp_path / f"result{suffix}"
    argv = ["margin", *write_inputs(book, tmp_path / "in", suffix), "--out", str(out), "--by-position", "--greeks"]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.glob("result*")) == sorted(
        f"result{part}{suffix}" for part in ("", ".by_underlying", *(f".{t}" for t in EXTRA_TABLES))
    )
    wanted = {
        "by_position": with_positions.by_position,
        "explain": with_positions.explain,
        "greeks": book_greeks.positions,
        "greeks_by_underlying": book_greeks.by_underlying,
    }
    for name, want in wanted.items():
        got = read_table(beside(out, name), name)
        assert_same_table(got, want)
        if suffix != ".csv":
            assert got.equals(want), name
    assert_same_table(read_table(out, "accounts"), with_positions.accounts)

    # The numbers themselves: 150 accounts, contributions add up to each account's margin (sum of
    # per-underlying requirements), and the Greeks sum per account and underlying.
    by_position = read_table(beside(out, "by_position"), "by_position")
    assert by_position.num_rows == book_greeks.positions.num_rows > 1000
    totals: dict[str, float] = {}
    for row in by_position.to_pylist():
        totals[row["account_id"]] = totals.get(row["account_id"], 0.0) + row["contribution"]
    for row in with_positions.accounts.to_pylist():
        assert totals[row["account_id"]] == pytest.approx(row["initial_margin"], rel=1e-9, abs=1e-6)
    assert len(totals) == 150
    greeks = read_table(beside(out, "greeks"), "greeks").to_pylist()
    greeks_u = read_table(beside(out, "greeks_by_underlying"), "greeks").to_pylist()
    first = greeks_u[0]
    legs = [
        g
        for g in greeks
        if g["account_id"] == first["account_id"] and g["instrument_id"].startswith(first["underlying"])
    ]
    assert math.fsum(g["delta"] for g in legs) == pytest.approx(first["delta"], rel=1e-12, abs=1e-12)
    spot = 60_000.0 if first["underlying"] == "BTC" else 3_000.0
    assert first["cash_delta"] == pytest.approx(first["delta"] * spot, rel=1e-12)
    assert first["cash_gamma"] == pytest.approx(0.5 * first["gamma"] * (0.01 * spot) ** 2, rel=1e-12)
    assert first["vega_1pct"] == pytest.approx(first["vega"] / 100, rel=1e-12)


def test_chunked_by_position_run_equals_one_run(
    with_positions: pmargin.MarginResult, parquet_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "chunked.parquet"
    assert (
        main(["margin", *parquet_args, "--out", str(out), "--by-position", "--chunk-positions", "37", "--quiet"]) == 0
    )
    assert read_table(out, "accounts").equals(with_positions.accounts)
    assert read_table(beside(out, "by_position"), "by_position").equals(with_positions.by_position)
    assert read_table(beside(out, "explain"), "explain").equals(with_positions.explain)
    assert not beside(out, "greeks").exists()


@pytest.mark.parametrize("chunk_positions", [1, 25, 400])
def test_margin_in_chunks_carries_by_position_in_account_order(book: sample.SampleBook, chunk_positions: int) -> None:
    engine = pmargin.MarginEngine(book.instruments, book.market)
    order = np.random.default_rng(0).permutation(book.positions.num_rows)
    positions = book.positions.take(pa.array(order))  # accounts interleaved
    whole = engine.margin(positions, by_position=True)
    chunked = margin_in_chunks(engine, positions, chunk_positions, by_position=True)
    assert chunked.by_position is not None and chunked.explain is not None
    assert chunked.by_position.equals(whole.by_position)
    assert chunked.explain.equals(whole.explain)
    first_seen = list(dict.fromkeys(column(positions, "account_id")))
    assert list(dict.fromkeys(column(chunked.by_position, "account_id"))) == first_seen
    assert margin_in_chunks(engine, positions, chunk_positions).by_position is None


def test_summaries_without_out(
    with_positions: pmargin.MarginResult,
    book_greeks: pmargin.GreeksResult,
    parquet_args: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["margin", *parquet_args, "--by-position", "--greeks"]) == 0
    out = capsys.readouterr().out
    top = max(with_positions.accounts.to_pylist(), key=lambda r: r["initial_margin"])
    assert f"Positions driving the largest margin: {top['account_id']} ({money(top['initial_margin'])})" in out
    assert_driver_rows(out, with_positions, top["account_id"])
    totals = {
        u: [
            sum(r[c] for r in book_greeks.by_underlying.to_pylist() if r["underlying"] == u)
            for c in ("delta", "cash_delta", "cash_gamma", "vega_1pct", "theta")
        ]
        for u in ("BTC", "ETH")
    }
    for u, (delta, *cash) in totals.items():
        line = table_row(out, u, after="Greeks by underlying (all accounts)")
        assert f"{delta:,.4f}" in line
        for value in cash:
            assert money(value) in line


def table_row(out: str, first_cell: str, after: str | None = None) -> str:
    """The first table row of ``out`` (after the line containing ``after``) whose first cell is ``first_cell``."""
    lines = out.splitlines()
    if after is not None:
        lines = lines[next(i for i, line in enumerate(lines) if after in line) :]
    return next(line for line in lines if line.startswith(f"│ {first_cell} "))


def assert_driver_rows(out: str, result: pmargin.MarginResult, account: str) -> None:
    """The five positions with the largest contribution, in order, with their numbers; then the
    account's P&L explain per underlying."""
    assert result.by_position is not None and result.explain is not None
    rows = [r for r in result.by_position.to_pylist() if r["account_id"] == account]
    want = sorted(rows, key=lambda r: -r["contribution"])[:5]
    assert drivers(result.by_position, account, 5) == want
    assert len(want) == 5 and len(rows) > 5
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "Positions driving the largest margin" in line)
    body = [line for line in lines[start:] if line.startswith("│ ")][:5]
    for line, row in zip(body, want, strict=True):
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells == [
            row["instrument_id"],
            quantity(row["quantity"]),
            money(row["contribution"]),
            money(row["standalone_margin"]),
            money(row["incremental_margin"]),
        ]
    assert want[0]["contribution"] >= want[-1]["contribution"] > 0
    for row in (r for r in result.explain.to_pylist() if r["account_id"] == account):
        line = table_row(out, row["underlying"], after="P&L explain")
        for name in ("pnl", "delta_pnl", "gamma_pnl", "vega_pnl", "residual"):
            assert money(row[name]) in line
        assert row["scenario"] in line
        parts = row["delta_pnl"] + row["gamma_pnl"] + row["vega_pnl"] + row["residual"]
        assert parts == pytest.approx(row["pnl"], rel=1e-12, abs=1e-6)


def test_demo_prints_the_five_positions_driving_the_largest_margin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--accounts", "300", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    book = sample.book(300, seed=4)
    result = pmargin.margin(book.positions, book.instruments, book.market, by_position=True)
    top = max(result.accounts.to_pylist(), key=lambda r: r["initial_margin"])
    assert f"Positions driving the largest margin: {top['account_id']} ({money(top['initial_margin'])})" in out
    assert_driver_rows(out, result, top["account_id"])
    assert f"P&L explain of the driving scenarios ({top['account_id']})" in out
    assert f"Initial margin: {money(result.total_initial_margin)}" in out


def test_quantity_format() -> None:
    assert [quantity(x) for x in (24.0, -0.3, 15.9, 1_000_000.0, 0.0, -0.0, 1e-9)] == [
        "24", "-0.3", "15.9", "1,000,000", "0", "0", "0",
    ]  # fmt: skip


def test_flatten_lists() -> None:
    table = pa.table({"a": [1, 2], "tail": pa.array([[3, 17], []], pa.list_(pa.int32()))})
    flat = flatten_lists(table)
    assert flat.schema.field("tail").type == pa.string()
    assert column(flat, "tail") == ["3 17", ""]
    assert column(flat, "a") == [1, 2]
