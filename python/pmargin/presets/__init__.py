"""Venue presets: published methodologies with their parameter sets, one module each."""

from .deribit import deribit

__all__ = ["deribit"]
