"""Venue presets: published methodologies with their parameters, one module each."""

from .span import span
from .tims import tims

__all__ = ["span", "tims"]
