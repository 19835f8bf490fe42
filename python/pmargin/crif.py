"""CRIF rows from a book: each account's delta and vega per underlying in the SIMM layout, from
pmargin's Greeks, so one book can be margined by scenarios and by risk weights.

- Delta: ``Risk_Equity`` / ``Risk_Commodity`` with amount = cash delta x 1% (the P&L of a 1%
  relative move: ``delta x spot x 0.01``), one row per account and underlying.
- Vega: ``Risk_EquityVol`` / ``Risk_CommodityVol``, amount = vega per vol point (``vega x
  0.01``), split between the two SIMM tenors around the option's time to expiry by linear
  interpolation in time (all to 2w below two weeks, all to 30y beyond thirty years).
- Underlyings have no SIMM bucket of their own (crypto): ``mapping`` gives each underlying its
  ``(risk class, bucket)``, ``("Equity", "Residual")`` by default; the mapping used (and whether
  by default) is returned with the rows and recorded in the result.
- Amounts are in the book's quote currency, taken as USD (``AmountUSD``); ``Portfolio`` is the
  account id, of the positions' type (an integer id stays an integer: the SIMM result then
  carries int64 account ids in numeric order, as ``pmargin.margin`` does).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from .columns import read_epoch_ns
from .engine import greeks
from .errors import MarginConfigError
from .io import CRIF_TEXT_COLUMNS, TableLike, to_table

#: The documented default for an underlying with no SIMM bucket.
DEFAULT_MAPPING = ("Equity", "Residual")
#: SIMM vega tenors in years.
TENORS = (
    ("2w", 14 / 365),
    ("1m", 1 / 12),
    ("3m", 0.25),
    ("6m", 0.5),
    ("1y", 1.0),
    ("2y", 2.0),
    ("3y", 3.0),
    ("5y", 5.0),
    ("10y", 10.0),
    ("15y", 15.0),
    ("20y", 20.0),
    ("30y", 30.0),
)
_NS_YEAR = 365.0 * 86400e9


def tenor_split(years: float) -> list[tuple[str, float]]:
    """(tenor, weight) pairs summing to one: linear interpolation between neighbouring tenors."""
    if years <= TENORS[0][1]:
        return [(TENORS[0][0], 1.0)]
    for (a, ta), (b, tb) in itertools.pairwise(TENORS):
        if years <= tb:
            w = (tb - years) / (tb - ta)
            return [(a, w), (b, 1.0 - w)]
    return [(TENORS[-1][0], 1.0)]


def checked_mapping(
    mapping: Mapping[str, tuple[str, str]] | None, buckets: Mapping[str, Any] | None = None
) -> dict[str, tuple[str, str]]:
    """``mapping`` as a dict of underlying -> (risk class, bucket), each entry checked: a pair of
    strings, the class Equity or Commodity, and (given the parameter set's ``buckets`` per class)
    a bucket of that class. A bad entry is a config error naming ``mapping[underlying]``."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise MarginConfigError(
            f"mapping must be a dict of underlying -> (risk class, bucket), got {type(mapping).__name__}",
            table="model",
            column="mapping",
        )
    out: dict[str, tuple[str, str]] = {}
    for u, entry in mapping.items():
        where = f"mapping[{u!r}]"
        if not (
            isinstance(u, str)
            and isinstance(entry, (tuple, list))
            and len(entry) == 2
            and all(isinstance(x, str) for x in entry)
        ):
            raise MarginConfigError(
                f"must be a pair of strings (risk class, bucket), as ('Equity', 'Residual'), got {entry!r}",
                table="model",
                column=where,
            )
        rc, bucket = entry
        if rc not in ("Equity", "Commodity"):
            raise MarginConfigError(f"risk class {rc!r}: must be Equity or Commodity", table="model", column=where)
        known = None if buckets is None else buckets.get(rc)
        if known is not None and bucket not in known:
            raise MarginConfigError(
                f"{rc.lower()} bucket {bucket!r} is not a SIMM bucket (one of {', '.join(known)})",
                table="model",
                column=where,
            )
        out[u] = (rc, bucket)
    return out


def crif_from_book(
    positions: TableLike,
    instruments: TableLike,
    market: Any,
    *,
    mapping: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(CRIF rows, mapping used): see the module docstring."""
    mapping = checked_mapping(mapping)
    g = greeks(positions, instruments, market).positions
    inst = to_table(instruments, "instruments")
    und = dict(zip(inst.column("instrument_id").to_pylist(), inst.column("underlying").to_pylist(), strict=True))
    ids = inst.column("instrument_id").to_pylist()
    # Any time unit or a date, as the engine reads it (greeks() has checked the column); a book of
    # spot and perpetuals may have no expiry column at all.
    expiries = (
        read_epoch_ns(inst.column("expiry"), "instruments", "expiry", [False] * len(ids))
        if "expiry" in inst.column_names
        else [None] * len(ids)
    )
    exp = dict(zip(ids, expiries, strict=True))
    spots = dict(
        zip(
            market.underlyings.column("underlying").to_pylist(),
            market.underlyings.column("spot").to_pylist(),
            strict=True,
        )
    )
    rows: dict[tuple[str, str, str], float] = {}
    for a, i, d, v in zip(
        g.column("account_id").to_pylist(),
        g.column("instrument_id").to_pylist(),
        g.column("delta").to_pylist(),
        g.column("vega").to_pylist(),
        strict=True,
    ):
        u = und[i]
        key = (a, u, "")
        rows[key] = rows.get(key, 0.0) + d * spots[u] * 0.01
        if v != 0.0 and exp.get(i) is not None:
            years = max((exp[i] - market.as_of_ns) / _NS_YEAR, 0.0)
            for tenor, w in tenor_split(years):
                k = (a, u, tenor)
                rows[k] = rows.get(k, 0.0) + v * 0.01 * w
    keys = sorted(rows)
    out: dict[str, list[Any]] = {c: [] for c in ("Portfolio", *CRIF_TEXT_COLUMNS, "AmountUSD")}
    used: dict[str, tuple[str, str, bool]] = {}
    for a, u, tenor in keys:
        rc, bucket = mapping.get(u, DEFAULT_MAPPING)
        used[u] = (rc, bucket, u not in mapping)
        risk_type = f"Risk_{rc}Vol" if tenor else f"Risk_{rc}"
        for c, val in zip(out, (a, rc, risk_type, u, bucket, tenor, "", "USD", rows[(a, u, tenor)]), strict=True):
            out[c].append(val)
    names = sorted(used)
    mapping_table = pa.table(
        {
            "underlying": pa.array(names, pa.string()),
            "risk_class": pa.array([used[u][0] for u in names], pa.string()),
            "bucket": pa.array([used[u][1] for u in names], pa.string()),
            "default": pa.array([used[u][2] for u in names], pa.bool_()),
        }
    )
    return pa.table(out), mapping_table
