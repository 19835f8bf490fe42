"""The validated inputs as plain Python rows: instruments (:mod:`.instruments`), market data
(:mod:`.market`) and positions netted into books (:mod:`.book`); the barrier types of an option
(:mod:`.option_terms`).

The checks follow the input contract shared with the native core, in this order: underlyings,
vols, instruments, positions; within a table its columns in the listed order, and within a column
its rows ascending. The instruments columns are checked in the order ``instrument_id``,
``underlying``, ``kind``, ``option_type``, ``strike``, ``expiry``, ``payoff``, ``barrier_type``,
``barrier``, ``rebate``, ``multiplier``. The first problem found is raised as a
:class:`~pmargin.errors.MarginInputError` naming the table, column and 0-based row (the column
readers are in :mod:`pmargin.reference.input`). References between the tables (an unknown
instrument, missing market data) are checked afterwards, per held contract
(:func:`pmargin.reference.valuation.held_books`).

Mirrors: rust/pmargin-core/src/domain/
"""

from __future__ import annotations
