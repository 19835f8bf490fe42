"""``pmargin simm`` and ``pmargin portfolio-risk``: the ORE example CRIF as a CSV file gives the
published SIMM (call and post) and the written tables; portfolio-risk writes the same numbers as
the API; bad input exits 2 with the package's error."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from pmargin import sample
from pmargin.cli import main
from pmargin.io import read_table, write_table
from pmargin.portfolio_risk import Covariance, portfolio_risk

CASE = Path(__file__).resolve().parents[1] / "cases" / "simm" / "ore-v2.6-10d-ir-bermudan.json"


@pytest.mark.parametrize("side", ["call", "post"])
def test_simm_csv(tmp_path: Path, side: str) -> None:
    case = json.loads(CASE.read_text())
    crif = tmp_path / "crif.csv"
    pcsv.write_csv(pa.table(case["crif"]), crif)
    out = tmp_path / "simm.parquet"
    assert main(["simm", "--crif", str(crif), "--side", side, "--out", str(out)]) == 0
    accounts = read_table(out, "out")
    assert accounts.column("simm")[0].as_py() == pytest.approx(case["expected"][side]["simm"], rel=1e-9)
    contributions = read_table(tmp_path / "simm.contributions.parquet", "out")
    assert sum(contributions.column("contribution").to_pylist()) == pytest.approx(
        case["expected"][side]["simm"], rel=1e-9
    )
    assert (tmp_path / "simm.buckets.parquet").exists()


def test_simm_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = json.loads(CASE.read_text())
    crif = tmp_path / "crif.csv"
    pcsv.write_csv(pa.table(case["crif"]), crif)
    assert main(["simm", "--crif", str(crif)]) == 0
    assert "1,086,219.46" in capsys.readouterr().out


def test_simm_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crif = tmp_path / "crif.csv"
    pcsv.write_csv(
        pa.table(
            {
                "Portfolio": ["P"],
                "ProductClass": ["RatesFX"],
                "RiskType": ["Risk_CreditQ"],
                "Qualifier": ["X"],
                "AmountUSD": [1.0],
            }
        ),
        crif,
    )
    assert main(["simm", "--crif", str(crif)]) == 2
    assert "crif.RiskType, row 0" in capsys.readouterr().err


def test_simm_account_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crif = tmp_path / "crif.csv"
    rows = {"ProductClass": ["Equity"] * 2, "RiskType": ["Risk_Equity"] * 2, "Qualifier": ["X", "X"], "Bucket": [1, 1]}
    pcsv.write_csv(pa.table({"Portfolio": ["alice", "bob"], **rows, "AmountUSD": [1000.0, -1000.0]}), crif)
    out = tmp_path / "simm.parquet"
    assert main(["simm", "--crif", str(crif), "--out", str(out)]) == 0
    assert read_table(out, "out").to_pylist() == [
        {"account": "alice", "simm": 30000.0},
        {"account": "bob", "simm": 30000.0},
    ]
    # A named account column the CRIF lacks: an error, not every row in one account.
    assert main(["simm", "--crif", str(crif), "--account-column", "Account"]) == 2
    assert "crif.Account: missing column" in capsys.readouterr().err


def test_portfolio_risk(book: sample.SampleBook, parquet_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "risk.parquet"
    args = [
        "portfolio-risk",
        *parquet_args,
        "--return-vol",
        "BTC=0.6",
        "--return-vol",
        "ETH=0.8",
        "--horizon-days",
        "10",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    want = portfolio_risk(
        book.positions, book.instruments, book.market, Covariance.from_vols({"BTC": 0.6, "ETH": 0.8}), horizon_days=10
    )
    got = read_table(out, "out")
    assert got.column("volatility").to_pylist() == pytest.approx(
        want.accounts.column("volatility").to_pylist(), rel=1e-12
    )
    assert read_table(tmp_path / "risk.positions.parquet", "out").num_rows == want.positions.num_rows


def test_portfolio_risk_needs_a_covariance(parquet_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["portfolio-risk", *parquet_args]) == 2
    assert "--return-vol" in capsys.readouterr().err


@pytest.mark.parametrize("horizon", ["0", "-1"])
def test_portfolio_risk_bad_moves_horizon(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], horizon: str
) -> None:
    moves = tmp_path / "moves.parquet"
    write_table(
        pa.table(
            {
                "date": pa.array([0, 0, 1, 1, 2, 2], pa.int32()).cast(pa.date32()),
                "underlying": ["BTC", "ETH"] * 3,
                "return": [0.01, 0.02, -0.02, 0.01, 0.03, -0.01],
            }
        ),
        moves,
    )
    assert main(["portfolio-risk", *parquet_args, "--moves", str(moves), "--moves-horizon-days", horizon]) == 2
    err = capsys.readouterr().err
    assert f"covariance.horizon_days: horizon_days must be a finite number > 0, got {float(horizon)}" in err
    assert "Traceback" not in err
