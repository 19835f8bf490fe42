"""Market data: valuation time, underlying spots and rates, and implied vols per option."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from .columns import MAX_TIME_NS, MIN_TIME_NS, TIME_RANGE, iso_epoch_ns
from .errors import MarginInputError
from .io import TableLike, to_table

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The fraction of a second in an ISO 8601 time (the first "." or "," after a digit).


def to_epoch_ns(value: Any, what: str = "as_of") -> int:
    """Epoch nanoseconds (UTC) of a datetime, ISO 8601 string, date, numpy/pandas timestamp.

    Naive datetimes are taken as UTC. A time outside the int64-nanosecond range (before
    1677-09-21T00:12:43.145224192 or after 2262-04-11T23:47:16.854775807 UTC) is a
    :class:`~pmargin.errors.MarginInputError` at ``market.<what>``.
    """
    try:
        ns = _epoch_ns(value, what)
    except OverflowError:
        ns = None
    if ns is None or not MIN_TIME_NS <= ns <= MAX_TIME_NS:
        raise MarginInputError(f"time is {TIME_RANGE}", table="market", column=what)
    return ns


def _epoch_ns(value: Any, what: str) -> int | None:
    """Epoch nanoseconds as a Python int (any size); None for a time numpy or pandas cannot place."""
    if isinstance(value, str):
        # One rule for ISO text, here and in CSV time columns (pmargin.io).
        return iso_epoch_ns(value, "market", what)
    if hasattr(value, "value") and type(value).__module__.startswith("pandas"):
        if value != value:  # NaT
            return None
        return int(value.tz_convert("UTC").value if value.tzinfo else value.value)
    if type(value).__module__ == "numpy":
        import numpy as np

        if np.isnat(value):
            return None
        unit, _count = np.datetime_data(value.dtype)
        if unit in ("ns", "ps", "fs", "as"):
            return int(value.astype("datetime64[ns]").astype("int64"))
        # Through microseconds, whose range covers every calendar year: no silent wrap-around.
        return int(value.astype("datetime64[us]").astype("int64")) * 1000
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta: dt.timedelta = value - _EPOCH
        ns: int = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
        return ns
    if isinstance(value, dt.date):
        return _epoch_ns(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC), what)
    raise MarginInputError(
        f"expected a datetime or ISO 8601 string, got {type(value).__name__}", table="market", column=what
    )


class Market:
    """Valuation time and market data.

    ``underlyings``: ``underlying`` (string), ``spot`` (> 0), ``rate`` (optional, continuously
    compounded, default 0). ``vols``: ``instrument_id``, ``implied_vol`` (annualised, > 0),
    required for every option held. Tables may be any Arrow producer (see :mod:`pmargin.io`).
    """

    def __init__(self, as_of: Any, underlyings: TableLike, vols: TableLike | None = None) -> None:
        self.as_of_ns = to_epoch_ns(as_of)
        self.underlyings = to_table(underlyings, "underlyings")
        if vols is None:
            vols = pa.table({"instrument_id": pa.array([], pa.string()), "implied_vol": pa.array([], pa.float64())})
        self.vols = to_table(vols, "vols")

    @property
    def as_of(self) -> dt.datetime:
        """The valuation time as an aware UTC datetime (microsecond precision)."""
        return _EPOCH + dt.timedelta(microseconds=self.as_of_ns // 1000)

    def __repr__(self) -> str:
        return f"Market(as_of={self.as_of.isoformat()}, underlyings={self.underlyings.num_rows} rows, vols={self.vols.num_rows} rows)"
