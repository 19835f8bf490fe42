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


# --------------------------------------------------------------------------------------------
# Outputs as `pmargin margin` writes them: checked before any work, all tables or none.


def _crif(tmp_path: Path, extra: dict[str, pa.Array] | None = None) -> Path:
    """The ORE example CRIF, with ``extra`` columns appended (a Parquet file: CSV has no nested
    types)."""
    table = pa.table(json.loads(CASE.read_text())["crif"])
    for name, column in (extra or {}).items():
        table = table.append_column(name, column)
    path = tmp_path / ("crif.parquet" if extra else "crif.csv")
    if extra:
        write_table(table, path)
    else:
        pcsv.write_csv(table, path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry of ``folder`` (hidden ones too: a left temporary file shows) and its bytes
    (None for a folder)."""
    return {p.name: None if p.is_dir() else p.read_bytes() for p in sorted(folder.iterdir())}


SIMM_TABLES = ["accounts", "buckets", "contributions", "product_classes", "risk_classes"]
SIMM_FILES = ["r.buckets.csv", "r.contributions.csv", "r.csv", "r.product_classes.csv", "r.risk_classes.csv"]


def test_simm_csv_flattens_list_columns(tmp_path: Path) -> None:
    rows = json.loads(CASE.read_text())["crif"]["Portfolio"]
    crif = _crif(tmp_path, {"Tags": pa.array([["a", "b"]] * len(rows), pa.list_(pa.string()))})
    out = tmp_path / "out" / "r.csv"
    out.parent.mkdir()
    assert main(["simm", "--crif", str(crif), "--out", str(out)]) == 0
    assert sorted(_snapshot(out.parent)) == SIMM_FILES
    contributions = pcsv.read_csv(out.parent / "r.contributions.csv")
    assert contributions.column("Tags").to_pylist() == ["a b"] * len(rows)  # as `pmargin margin` writes lists


def test_simm_failed_write_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "r.csv"
    out.parent.mkdir()
    assert main(["simm", "--crif", str(_crif(tmp_path)), "--out", str(out)]) == 0
    before = _snapshot(out.parent)
    assert sorted(before) == SIMM_FILES
    # A struct column cannot be written as CSV: the contributions table fails after the other
    # tables were written (to temporary files), on the post side (other numbers everywhere).
    n = len(json.loads(CASE.read_text())["crif"]["Portfolio"])
    crif = _crif(tmp_path, {"Meta": pa.array([{"desk": "x"}] * n)})
    capsys.readouterr()
    assert main(["simm", "--crif", str(crif), "--side", "post", "--out", str(out)]) == 2
    assert "error: " in capsys.readouterr().err
    assert _snapshot(out.parent) == before  # byte for byte, and no temporary file left


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing/r.parquet", "does not exist; create it first"),
        ("r.txt", "unsupported output type '.txt'"),
        ("r.parquet", "r.buckets.parquet: it is an existing folder"),
    ],
)
def test_simm_bad_out_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, message: str
) -> None:
    (tmp_path / "r.buckets.parquet").mkdir()
    before = _snapshot(tmp_path)
    # The CRIF does not exist: the error is about --out, so --out was checked first.
    assert main(["simm", "--crif", str(tmp_path / "nothing.csv"), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "nothing.csv" not in err
    assert _snapshot(tmp_path) == before


def test_simm_folder_out(tmp_path: Path) -> None:
    out = tmp_path / "result"
    assert main(["simm", "--crif", str(_crif(tmp_path)), "--out", str(out)]) == 0
    assert sorted(_snapshot(out)) == [f"{name}.parquet" for name in SIMM_TABLES]
    assert read_table(out / "accounts.parquet", "out").column("simm")[0].as_py() == pytest.approx(
        json.loads(CASE.read_text())["expected"]["call"]["simm"], rel=1e-9
    )


RISK_VOLS = ["--return-vol", "BTC=0.6", "--return-vol", "ETH=0.8"]


def test_portfolio_risk_failed_write_changes_nothing(
    parquet_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pmargin.stream_io

    out = tmp_path / "r.csv"
    assert main(["portfolio-risk", *parquet_args, *RISK_VOLS, "--out", str(out)]) == 0
    before = _snapshot(tmp_path)
    assert sorted(before) == ["r.csv", "r.positions.csv"]

    write_output = pmargin.stream_io.write_output

    def disk_full(table: pa.Table, path: Path) -> None:  # the positions table fails half-written
        if ".positions." in path.name:
            path.write_text("half")
            raise OSError(28, "No space left on device", str(path))
        write_output(table, path)

    monkeypatch.setattr(pmargin.stream_io, "write_output", disk_full)
    capsys.readouterr()
    assert (
        main(["portfolio-risk", *parquet_args, "--return-vol", "BTC=0.1", "--return-vol", "ETH=0.1", "--out", str(out)])
        == 2
    )
    assert "No space left on device" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing/r.parquet", "does not exist; create it first"),
        ("r.txt", "unsupported output type '.txt'"),
        ("r.parquet", "r.positions.parquet: it is an existing folder"),
    ],
)
def test_portfolio_risk_bad_out_before_any_work(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, message: str
) -> None:
    (tmp_path / "r.positions.parquet").mkdir()
    before = _snapshot(tmp_path)
    # The correlation file does not exist: the error is about --out, so --out was checked first.
    args = [*RISK_VOLS, "--correlation", str(tmp_path / "nothing.parquet"), "--out", str(tmp_path / out)]
    assert main(["portfolio-risk", *parquet_args, *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "nothing.parquet" not in err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--moves", "M", *RISK_VOLS], "--return-vol cannot be combined with --moves"),
        (["--moves", "M", "--correlation", "C"], "--correlation cannot be combined with --moves"),
        (["--moves", "M", "--correlation", "C", *RISK_VOLS], "--return-vol and --correlation cannot be combined"),
        ([*RISK_VOLS, "--ewma-lambda", "0.5"], "--ewma-lambda applies only with --moves"),
        ([*RISK_VOLS, "--moves-horizon-days", "7"], "--moves-horizon-days applies only with --moves"),
        ([*RISK_VOLS, "--moves-horizon-days", "1"], "--moves-horizon-days applies only with --moves"),
        (
            [*RISK_VOLS, "--ewma-lambda", "0.5", "--moves-horizon-days", "7"],
            "--ewma-lambda and --moves-horizon-days apply only with --moves",
        ),
        ([*RISK_VOLS, "--return-vol", "BTC=0.1"], "--return-vol gives BTC twice ('BTC=0.6' and 'BTC=0.1')"),
        (["--return-vol", "=0.6"], "--return-vol '=0.6' must be UNDERLYING=VOL"),
        (["--return-vol", "BTC=x"], "--return-vol 'BTC=x' must be UNDERLYING=VOL"),
    ],
)
def test_portfolio_risk_conflicting_options(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    # M and C do not exist and no output is written: the options are refused before any work.
    out = tmp_path / "r.parquet"
    options = [str(tmp_path / o) if o in ("M", "C") else o for o in options]
    assert main(["portfolio-risk", *parquet_args, *options, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: cli: {message}" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_portfolio_risk_moves_options(parquet_args: list[str], tmp_path: Path) -> None:
    """With --moves, --moves-horizon-days and --ewma-lambda are used (default horizon 1)."""
    moves = tmp_path / "moves.parquet"
    write_table(
        pa.table(
            {
                "date": pa.array([0, 0, 1, 1, 2, 2, 3, 3], pa.int32()).cast(pa.date32()),
                "underlying": ["BTC", "ETH"] * 4,
                "return": [0.01, 0.02, -0.02, 0.01, 0.03, -0.01, 0.0, 0.02],
            }
        ),
        moves,
    )
    vols = {}
    for name, options in {
        "default": [],
        "horizon": ["--moves-horizon-days", "4"],
        "ewma": ["--ewma-lambda", "0.5"],
    }.items():
        out = tmp_path / f"{name}.parquet"
        assert main(["portfolio-risk", *parquet_args, "--moves", str(moves), *options, "--out", str(out)]) == 0
        vols[name] = read_table(out, "out").column("volatility").to_pylist()
    assert vols["horizon"] == pytest.approx([v / 2 for v in vols["default"]], rel=1e-12)  # sqrt(1/4)
    assert vols["ewma"] != pytest.approx(vols["default"], rel=1e-6)


def test_an_output_that_is_an_input_is_refused_before_any_work(
    parquet_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out, or a table written beside it, on the CRIF or an input of portfolio-risk: exit 2
    naming both, the input untouched."""
    crif = _crif(tmp_path)
    beside = crif.with_name("r.contributions.csv")  # where `--out r.csv` writes the contributions
    beside.write_bytes(crif.read_bytes())
    before = _snapshot(tmp_path)
    for given, out, written in ((crif, crif, crif), (beside, tmp_path / "r.csv", beside)):
        assert main(["simm", "--crif", str(given), "--out", str(out)]) == 2
        assert capsys.readouterr().err == (
            f"error: out: cannot write {written}: it is the --crif file {given}; write the results somewhere else\n"
        )
    assert _snapshot(tmp_path) == before
    positions = Path(parquet_args[parquet_args.index("--positions") + 1])
    kept = positions.read_bytes()
    assert main(["portfolio-risk", *parquet_args, *RISK_VOLS, "--out", str(positions)]) == 2
    assert f"cannot write {positions}: it is the --positions file {positions}" in capsys.readouterr().err
    assert positions.read_bytes() == kept
