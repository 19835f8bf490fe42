"""The margin methods, one package per family: :mod:`.grid` (the worst loss over a grid of price
and vol shocks) and :mod:`.var` (VaR / ES over historical or Monte Carlo scenarios).
:func:`pmargin.reference.margin` dispatches to them by the model's ``type``: each method package
declares the types it margins (``TYPES``) and a ``margin`` function, so a new method is one more
package here and nothing else.

Mirrors: rust/pmargin-core/src/methods/
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from ...errors import MODEL_EXPECTED, MarginConfigError, wrong_argument


def method_for(model: Any) -> ModuleType:
    """The method package that margins ``model`` (by ``model.type``)."""
    kind = getattr(model, "type", None)
    if isinstance(model, type) or not isinstance(kind, str):
        raise wrong_argument("model", MODEL_EXPECTED, model)
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if kind in getattr(module, "TYPES", ()):
            return module
    raise TypeError(f"no reference method margins model type {kind!r}")


def reject_by_position(by_position: bool, why: str) -> None:
    """Methods whose results are not additive per position reject ``by_position`` with the reason."""
    if by_position:
        raise MarginConfigError(why, table="model", column="by_position")
