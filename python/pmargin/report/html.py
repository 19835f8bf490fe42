"""One HTML file a person reads offline: summary, largest accounts, risk-matrix heatmaps, P&L
against price with the margin lines, margin by underlying and by position, netting and
cross-underlying benefit, Greeks, account states and cascade rounds.

Plots are Plotly figures with plotly.js inlined once (``plotly.offline.get_plotlyjs``): no
network at view time, and a risk team can hover a heatmap cell for its scenario and P&L or zoom
a curve, which a static image cannot do. Plotly is an optional dependency (``pmargin[report]``).
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..accounts.moves import account_rows, held_instruments, moved_market, value_accounts
from ..errors import MarginConfigError, MarginInputError, wrong_argument
from ..io import to_table
from ..run_source import source_of
from ..stream_io import check_targets, commit, temporary_beside

#: Moves of the P&L-against-price curves, as a fraction of spot.
CURVE_MOVES = tuple(k / 100 for k in range(-30, 31, 2))

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f6f8fa}td.t{text-align:left}.kpi{display:inline-block;margin:0 24px 8px 0}
.kpi b{display:block;font-size:20px}.plot{width:100%;max-width:1100px}
"""

# Uncaught script errors land in #report-errors, where the test (and a reader) sees them.
_ERRORS = """<script>window.__reportErrors=[];window.addEventListener('error',function(e){
window.__reportErrors.push(String(e.message));var d=document.getElementById('report-errors');
if(d){d.textContent=window.__reportErrors.join('\\n');}});</script>"""


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        import plotly.offline
    except ImportError:
        raise MarginInputError("the HTML report needs plotly: pip install 'pmargin[report]'", table="report") from None
    return go, plotly.offline


def _money(x: float | None) -> str:
    return "" if x is None else f"{x:,.2f}"


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], text: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if isinstance(v, float):
                cells.append(f"<td>{_money(v)}</td>")
            else:
                cls = ' class="t"' if c in text or not isinstance(v, int | float) else ""
                cells.append(f"<td{cls}>{html.escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class _Figures:
    def __init__(self) -> None:
        self.go, self.offline = _plotly()
        self.count = 0

    def html(self, fig: Any, height: int = 380) -> str:
        self.count += 1
        fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50}, template="plotly_white")
        out: str = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{self.count}")
        return f'<div class="plot">{out}</div>'


def _largest(accounts: pa.Table, n: int) -> list[dict[str, Any]]:
    rows = accounts.to_pylist()
    return sorted(rows, key=lambda r: -r["initial_margin"])[:n]


def _heatmap(figs: _Figures, result: Any, account: Any) -> str:
    matrix = result.scenarios(account)
    names = matrix.column_names
    if "risk_vector" in names:  # one row per risk vector and scenario (Deribit): pivoted
        cells: dict[str, dict[str, float | None]] = {}
        x = []
        for row in matrix.to_pylist():
            scenario = f"{row.get('source', '')} {row.get('index', '')}".strip()
            if scenario not in x:
                x.append(scenario)
            cells.setdefault(str(row["risk_vector"]), {})[scenario] = row["pnl"]
        y = list(cells)
        z = [[cells[v].get(s) for s in x] for v in y]
    else:  # one row per scenario, one column per underlying and the total
        keys = {"scenario", "point", "price_shock", "vol_shock", "label", "total"}
        y = [c for c in names if c not in keys]
        if "label" in names:
            x = [str(v) for v in matrix.column("label").to_pylist()]
        elif "price_shock" in names and "vol_shock" in names:
            x = [
                f"{p:+.1%} / vol {v:+.0%}"
                for p, v in zip(
                    matrix.column("price_shock").to_pylist(), matrix.column("vol_shock").to_pylist(), strict=True
                )
            ]
        else:
            key = next((k for k in ("point", "scenario") if k in names), None)
            x = [f"{key} {v}" for v in matrix.column(key).to_pylist()] if key else [str(i) for i in range(len(matrix))]
        if "total" in names:
            y.append("total")
        z = [matrix.column(u).to_pylist() for u in y]
    fig = figs.go.Figure(figs.go.Heatmap(z=z, x=x, y=y, colorscale="RdYlGn", zmid=0.0))
    fig.update_layout(title=f"Risk matrix of {account}: P&L per scenario and underlying")
    return figs.html(fig, height=230 + 30 * len(y))


