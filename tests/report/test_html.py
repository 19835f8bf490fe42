"""pmargin.report.html: the offline HTML report opened in headless Chromium (the Debian
``chromium`` package): no script errors, every plot rendered with data, a screenshot that is not
blank, and no network reference."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import plotly  # noqa: F401  (a pinned dev dependency: its absence is a failure, not a skip)
import pyarrow as pa
import pytest

import pmargin
from pmargin import sample

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Skipped on a developer machine without Chromium; under CI (which installs it) never skipped.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="no chromium (installed by .ci/run)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--virtual-time-budget=15000",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    book = sample.book(n_accounts=40, seed=7)
    result = pmargin.margin(book.positions, book.instruments, book.market)
    ids = result.accounts.column("account_id").to_pylist()
    im = result.accounts.column("initial_margin").to_pylist()
    collateral = pa.table({"account_id": ids, "asset": ["USD"] * len(ids), "amount": [1.3 * m for m in im]})
    assets = {"USD": (1.0, 0.0)}
    status = pmargin.status(result, collateral, assets, distances=False)
    cascade = pmargin.cascade(
        book.positions,
        book.instruments,
        book.market,
        None,
        collateral,
        assets,
        shock=-0.2,
        depth={"BTC": 5e6, "ETH": 1e6},
    )
    path = tmp_path_factory.mktemp("report") / "report.html"
    result.to_html(path, status=status, cascade=cascade, top=2)
    return path


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=180, check=False)


def test_the_file_is_self_contained(report: Path) -> None:
    text = report.read_text()
    assert "<script src" not in text
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?://", text)
    for section in (
        "Summary",
        "Largest accounts",
        "Margin by underlying",
        "Netting and cross-underlying benefit",
        "Greeks by underlying",
        "Account states",
        "Liquidation cascade",
    ):
        assert f"<h2>{section}" in text, section


def test_every_plot_renders_without_script_errors(report: Path) -> None:
    run = chromium("--dump-dom", report.as_uri())
    dom = run.stdout
    assert "Uncaught" not in run.stderr, run.stderr[-2000:]
    errors = re.search(r'<pre id="report-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1).strip() == ""
    plots = re.findall(
        r'<div id="plot-\d+" class="plotly-graph-div.*?(?=<div id="plot-\d+" class="plotly-graph-div|</body>)',
        dom,
        re.S,
    )
    # Summary bars, netting, 2 x (heatmap, curves, positions), states, cascade.
    assert len(plots) == 10
    for p in plots:
        assert 'class="main-svg"' in p
        # A drawn trace: bars and lines are SVG paths, a heatmap an image of its cells.
        assert re.search(r'class="(point|trace scatter|hm)|<image|class="js-line"', p), p[:300]


def test_the_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    shot = tmp_path / "report.png"
    chromium("--window-size=1280,3000", f"--screenshot={shot}", report.as_uri())
    with image.open(shot) as png:
        gray = png.convert("L")
        pixels = list(gray.getdata())
    mean = sum(pixels) / len(pixels)
    variance = sum((p - mean) ** 2 for p in pixels) / len(pixels)
    non_white = sum(p < 240 for p in pixels) / len(pixels)
    assert variance > 200.0 and non_white > 0.05, (variance, non_white)


@pytest.mark.parametrize("kind", ["grid", "historical", "montecarlo"])
def test_every_model_gets_a_report(kind: str, tmp_path: Path) -> None:
    from tests.accounts.test_accounts import models

    model = {m.type: m for m in models()}[kind]
    book = sample.book(n_accounts=6, seed=9)
    result = pmargin.margin(book.positions, book.instruments, book.market, model)
    path = tmp_path / "r.html"
    result.to_html(path, top=2)
    text = path.read_text()
    # Book-wide bars, then per account a heatmap and the curves, and (grid: attribution) positions.
    assert text.count('class="plotly-graph-div"') == (8 if kind == "grid" else 6)
    assert "Risk matrix of" in text and "against each underlying" in text
    run = chromium("--dump-dom", path.as_uri())
    assert "Uncaught" not in run.stderr
    assert run.stdout.count('class="main-svg"') >= 6
