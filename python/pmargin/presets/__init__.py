"""Venue and standard presets: published methodologies with their parameter sets, one module each."""

from .deribit import deribit
from .simm import simm
from .span import span
from .tims import tims

__all__ = ["deribit", "simm", "span", "tims"]
