"""The HTML report renders for every model type (grid sum / joint / correlation and add-ons,
historical, Monte Carlo, SPAN, TIMS, Deribit), leaving out the totals and bars a model does not
report; for a run with ``on_error="isolate"`` (the failed account left out); and for Polars
(``string_view``) and dictionary id columns (no browser needed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly  # noqa: F401  (a pinned dev dependency: its absence is a failure, not a skip)
import polars as pl
import pyarrow as pa
import pytest

import pmargin
from pmargin import sample
from pmargin.correlation import Correlation
from pmargin.models import GridModel
from pmargin.presets import deribit, span, tims
from tests.accounts.test_accounts import HISTORY
from tests.methods.models import mc_model

BOOK = sample.book(n_accounts=6, seed=9)


def model_of(kind: str) -> Any:
    makers: dict[str, Callable[[], Any]] = {
        "grid-sum": lambda: GridModel(cross="sum"),
        "grid-joint": lambda: GridModel(cross="joint"),
        "grid-correlation": lambda: GridModel(
            cross="correlation", correlation=Correlation(["BTC", "ETH"], [[1.0, 0.7], [0.7, 1.0]])
        ),
        "grid-addons": lambda: GridModel(calendar_rate=0.01, short_option_minimum=0.05),
        "historical": lambda: pmargin.HistoricalModel(HISTORY, measure="es", confidence=0.8),
        "montecarlo": lambda: mc_model(n=200, seed=3),
        "span": span,
        "tims": lambda: tims({"BTC": "equity", "ETH": "broad_index"}),
        "deribit": deribit,
    }
    return makers[kind]()


def kpis(text: str) -> dict[str, str]:
    return dict(re.findall(r'<div class="kpi">([^<]*)<b>([^<]*)</b></div>', text))


def headings(text: str) -> list[str]:
    return re.findall(r"<h2>([^<]*)", text)


def traces(text: str) -> dict[str, list[dict[str, Any]]]:
    """The data (traces) of each plot, by plot id."""
    out = {}
    for m in re.finditer(r'Plotly\.newPlot\(\s*"(plot-\d+)",\s*', text):
        out[m.group(1)], _ = json.JSONDecoder().raw_decode(text, m.end())
    return out


def money(x: float) -> str:
    return f"{x:,.2f}"


# kind: (reports gross margin, reports cross-underlying benefit, margin by underlying bars,
# per-position attribution)
SECTIONS = {
    "grid-sum": (True, True, True, True),
    "grid-joint": (True, True, True, True),
    "grid-correlation": (True, True, True, True),
    "grid-addons": (True, True, True, False),
    "historical": (True, True, True, False),
    "montecarlo": (True, True, True, False),
    "span": (True, False, False, False),
    "tims": (True, False, False, False),
    "deribit": (False, False, True, False),
}


@pytest.mark.parametrize("kind", sorted(SECTIONS))
def test_every_model_gets_a_report_without_what_it_does_not_define(kind: str, tmp_path: Path) -> None:
    gross, cross, by_underlying, attribution = SECTIONS[kind]
    result = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, model_of(kind))
    assert ("gross_margin" in result.accounts.column_names) == gross
    assert ("cross_underlying_benefit" in result.accounts.column_names) == cross
    path = tmp_path / "r.html"
    result.to_html(path, top=2)
    text = path.read_text()

    shown = kpis(text)
    expected = {
        "accounts": "6",
        "model": result.model.type,
        "initial margin": money(result.total_initial_margin),
        "maintenance margin": money(sum(result.accounts.column("maintenance_margin").to_pylist())),
    }
    if gross:
        expected["gross margin"] = money(result.total_gross_margin)
        expected["netting benefit"] = money(result.total_gross_margin - result.total_initial_margin)
    if cross:
        expected["cross-underlying benefit"] = money(result.cross_underlying_benefit)
    assert shown == expected

    top = sorted(result.accounts.to_pylist(), key=lambda r: -r["initial_margin"])[:2]
    benefit = {
        (True, True): ["Netting and cross-underlying benefit"],
        (True, False): ["Netting benefit"],
        (False, False): [],
    }[gross, cross]
    assert headings(text) == [
        "Summary",
        "Largest accounts",
        *(["Margin by underlying"] if by_underlying else []),
        *benefit,
        *(f"Account {r['account_id']}" for r in top),
        "Greeks by underlying (all accounts)",
    ]
    # The largest-accounts table has only the columns the model reports.
    head = re.search(r"<h2>Largest accounts</h2><table><tr>(.*?)</tr>", text)
    assert head is not None
    columns = re.findall(r"<th>([^<]*)</th>", head.group(1))
    assert columns == [
        "account_id",
        "initial_margin",
        "maintenance_margin",
        *(["gross_margin", "netting_benefit"] if gross else []),
        *(["cross_underlying_benefit"] if cross else []),
    ]
    # Per drilled account: the risk-matrix heatmap with data, the P&L curves, and (grid) positions.
    for r in top:
        assert f"Risk matrix of {r['account_id']}: P&L per scenario and underlying" in text
        assert f"P&L of {r['account_id']} against each underlying" in text
        assert (f"Margin of {r['account_id']} by position" in text) == attribution
    plots = traces(text)
    heatmaps = [t for data in plots.values() for t in data if t["type"] == "heatmap"]
    assert len(heatmaps) == 2
    for h in heatmaps:  # a row of P&L per underlying (or risk vector), one value per scenario
        assert h["y"] and h["x"] and len(h["z"]) == len(h["y"])
        assert all(len(row) == len(h["x"]) and any(v is not None for v in row) for row in h["z"])
    book_plots = by_underlying + bool(benefit)
    assert len(plots) == text.count('class="plotly-graph-div"') == book_plots + 2 * (2 + attribution)


def test_a_deribit_heatmap_has_one_row_per_risk_vector(tmp_path: Path) -> None:
    result = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, deribit())
    account = max(result.accounts.to_pylist(), key=lambda r: r["initial_margin"])["account_id"]
    matrix = result.scenarios(account)
    path = tmp_path / "r.html"
    result.to_html(path, top=1)
    text = path.read_text()
    (heatmap,) = [t for data in traces(text).values() for t in data if t["type"] == "heatmap"]
    vectors = list(dict.fromkeys(matrix.column("risk_vector").to_pylist()))
    assert heatmap["y"] == vectors
    assert heatmap["x"][:2] == ["standard 0", "standard 1"] and "extended 0" in heatmap["x"]
    first = [r for r in matrix.to_pylist() if r["risk_vector"] == vectors[0]]
    assert heatmap["z"][0][: len(first)] == [r["pnl"] for r in first]


ISOLATE_INSTRUMENTS = pa.table(
    {"instrument_id": ["BTC-SPOT", "BTC-PERP"], "underlying": ["BTC", "BTC"], "kind": ["spot", "perpetual"]}
)
ISOLATE_MARKET = pmargin.Market("2026-06-30T08:00:00Z", pa.table({"underlying": ["BTC"], "spot": [60000.0]}))
ISOLATE_POSITIONS = pa.table(
    {
        "account_id": ["a", "b", "stale"],
        "instrument_id": ["BTC-SPOT", "BTC-PERP", "BTC-DELISTED"],
        "quantity": [1.0, -2.0, 5.0],
    }
)


def without_scripts(text: str) -> str:
    return re.sub(r"<script>.*?</script>", "", text, flags=re.S)


@pytest.mark.parametrize("with_status", [False, True])
def test_an_isolate_result_reports_the_margined_accounts_only(with_status: bool, tmp_path: Path) -> None:
    result = pmargin.margin(ISOLATE_POSITIONS, ISOLATE_INSTRUMENTS, ISOLATE_MARKET, on_error="isolate")
    assert result.failed.column("account_id").to_pylist() == ["stale"]
    kwargs: dict[str, Any] = {}
    if with_status:
        collateral = pa.table({"account_id": ["a", "b"], "asset": ["USD", "USD"], "amount": [1e4, 2e4]})
        kwargs["status"] = pmargin.status(result, collateral, {"USD": (1.0, 0.0)}, distances=False)
    path = tmp_path / "r.html"
    result.to_html(path, top=5, **kwargs)
    text = path.read_text()
    assert kpis(text)["accounts"] == "2"
    assert kpis(text)["initial margin"] == money(result.total_initial_margin)
    assert [h for h in headings(text) if h.startswith("Account ")] == [
        "Account b",
        "Account a",
        *(["Account states"] if with_status else []),
    ]
    assert "Greeks by underlying (all accounts)" in headings(text)
    page = without_scripts(text)
    assert "stale" not in page and "BTC-DELISTED" not in page


def test_polars_and_dictionary_ids_give_the_same_report(tmp_path: Path) -> None:
    model = GridModel(cross="joint")
    plain = tmp_path / "plain.html"
    pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, model).to_html(plain, top=2)
    # Polars keeps ids as string_view; a dictionary id column is what a Parquet reader may give.
    polars = pl.from_arrow(BOOK.positions)
    assert isinstance(polars, pl.DataFrame)
    assert pa.table(polars).schema.field("account_id").type == pa.string_view()
    dictionary = BOOK.positions.set_column(
        0, "account_id", BOOK.positions.column("account_id").dictionary_encode()
    ).set_column(1, "instrument_id", BOOK.positions.column("instrument_id").dictionary_encode())
    assert BOOK.positions.column_names[:2] == ["account_id", "instrument_id"]
    # Polars categoricals are dictionaries of string_view; a string_view column the report does
    # not read must not stop it filtering the book either.
    categorical = polars.with_columns(
        pl.col("account_id").cast(pl.Categorical), pl.col("instrument_id").cast(pl.Categorical), desk=pl.lit("d")
    )
    assert pa.table(categorical).schema.field("account_id").type.value_type == pa.string_view()
    large = BOOK.positions.set_column(0, "account_id", BOOK.positions.column("account_id").cast(pa.large_string()))
    for name, positions, instruments in (
        ("polars", polars, pl.from_arrow(BOOK.instruments)),
        ("categorical", categorical, pl.from_arrow(BOOK.instruments)),
        ("dictionary", dictionary, BOOK.instruments),
        ("large", large, BOOK.instruments),
    ):
        result = pmargin.margin(positions, instruments, BOOK.market, model)
        path = tmp_path / f"{name}.html"
        result.to_html(path, top=2)
        text = path.read_text()
        assert "Margin of " in text and "by position" in text, name
        assert text == plain.read_text(), name
