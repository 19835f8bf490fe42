"""The earlier name of :mod:`pmargin.engine`, kept so existing imports keep working."""

from .engine import MarginEngine, greeks, margin, monte_carlo_scenarios, value
from .result import GreeksResult

__all__ = ["GreeksResult", "MarginEngine", "greeks", "margin", "monte_carlo_scenarios", "value"]
