"""The Deribit portfolio margin preset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models.deribit import DEFAULT_NAME, DEFAULT_VERSION, DeribitModel


def deribit(
    model_params: Mapping[str, Any] | None = None, *, name: str = DEFAULT_NAME, version: str | None = None
) -> DeribitModel:
    """Deribit portfolio margin with the published default parameters, or with ``model_params``
    as Deribit publishes them (one ``model_params`` dict for every underlying, or
    ``{"BTC": {...}, "ETH": {...}, "*": {...}}``). ``version`` (a date, say) names the edition in
    the result's ``parameter_set``; it defaults to ``"as-given"`` for user parameters."""
    if model_params is None:
        return DeribitModel(name=name, version=version or DEFAULT_VERSION)
    return DeribitModel(params=model_params, name=name, version=version or "as-given")
