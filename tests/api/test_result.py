"""The result of a margin run (pmargin.result): every table as Polars, the two benefits under
their two names, and the optional ``tail_scenarios`` column of VaR / ES models."""

from __future__ import annotations

import math

import polars as pl
import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.models import HistoricalModel
from tests.methods.models import config_error, historical_moves, mc_model, sample_book

BOOK = sample_book()


def same_frame(frame: pl.DataFrame, table: pa.Table) -> None:
    """The Polars frame holds the table's rows and columns (values compared as Python objects)."""
    assert frame.columns == table.column_names
    assert frame.height == table.num_rows
    assert frame.to_dicts() == table.to_pylist()


def test_to_polars_covers_every_table_of_a_grid_run() -> None:
    result = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, by_position=True)
    frames = result.to_polars()
    same_frame(frames.accounts, result.accounts)
    same_frame(frames.by_underlying, result.by_underlying)
    assert result.by_position is not None and result.explain is not None
    assert frames.by_position is not None and frames.explain is not None
    same_frame(frames.by_position, result.by_position)
    same_frame(frames.explain, result.explain)
    for account in result.accounts.column("account_id").to_pylist()[:3]:
        same_frame(frames.scenarios(account), result.scenarios(account))
    with pytest.raises(pmargin.MarginInputError):
        frames.scenarios("no such account")


def test_to_polars_has_a_frame_for_every_table_attribute_and_unpacks_in_its_documented_order() -> None:
    result = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, by_position=True)
    frames = result.to_polars()
    # Every pyarrow table the result holds (by_position=True: none of them is None).
    tables = {name: value for name, value in vars(result).items() if isinstance(value, pa.Table)}
    assert sorted(tables) == ["accounts", "by_position", "by_underlying", "explain", "failed"]
    assert set(frames._fields) == set(tables) | {"scenarios"}
    for name, table in tables.items():
        same_frame(getattr(frames, name), table)
    accounts, by_underlying, by_position, explain, scenarios, failed = frames
    unpacked = (accounts, by_underlying, by_position, explain, scenarios, failed)
    named = (frames.accounts, frames.by_underlying, frames.by_position, frames.explain, frames.scenarios, frames.failed)
    assert all(a is b for a, b in zip(unpacked, named, strict=True))
    # Nothing failed: an empty table with the failed table's columns and types.
    assert failed.columns == ["account_id", "table", "column", "row", "reason"]
    assert failed.dtypes == [pl.String, pl.String, pl.String, pl.Int64, pl.String]
    assert failed.height == 0


def test_to_polars_includes_the_accounts_an_isolating_run_left_out() -> None:
    ids = BOOK.positions.column("account_id").to_pylist()
    instruments = BOOK.positions.column("instrument_id").to_pylist()
    bad = [i if a != "acct-000002" else "NOPE" for a, i in zip(ids, instruments, strict=True)]
    broken = BOOK.positions.set_column(1, "instrument_id", pa.array(bad))
    result = pmargin.margin(broken, BOOK.instruments, BOOK.market, on_error="isolate")
    frames = result.to_polars()
    same_frame(frames.failed, result.failed)
    # The account's first row (row 8) names the unknown instrument; the other 399 are margined.
    assert frames.failed.to_dicts() == [
        {
            "account_id": "acct-000002",
            "table": "positions",
            "column": "instrument_id",
            "row": 8,
            "reason": "unknown instrument 'NOPE'",
        }
    ]
    same_frame(frames.accounts, result.accounts)
    assert "acct-000002" not in frames.accounts["account_id"].to_list()
    assert frames.accounts.height == len(set(ids)) - 1 == 399


