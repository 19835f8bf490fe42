"""pmargin.accounts_cli: ``pmargin report`` writes the HTML report (with account states and the
cascade when collateral and a shock are given); ``pmargin reconcile`` is in
tests/accounts/test_reconcile.py."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pmargin import sample
from pmargin.cli import main

pytest.importorskip("plotly")


def test_report_writes_one_self_contained_file(tmp_path: Path) -> None:
    book = sample.book(n_accounts=15, seed=2)
    ids = sorted(set(book.positions.column("account_id").to_pylist()))
    tables = {
        "positions": book.positions,
        "instruments": book.instruments,
        "underlyings": book.underlyings,
        "vols": book.vols,
        "collateral": pa.table({"account_id": ids, "asset": ["USD"] * len(ids), "amount": [50_000.0] * len(ids)}),
        "assets": pa.table({"asset": ["USD"], "price": [1.0], "haircut": [0.0]}),
    }
    args = []
    for name, table in tables.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        args.append(f"--{name}={tmp_path / f'{name}.parquet'}")
    out = tmp_path / "report.html"
    code = main(
        [
            "report",
            *args,
            f"--as-of={book.as_of.isoformat()}",
            f"--html={out}",
            "--shock=-0.2",
            "--depth=BTC=5e6",
            "--depth=ETH=1e6",
            "--top=1",
        ]
    )
    assert code == 0
    text = out.read_text()
    assert "<h2>Account states</h2>" in text and "<h2>Liquidation cascade</h2>" in text
    assert text.count('class="plotly-graph-div"') == 7  # 2 book-wide, 3 for the account, states, cascade
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert (
        main(["report", *args, f"--as-of={book.as_of.isoformat()}", f"--html={out}", "--shock=-0.2", "--depth=BTC"])
        == 2
    )


def test_report_refuses_bad_flags_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pmargin import accounts_cli

    book = sample.book(n_accounts=3, seed=2)
    args = []
    for name in ("positions", "instruments", "underlyings", "vols"):
        pq.write_table(getattr(book, name), tmp_path / f"{name}.parquet")
        args.append(f"--{name}={tmp_path / f'{name}.parquet'}")
    # No book is read when a flag is wrong: the inputs reader fails the test if it is reached.
    monkeypatch.setattr(accounts_cli, "_inputs", lambda _: pytest.fail("the book was read"))
    folder = tmp_path / "adir"
    folder.mkdir()
    cases = {
        f"--html={folder}": "adir",
        f"--html={tmp_path / 'positions.parquet'}": "--positions",
        "--top=-1": "top",
        "--depth=BTC=5e6": "--depth needs --shock",
    }
    for flag, said in cases.items():
        html = [] if flag.startswith("--html") else [f"--html={tmp_path / 'r.html'}"]
        assert main(["report", *args, f"--as-of={book.as_of.isoformat()}", *html, flag]) == 2, flag
        assert said in capsys.readouterr().err, flag
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adir",
        "instruments.parquet",
        "positions.parquet",
        "underlyings.parquet",
        "vols.parquet",
    ]


def _integer_id_files(tmp_path: Path) -> list[str]:
    """The audit's case: positions in Parquet with int64 ids, the other tables beside them."""
    tables = {
        "positions": pa.table(
            {"account_id": pa.array([1001, 1002]), "instrument_id": ["BTC-SPOT", "BTC-PERP"], "quantity": [1.0, -2.0]}
        ),
        "instruments": pa.table(
            {"instrument_id": ["BTC-SPOT", "BTC-PERP"], "underlying": ["BTC", "BTC"], "kind": ["spot", "perpetual"]}
        ),
        "underlyings": pa.table({"underlying": ["BTC"], "spot": [60000.0]}),
    }
    args = []
    for name, table in tables.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        args.append(f"--{name}={tmp_path / f'{name}.parquet'}")
    return [*args, "--as-of=2026-06-30T08:00:00Z"]


def test_csv_collateral_matches_integer_account_ids(tmp_path: Path) -> None:
    """CSV ids are text: "1001" is account 1001, not a stranger (every account was liquidated)."""
    args = _integer_id_files(tmp_path)
    (tmp_path / "coll.csv").write_text("account_id,asset,amount\n1001,USD,1000000\n1002,USD,1000000\n")
    (tmp_path / "assets.csv").write_text("asset,price,haircut\nUSD,1,0\n")
    out = tmp_path / "r.html"
    files = [f"--collateral={tmp_path / 'coll.csv'}", f"--assets={tmp_path / 'assets.csv'}"]
    assert main(["report", *args, *files, f"--html={out}"]) == 0
    text = out.read_text()
    assert "liquidation</td>" not in text and text.count(">ok</td>") == 2
    # A balances file lists cash-only accounts too (1003: no positions): its state is reported,
    # margins 0, and the cascade runs with it (it takes no part).
    (tmp_path / "coll.csv").write_text("account_id,asset,amount\n1001,USD,1000000\n1002,USD,1000000\n1003,USD,-5\n")
    flat = tmp_path / "flat.html"
    assert main(["report", *args, *files, "--shock=-0.2", "--depth=BTC=1e9", f"--html={flat}"]) == 0
    text = flat.read_text()
    assert text.count(">ok</td>") == 2 and text.count(">liquidation</td>") == 1
    assert ">1003</td>" in text
    # A text id that is not an integer's canonical digits is still an error, not ignored.
    (tmp_path / "coll.csv").write_text("account_id,asset,amount\n1001,USD,1000000\n01002,USD,1000000\n")
    assert main(["report", *args, *files, f"--html={tmp_path / 'none.html'}"]) == 2
    assert not (tmp_path / "none.html").exists()


def test_reconcile_matches_a_csv_statement_to_integer_account_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = _integer_id_files(tmp_path)
    statement = tmp_path / "statement.csv"
    statement.write_text("account_id,initial_margin,currency\n1001,9000,USD\n1002,18000,USD\n")
    out = tmp_path / "d.csv"
    assert main(["reconcile", *args, f"--statement={statement}", f"--out={out}"]) == 0
    assert pacsv.read_csv(out).num_rows == 0  # both accounts agree: no dispute
    statement.write_text("account_id,initial_margin\n1001,9000\nX-1,18000\n")
    assert main(["reconcile", *args, f"--statement={statement}", f"--out={tmp_path / 'e.csv'}"]) == 2
    err = capsys.readouterr().err
    assert "statement.account_id, row 1: account id 'X-1' (text) cannot be matched" in err
    assert "ArrowInvalid" not in err and "Could not convert" not in err


def test_reconcile_refuses_an_output_that_would_replace_its_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = _integer_id_files(tmp_path)
    statement = tmp_path / "statement.csv"
    text = "account_id,initial_margin\n1001,9000\n1002,18000\n"
    statement.write_text(text)
    assert main(["reconcile", *args, f"--statement={statement}", f"--out={statement}"]) == 2
    assert "--statement" in capsys.readouterr().err
    assert statement.read_text() == text
