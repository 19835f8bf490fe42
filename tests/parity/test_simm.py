"""SIMM through both engines: native == reference to 1e-9 relative on hypothesis CRIFs (every
table, call and post), and bad rows are reported alike (same error class, column and row)."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmargin import _core
from pmargin.errors import MarginInputError
from pmargin.presets import simm
from pmargin.reference.sensitivity import simm_tables
from tests.methods.sensitivity.crifs import crifs, table

REL = 1e-9
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same(native: pa.Table, ref: pa.Table, what: str) -> None:
    assert native.schema == ref.schema, (what, native.schema, ref.schema)
    assert native.num_rows == ref.num_rows, what
    for name in native.column_names:
        a, b = native.column(name).to_pylist(), ref.column(name).to_pylist()
        if name in ("simm", "k", "ws_sum", "delta", "vega", "curvature", "margin", "contribution"):
            scale = max([abs(x) for x in b] + [1.0])
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                assert math.isclose(x, y, rel_tol=REL, abs_tol=REL * scale), (what, name, i, x, y)
        else:
            assert a == b, (what, name)


def errors_of_both(t: pa.Table, spec: dict) -> list[tuple[object, ...]]:
    """(table, column, row, reason) of the input error each engine raises on ``t``."""
    errors = []
    for run in (_core.simm, simm_tables):
        with pytest.raises(MarginInputError) as e:
            run(t, spec)
        errors.append((e.value.table, e.value.column, e.value.row, e.value.reason))
    return errors


@SETTINGS
@given(crif=crifs(), side=st.sampled_from(["call", "post"]))
def test_native_matches_reference(crif: pa.Table, side: str) -> None:
    model = simm("2.6", side=side)
    t, spec = model.prepare(crif)
    native = _core.simm(t, spec)
    ref = simm_tables(t, spec)
    for name in ("accounts", "product_classes", "risk_classes", "buckets", "contributions"):
        assert_same(native[name], ref[name], name)


BAD = [
    (("P", "RatesFX", "Risk_CreditQ", "X", "1", "", "", 1.0), "RiskType"),
    (("P", "Rates", "Risk_IRCurve", "USD", "", "1y", "OIS", 1.0), "ProductClass"),
    (("P", "RatesFX", "Risk_IRCurve", "USD", "", "7y", "OIS", 1.0), "Label1"),
    (("P", "RatesFX", "Risk_IRCurve", "USD", "", "1y", "Libor2m", 1.0), "Label2"),
    (("P", "Equity", "Risk_Equity", "X", "13", "", "", 1.0), "Bucket"),
    (("P", "Equity", "Risk_Equity", "", "1", "", "", 1.0), "Qualifier"),
    (("P", "RatesFX", "Risk_FXVol", "EUR", "", "1y", "", 1.0), "Qualifier"),
    (("P", "Equity", "Risk_Equity", "X", "1", "", "", math.nan), "AmountUSD"),
    (("P", "Equity", "Risk_Equity", "X", "1", "", "", -1.5e18), "AmountUSD"),
]


@pytest.mark.parametrize(("row", "column"), BAD)
def test_bad_rows_reported_alike(row: tuple[object, ...], column: str) -> None:
    good = ("P", "Equity", "Risk_Equity", "X", "1", "", "", 5.0)
    t, spec = simm("2.6").prepare(table([good, good, row, row]))
    errors = errors_of_both(t, spec)
    assert errors == [("crif", column, 2, errors[0][3])] * 2


def _with_column(t: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return t.set_column(t.column_names.index(name), name, values)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("AmountUSD", pa.array(["5.0", "abc"])),
        ("AmountUSD", pa.array([True, False])),
        ("AmountUSD", pa.array([b"5", b"6"], pa.binary())),
        ("Portfolio", pa.array([1, 2])),
        ("Qualifier", pa.array([1.5, 2.5])),
        ("Bucket", pa.array([1, 1], pa.int8())),
    ],
)
def test_columns_of_the_wrong_type_reported_alike(column: str, values: pa.Array) -> None:
    # The whole column is refused, in both engines (the reference used to read "5.0" as a number
    # and fail on "abc" with a raw ValueError).
    good = ("P", "Equity", "Risk_Equity", "X", "1", "", "", 5.0)
    t, spec = simm("2.6").prepare(table([good, good]))
    errors = errors_of_both(_with_column(t, column, values), spec)
    assert [e[:3] for e in errors] == [("crif", column, None)] * 2
    assert all(e[3].startswith(("expected a number column", "expected a string column")) for e in errors)


def test_decimal_and_integer_amounts_read_alike() -> None:
    good = ("P", "Equity", "Risk_Equity", "X", "1", "", "", 5.0)
    t, spec = simm("2.6").prepare(table([good, good]))
    for values in (pa.array([12345, -7], pa.int64()), pa.array(["1234.56", "-0.07"]).cast(pa.decimal128(12, 2))):
        u = _with_column(t, "AmountUSD", values)
        native, ref = _core.simm(u, spec), simm_tables(u, spec)
        for name in ("accounts", "contributions"):
            assert native[name].column_names == ref[name].column_names
            for column in native[name].column_names:
                assert native[name].column(column).to_pylist() == ref[name].column(column).to_pylist(), name


def test_overflow_reported_alike() -> None:
    # JPY's delta risk weights raised to 1e300: accounts with JPY rows overflow, the others do
    # not. 600 accounts span several of the core's tasks; the first overflowing account by id
    # is named, whatever the row order.
    rows = [(f"a{i:03}", "RatesFX", "Risk_IRCurve", "USD", "", "1y", "OIS", 1e6 + i) for i in range(600)]
    rows += [(a, "RatesFX", "Risk_IRCurve", "JPY", "", "2y", "OIS", 5e4) for a in ("a450", "a300")]
    t, spec = simm("2.6").prepare(table(rows[::-1]))
    spec["parameters"]["interest_rate"]["delta_risk_weights"]["2"] = [1e300] * 12
    errors = errors_of_both(t, spec)
    assert errors[0] == errors[1]
    assert errors[0][:3] == ("crif", "AmountUSD", None)
    assert errors[0][3].startswith("account 'a300': SIMM is not a finite number")


def test_a_curve_after_many_rows_that_are_not_risks() -> None:
    # 150 FX delta rows in the calculation currency (read, not risks) before a USD curve's rows,
    # whose tenor alternates with the row's parity: the curve's rows sit past the 128th row of
    # the account, and rows 128 apart share tenor and sub-curve.
    tenor = ["5y", "2y"]
    rows = [("P", "RatesFX", "Risk_FX", "USD", "", "", "", 1.0)] * 150
    rows += [("P", "RatesFX", "Risk_IRCurve", "USD", "", tenor[(150 + i) % 2], "OIS", 1e5 + i) for i in range(60)]
    rows += [("P", "RatesFX", "Risk_FX", "USD", "", "", "", 1.0)] * 70
    rows += [("P", "RatesFX", "Risk_IRCurve", "USD", "", tenor[(280 + i) % 2], "OIS", -2e4 - i) for i in range(30)]
    t, spec = simm("2.6").prepare(table(rows))
    native, ref = _core.simm(t, spec), simm_tables(t, spec)
    for name in ("accounts", "product_classes", "risk_classes", "buckets", "contributions"):
        assert_same(native[name], ref[name], name)
    assert native["buckets"].num_rows == 1
    assert native["contributions"].column("contribution")[0].as_py() == 0.0


def test_largest_amounts_stay_finite() -> None:
    # Amounts at the bound, on one factor and netted on many: finite and alike in both engines.
    rows = [("P", "RatesFX", "Risk_IRCurve", "USD", "", t, "OIS", 1e18) for t in ("1y", "2y", "5y")] * 40
    rows += [("P", "Equity", "Risk_Equity", "X", "1", "", "", -1e18)] * 50
    t, spec = simm("2.6").prepare(table(rows))
    native, ref = _core.simm(t, spec), simm_tables(t, spec)
    for name in ("accounts", "product_classes", "risk_classes", "buckets", "contributions"):
        assert_same(native[name], ref[name], name)
    total = native["accounts"].column("simm")[0].as_py()
    assert math.isfinite(total) and total > 1e18


@pytest.mark.parametrize(("row", "column"), BAD[::2])
def test_bad_rows_of_a_crif_out_of_account_order_reported_alike(row: tuple[object, ...], column: str) -> None:
    # 300 accounts interleaved row by row (the core decodes such a CRIF in row order, in pieces
    # of 8,192 rows, in parallel), in batches of 7,000 rows: of two bad rows in different pieces
    # and batches, the first is named, as a serial read finds it.
    good = [(f"a{i % 300:03}", "Equity", "Risk_Equity", f"N{i % 7}", "1", "", "", 5.0 + i) for i in range(25_000)]
    rows = list(good)
    rows[21_000] = (f"a{21_000 % 300:03}", *row[1:])
    rows[9_001] = (f"a{9_001 % 300:03}", *row[1:])
    t, spec = simm("2.6").prepare(table(rows))
    t = pa.Table.from_batches(t.to_batches(max_chunksize=7_000), t.schema)
    errors = errors_of_both(t, spec)
    assert errors[0] == errors[1]
    assert errors[0][:3] == ("crif", column, 9_001)
    # Without the bad rows the same interleaved CRIF margins, alike in both engines.
    t, spec = simm("2.6").prepare(table(good))
    native, ref = _core.simm(t, spec), simm_tables(t, spec)
    for name in ("accounts", "buckets", "contributions"):
        assert_same(native[name], ref[name], name)
