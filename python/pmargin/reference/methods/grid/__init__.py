"""The grid method: the worst loss over a grid of price x vol scenarios, written from the definitions.

Scenarios in :mod:`pmargin.reference.scenarios.grid`, risk arrays in :mod:`pmargin.reference.risk.arrays`,
group P&L and worst losses in :mod:`pmargin.reference.risk.group_pnl` and
:mod:`pmargin.reference.risk.worst_loss`; what an account's margin is made of in :mod:`.outcome`,
the per-account aggregation in :mod:`.aggregate`, the correlation cross and the driving underlying
in :mod:`.cross` (its joint moves in :mod:`.ellipsoid`), what drives each margin in :mod:`.attribution` and the result tables in
:mod:`.tables`.

- Scenario ``s = (p, v)`` in :meth:`GridModel.scenario_shocks` order: ``spot' = spot * (1 + p)``;
  an option's vol becomes ``max(VOL_FLOOR, vol * (1 + v))`` (relative) or
  ``max(VOL_FLOOR, vol + v)`` (absolute); rate and ``T`` are unchanged.
- Risk array of a contract: ``ra[s] = value(shocked s) - value(base)``.
- Positions are netted per (account, instrument) in first-seen order of the pair; accounts and,
  within an account, underlyings come in first-seen order.
- ``pnl_u[s] = 0.0 + q1 * ra1[s] + q2 * ra2[s] + ...`` over the account's netted positions on
  ``u``; ``requirement_u`` is the largest loss ``max_s(-pnl_u[s])`` when positive, else 0, and the
  worst scenario is the first one attaining it (none when nothing loses).
- ``cross="sum"``: initial margin is the sum of the requirements; the account's worst is the
  underlying with the largest requirement (the first on ties). ``cross="joint"``:
  ``total[s] = 0.0 + pnl_u1[s] + pnl_u2[s] + ...`` and initial margin is its largest loss.
  ``cross="correlation"``: the largest total loss over the joint moves inside the correlation
  ellipsoid (:mod:`.ellipsoid`, :mod:`.cross`), at most the undiversified margin and, with
  ``floor_largest``, at least the largest ``R_u``; the account's worst scenario is that of the
  underlying losing most in the binding move.
- Maintenance = ``mm_ratio * initial``; gross = the sum over netted positions of
  ``max(0, max_s(-(q * ra[s])))``, each position margined alone; diversification benefit =
  ``(0.0 + R_u1 + R_u2 + ...) - initial`` (``docs/methods.md``).

Mirrors: rust/pmargin-core/src/methods/grid/
"""

from __future__ import annotations
