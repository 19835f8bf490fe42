"""pmargin.reconcile (pmargin.accounts.reconcile) and ``pmargin reconcile``: a statement built from
our own result with known injected differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import pmargin
from pmargin import sample
from pmargin.cli import main

from .conftest import ENCODINGS, encoded


@pytest.fixture(scope="module")
def case() -> tuple[sample.SampleBook, pmargin.MarginResult, list[Any], dict[Any, dict[str, float]]]:
    book = sample.book(n_accounts=12, seed=7)
    result = pmargin.margin(book.positions, book.instruments, book.market)
    parts: dict[Any, dict[str, float]] = {}
    for row in result.by_underlying.to_pylist():
        parts.setdefault(row["account_id"], {})[row["underlying"]] = row["requirement"]
    both = [a for a, p in parts.items() if {"BTC", "ETH"} <= set(p)]
    btc = [a for a, p in parts.items() if "BTC" in p and a not in both[:1]]
    others = [a for a in parts if a not in both[:1] and a != btc[0]]
    return book, result, [btc[0], others[0], both[0], others[1]], parts


def statement(result: pmargin.MarginResult, chosen: list[Any], parts: dict[Any, dict[str, float]]) -> pa.Table:
    """Theirs = ours, except: chosen[0] +500 on BTC; chosen[1] +0.004 (within tolerance); chosen[2]
    -300 on ETH and -50 on BTC; chosen[3] left out; an account we do not have added."""
    rows = []
    for a, im in zip(*(result.accounts.column(c).to_pylist() for c in ("account_id", "initial_margin")), strict=True):
        btc, eth = parts[a].get("BTC"), parts[a].get("ETH")
        if a == chosen[0]:
            im, btc = im + 500.0, btc + 500.0  # type: ignore[operator]
        elif a == chosen[1]:
            im += 0.004
        elif a == chosen[2]:
            im, eth, btc = im - 350.0, eth - 300.0, btc - 50.0  # type: ignore[operator]
        elif a == chosen[3]:
            continue
        rows.append({"account_id": a, "initial_margin": im, "BTC": btc, "ETH": eth})
    rows.append({"account_id": "zzz", "initial_margin": 1.0, "BTC": None, "ETH": None})
    return pa.Table.from_pylist(rows)


def test_injected_differences_are_found_and_explained(case: tuple) -> None:
    _book, result, chosen, parts = case
    rec = pmargin.reconcile(result, statement(result, chosen, parts), tolerance=0.01, top=1000)
    rows = {r["account_id"]: r for r in rec.accounts.to_pylist()}
    assert len(rows) == result.accounts.num_rows + 1
    first = rows[chosen[0]]
    assert first["difference"] == pytest.approx(-500.0, abs=1e-9)
    assert (first["within_tolerance"], first["explaining_component"]) == (False, "BTC")
    assert first["explaining_difference"] == pytest.approx(-500.0, abs=1e-9)
    assert rows[chosen[1]]["within_tolerance"] is True
    third = rows[chosen[2]]
    assert third["difference"] == pytest.approx(350.0, abs=1e-9)
    assert (third["explaining_component"], third["explaining_difference"]) == ("ETH", pytest.approx(300.0, abs=1e-9))
    assert (rows[chosen[3]]["explaining_component"], rows[chosen[3]]["theirs"]) == ("missing_in_statement", None)
    assert (rows["zzz"]["explaining_component"], rows["zzz"]["ours"]) == ("missing_in_ours", None)
    untouched = [r for a, r in rows.items() if a not in chosen and a != "zzz"]
    assert all(r["within_tolerance"] and r["difference"] == 0.0 for r in untouched)
    assert {r["account_id"] for r in rec.disputes.to_pylist()} == {chosen[0], chosen[2], chosen[3], "zzz"}
    components = {(r["account_id"], r["component"]): r for r in rec.components.to_pylist()}
    assert components[(chosen[2], "BTC")]["difference"] == pytest.approx(50.0, abs=1e-9)
    # The positions that move: chosen[0]'s BTC positions, sharing the +500 by contribution.
    moved = [r for r in rec.positions.to_pylist() if r["account_id"] == chosen[0]]
    assert moved and all(r["instrument_id"].startswith("BTC-") and r["component"] == "BTC" for r in moved)
    assert sum(r["change_if_matched"] for r in moved) == pytest.approx(500.0, rel=1e-9)
    changes = [abs(r["change_if_matched"]) for r in moved]
    assert changes == sorted(changes, reverse=True)


def test_statement_errors_name_table_column_and_row(case: tuple) -> None:
    _, result, _, _ = case
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.reconcile(result, pa.table({"account_id": ["a"]}))
    assert (info.value.table, info.value.column) == ("statement", "initial_margin")
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.reconcile(result, pa.table({"account_id": ["a", "a"], "initial_margin": [1.0, 2.0]}))
    assert (info.value.table, info.value.column, info.value.row) == ("statement", "account_id", 1)
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.reconcile(result, pa.table({"account_id": ["a"], "initial_margin": [float("inf")]}))
    assert (info.value.column, info.value.row) == ("initial_margin", 0)


def test_cli_writes_the_disputes_atomically(case: tuple, tmp_path: Path) -> None:
    book, result, chosen, parts = case
    files = {}
    for name, table in (
        ("positions", book.positions),
        ("instruments", book.instruments),
        ("underlyings", book.underlyings),
        ("vols", book.vols),
        ("statement", statement(result, chosen, parts)),
    ):
        files[name] = tmp_path / f"{name}.parquet"
        import pyarrow.parquet as pq

        pq.write_table(table, files[name])
    out = tmp_path / "disputes.csv"
    args = [f"--{k}={v}" for k, v in files.items()]
    assert main(["reconcile", *args, f"--as-of={book.as_of.isoformat()}", f"--out={out}"]) == 0
    disputes = pacsv.read_csv(out).to_pylist()
    assert {r["account_id"] for r in disputes} == {chosen[0], chosen[2], chosen[3], "zzz"}
    assert (tmp_path / "disputes.components.csv").exists() and (tmp_path / "disputes.positions.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    # A bad statement: exit 2, and nothing written.
    out2 = tmp_path / "none.csv"
    pq.write_table(pa.table({"account_id": ["a"]}), files["statement"])
    assert main(["reconcile", *args, f"--as-of={book.as_of.isoformat()}", f"--out={out2}"]) == 2
    assert not out2.exists()


def test_venue_components_are_matched_by_name() -> None:
    """A SPAN result against a statement with SPAN's own component columns: a +120 scanning risk
    difference on the venue's side is named as the component that explains the dispute."""
    from pmargin.presets import span

    book = sample.book(n_accounts=8, seed=11)
    result = pmargin.margin(book.positions, book.instruments, book.market, span())
    ours = result.accounts.to_pylist()
    target = ours[0]["account_id"]
    rows = []
    for r in ours:
        bump = 120.0 if r["account_id"] == target else 0.0
        rows.append(
            {
                "account_id": r["account_id"],
                "initial_margin": r["initial_margin"] + bump,
                "scanning_risk": r["scanning_risk"] + bump,
                "intra_charge": r["intra_charge"],
                "short_option_minimum": r["short_option_minimum"],
            }
        )
    rec = pmargin.reconcile(result, pa.Table.from_pylist(rows), tolerance=0.01)
    by_account = {r["account_id"]: r for r in rec.accounts.to_pylist()}
    assert by_account[target]["difference"] == pytest.approx(-120.0, abs=1e-9)
    assert by_account[target]["explaining_component"] == "scanning_risk"
    assert by_account[target]["explaining_difference"] == pytest.approx(-120.0, abs=1e-9)
    assert [r["account_id"] for r in rec.disputes.to_pylist()] == [target]
    components = {(r["account_id"], r["component"]): r["difference"] for r in rec.components.to_pylist()}
    assert components[(target, "intra_charge")] == 0.0
    # SPAN has no attribution: the positions are ranked by incremental margin (the account's margin
    # less the margin without each netted position), sharing the +120 among them.
    moved = [r for r in rec.positions.to_pylist() if r["account_id"] == target]
    assert moved
    engine = pmargin.MarginEngine(book.instruments, book.market, span())
    held = book.positions.filter(pa.compute.equal(book.positions.column("account_id"), target))
    alone = engine.margin(held).accounts.column("initial_margin")[0].as_py()
    for r in moved:
        without = held.filter(pa.compute.not_equal(held.column("instrument_id"), r["instrument_id"]))
        rest = engine.margin(without).accounts.column("initial_margin").to_pylist() if without.num_rows else [0.0]
        assert r["contribution"] == pytest.approx(alone - rest[0], rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("how", ENCODINGS)
def test_a_polars_or_encoded_book_reconciles_as_plain_strings(case: tuple, how: str) -> None:
    """The audit's case: a dispute with an explaining component re-margins the positions, which
    failed on string_view ids (no is_in kernel)."""
    book, result, chosen, parts = case
    expected = pmargin.reconcile(result, statement(result, chosen, parts), top=3)
    assert expected.positions.num_rows > 0
    encoded_result = pmargin.margin(encoded(book.positions, how), book.instruments, book.market)
    got = pmargin.reconcile(encoded_result, encoded(statement(result, chosen, parts), how), top=3)
    for name in ("accounts", "components", "positions"):
        assert getattr(got, name).equals(getattr(expected, name)), name


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ("3", "reconcile.top: must be an integer >= 0, got '3'"),
        (2.5, "reconcile.top: must be an integer >= 0, got 2.5"),
        (-1, "reconcile.top: must be an integer >= 0, got -1"),
        (True, "reconcile.top: must be an integer >= 0, got True"),
        (None, "reconcile.top: must be an integer >= 0, got None"),
    ],
)
def test_top_must_be_a_count(case: tuple, top: object, message: str) -> None:
    _, result, chosen, parts = case
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.reconcile(result, statement(result, chosen, parts), top=top)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_top_takes_numpy_integers_and_zero(case: tuple) -> None:
    _, result, chosen, parts = case
    assert pmargin.reconcile(result, statement(result, chosen, parts), top=0).positions.num_rows == 0
    two = pmargin.reconcile(result, statement(result, chosen, parts), top=np.int64(2)).positions
    assert 0 < two.num_rows <= 2 * 2