def test_greeks_to_polars_covers_both_tables() -> None:
    for engine in (pmargin, reference):
        greeks = engine.greeks(BOOK.positions, BOOK.instruments, BOOK.market)  # type: ignore[attr-defined]
        frames = greeks.to_polars()
        assert frames._fields == greeks._fields == ("positions", "by_underlying")
        positions, by_underlying = frames
        same_frame(positions, greeks.positions)
        same_frame(by_underlying, greeks.by_underlying)
        # One row per (account, instrument) pair whose quantities do not net to zero.
        netted: dict[tuple[str, str], list[float]] = {}
        for r in BOOK.positions.to_pylist():
            netted.setdefault((r["account_id"], r["instrument_id"]), []).append(r["quantity"])
        held = sum(1 for q in netted.values() if math.fsum(q) != 0.0)
        assert positions.height == greeks.positions.num_rows == held == 3926
        assert by_underlying.columns == greeks.by_underlying.column_names


def test_to_polars_without_attribution_and_under_a_var_model() -> None:
    result = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, mc_model(500, tail_scenarios=True))
    frames = result.to_polars()
    assert frames.by_position is None and frames.explain is None
    same_frame(frames.accounts, result.accounts)
    assert frames.accounts.schema["tail_scenarios"] == pl.List(pl.Int32)
    same_frame(frames.by_underlying, result.by_underlying)
    account = result.accounts.column("account_id")[0].as_py()
    same_frame(frames.scenarios(account), result.scenarios(account))


@pytest.mark.parametrize("engine", [pmargin, reference])
def test_netting_and_cross_underlying_benefits_have_two_names(engine: object) -> None:
    result = engine.margin(BOOK.positions, BOOK.instruments, BOOK.market)  # type: ignore[attr-defined]
    rows = result.accounts.to_pylist()
    assert "diversification_benefit" not in result.accounts.column_names
    for r in rows:
        assert r["netting_benefit"] == r["gross_margin"] - r["initial_margin"]
        # cross="sum": the requirements add up, nothing is saved across underlyings.
        assert r["cross_underlying_benefit"] == pytest.approx(0.0, abs=1e-9 * (1.0 + r["initial_margin"]))
    assert result.netting_benefit == pytest.approx(math.fsum(r["netting_benefit"] for r in rows), rel=1e-12)
    assert result.netting_benefit > 0.2 * result.total_gross_margin
    assert result.cross_underlying_benefit == pytest.approx(0.0, abs=1e-6)
    # The old attribute keeps its old meaning (gross minus initial).
    assert result.diversification_benefit == result.netting_benefit
    joint = engine.margin(  # type: ignore[attr-defined]
        BOOK.positions, BOOK.instruments, BOOK.market, pmargin.GridModel(cross="joint")
    )
    assert joint.cross_underlying_benefit > 0.0
    assert joint.cross_underlying_benefit < joint.netting_benefit


def test_tail_scenarios_column_is_off_by_default_all_or_capped() -> None:
    moves = historical_moves(120)
    off = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, HistoricalModel(moves, confidence=0.95))
    assert "tail_scenarios" not in off.accounts.column_names
    everything = HistoricalModel(moves, confidence=0.95, tail_scenarios=True)
    capped = HistoricalModel(moves, confidence=0.95, tail_scenarios=2)
    for engine in (pmargin, reference):
        full = engine.margin(BOOK.positions, BOOK.instruments, BOOK.market, everything).accounts
        two = engine.margin(BOOK.positions, BOOK.instruments, BOOK.market, capped).accounts
        # ES at 95% over 120 dates: k = 6 tail scenarios, the worst 2 when capped.
        tails = full.column("tail_scenarios").to_pylist()
        assert {len(t) for t in tails} <= {0, 6} and 6 in {len(t) for t in tails}
        assert two.column("tail_scenarios").to_pylist() == [t[:2] for t in tails]
        assert two.drop_columns(["tail_scenarios"]).equals(off.accounts) or engine is reference
        assert full.column_names[-2:] == ["tail_scenarios", "binding_window"]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "all", None])
def test_tail_scenarios_must_be_a_bool_or_a_count(bad: object) -> None:
    err = config_error(lambda: HistoricalModel(historical_moves(40), tail_scenarios=bad))  # type: ignore[arg-type]
    assert err.column == "tail_scenarios"
    err = config_error(lambda: mc_model(100, tail_scenarios=bad))
    assert err.column == "tail_scenarios"
