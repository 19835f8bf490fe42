"""The standard normal distribution: ``N(x) = 0.5 * erfc(-x / sqrt(2))`` (accurate in both tails)
and its density ``n(x) = exp(-x^2 / 2) / sqrt(2 pi)``.

Mirrors: rust/pmargin-core/src/pricing/normal.rs
"""

from __future__ import annotations

import math

SQRT_2 = math.sqrt(2.0)

#: ``1 / sqrt(2 pi)``.
FRAC_1_SQRT_2PI = 0.3989422804014327


def norm_cdf(x: float) -> float:
    """Standard normal CDF, ``N(x) = 0.5 * erfc(-x / sqrt(2))`` (accurate in both tails)."""
    return 0.5 * math.erfc(-x / SQRT_2)


def norm_pdf(x: float) -> float:
    """Standard normal density ``exp(-x^2 / 2) / sqrt(2 pi)``."""
    return math.exp(-0.5 * x * x) * FRAC_1_SQRT_2PI
