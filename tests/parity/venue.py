"""Native == reference comparison of venue results (SPAN, TIMS): same schemas, ids, labels and
nulls, every number to 1e-9 relative or 1e-9 x (the account's requirement scale + 1) absolute."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from pmargin.errors import MarginError
from pmargin.result import MarginResult

REL = 1e-9


def outcome(run: Any) -> MarginResult | tuple[str, str | None, str | None, int | None]:
    try:
        result: MarginResult = run()
    except MarginError as exc:
        return type(exc).__name__, exc.table, exc.column, exc.row
    return result


def _same(native: pa.Table, ref: pa.Table, scale: float, what: str) -> None:
    assert native.schema == ref.schema, (what, native.schema, ref.schema)
    for name in ref.column_names:
        for row, (a, b) in enumerate(zip(native.column(name).to_pylist(), ref.column(name).to_pylist(), strict=True)):
            if isinstance(b, float) and a is not None:
                assert math.isclose(a, b, rel_tol=REL, abs_tol=REL * scale), f"{what}.{name}[{row}]: {a!r} vs {b!r}"
            else:
                assert a == b, f"{what}.{name}[{row}]: {a!r} vs {b!r}"


def assert_same(native: Any, ref: Any, scale_column: str) -> None:
    """Both raised the same error at the same place, or gave the same tables."""
    if not isinstance(ref, MarginResult) or not isinstance(native, MarginResult):
        assert native == ref
        return
    scale = 1.0 + sum(abs(x) for x in ref.accounts.column(scale_column).to_pylist())
    _same(native.accounts, ref.accounts, scale, "accounts")
    _same(native.by_underlying, ref.by_underlying, scale, "by_underlying")
    for account in ref.accounts.column("account_id").to_pylist()[:3]:
        _same(native.scenarios(account), ref.scenarios(account), scale, f"scenarios({account!r})")
