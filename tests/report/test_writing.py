"""Writing the HTML report: a destination that cannot take a file, bad arguments and a status or
cascade that is not one are pmargin errors, raised before any work, naming the destination or
argument (never a temporary file); no file is created, changed or left behind on any failure."""

from __future__ import annotations

import errno
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import plotly  # noqa: F401  (a pinned dev dependency: its absence is a failure, not a skip)
import pyarrow as pa
import pytest

import pmargin
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.report import check_report
from pmargin.report import html as report_html

INSTRUMENTS = pa.table(
    {"instrument_id": ["BTC-SPOT", "BTC-PERP"], "underlying": ["BTC", "BTC"], "kind": ["spot", "perpetual"]}
)
MARKET = pmargin.Market("2026-06-30T08:00:00Z", pa.table({"underlying": ["BTC"], "spot": [60000.0]}))
POSITIONS = pa.table({"account_id": ["a", "b"], "instrument_id": ["BTC-SPOT", "BTC-PERP"], "quantity": [1.0, -2.0]})
RESULT = pmargin.margin(POSITIONS, INSTRUMENTS, MARKET)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_destination_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    for run in (partial(RESULT.to_html, tmp_path / "adir"), partial(check_report, tmp_path / "adir")):
        with pytest.raises(MarginInputError) as info:
            run()
        assert str(info.value) == f"out: cannot write {tmp_path / 'adir'}: it is an existing folder"
    assert files(tmp_path) == ["adir"]


def test_a_missing_folder_or_a_file_as_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "r.html"
    with pytest.raises(MarginInputError, match="does not exist; create it first") as info:
        RESULT.to_html(missing)
    assert info.value.reason == f"the folder {tmp_path / 'no'} of {missing} does not exist; create it first"
    (tmp_path / "file").write_text("x")
    with pytest.raises(MarginInputError) as info:
        RESULT.to_html(tmp_path / "file" / "r.html")
    assert info.value.reason == f"cannot write {tmp_path / 'file' / 'r.html'}: {tmp_path / 'file'} is not a folder"
    assert files(tmp_path) == ["file"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")
def test_a_folder_where_no_file_can_be_created_is_named() -> None:
    for run in (partial(RESULT.to_html, "/proc/pmargin_report.html"), partial(check_report, "/proc/r.html")):
        with pytest.raises(MarginInputError) as info:
            run()
        message = str(info.value)
        assert message.startswith("out: cannot write /proc/"), message
        assert "/proc/." not in message  # not the temporary file


def test_a_failed_write_names_the_destination_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "r.html"
    destination.write_text("old")

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(MarginInputError) as info:
        RESULT.to_html(destination)
    assert str(info.value) == f"out: cannot write {destination}: {os.strerror(errno.ENOSPC)}"
    assert files(tmp_path) == ["r.html"] and destination.read_text() == "old"


def test_an_error_while_building_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    destination = tmp_path / "r.html"
    destination.write_text("old")

    def broken(*args: Any) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(report_html, "_heatmap", broken)
    with pytest.raises(RuntimeError, match="boom"):
        RESULT.to_html(destination)
    assert files(tmp_path) == ["r.html"] and destination.read_text() == "old"


def test_a_report_replaces_the_destination_with_ordinary_permissions(tmp_path: Path) -> None:
    destination = tmp_path / "r.html"
    destination.write_text("old")
    RESULT.to_html(str(destination), title="desk <b> é")
    text = destination.read_text(encoding="utf-8")
    assert "<h1>desk &lt;b&gt; é</h1>" in text
    assert files(tmp_path) == ["r.html"]
    mask = os.umask(0)
    os.umask(mask)
    assert destination.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_title_with_a_lone_surrogate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MarginConfigError) as info:
        RESULT.to_html(tmp_path / "r.html", title="desk \udcff")
    assert info.value.table == "title"
    assert "lone surrogate '\\udcff' at character 5" in str(info.value)
    with pytest.raises(MarginConfigError, match="title must be a string, got None"):
        RESULT.to_html(tmp_path / "r.html", title=None)
    assert files(tmp_path) == []


@pytest.mark.parametrize("top", ["2", 2.5, True, np.bool_(True), -1, None])
def test_top_must_be_a_whole_number_at_least_zero(top: Any, tmp_path: Path) -> None:
    for run in (partial(RESULT.to_html, tmp_path / "r.html", top=top), partial(check_report, tmp_path / "r", top=top)):
        with pytest.raises(MarginConfigError, match="top must be a whole number >= 0") as info:
            run()
        assert info.value.table == "top"
    assert files(tmp_path) == []


@pytest.mark.parametrize(("top", "drilled"), [(0, 0), (np.int64(1), 1), (5, 2)])
def test_top_accounts_are_drilled_into(top: Any, drilled: int, tmp_path: Path) -> None:
    RESULT.to_html(tmp_path / "r.html", top=top)
    assert (tmp_path / "r.html").read_text().count("<h2>Account ") == drilled


def test_a_path_of_another_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MarginConfigError, match="path must be a file path"):
        RESULT.to_html(3)


def test_a_status_without_the_columns_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(MarginInputError) as info:
        RESULT.to_html(tmp_path / "r.html", status=RESULT.accounts)
    assert (info.value.table, info.value.column) == ("status", "state")
    assert "status must be a pmargin.status result or its accounts table" in str(info.value)
    status = pmargin.status(RESULT, pa.table({"account_id": ["a"], "asset": ["USD"], "amount": [1e3]}), {"USD": (1, 0)})
    with pytest.raises(MarginInputError) as info:
        RESULT.to_html(tmp_path / "r.html", status=status.accounts.drop_columns(["equity"]))
    assert info.value.column == "equity"
    with pytest.raises(MarginConfigError, match=r"cascade must be a pmargin\.cascade result, got str"):
        RESULT.to_html(tmp_path / "r.html", cascade="rounds")
    assert files(tmp_path) == []
    # The status result, or its accounts table in any table type.
    RESULT.to_html(tmp_path / "r.html", status=status.accounts.to_pandas())
    assert "<h2>Account states" in (tmp_path / "r.html").read_text()


def test_check_report_leaves_nothing(tmp_path: Path) -> None:
    check_report(tmp_path / "r.html", top=2, title="t")
    assert files(tmp_path) == []
