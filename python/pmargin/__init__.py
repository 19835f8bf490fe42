"""pmargin: portfolio margin from the net risk of the whole portfolio.

Quick start::

    import pmargin
    book = pmargin.sample.book(n_accounts=1000, seed=7)
    result = pmargin.margin(book.positions, book.instruments, book.market)
    result.accounts          # pyarrow.Table, one row per account

``pmargin.reference`` holds a plain-Python implementation of every method that the native core
must match.
"""

from types import ModuleType
from typing import TYPE_CHECKING

from . import sample
from .accounts import Trade, cascade, reconcile, status
from .correlation import Correlation
from .engine import MarginEngine, greeks, margin, value
from .errors import MarginComputationError, MarginConfigError, MarginError, MarginInputError
from .limits import Limits
from .market import Market
from .models import VOL_FLOOR, GridModel, HistoricalModel, MonteCarloModel, load_model
from .result import GreeksResult, MarginResult
from .stream import margin_stream

if TYPE_CHECKING:
    from . import reference

__all__ = [
    "VOL_FLOOR",
    "Correlation",
    "GreeksResult",
    "GridModel",
    "HistoricalModel",
    "Limits",
    "MarginComputationError",
    "MarginConfigError",
    "MarginEngine",
    "MarginError",
    "MarginInputError",
    "MarginResult",
    "Market",
    "MonteCarloModel",
    "Trade",
    "cascade",
    "greeks",
    "load_model",
    "margin",
    "margin_stream",
    "reconcile",
    "reference",
    "sample",
    "status",
    "value",
]


def __getattr__(name: str) -> ModuleType:
    """``pmargin.reference`` is imported on first use: ``import pmargin`` never loads it."""
    if name == "reference":
        import importlib

        return importlib.import_module(".reference", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
