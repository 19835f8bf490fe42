"""The command line's sensitivity outputs and model configurations.

``pmargin margin --by-position --greeks`` writes four extra tables beside ``--out`` (or prints
summaries), equal to what the Python API returns; ``--config`` reads a grid, historical or Monte
Carlo model from TOML and gives the API's margins; ``pmargin demo`` prints the positions that drive
the largest account's margin; bad flags and combinations exit with status 2 and a message.
"""

from __future__ import annotations

import datetime as dt
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
from pmargin.correlation import Correlation
from pmargin.io import read_table, write_table
from pmargin.models import HistoricalModel, MonteCarloModel

FORMATS = [".parquet", ".csv", ".arrow"]
INPUTS = ("positions", "instruments", "underlyings", "vols")
EXTRA_TABLES = ("by_position", "explain", "greeks", "greeks_by_underlying")
AS_OF = "2026-06-30T08:00:00Z"


@pytest.fixture(scope="module")
def book() -> sample.SampleBook:
    return sample.book(150, seed=11)


@pytest.fixture(scope="module")
def with_positions(book: sample.SampleBook) -> pmargin.MarginResult:
    return pmargin.margin(book.positions, book.instruments, book.market, by_position=True)


@pytest.fixture(scope="module")
def book_greeks(book: sample.SampleBook) -> pmargin.GreeksResult:
    return pmargin.greeks(book.positions, book.instruments, book.market)


