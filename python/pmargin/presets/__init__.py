"""Venue presets: published methodologies with their parameter sets, one module each."""

from .simm import simm

__all__ = ["simm"]
