"""Prices and Greeks of every payoff, per unit (before the multiplier), written from the definitions.

The same formulas as the native core's ``pricing`` modules, one reference module per core file
(:mod:`.normal`, :mod:`.black76`, :mod:`.greeks` for the linear instruments and vanilla options,
:mod:`.digital`, :mod:`.barrier`), evaluated in the same order (so the two agree to rounding; the
only difference is the normal CDF, where ``math.erfc`` and the core's ``libm::erfc`` can differ in
the last bit). Formulas only: a contract's value from its terms and market is in
:mod:`pmargin.reference.valuation`.

**Conventions.** Inputs are spot ``spot`` (not the forward), ``strike``, years to expiry ``t``
(ACT/365), continuously compounded ``rate`` and ``vol``; the forward is ``F = spot * exp(rate *
t)`` and the discount ``exp(-rate * t)`` (Black-76 on the forward = Black-Scholes with no
dividend). ``delta = dV/dS``, ``gamma = d2V/dS2``, ``vega = dV/dvol`` per 1.00 of vol, ``theta =
dV/dt`` per year of calendar time with spot, rate and vol held fixed (``-dV/dT`` with ``T`` the
time left, the forward rolling down with it): a long call's theta is negative for ``rate >= 0``
(a deep in-the-money put's can be positive), a future's is ``-rate * F``. This is QuantLib's
``theta()`` sign and unit (per year).

At ``t == 0`` an option is its payoff, a function of spot alone: price the payoff, delta its slope,
gamma, vega and theta 0. ``spot == strike`` counts as out of the money (a vanilla's delta there is
0; a digital pays 0, so at that one point a digital call plus put is 0, not 1). A digital's delta
at expiry is a Dirac mass at the strike: reported as 0.

Mirrors: rust/pmargin-core/src/pricing/
"""

from __future__ import annotations
