"""CME SPAN preset: ``pmargin.presets.span(params)`` builds a :class:`~pmargin.models.span.SpanModel`
from a parameter set (a mapping, or a TOML / JSON file in the documented layout); ``span()`` with
no argument loads the shipped demo set (:data:`DEMO`, illustrative rates, not CME's)."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ..models.span import SpanModel
from ..types import TableLike

#: The shipped demo parameter set (illustrative numbers in the published layout).
DEMO = Path(__file__).parent / "data" / "span_demo.toml"


def span(
    params: Mapping[str, Any] | str | PathLike[str] | None = None, *, risk_arrays: TableLike | None = None
) -> SpanModel:
    """A SPAN model under ``params`` (default: the demo set), with optional published risk arrays."""
    return SpanModel(DEMO if params is None else params, risk_arrays)
