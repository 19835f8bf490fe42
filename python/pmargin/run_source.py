"""What a margin result was computed from (kept by :meth:`pmargin.MarginEngine.margin`), so that
account services can re-margin the same book under a moved market with the same model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .errors import MarginInputError
from .limits import Limits
from .market import Market
from .types import AnyModel


@dataclass(frozen=True)
class RunSource:
    """The positions, instruments, market, model and limits of a run, and the engine class
    (``pmargin.MarginEngine``) that re-margins them: modules that only receive a result need not
    import the engine."""

    engine: Any
    positions: pa.Table
    instruments: pa.Table
    market: Market
    model: AnyModel
    limits: Limits


def source_of(result: Any) -> RunSource:
    """The inputs of ``result``; an error for a result not made by a :class:`MarginEngine`."""
    source = getattr(result, "source", None)
    if not isinstance(source, RunSource):
        raise MarginInputError(
            "this result does not carry its inputs (make it with pmargin.margin or MarginEngine.margin)", table="result"
        )
    return source
