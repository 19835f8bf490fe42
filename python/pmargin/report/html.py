"""One HTML file a person reads offline: summary, largest accounts, risk-matrix heatmaps, P&L
against price with the margin lines, margin by underlying and by position, netting and
cross-underlying benefit, Greeks, account states and cascade rounds.

Plots are Plotly figures with plotly.js inlined once (``plotly.offline.get_plotlyjs``): no
network at view time, and a risk team can hover a heatmap cell for its scenario and P&L or zoom
a curve, which a static image cannot do. Plotly is an optional dependency (``pmargin[report]``).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..accounts.moves import account_rows, held_instruments, moved_market, value_accounts
from ..errors import MarginInputError

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
    skip = {"scenario", "price_shock", "vol_shock", "label", "total"}
    underlyings = [c for c in matrix.column_names if c not in skip]
    if "label" in matrix.column_names:
        x = [str(v) for v in matrix.column("label").to_pylist()]
    else:
        x = [
            f"{p:+.1%} / vol {v:+.0%}"
            for p, v in zip(
                matrix.column("price_shock").to_pylist(), matrix.column("vol_shock").to_pylist(), strict=True
            )
        ]
    z = [matrix.column(u).to_pylist() for u in [*underlyings, "total"]]
    fig = figs.go.Figure(figs.go.Heatmap(z=z, x=x, y=[*underlyings, "total"], colorscale="RdYlGn", zmid=0.0))
    fig.update_layout(title=f"Risk matrix of {account}: P&L per scenario and underlying")
    return figs.html(fig, height=260 + 30 * len(underlyings))


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
    rows = src.positions.filter(pa.compute.is_in(src.positions.column("account_id"), value_set=ids))
    try:
        engine = src.engine(src.instruments, src.market, src.model, limits=src.limits)
        return engine.margin(rows, by_position=True).by_position
    except MarginInputError:  # a model without a per-position attribution
        return None


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
    :func:`pmargin.cascade` result. ``top``: accounts drilled into (heatmap, curves, positions)."""
    figs = _Figures()
    src = getattr(result, "source", None)
    accounts = result.accounts
    parts = [f"<h1>{html.escape(title)}</h1>", '<pre id="report-errors" style="color:#b00"></pre>']
    model = getattr(result.model, "type", type(result.model).__name__)
    initial, gross = result.total_initial_margin, result.total_gross_margin
    maintenance = math.fsum(accounts.column("maintenance_margin").to_pylist())
    kpis = [
        ("accounts", f"{accounts.num_rows:,}"),
        ("model", str(model)),
        ("initial margin", _money(initial)),
        ("maintenance margin", _money(maintenance)),
        ("gross margin", _money(gross)),
        ("netting benefit", _money(gross - initial)),
        ("cross-underlying benefit", _money(result.cross_underlying_benefit)),
    ]
    parts.append("<h2>Summary</h2>" + "".join(f'<div class="kpi">{k}<b>{html.escape(v)}</b></div>' for k, v in kpis))
    largest = _largest(accounts, max(10, top))
    parts.append("<h2>Largest accounts</h2>")
    parts.append(
        _table(
            largest,
            [
                "account_id",
                "initial_margin",
                "maintenance_margin",
                "gross_margin",
                "netting_benefit",
                "cross_underlying_benefit",
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
    # cross-underlying benefit (the two accounts columns of those names, summed).
    fig = figs.go.Figure(
        figs.go.Bar(
            x=["gross (each position alone)", "sum of per-underlying requirements", "initial margin"],
            y=[gross, initial + result.cross_underlying_benefit, initial],
            marker_color=["#bab0ac", "#f58518", "#4c78a8"],
        )
    )
    fig.update_layout(title="Netting benefit and cross-underlying benefit, all accounts")
    parts.append(
        "<h2>Netting and cross-underlying benefit</h2>"
        "<p>Netting benefit = gross - initial margin (what margining each account as a whole saves"
        " over margining each position alone); cross-underlying benefit = sum of the per-underlying"
        " requirements - initial margin (what offsets across underlyings save).</p>" + figs.html(fig, 320)
    )

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
        table = getattr(status, "accounts", status)
        states = table.column("state").to_pylist()
        names = ["ok", "margin_call", "liquidation"]
        fig = figs.go.Figure(
            figs.go.Bar(x=names, y=[states.count(s) for s in names], marker_color=["#54a24b", "#f58518", "#e45756"])
        )
        fig.update_layout(title="Account states")
        parts.append("<h2>Account states</h2>" + figs.html(fig, 300))
        worst = sorted(table.to_pylist(), key=lambda r: r["equity"] - r["maintenance_margin"])[:15]
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
        rounds = cascade.rounds.to_pylist()
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
        parts.append(f"<p>Total shortfall (bad debt): <b>{_money(cascade.total_shortfall)}</b></p>")
        parts.append(
            _table(
                rounds,
                ["round", "underlying", "price", "notional_sold", "impact", "price_after", "accounts_liquidated"],
                ["underlying"],
            )
        )

    script = f"<script>{figs.offline.get_plotlyjs()}</script>"
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style>{_ERRORS}{script}</head><body>{''.join(parts)}</body></html>"
    )
    _write_atomic(Path(path), page)


def _write_atomic(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise MarginInputError(f"the folder {folder} of {path} does not exist; create it first", table="out")
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(name, 0o666 & ~mask)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
