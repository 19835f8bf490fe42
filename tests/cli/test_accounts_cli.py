"""pmargin.accounts_cli: ``pmargin report`` writes the HTML report (with account states and the
cascade when collateral and a shock are given); ``pmargin reconcile`` is in
tests/accounts/test_reconcile.py."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
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