def test_decimal_and_text_columns_of_a_statement(case: tuple) -> None:
    """Decimal columns are numbers; text and time columns (currency, date) are not components."""
    _, result, chosen, parts = case
    plain = statement(result, chosen, parts)
    expected = pmargin.reconcile(result, plain)
    dec = pa.decimal128(20, 8)
    table = plain.set_column(1, "initial_margin", plain.column("initial_margin").cast(dec))
    table = table.set_column(2, "BTC", plain.column("BTC").cast(pa.decimal256(40, 8)))
    n = table.num_rows
    table = table.append_column("currency", pa.array(["USD"] * n)).append_column(
        "as_of", pa.array([0] * n, pa.timestamp("s"))
    )
    got = pmargin.reconcile(result, table)
    assert got.components.column("component").unique().to_pylist() == ["BTC", "ETH"]
    for name in ("accounts", "components"):
        for x, y in zip(getattr(got, name).to_pylist(), getattr(expected, name).to_pylist(), strict=True):
            assert x == pytest.approx(y, abs=1e-7)


def test_a_component_written_as_text_is_an_error_other_text_is_ignored(case: tuple, tmp_path: Path) -> None:
    """The review's case: a CSV statement whose BTC figures have thousands separators ("12,345.60")
    reads as text; it was silently not compared, hiding a 10x dispute. A text column named like one
    of our components (an underlying, or a float column of result.accounts) is an error; other
    text columns (currency) are still ignored."""
    _, result, chosen, parts = case
    plain = statement(result, chosen, parts)
    expected = pmargin.reconcile(result, plain)
    n = plain.num_rows
    with_currency = plain.append_column("currency", pa.array(["USD"] * n)).append_column("desk", pa.array(["x"] * n))
    got = pmargin.reconcile(result, with_currency)
    assert got.components.column("component").unique().to_pylist() == ["BTC", "ETH"]
    assert got.accounts.equals(expected.accounts)
    path = tmp_path / "statement.csv"
    lines = ["account_id,initial_margin,BTC,currency"]
    for a, im in zip(*(result.accounts.column(c).to_pylist() for c in ("account_id", "initial_margin")), strict=True):
        lines.append(f'{a},{im},"{10 * parts[a].get("BTC", 0.0):,.2f}",USD')
    path.write_text("\n".join(lines) + "\n")
    text = pmargin.io.read_table(path, "statement")
    assert pa.types.is_string(text.schema.field("BTC").type)
    with pytest.raises(pmargin.MarginInputError) as info:
        pmargin.reconcile(result, text)
    assert (info.value.table, info.value.column, info.value.row) == ("statement", "BTC", None)
    assert str(info.value).startswith("statement.BTC: a component column must be numeric, got strings (string)")
    # A component of result.accounts (gross_margin) and an underlying with no row in the statement.
    for name in ("gross_margin", "ETH"):
        table = plain.drop_columns(["ETH"]).append_column(name, pa.array(["1,000.00"] * n))
        with pytest.raises(pmargin.MarginInputError, match=rf"statement\.{name}: a component column must be numeric"):
            pmargin.reconcile(result, table)
    # maintenance_margin is never compared, text or not; an empty (null) component has nothing to compare.
    ignored = plain.append_column("maintenance_margin", pa.array(["n/a"] * n))
    assert pmargin.reconcile(result, ignored).accounts.equals(expected.accounts)
    empty = plain.drop_columns(["ETH"]).append_column("ETH", pa.nulls(n))
    assert pmargin.reconcile(result, empty).components.column("component").unique().to_pylist() == ["BTC"]


