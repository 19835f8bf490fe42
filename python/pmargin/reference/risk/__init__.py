"""Risk: every held contract revalued under every scenario (:mod:`.arrays`), each account's P&L per
group (:mod:`.group_pnl`), the worst loss (:mod:`.worst_loss`) and tail measures (:mod:`.tail`):
what the methods (:mod:`pmargin.reference.methods`) are built from. Nothing here knows a method.

Mirrors: rust/pmargin-core/src/risk/
"""

from __future__ import annotations