def _curves(figs: _Figures, src: Any, account: Any, initial: float, maintenance: float) -> str:
    rows = account_rows(src.positions, account)
    instruments = held_instruments(src.instruments, rows)
    held = sorted(set(instruments.column("underlying").to_pylist()))
    base = value_accounts(src.engine, rows, instruments, src.market, src.model, src.limits).value[account]
    fig = figs.go.Figure()
    for u in held:
        pnl = []
        for m in CURVE_MOVES:
            moved = value_accounts(
                src.engine, rows, instruments, moved_market(src.market, {u: m}), src.model, src.limits
            )
            pnl.append(moved.value[account] - base)
        fig.add_trace(figs.go.Scatter(x=[100 * m for m in CURVE_MOVES], y=pnl, mode="lines+markers", name=f"{u} P&L"))
    fig.add_hline(y=-initial, line_dash="dash", line_color="firebrick", annotation_text="- initial margin")
    fig.add_hline(y=-maintenance, line_dash="dot", line_color="darkorange", annotation_text="- maintenance margin")
    fig.update_layout(
        title=f"P&L of {account} against each underlying's price move", xaxis_title="price move (%)", yaxis_title="P&L"
    )
    return figs.html(fig)


def _attribution(result: Any, src: Any, accounts: list[Any]) -> pa.Table | None:
    if result.by_position is not None:
        return result.by_position
    if src is None:
        return None
    ids = pa.array(accounts, src.positions.schema.field("account_id").type)
    rows = src.positions.filter(pc.is_in(src.positions.column("account_id"), value_set=ids))
    try:
        engine = src.engine(src.instruments, src.market, src.model, limits=src.limits)
        return engine.margin(rows, by_position=True).by_position
    except MarginInputError:  # a model without a per-position attribution
        return None


def _margined_source(result: Any) -> Any:
    """The run's inputs (None for a result without them), id columns as plain strings
    (:func:`pmargin.run_source.source_of`: pyarrow has no kernels for Polars' string_view), and
    without the positions of the accounts a run with ``on_error="isolate"`` left out
    (``result.failed``), as :func:`pmargin.status` does: only the accounts it margined are
    revalued."""
    if getattr(result, "source", None) is None:
        return None
    src = source_of(result)
    failed = getattr(result, "failed", None)
    if failed is not None and failed.num_rows:
        positions = src.positions
        left_out = pa.array(failed.column("account_id").to_pylist(), positions.schema.field("account_id").type)
        kept = pc.invert(pc.is_in(positions.column("account_id"), value_set=left_out))
        src = dataclasses.replace(src, positions=positions.filter(kept))
    return src


def _destination(path: Any) -> Path:
    """``path`` as the report's destination, refused before any work when no file can be put
    there (an existing folder, a missing folder: :func:`pmargin.stream_io.check_targets`)."""
    if isinstance(path, bool) or not isinstance(path, str | os.PathLike):
        raise wrong_argument("path", "a file path (str or pathlib.Path)", path)
    destination = Path(path)
    check_targets([destination])
    return destination


def check_report(path: Any, *, top: Any = 3, title: Any = "pmargin risk report") -> None:
    """Refuse, before any work, a report :func:`write_html` could not write: a destination that
    is a folder, whose folder is missing, or where no file can be created (the error names the
    destination), or a bad ``top`` or ``title`` (``pmargin report`` calls it first)."""
    destination = _destination(path)
    _check_top(top)
    _check_title(title)
    temporary_beside(destination).unlink()


