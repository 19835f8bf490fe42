"""Result tables as Arrow: the helpers every table uses (:mod:`.arrow`) and the Greeks tables
(:mod:`.greeks`). Each method builds its own margin tables
(:mod:`pmargin.reference.methods.grid.tables`, :mod:`pmargin.reference.methods.var.tables`).

Mirrors: rust/pmargin-core/src/output/
"""

from __future__ import annotations