def test_invalid_utf8_in_a_statement_is_an_error_at_its_row(case: tuple) -> None:
    _, result, _, _ = case
    data, offsets = b"a\xff", pa.py_buffer(np.array([0, 1, 2], "int32").tobytes())
    ids = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(data)])
    with pytest.raises(pmargin.MarginInputError, match=r"statement\.account_id, row 1: not valid UTF-8 text"):
        pmargin.reconcile(result, pa.table({"account_id": ids, "initial_margin": [1.0, 2.0]}))


def test_statement_ids_of_another_kind_are_matched_by_value() -> None:
    """The audit's case: int64 positions ids, a CSV statement (ids read as text): raw ArrowInvalid."""
    book = sample.book(n_accounts=4, seed=7)
    codes = {a: 1000 + k for k, a in enumerate(dict.fromkeys(book.positions.column("account_id").to_pylist()))}
    positions = book.positions.set_column(
        0, "account_id", pa.array([codes[a] for a in book.positions["account_id"].to_pylist()])
    )
    result = pmargin.margin(positions, book.instruments, book.market)
    ours = result.accounts.to_pylist()
    text = pa.table(
        {
            "account_id": [str(r["account_id"]) for r in ours[1:]] + ["2000"],
            "initial_margin": [r["initial_margin"] for r in ours[1:]] + [5.0],
        }
    )
    rows = {r["account_id"]: r for r in pmargin.reconcile(result, text).accounts.to_pylist()}
    assert rows[ours[1]["account_id"]]["difference"] == 0.0
    assert rows[ours[0]["account_id"]]["explaining_component"] == "missing_in_statement"
    assert rows[2000]["explaining_component"] == "missing_in_ours"
    for bad, kind in (("01000", "text"), ("x", "text")):
        with pytest.raises(pmargin.MarginInputError) as info:
            pmargin.reconcile(result, pa.table({"account_id": [bad], "initial_margin": [1.0]}))
        assert (info.value.table, info.value.column, info.value.row) == ("statement", "account_id", 0)
        assert f"account id {bad!r} ({kind}) cannot be matched to the margin result's account ids (int64)" in str(
            info.value
        )
    with pytest.raises(pmargin.MarginInputError, match=r"statement\.account_id, row 0: account id 1.5 \(float\)"):
        pmargin.reconcile(result, pa.table({"account_id": [1.5], "initial_margin": [1.0]}))
    huge = pa.table({"account_id": ["1000", "9" * 25], "initial_margin": [1.0, 1.0]})
    with pytest.raises(
        pmargin.MarginInputError, match=r"statement\.account_id, row 1: account id 9+ does not fit .*\(int64\)"
    ):
        pmargin.reconcile(result, huge)
    # Integer statement ids against text ours: the digits.
    text_result = pmargin.margin(book.positions, book.instruments, book.market)
    numbers = pa.table({"account_id": [7], "initial_margin": [1.0]})
    rows = {r["account_id"]: r for r in pmargin.reconcile(text_result, numbers).accounts.to_pylist()}
    assert rows["7"]["explaining_component"] == "missing_in_ours"