def _check_top(top: Any) -> int:
    if isinstance(top, bool | np.bool_) or not isinstance(top, int | np.integer) or top < 0:
        raise wrong_argument("top", "a whole number >= 0", top)
    return int(top)


def _check_title(title: Any) -> str:
    if not isinstance(title, str):
        raise wrong_argument("title", "a string", title)
    try:
        title.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MarginConfigError(
            f"title must be valid text: it holds the lone surrogate {title[exc.start]!r} at character {exc.start},"
            " which UTF-8 cannot encode",
            table="title",
        ) from None
    return title


#: Columns the report reads from a status table and a cascade's rounds.
STATUS_COLUMNS = ("account_id", "state", "equity", "maintenance_margin")
ROUND_COLUMNS = ("round", "underlying", "price", "notional_sold", "impact", "price_after", "accounts_liquidated")


def _status_table(status: Any) -> pa.Table:
    """The ``accounts`` table of a :func:`pmargin.status` result (or that table itself), with
    the columns the report reads."""
    table = to_table(getattr(status, "accounts", status), "status")
    for column in STATUS_COLUMNS:
        if column not in table.column_names:
            raise MarginInputError(
                f"no column {column!r}: status must be a pmargin.status result or its accounts table",
                table="status",
                column=column,
            )
    return table


def _cascade_rounds(cascade: Any) -> tuple[pa.Table, float]:
    """The rounds and total shortfall of a :func:`pmargin.cascade` result."""
    if not isinstance(getattr(cascade, "rounds", None), pa.Table) or not hasattr(cascade, "total_shortfall"):
        raise wrong_argument("cascade", "a pmargin.cascade result", cascade)
    for column in ROUND_COLUMNS:
        if column not in cascade.rounds.column_names:
            raise MarginInputError(
                f"no column {column!r}: cascade must be a pmargin.cascade result", table="cascade", column=column
            )
    return cascade.rounds, float(cascade.total_shortfall)


def _total(result: Any, name: str) -> float | None:
    """A total the model defines (``total_gross_margin`` from ``gross_margin``), or None."""
    column = {"total_gross_margin": "gross_margin", "cross_underlying_benefit": "cross_underlying_benefit"}[name]
    return float(getattr(result, name)) if column in result.accounts.column_names else None


def write_html(
    result: Any,
    path: str | os.PathLike[str],
    *,
    status: Any = None,
    cascade: Any = None,
    top: int = 3,
    title: str = "pmargin risk report",
) -> None:
    """Write the report of ``result`` (a :class:`~pmargin.MarginResult`) to ``path``, atomically
    (a temporary file in the same folder, then renamed). ``status``: a
    :func:`pmargin.status` result (its ``accounts`` table); ``cascade``: a
    :func:`pmargin.cascade` result. ``top``: accounts drilled into (heatmap, curves, positions).

    Works for every model: the totals, bars and columns a model does not report (a venue model's
    gross margin or cross-underlying benefit) are left out. The accounts a run with
    ``on_error="isolate"`` left out (``result.failed``) are not revalued. The arguments and the
    destination are checked before any work; an error names the destination, and no file is
    created or changed when the report cannot be written."""
    destination = _destination(path)
    top, title = _check_top(top), _check_title(title)
    table = None if status is None else _status_table(status)
    rounds = None if cascade is None else _cascade_rounds(cascade)
    figs = _Figures()
    temporary = temporary_beside(destination)
    try:
        page = _page(figs, result, table, rounds, top, title)
        try:
            temporary.write_bytes(page.encode("utf-8"))
        except OSError as exc:
            raise MarginInputError(f"cannot write {destination}: {exc.strerror or exc}", table="out") from None
        commit([(temporary, destination)])
    finally:
        temporary.unlink(missing_ok=True)


