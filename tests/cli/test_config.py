"""The command line's model configurations: ``--config`` reads a grid, historical or Monte Carlo
model from TOML and gives the API's margins; bad configurations, flags and combinations exit with
status 2 and a message.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import sample
from pmargin.cli import beside, main
from pmargin.correlation import Correlation
from pmargin.io import read_table, write_table
from pmargin.models import HistoricalModel, MonteCarloModel
from tests.cli.test_outputs import column


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
        'measure = "es"\nconfidence = 0.95\newma_lambda = 0.94\nmm_ratio = 0.8\ntail_scenarios = true\n'
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
        tail_scenarios=True,
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
        "tail_scenarios = 5\n"
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
        tail_scenarios=5,
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
    # The largest loss over the correlation ellipsoid's joint moves: between the largest requirement
    # (floor_largest) and their sum, and made of the positions' losses in the binding move.
    by_underlying = want.by_underlying.to_pylist()
    by_position = want.by_position.to_pylist()
    for row in want.accounts.to_pylist()[:20]:
        requirements = [r["requirement"] for r in by_underlying if r["account_id"] == row["account_id"]]
        assert max(requirements) <= row["initial_margin"] <= sum(requirements) * (1 + 1e-12)
        contributions = [p["contribution"] for p in by_position if p["account_id"] == row["account_id"]]
        if row["initial_margin"] > 0.0:
            assert sum(contributions) == pytest.approx(row["initial_margin"], rel=1e-9, abs=1e-9)


def test_grid_config_still_reads_a_plain_grid(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> None:
    config = tmp_path / "grid.toml"
    config.write_text('price_shocks = [-0.1, 0.0, 0.1]\nvol_shocks = [0.0]\ncross = "joint"\n')
    out = tmp_path / "grid.parquet"
    run_config(parquet_args, config, out)
    model = pmargin.GridModel(price_shocks=[-0.1, 0.0, 0.1], vol_shocks=[0.0], cross="joint")
    assert read_table(out, "accounts").equals(
        pmargin.margin(book.positions, book.instruments, book.market, model).accounts
    )


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


def test_a_config_that_is_not_text(parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "junk.parquet"
    config.write_bytes(b"garbage \xff\x00")
    assert main(["margin", *parquet_args, "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: model: {config}: not UTF-8 text (a model configuration is a TOML text file)\n"
    assert captured.out == ""


def test_memory_budget_option(
    book: sample.SampleBook, parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 Monte Carlo scenarios over the book's 188 instruments need about 1.5 MiB: refused
    under --memory-budget 1MB (the message says how to raise it from the command line), margined
    under 2MB and under the default 8 GiB."""
    write_table(pa.table({"underlying": ["BTC", "ETH"], "vol": [0.7, 0.9]}), tmp_path / "vols.csv")
    write_table(Correlation(["BTC", "ETH"], [[1.0, 0.8], [0.8, 1.0]]).to_table(), tmp_path / "correlation.csv")
    config = tmp_path / "mc.toml"
    config.write_text(
        'type = "montecarlo"\nvols = "vols.csv"\ncorrelation = "correlation.csv"\nn_scenarios = 1000\nseed = 1\n'
    )
    argv = ["margin", *parquet_args, "--config", str(config)]
    assert main([*argv, "--memory-budget", "1MB", "--out", str(tmp_path / "refused.parquet")]) == 2
    assert capsys.readouterr().err == (
        "error: model.n_scenarios: this run needs about 1.5 MiB (1000 scenarios x 188 instruments: risk arrays "
        "1.4 MiB, scenarios 70.3 KiB, draws 31.2 KiB, tail state 0 bytes), over the memory budget of 976.6 KiB; "
        "lower n_scenarios (about 621 fit), margin against fewer instruments at once, or raise --memory-budget BYTES\n"
    )
    assert not list(tmp_path.glob("refused*"))
    for budget in (["--memory-budget", "2MB"], []):
        out = tmp_path / f"mc{len(budget)}.parquet"
        assert main([*argv, *budget, "--out", str(out)]) == 0
    assert read_table(tmp_path / "mc2.parquet", "a").equals(read_table(tmp_path / "mc0.parquet", "a"))
    model = pmargin.load_model(config)
    want = pmargin.margin(book.positions, book.instruments, book.market, model)
    assert read_table(tmp_path / "mc2.parquet", "a").equals(want.accounts)
    # The library's own message names pmargin.Limits.
    with pytest.raises(pmargin.MarginConfigError, match=r"or raise pmargin\.Limits\(memory_budget=\.\.\.\)$"):
        pmargin.margin(book.positions, book.instruments, book.market, model, limits=pmargin.Limits(memory_budget=10**6))


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("1048576", 1048576),
        ("500MB", 500_000_000),
        ("16GiB", 16 << 30),
        ("1.5 gib", 3 << 29),
        ("2kB", 2000),
        ("3KiB", 3072),
        ("7b", 7),
        ("1TB", 10**12),
    ],
)
def test_memory_budget_units(text: str, count: int) -> None:
    from pmargin.cli import byte_count

    assert byte_count(text) == count


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "not a number of bytes: 'abc' (a whole number, or with a unit: 500MB, 16GiB)"),
        ("16XB", "not a number of bytes: '16XB' (a whole number, or with a unit: 500MB, 16GiB)"),
        ("-1", "not a number of bytes: '-1' (a whole number, or with a unit: 500MB, 16GiB)"),
        ("0", "must be at least 1 byte and under 2^64 bytes, got '0'"),
        ("0.1b", "must be at least 1 byte and under 2^64 bytes, got '0.1b'"),
        ("16EiB", "not a number of bytes: '16EiB' (a whole number, or with a unit: 500MB, 16GiB)"),
        ("20000000TB", "must be at least 1 byte and under 2^64 bytes, got '20000000TB'"),
    ],
)
def test_bad_memory_budgets_are_usage_errors(
    parquet_args: list[str], capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert main(["margin", *parquet_args, f"--memory-budget={text}"]) == 2
    assert capsys.readouterr().err.endswith(f"pmargin margin: error: argument --memory-budget: {message}\n")


def test_memory_budget_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "--memory-budget BYTES bytes the run may allocate for its scenarios and risk arrays (default 8GiB)" in help_text
    )
    assert "e.g. 500MB or 16GiB (kB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: of 1024)" in help_text


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {
                "p.toml": 'name="x"\nversion="1"\n[[combined_commodities]]\nname="BTC"\nunderlyings=["BTC"]\n'
                "price_scan_range=0.1\ntiers=[30, 90]\nintra_spreads=[{tiers=[1, inf], charge=1.0}]\n",
                "m.toml": 'type = "span"\nparams = "p.toml"\n',
            },
            "model.combined_commodities[0].intra_spreads[0].tiers: tier inf is not one of 1..2",
        ),
        ({"m.toml": 'type = "tims"\n[ranges]\nequity = 5\n'}, "model.ranges.equity: must be (down, up)"),
        ({"m.toml": 'type = "tims"\nranges = [0.1, 0.1]\n'}, "model.ranges: must map product classes to (down, up)"),
        (
            {"m.toml": 'type = "deribit"\nversion = 20261203\n'},
            "params.version: a parameter set's version must be a string (an edition or date), got int",
        ),
    ],
)
def test_model_values_that_reach_python_built_ins_exit_2(
    parquet_args: list[str], tmp_path: Path, files: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 8 (audit 11c): these gave a raw OverflowError / TypeError and a traceback."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["margin", *parquet_args, "--config", str(tmp_path / "m.toml")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {message}") and "Traceback" not in captured.err
    assert captured.out == ""
