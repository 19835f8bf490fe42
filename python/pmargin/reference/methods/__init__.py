"""The margin methods, one package per family: :mod:`.grid` (the worst loss over a grid of price
and vol shocks) and :mod:`.var` (VaR / ES over historical or Monte Carlo scenarios).
:func:`pmargin.reference.margin` dispatches to them by model type.

Mirrors: rust/pmargin-core/src/methods/
"""

from __future__ import annotations
