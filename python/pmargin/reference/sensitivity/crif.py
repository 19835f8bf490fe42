"""CRIF rows read, checked and netted into SIMM risk factors, per account.

A row's risk factor is (product class, risk type, bucket, qualifier, tenor, sub-curve) with only the
parts its risk type uses: IR delta (qualifier, Label1 tenor, Label2 sub-curve), IR vega
(qualifier, tenor), FX delta (qualifier), FX vega (currency pair, tenor), equity and commodity
delta (Bucket, qualifier: Label1 is not used, so two rows of one name net), their vega (Bucket,
qualifier, tenor). Rows of one factor are netted with a correctly rounded sum (``math.fsum``), so
the result does not depend on row order. Problems raise :class:`~pmargin.errors.MarginInputError`
naming table ``crif``, the column and the first bad row.

Mirrors: rust/pmargin-core/src/sensitivity/crif.rs
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ...errors import MarginInputError
from ..input import describe_type, is_number_type, is_string_type, text_values
from .params import PRODUCT_CLASSES, RISK_CLASSES, RISK_TYPES, SimmParams

TABLE = "crif"


@dataclass
class Factor:
    """One netted risk factor of one account."""

    product_class: int
    risk_class: int
    vol: bool
    bucket: int  # equity / commodity bucket index; 0 for IR and FX
    qualifier: str
    tenor: int  # -1 when the risk type has no tenor
    label2: str
    label2_index: int  # position in the parameters' sub-curves (orders factors as the core does)
    rows: list[int] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)

    @property
    def amount(self) -> float:
        return math.fsum(self.amounts)

    def key(self) -> tuple[int, int, bool, int, bytes, int, int]:
        q = self.qualifier.encode("utf-8")
        return (self.product_class, self.risk_class, self.vol, self.bucket, q, self.tenor, self.label2_index)


MAX_AMOUNT = 1e18
"""The largest CRIF amount accepted, in magnitude (as the core's ``crif::MAX_AMOUNT``)."""


#: How a currency code and a currency pair are written: ``usd`` is not ``USD`` to SIMM.
_CODE = "three capital letters, as USD"
_PAIR = "six capital letters, as EURUSD"


def _capitals(q: str, n: int) -> bool:
    """Whether ``q`` is ``n`` capital ASCII letters."""
    return len(q) == n and all("A" <= c <= "Z" for c in q)


def _fail(column: str, row: int, reason: str) -> MarginInputError:
    return MarginInputError(reason, table=TABLE, column=column, row=row)


def _column(table: pa.Table, name: str, required: bool, numbers: bool = False) -> list[Any] | None:
    """A column's values (None when an optional one is absent). As the core reads a CRIF: a
    string column (or an all-null one) whose text is valid UTF-8, or for ``numbers`` an integer,
    float or decimal column as floats; any other type is an error naming the column."""
    if name not in table.column_names:
        if required:
            raise MarginInputError("missing column", table=TABLE, column=name)
        return None
    col = table.column(name)
    if numbers:
        if not (pa.types.is_null(col.type) or is_number_type(col.type)):
            raise MarginInputError(f"expected a number column, got {describe_type(col.type)}", table=TABLE, column=name)
        return [None if v is None else float(v) for v in col.to_pylist()]
    if not (pa.types.is_null(col.type) or is_string_type(col.type)):
        raise MarginInputError(f"expected a string column, got {describe_type(col.type)}", table=TABLE, column=name)
    return text_values(col, TABLE, name)


def read_crif(
    table: pa.Table, account_column: str, amount_column: str, p: SimmParams
) -> dict[str, dict[tuple[Any, ...], Factor]]:
    """Account -> risk factor key -> netted factor (rows in input order)."""
    n = table.num_rows
    accounts = _column(table, account_column, False)
    pcs = _column(table, "ProductClass", True)
    rts = _column(table, "RiskType", True)
    quals = _column(table, "Qualifier", True)
    buckets = _column(table, "Bucket", False)
    l1s = _column(table, "Label1", False)
    l2s = _column(table, "Label2", False)
    amounts = _column(table, amount_column, True, numbers=True)
    assert pcs is not None and rts is not None and quals is not None and amounts is not None
    tenors = p.ir.tenors
    out: dict[str, dict[tuple[Any, ...], Factor]] = {}
    for r in range(n):
        account = "" if accounts is None else accounts[r]
        if account is None:
            raise _fail(account_column, r, "account is null")
        pc = pcs[r]
        if pc not in PRODUCT_CLASSES:
            raise _fail(
                "ProductClass", r, f"unknown product class {pc!r} (expected one of {', '.join(PRODUCT_CLASSES)})"
            )
        rt = rts[r]
        if rt not in RISK_TYPES:
            raise _fail("RiskType", r, f"risk type {rt!r} is not supported (pmargin computes {', '.join(RISK_TYPES)})")
        rc_name, vol = RISK_TYPES[rt]
        rc = RISK_CLASSES.index(rc_name)
        q = quals[r]
        if not isinstance(q, str) or not q:
            raise _fail("Qualifier", r, "qualifier is empty")
        a = amounts[r]
        if a is None or not math.isfinite(a):
            raise _fail(amount_column, r, f"amount must be a finite number, got {a!r}")
        if abs(a) > MAX_AMOUNT:
            raise _fail(
                amount_column,
                r,
                "amount exceeds 1e18 in magnitude (pmargin's bound on CRIF amounts; check the amount's units)",
            )
        l1 = (l1s[r] if l1s is not None else None) or ""
        l2 = (l2s[r] if l2s is not None else None) or ""
        b = (buckets[r] if buckets is not None else None) or ""
        bucket = 0
        tenor = -1
        label2 = ""
        if vol or rc_name == "InterestRate":
            if l1 not in tenors:
                raise _fail("Label1", r, f"tenor {l1!r} is not a SIMM tenor ({', '.join(tenors)})")
            tenor = tenors.index(l1)
        if rc_name == "InterestRate" and not vol:
            if l2 not in p.ir.sub_curves:
                raise _fail("Label2", r, f"sub-curve {l2!r} is not a SIMM sub-curve ({', '.join(p.ir.sub_curves)})")
            label2 = l2
        if rc_name == "InterestRate" and not _capitals(q, 3):
            raise _fail("Qualifier", r, f"interest rate qualifier {q!r} must be a currency code ({_CODE})")
        if rc_name == "FX" and not _capitals(q, 6 if vol else 3):
            what = f"a currency pair ({_PAIR})" if vol else f"a currency code ({_CODE})"
            raise _fail("Qualifier", r, f"FX qualifier {q!r} must be {what}")
        if rc_name == "FX" and vol and q[:3] == q[3:]:
            raise _fail("Qualifier", r, f"FX vol qualifier {q!r} must be a pair of two currencies")
        if rc_name in ("Equity", "Commodity"):
            bp = p.equity if rc_name == "Equity" else p.commodity
            idx = bp.bucket_index(b)
            if idx is None:
                raise _fail("Bucket", r, f"{rc_name.lower()} bucket {b!r} is not a SIMM bucket")
            bucket = idx
        factors = out.setdefault(account, {})
        if rc_name == "FX" and not vol and q == p.calculation_currency:
            continue  # FX delta to the calculation currency is not a risk
        l2i = p.ir.sub_curves.index(label2) if label2 else 0
        f = Factor(PRODUCT_CLASSES.index(pc), rc, vol, bucket, q, tenor, label2, l2i)
        f = factors.setdefault(f.key(), f)
        f.rows.append(r)
        f.amounts.append(a)
    return out
