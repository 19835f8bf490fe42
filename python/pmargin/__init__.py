"""pmargin: portfolio margin from the net risk of the whole portfolio.

Quick start::

    import pmargin
    book = pmargin.sample.book(n_accounts=1000, seed=7)
    result = pmargin.margin(book.positions, book.instruments, book.market)
    result.accounts          # pyarrow.Table, one row per account

``pmargin.reference`` holds a plain-Python implementation of every method that the native core
must match.
"""

from . import reference, sample
from .api import GreeksResult, MarginEngine, greeks, margin, value
from .correlation import Correlation
from .errors import MarginComputationError, MarginConfigError, MarginError, MarginInputError
from .market import Market
from .models import VOL_FLOOR, GridModel, HistoricalModel, MonteCarloModel, load_model
from .result import MarginResult

__all__ = [
    "VOL_FLOOR",
    "Correlation",
    "GreeksResult",
    "GridModel",
    "HistoricalModel",
    "MarginComputationError",
    "MarginConfigError",
    "MarginEngine",
    "MarginError",
    "MarginInputError",
    "MarginResult",
    "Market",
    "MonteCarloModel",
    "greeks",
    "load_model",
    "margin",
    "reference",
    "sample",
    "value",
]
