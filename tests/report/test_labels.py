"""The HTML report's benefit section names the two quantities it shows (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly  # noqa: F401  (a pinned dev dependency: its absence is a failure, not a skip)

import pmargin
from tests.methods.models import sample_book

BOOK = sample_book()


def test_the_benefit_section_names_netting_and_cross_underlying_benefit(tmp_path: Path) -> None:
    result = pmargin.margin(BOOK.positions, BOOK.instruments, BOOK.market, pmargin.GridModel(cross="joint"))
    path = tmp_path / "report.html"
    result.to_html(path, top=1)
    text = path.read_text()
    assert "diversification" not in text.lower()
    assert "<h2>Netting and cross-underlying benefit" in text
    assert '<div class="kpi">netting benefit<b>' in text
    assert '<div class="kpi">cross-underlying benefit<b>' in text
    assert '"title":{"text":"Netting benefit and cross-underlying benefit, all accounts"}' in text
    assert (
        "<p>Netting benefit = gross - initial margin (what margining each account as a whole saves over"
        " margining each position alone); cross-underlying benefit = sum of the per-underlying"
        " requirements - initial margin (what offsets across underlyings save).</p>"
    ) in text
    # The bars: gross, the per-underlying sum and initial margin, whose gaps to initial margin are
    # the two benefits.
    bars = re.search(
        r'"x":\["gross \(each position alone\)","sum of per-underlying requirements","initial margin"\],'
        r'"y":\[([^\]]*)\]',
        text,
    )
    assert bars is not None
    gross, per_underlying, initial = (float(v) for v in bars.group(1).split(","))
    assert gross == result.total_gross_margin == 60228713.32785361
    assert initial == result.total_initial_margin == 15826602.816619704
    assert per_underlying == initial + result.cross_underlying_benefit == 21686781.767046247
    assert result.cross_underlying_benefit == 5860178.950426542
