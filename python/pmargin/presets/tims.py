"""OCC TIMS / FINRA 4210(g) preset: ``pmargin.presets.tims(product_classes=None)`` builds a
:class:`~pmargin.models.tims.TimsModel` with the published ranges and minimum; product classes
come from the mapping given here (underlying -> class) or an instruments column
``product_class``; product-group offsets are parameters (OCC does not publish them)."""

from __future__ import annotations

from collections.abc import Mapping

from ..models.tims import TimsModel


def tims(
    product_classes: Mapping[str, str] | None = None,
    *,
    product_groups: Mapping[str, str] | None = None,
    offsets: Mapping[str, float] | None = None,
) -> TimsModel:
    """A TIMS model: ``product_classes`` maps underlyings to ``"high_cap_index"``,
    ``"broad_index"``, ``"narrow_index"`` or ``"equity"``."""
    return TimsModel(product_classes, product_groups=product_groups, offsets=offsets)
