"""Account services on top of a margin run (docs/accounts.md): collateral and status with the
distance to a margin call and to liquidation, the pre-trade what-if (``MarginEngine.what_if``),
the liquidation cascade and reconciliation with a venue's statement."""

from ..account_state import LIQUIDATION, MARGIN_CALL, OK, state_of
from ..whatif import Trade, WhatIf
from .cascade import CascadeResult, cascade
from .reconcile import ReconcileResult, reconcile
from .status import StatusResult, status

__all__ = [
    "LIQUIDATION",
    "MARGIN_CALL",
    "OK",
    "CascadeResult",
    "ReconcileResult",
    "StatusResult",
    "Trade",
    "WhatIf",
    "cascade",
    "reconcile",
    "state_of",
    "status",
]
