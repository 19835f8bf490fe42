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

from . import presets, sample
from .accounts import Trade, cascade, reconcile, status
from .compare import compare
from .correlation import Correlation
from .engine import MarginEngine, greeks, margin, value
from .errors import MarginComputationError, MarginConfigError, MarginError, MarginInputError
from .limits import Limits
from .market import Market
from .models import VOL_FLOOR, GridModel, HistoricalModel, MonteCarloModel, load_model
from .portfolio_risk import Covariance, PortfolioRiskResult, portfolio_risk, what_if_variance
from .result import GreeksResult, MarginResult
from .simm import SensitivityModel, SimmResult
from .stream import margin_stream

if TYPE_CHECKING:
    from . import reference

__all__ = [
    "VOL_FLOOR",
    "Correlation",
    "Covariance",
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
    "PortfolioRiskResult",
    "SensitivityModel",
    "SimmResult",
    "Trade",
    "cascade",
    "compare",
    "greeks",
    "load_model",
    "margin",
    "margin_stream",
    "portfolio_risk",
    "presets",
    "reconcile",
    "reference",
    "sample",
    "status",
    "value",
    "what_if_variance",
]


def __getattr__(name: str) -> ModuleType:
    """``pmargin.reference`` is imported on first use: ``import pmargin`` never loads it."""
    if name == "reference":
        import importlib

        return importlib.import_module(".reference", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