def _page(
    figs: _Figures,
    result: Any,
    status: pa.Table | None,
    cascade: tuple[pa.Table, float] | None,
    top: int,
    title: str,
) -> str:
    src = _margined_source(result)
    accounts = result.accounts
    parts = [f"<h1>{html.escape(title)}</h1>", '<pre id="report-errors" style="color:#b00"></pre>']
    model = getattr(result.model, "type", type(result.model).__name__)
    initial = result.total_initial_margin
    gross, cross = _total(result, "total_gross_margin"), _total(result, "cross_underlying_benefit")
    maintenance = math.fsum(accounts.column("maintenance_margin").to_pylist())
    kpis = [
        ("accounts", f"{accounts.num_rows:,}"),
        ("model", str(model)),
        ("initial margin", _money(initial)),
        ("maintenance margin", _money(maintenance)),
    ]
    if gross is not None:
        kpis += [("gross margin", _money(gross)), ("netting benefit", _money(gross - initial))]
    if cross is not None:
        kpis.append(("cross-underlying benefit", _money(cross)))
    parts.append("<h2>Summary</h2>" + "".join(f'<div class="kpi">{k}<b>{html.escape(v)}</b></div>' for k, v in kpis))
    largest = _largest(accounts, max(10, top))
    parts.append("<h2>Largest accounts</h2>")
    parts.append(
        _table(
            largest,
            [
                c
                for c in (
                    "account_id",
                    "initial_margin",
                    "maintenance_margin",
                    "gross_margin",
                    "netting_benefit",
                    "cross_underlying_benefit",
                )
                if c in accounts.column_names
            ],
            ["account_id"],
        )
    )

    by_u = result.by_underlying
    if "requirement" in by_u.column_names and by_u.num_rows:
        totals: dict[str, float] = {}
        for u, r in zip(by_u.column("underlying").to_pylist(), by_u.column("requirement").to_pylist(), strict=True):
            totals[u] = totals.get(u, 0.0) + r
        fig = figs.go.Figure(figs.go.Bar(x=list(totals), y=list(totals.values()), marker_color="#4c78a8"))
        fig.update_layout(title="Margin by underlying (sum of the per-underlying requirements)")
        parts.append("<h2>Margin by underlying</h2>" + figs.html(fig, 320))

    # Gross minus initial is the netting benefit; the per-underlying sum minus initial is the
    # cross-underlying benefit (the two accounts columns of those names, summed). A model that
    # reports neither (Deribit) gets no such section; SPAN and TIMS only the netting benefit.
    bars, notes = [], []
    if gross is not None:
        bars.append(("gross (each position alone)", gross, "#bab0ac"))
        notes.append(
            "Netting benefit = gross - initial margin (what margining each account as a whole saves"
            " over margining each position alone)"
        )
    if cross is not None:
        bars.append(("sum of per-underlying requirements", initial + cross, "#f58518"))
        notes.append(
            "cross-underlying benefit = sum of the per-underlying requirements - initial margin (what"
            " offsets across underlyings save)"
        )
    if bars:
        heading, name = {
            (True, True): ("Netting and cross-underlying benefit", "Netting benefit and cross-underlying benefit"),
            (True, False): ("Netting benefit", "Netting benefit"),
            (False, True): ("Cross-underlying benefit", "Cross-underlying benefit"),
        }[gross is not None, cross is not None]
        bars.append(("initial margin", initial, "#4c78a8"))
        fig = figs.go.Figure(
            figs.go.Bar(x=[b[0] for b in bars], y=[b[1] for b in bars], marker_color=[b[2] for b in bars])
        )
        fig.update_layout(title=f"{name}, all accounts")
        note = "; ".join(notes)
        parts.append(f"<h2>{heading}</h2><p>{note[0].upper()}{note[1:]}.</p>" + figs.html(fig, 320))

    top_rows = largest[:top]
    attribution = _attribution(result, src, [r["account_id"] for r in top_rows])
    for r in top_rows:
        a = r["account_id"]
        parts.append(f"<h2>Account {html.escape(str(a))}</h2>")
        parts.append(_heatmap(figs, result, a))
        if src is not None:
            parts.append(_curves(figs, src, a, r["initial_margin"], r["maintenance_margin"]))
        if attribution is not None:
            mine = [p for p in attribution.to_pylist() if p["account_id"] == a]
            mine.sort(key=lambda p: -abs(p["contribution"]))
            fig = figs.go.Figure(
                figs.go.Bar(
                    x=[p["instrument_id"] for p in mine], y=[p["contribution"] for p in mine], marker_color="#54a24b"
                )
            )
            fig.update_layout(title=f"Margin of {a} by position (contribution in the driving scenario)")
            parts.append(figs.html(fig, 320))

    if src is not None and src.positions.num_rows:
        engine = src.engine(src.instruments, src.market, src.model, limits=src.limits)
        g = engine.greeks(src.positions).by_underlying
        sums: dict[str, dict[str, float]] = {}
        for row in g.to_pylist():
            s = sums.setdefault(row["underlying"], {"underlying": row["underlying"]})
            for k in ("delta", "gamma", "vega", "theta", "cash_delta", "cash_gamma", "vega_1pct"):
                s[k] = s.get(k, 0.0) + row[k]
        parts.append("<h2>Greeks by underlying (all accounts)</h2>")
        parts.append(
            _table(
                list(sums.values()),
                ["underlying", "delta", "gamma", "vega", "theta", "cash_delta", "cash_gamma", "vega_1pct"],
                ["underlying"],
            )
        )

    if status is not None:
        table = status
        states = table.column("state").to_pylist()
        names = ["ok", "margin_call", "liquidation"]
        fig = figs.go.Figure(
            figs.go.Bar(x=names, y=[states.count(s) for s in names], marker_color=["#54a24b", "#f58518", "#e45756"])
        )
        fig.update_layout(title="Account states")
        parts.append("<h2>Account states</h2>" + figs.html(fig, 300))
        worst = sorted(table.to_pylist(), key=_cushion)[:15]
        cols = [
            c
            for c in (
                "account_id",
                "state",
                "equity",
                "initial_margin",
                "maintenance_margin",
                "excess",
                "distance_to_call",
                "call_move",
                "distance_to_liquidation",
                "liquidation_move",
            )
            if c in table.column_names
        ]
        parts.append(_table(worst, cols, ["account_id", "state", "call_move", "liquidation_move"]))

    if cascade is not None:
        rounds = cascade[0].to_pylist()
        fig = figs.go.Figure()
        for u in dict.fromkeys(r["underlying"] for r in rounds):
            mine = [r for r in rounds if r["underlying"] == u]
            prices = [mine[0]["price"]] + [r["price_after"] for r in mine] if mine else []
            fig.add_trace(
                figs.go.Scatter(
                    x=list(range(len(prices))), y=[p / prices[0] * 100 for p in prices], mode="lines+markers", name=u
                )
            )
        fig.update_layout(
            title="Cascade: price per round (100 = after the shock)", xaxis_title="round", yaxis_title="price index"
        )
        parts.append("<h2>Liquidation cascade</h2>" + figs.html(fig, 320))
        parts.append(f"<p>Total shortfall (bad debt): <b>{_money(cascade[1])}</b></p>")
        parts.append(
            _table(
                rounds,
                ROUND_COLUMNS,
                ["underlying"],
            )
        )

    script = f"<script>{figs.offline.get_plotlyjs()}</script>"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style>{_ERRORS}{script}</head><body>{''.join(parts)}</body></html>"
    )


def _cushion(row: dict[str, Any]) -> float:
    """Equity minus maintenance margin (the accounts closest to liquidation first; an account
    without either, last)."""
    equity, maintenance = row["equity"], row["maintenance_margin"]
    if equity is None or maintenance is None:
        return math.inf
    return float(equity - maintenance)