def write_inputs(book: sample.SampleBook, folder: Path, suffix: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for name in INPUTS:
        path = folder / f"{name}{suffix}"
        write_table(getattr(book, name), path)
        args += [f"--{name}", str(path)]
    return [*args, "--as-of", AS_OF]


@pytest.fixture(scope="module")
def parquet_args(book: sample.SampleBook, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_inputs(book, tmp_path_factory.mktemp("inputs"), ".parquet")


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


# --------------------------------------------------------------------------------------------
# --by-position and --greeks: files beside --out


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


# --------------------------------------------------------------------------------------------
# pmargin demo


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


# --------------------------------------------------------------------------------------------
# --config: every model type


def moves_table(dates: int, seed: int, names: tuple[str, ...] = ("BTC", "ETH")) -> pa.Table:
    rng = np.random.default_rng(seed)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(dates)]
    return pa.table(
        {
            "date": pa.array([d for d in days for _ in names], pa.date32()),
            "underlying": [u for _ in days for u in names],
            "return": rng.normal(0.0, 0.04, dates * len(names)),
            "vol_change": rng.normal(0.0, 0.1, dates * len(names)),
        }
    )


def run_config(argv: list[str], config: Path, out: Path) -> None:
    assert main(["margin", *argv, "--config", str(config), "--out", str(out)]) == 0


def test_historical_config(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> None:
    write_table(moves_table(60, 1), tmp_path / "moves.parquet")
    write_table(moves_table(20, 2), tmp_path / "stress.csv")
    config = tmp_path / "historical.toml"
    config.write_text(
        '[model]\ntype = "historical"\nmoves = "moves.parquet"\nstressed = "stress.csv"\n'
        'measure = "es"\nconfidence = 0.95\newma_lambda = 0.94\nmm_ratio = 0.8\n'
    )
    out = tmp_path / "hist.parquet"
    run_config(parquet_args, config, out)
    model = HistoricalModel(
        moves_table(60, 1),
        measure="es",
        confidence=0.95,
        stressed=read_table(tmp_path / "stress.csv", "stressed"),
        ewma_lambda=0.94,
        mm_ratio=0.8,
    )
    want = pmargin.margin(book.positions, book.instruments, book.market, model)
    assert read_table(out, "accounts").equals(want.accounts)
    assert read_table(beside(out, "by_underlying"), "by_underlying").equals(want.by_underlying)

    # ES at 95% over 60 dates is the mean of the 3 largest losses of the normal window (k = 3)
    # when that window binds.
    accounts = want.accounts.to_pylist()
    normal = [r for r in accounts if r["binding_window"] == "normal" and r["initial_margin"] > 0]
    assert normal and {r["binding_window"] for r in accounts} <= {"normal", "stressed"}
    for row in normal[:5]:
        losses = sorted((-x for x in column(want.scenarios(row["account_id"]), "total")), reverse=True)
        assert row["initial_margin"] == pytest.approx(math.fsum(losses[:3]) / 3, rel=1e-12)
        assert row["maintenance_margin"] == pytest.approx(0.8 * row["initial_margin"], rel=1e-15)
        assert len(row["tail_scenarios"]) == 3


def test_monte_carlo_config(
    book: sample.SampleBook, book_greeks: pmargin.GreeksResult, parquet_args: list[str], tmp_path: Path
) -> None:
    write_table(pa.table({"underlying": ["BTC", "ETH", "SOL"], "vol": [0.7, 0.9, 1.1]}), tmp_path / "vols.csv")
    correlation = Correlation(["ETH", "BTC"], [[1.0, 0.8], [0.8, 1.0]])
    write_table(correlation.to_table(), tmp_path / "correlation.parquet")
    config = tmp_path / "mc.toml"
    config.write_text(
        'type = "montecarlo"\nvols = "vols.csv"\ncorrelation = "correlation.parquet"\nhorizon_days = 2\n'
        'n_scenarios = 2000\nseed = 42\ndistribution = "student_t"\ndof = 5\nmeasure = "var"\nconfidence = 0.99\n'
    )
    model = MonteCarloModel(
        pa.table({"underlying": ["BTC", "ETH", "SOL"], "vol": [0.7, 0.9, 1.1]}),
        correlation,
        n_scenarios=2000,
        seed=42,
        distribution="student_t",
        dof=5,
        measure="var",
        confidence=0.99,
        horizon_days=2,
    )
    want = pmargin.margin(book.positions, book.instruments, book.market, model)

    out = tmp_path / "mc.parquet"
    assert main(["margin", *parquet_args, "--config", str(config), "--out", str(out), "--greeks"]) == 0
    assert read_table(out, "accounts").equals(want.accounts)
    assert read_table(beside(out, "by_underlying"), "by_underlying").equals(want.by_underlying)
    assert read_table(beside(out, "greeks"), "greeks").equals(
        book_greeks.positions
    )  # Greeks do not depend on the model

    # VaR 99% over 2,000 scenarios is the 20th largest loss.
    for row in want.accounts.to_pylist()[:5]:
        losses = sorted((-x for x in column(want.scenarios(row["account_id"]), "total")), reverse=True)
        assert row["initial_margin"] == max(0.0, losses[19])
        assert row["tail_scenarios"] == ([row["measure_scenario"]] if row["initial_margin"] > 0 else [])

    # CSV has no list type: tail scenarios are written as numbers separated by spaces.
    csv = tmp_path / "mc.csv"
    assert main(["margin", *parquet_args, "--config", str(config), "--out", str(csv)]) == 0
    text = read_table(csv, "accounts")
    assert [str(s) if s is not None else "" for s in column(text, "tail_scenarios")] == [
        " ".join(map(str, s)) for s in column(want.accounts, "tail_scenarios")
    ]
    np.testing.assert_allclose(column(text, "initial_margin"), column(want.accounts, "initial_margin"), rtol=1e-15)


def test_flatten_lists() -> None:
    table = pa.table({"a": [1, 2], "tail": pa.array([[3, 17], []], pa.list_(pa.int32()))})
    flat = flatten_lists(table)
    assert flat.schema.field("tail").type == pa.string()
    assert column(flat, "tail") == ["3 17", ""]
    assert column(flat, "a") == [1, 2]


def test_grid_correlation_config_with_by_position(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path
) -> None:
    config = tmp_path / "grid.toml"
    config.write_text(
        '[model]\ncross = "correlation"\nfloor_largest = true\n'
        'correlation = { names = ["BTC", "ETH"], matrix = [[1.0, 0.8], [0.8, 1.0]] }\n'
    )
    out = tmp_path / "grid.arrow"
    assert main(["margin", *parquet_args, "--config", str(config), "--out", str(out), "--by-position"]) == 0
    model = pmargin.GridModel(cross="correlation", correlation=Correlation(["BTC", "ETH"], [[1, 0.8], [0.8, 1]]),
                              floor_largest=True)  # fmt: skip
    want = pmargin.margin(book.positions, book.instruments, book.market, model, by_position=True)
    assert read_table(out, "accounts").equals(want.accounts)
    assert read_table(beside(out, "by_position"), "by_position").equals(want.by_position)
    # sqrt(R_B^2 + R_E^2 + 2 rho s_B s_E R_B R_E), floored at the largest requirement.
    by_underlying = want.by_underlying.to_pylist()
    for row in want.accounts.to_pylist()[:20]:
        parts = [r for r in by_underlying if r["account_id"] == row["account_id"]]
        signed = {
            r["underlying"]: r["requirement"] * (1 if (r["worst_price_shock"] or 0.0) <= 0 else -1) for r in parts
        }
        b, e = signed.get("BTC", 0.0), signed.get("ETH", 0.0)
        im = min(math.sqrt(max(0.0, b * b + e * e + 2 * 0.8 * b * e)), abs(b) + abs(e))
        assert row["initial_margin"] == pytest.approx(max(im, abs(b), abs(e)), rel=1e-12, abs=1e-9)


def test_grid_config_still_reads_a_plain_grid(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> None:
    config = tmp_path / "grid.toml"
    config.write_text('price_shocks = [-0.1, 0.0, 0.1]\nvol_shocks = [0.0]\ncross = "joint"\n')
    out = tmp_path / "grid.parquet"
    run_config(parquet_args, config, out)
    model = pmargin.GridModel(price_shocks=[-0.1, 0.0, 0.1], vol_shocks=[0.0], cross="joint")
    assert read_table(out, "accounts").equals(
        pmargin.margin(book.positions, book.instruments, book.market, model).accounts
    )


# --------------------------------------------------------------------------------------------
# Bad flags and combinations: exit status 2 and a one-line message


def expect_error(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in captured.err
    assert captured.out == ""


def mc_config(folder: Path) -> Path:
    write_table(pa.table({"underlying": ["BTC", "ETH"], "vol": [0.05, 0.06]}), folder / "vols.parquet")
    config = folder / "mc.toml"
    config.write_text(
        'type = "montecarlo"\nvols = "vols.parquet"\nn_scenarios = 500\nseed = 1\n'
        'correlation = { names = ["BTC", "ETH"], matrix = [[1.0, 0.5], [0.5, 1.0]] }\n'
    )
    return config


def test_by_position_with_a_monte_carlo_config(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.parquet"
    argv = ["margin", *parquet_args, "--config", str(mc_config(tmp_path)), "--by-position", "--out", str(out)]
    expect_error(argv, capsys, "error: model.by_position: by_position is available for the grid model only")
    assert not out.exists()


def test_by_position_with_a_historical_config(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_table(moves_table(60, 1), tmp_path / "moves.parquet")
    config = tmp_path / "h.toml"
    config.write_text('type = "historical"\nmoves = "moves.parquet"\n')
    argv = ["margin", *parquet_args, "--config", str(config), "--by-position", "--chunk-positions", "40"]
    expect_error(argv, capsys, "by_position is available for the grid model only")


def test_unsupported_output_type_fails_before_any_work(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.xlsx"
    expect_error(
        ["margin", *parquet_args, "--greeks", "--out", str(out)], capsys, "out: unsupported output type '.xlsx'"
    )
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_type(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "m.toml"
    config.write_text('type = "binomial"\n')
    expect_error(
        ["margin", *parquet_args, "--config", str(config)], capsys, "model.type", "unknown model type 'binomial'"
    )


def test_a_key_of_another_model_type(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "m.toml"
    config.write_text('type = "historical"\nmoves = "m.parquet"\nseed = 3\n')
    expect_error(["margin", *parquet_args, "--config", str(config)], capsys, "model.seed", "unknown key 'seed'")


def test_moves_missing_an_underlying(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moves = moves_table(60, 1)
    # Row 21 is ETH on the 11th date (2025-01-11): drop it.
    write_table(pa.concat_tables([moves.slice(0, 21), moves.slice(22)]), tmp_path / "moves.parquet")
    config = tmp_path / "h.toml"
    config.write_text('type = "historical"\nmoves = "moves.parquet"\n')
    expect_error(["margin", *parquet_args, "--config", str(config)], capsys, "moves", "ETH", "2025-01-11")
    write_table(moves_table(60, 1, names=("BTC",)), tmp_path / "moves.parquet")
    expect_error(["margin", *parquet_args, "--config", str(config)], capsys, "no moves for underlying 'ETH'")


def test_too_few_scenarios_for_the_confidence(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_table(moves_table(30, 1), tmp_path / "moves.parquet")
    config = tmp_path / "h.toml"
    config.write_text('type = "historical"\nmoves = "moves.parquet"\nconfidence = 0.99\n')
    expect_error(["margin", *parquet_args, "--config", str(config)], capsys, "confidence")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--by-positions"], "unrecognized arguments: --by-positions"),
        (["--greeks=yes"], "ignored explicit argument 'yes'"),
        (["--chunk-positions", "0"], "must be at least 1"),
    ],
)
def test_bad_flags_are_usage_errors(
    parquet_args: list[str], flags: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["margin", *parquet_args, *flags]) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err and captured.out == ""


def test_by_position_is_a_margin_flag_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--by-position"]) == 2
    assert "unrecognized arguments: --by-position" in capsys.readouterr().err
