"""OCC TIMS / FINRA 4210(g) (pmargin.models.tims, methods/tims): AC-T1..T4 through both engines,
offsets within and across groups, the minimum, invariants, product classes and named errors."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.models.tims import PRODUCT_CLASS_RANGES, TimsModel
from pmargin.presets import tims
from pmargin.reference.methods.tims.aggregate import point
from tests.methods.venue_cases import CASES, case_paths, check, load, run

ENGINES = ("native", "reference")
MARGIN = {"native": pmargin.margin, "reference": reference.margin}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", [p for p in case_paths("tims") if "points" not in p.stem], ids=lambda p: p.stem)
def test_derived_cases(path: Path, engine: str) -> None:
    case = load(path)
    assert case.source
    check(case, run(case, engine))


def test_ac_t4_valuation_points() -> None:
    data = json.loads((CASES / "tims" / "ac_t4_valuation_points.json").read_text())
    for cls, want in data["points"].items():
        down, up = PRODUCT_CLASS_RANGES[cls]
        got = [point(k, down, up) for k in range(10)]
        assert all(abs(g - w) <= data["tolerance"]["absolute"] for g, w in zip(got, want, strict=True)), cls


AS_OF = "2026-06-30T00:00:00Z"


def market() -> pmargin.Market:
    return pmargin.Market(
        AS_OF,
        pa.table({"underlying": ["SPX", "NDX", "XYZ", "ABC"], "spot": [5000.0, 20000.0, 100.0, 40.0]}),
        pa.table({"instrument_id": ["XYZ-C"], "implied_vol": [0.3]}),
    )


def instruments() -> pa.Table:
    expiry = pmargin.market.to_epoch_ns(AS_OF) + 30 * 86_400 * 10**9
    return pa.table(
        {
            "instrument_id": ["SPX", "NDX", "XYZ", "ABC", "XYZ-C"],
            "underlying": ["SPX", "NDX", "XYZ", "ABC", "XYZ"],
            "kind": ["spot", "spot", "spot", "spot", "option"],
            "option_type": [None, None, None, None, "call"],
            "strike": [None, None, None, None, 110.0],
            "expiry": pa.array([None, None, None, None, expiry], pa.timestamp("ns", tz="UTC")),
            "multiplier": [1.0, 1.0, 1.0, 1.0, 100.0],
        }
    )


CLASSES = {"SPX": "high_cap_index", "NDX": "high_cap_index", "XYZ": "equity", "ABC": "equity"}


def positions(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": [float(r[2]) for r in rows],
        }
    )


def accounts(
    rows: list[tuple[str, str, float]], model: TimsModel, engine: str = "native"
) -> dict[str, dict[str, float]]:
    result = MARGIN[engine](positions(rows), instruments(), market(), model)
    return {r["account_id"]: r for r in result.accounts.to_pylist()}


@pytest.mark.parametrize("engine", ENGINES)
def test_partial_offset_within_a_product_group(engine: str) -> None:
    # Long 20 SPX ($100k), short 5 NDX ($100k): at -8% SPX loses 8,000 and NDX gains 8,000.
    book = [("a", "SPX", 20), ("a", "NDX", -5)]
    for offset, want in ((0.9, 800.0), (0.0, 8000.0), (1.0, 0.0)):
        model = tims(CLASSES, offsets={"high_cap_index": offset})
        got = accounts(book, model, engine)["a"]
        # The worst point after offsets: -8% (SPX -8,000 + offset x 8,000) or +6% (NDX -6,000 + offset x 6,000).
        assert got["maintenance_margin"] == pytest.approx(max(want, 6000.0 * (1 - offset)), abs=1e-9)
        assert got["class_group_risk"] == pytest.approx(8000.0 + 6000.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_no_offset_across_product_groups(engine: str) -> None:
    # XYZ and ABC are equities: each its own product group, whatever the offsets say.
    got = accounts([("a", "XYZ", 100), ("a", "ABC", -250)], tims(CLASSES, offsets={"equity:XYZ": 1.0}), engine)["a"]
    assert got["maintenance_margin"] == pytest.approx(1500.0 + 1500.0)
    # Grouped together by the user, with full offset: the hedge nets out.
    grouped = tims(CLASSES, product_groups={"XYZ": "tech", "ABC": "tech"}, offsets={"tech": 1.0})
    assert accounts([("a", "XYZ", 100), ("a", "ABC", -250)], grouped, engine)["a"][
        "maintenance_margin"
    ] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_full_offset_within_a_class_group(engine: str) -> None:
    # Long 100 shares, short one 110 call on them: the call's gains offset in full at -15%.
    got = accounts([("a", "XYZ", 100), ("a", "XYZ-C", -1)], tims(CLASSES), engine)["a"]
    alone = accounts([("a", "XYZ", 100)], tims(CLASSES), engine)["a"]
    assert got["risk"] < alone["risk"] == pytest.approx(1500.0)
    assert got["minimum"] == pytest.approx(37.5)


@pytest.mark.parametrize("k", [0.25, 4.0, 1e3])
def test_scaling_every_quantity_scales_the_requirement(k: float) -> None:
    book = [("a", "SPX", 20), ("a", "NDX", -5), ("a", "XYZ-C", -3), ("b", "XYZ", 7), ("b", "XYZ-C", 2)]
    base = accounts(book, tims(CLASSES))
    scaled = accounts([(a, i, q * k) for a, i, q in book], tims(CLASSES))
    for account, row in base.items():
        for column in ("maintenance_margin", "risk", "minimum"):
            assert scaled[account][column] == pytest.approx(k * row[column], rel=1e-9, abs=1e-9)


def test_offsetting_positions_and_stand_alone_sums() -> None:
    book = [("a", "SPX", 20), ("a", "NDX", -5), ("a", "XYZ-C", -3), ("a", "XYZ", 50)]
    base = accounts(book, tims(CLASSES))
    assert accounts([*book, ("a", "ABC", 5), ("a", "ABC", -5)], tims(CLASSES)) == base
    alone = sum(accounts([r], tims(CLASSES))["a"]["maintenance_margin"] for r in book)
    assert base["a"]["maintenance_margin"] <= alone + 1e-9


def test_product_class_column_and_unknown_classes() -> None:
    table = instruments().append_column(
        "product_class", pa.array(["high_cap_index", "high_cap_index", "equity", "equity", "equity"])
    )
    for engine in ENGINES:
        got = MARGIN[engine](positions([("a", "SPX", 20)]), table, market(), tims())
        assert got.accounts.column("maintenance_margin").to_pylist() == [pytest.approx(8000.0)]
    bad = instruments().append_column(
        "product_class", pa.array(["high_cap_index", "meme", "equity", "equity", "equity"])
    )
    for margin in MARGIN.values():
        with pytest.raises(MarginConfigError) as err:
            margin(positions([("a", "SPX", 20)]), bad, market(), tims())
        assert (err.value.table, err.value.column, err.value.row) == ("instruments", "product_class", 1)
    with pytest.raises(MarginConfigError) as err:
        tims({"SPX": "meme"})
    assert err.value.column == "product_class" and "meme" in str(err.value)


def test_a_held_underlying_without_a_product_class_is_a_named_error() -> None:
    for margin in MARGIN.values():
        with pytest.raises(MarginInputError) as err:
            margin(
                positions([("a", "SPX", 1), ("a", "XYZ", 1)]), instruments(), market(), tims({"SPX": "high_cap_index"})
            )
        assert (err.value.table, err.value.column) == ("instruments", "product_class")
        assert "'XYZ'" in str(err.value)


def test_parameter_set_is_recorded() -> None:
    result = pmargin.margin(positions([("a", "XYZ", 1)]), instruments(), market(), tims(CLASSES))
    assert result.accounts.column("parameter_set").to_pylist() == [str(tims(CLASSES).parameter_set)]
    assert str(tims(CLASSES).parameter_set).startswith("finra-4210g@2026#")
    assert tims(CLASSES).parameter_set != tims(CLASSES, offsets={"high_cap_index": 0.5}).parameter_set


def test_by_class_group_table() -> None:
    result = pmargin.margin(positions([("a", "SPX", 20), ("a", "NDX", -5)]), instruments(), market(), tims(CLASSES))
    rows = result.by_underlying.to_pylist()
    assert [(r["underlying"], r["product_group"]) for r in rows] == [
        ("SPX", "high_cap_index"),
        ("NDX", "high_cap_index"),
    ]
    assert rows[0]["worst_move"] == -0.08 and rows[1]["worst_move"] == 0.06
    assert rows[0]["product_group_requirement"] == pytest.approx(800.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_gross_margin_is_each_position_margined_alone(engine: str) -> None:
    book = [("a", "SPX", 20), ("a", "NDX", -5), ("a", "XYZ-C", -3), ("a", "XYZ", 50), ("b", "XYZ-C", 2)]
    result = MARGIN[engine](positions(book), instruments(), market(), tims(CLASSES))
    for row in result.accounts.to_pylist():
        alone = [
            accounts([r], tims(CLASSES), engine)[r[0]]["maintenance_margin"] for r in book if r[0] == row["account_id"]
        ]
        assert row["gross_margin"] == pytest.approx(sum(alone), rel=1e-12)
        assert row["initial_margin"] <= row["gross_margin"] + 1e-9


def test_numbers_do_not_depend_on_row_order() -> None:
    import random

    book = [
        ("a", "SPX", 20),
        ("a", "NDX", -5),
        ("a", "XYZ-C", -3),
        ("a", "XYZ", 50),
        ("b", "XYZ-C", 2),
        ("a", "SPX", -1),
    ]
    base = accounts(book, tims(CLASSES))
    for seed in range(3):
        shuffled = book[:]
        random.Random(seed).shuffle(shuffled)
        assert accounts(shuffled, tims(CLASSES)) == base


def bad_utf8(values: list[str]) -> pa.Array:
    """A string array whose last value is the single byte 0xff (not UTF-8)."""
    data = b"".join(v.encode() for v in values[:-1]) + b"\xff"
    offsets = [0]
    for v in values[:-1]:
        offsets.append(offsets[-1] + len(v.encode()))
    offsets.append(offsets[-1] + 1)
    buffers = [None, pa.py_buffer(pa.array(offsets, pa.int32()).buffers()[1]), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


@pytest.mark.parametrize(
    ("ranges", "column", "reason"),
    [
        ({"equity": 5}, "ranges.equity", "must be (down, up), two finite numbers, got 5"),
        ({"equity": [0.1]}, "ranges.equity", "must be (down, up), two finite numbers, got [0.1]"),
        ({"equity": [0.1, float("inf")]}, "ranges.equity", "must be (down, up), two finite numbers, got [0.1, inf]"),
        ({"equity": "ab"}, "ranges.equity", "must be (down, up), two finite numbers, got 'ab'"),
        ([0.1, 0.1], "ranges", "must map product classes to (down, up)"),
    ],
)
def test_bad_ranges_name_the_key(ranges: object, column: str, reason: str) -> None:
    """Finding 8 (audit 11c): a number or a list as ranges raised a raw TypeError / AttributeError."""
    with pytest.raises(MarginConfigError) as err:
        TimsModel.from_dict({"type": "tims", "ranges": ranges})
    assert (err.value.table, err.value.column, err.value.reason) == ("model", column, reason)


def test_ranges_from_a_config_are_read_as_pairs() -> None:
    model = TimsModel.from_dict(
        {"ranges": {**{k: list(v) for k, v in PRODUCT_CLASS_RANGES.items()}, "equity": [0.2, 0.1]}}
    )
    assert model.ranges["equity"] == (0.2, 0.1)


# Finding 6 (review 14): ranges accept any real numbers, as cascade does; 0.125 and 0.25 are exact
# in float32 and as Decimal, so every kind gives the plain floats' margins bit for bit.
EXACT = (0.125, 0.25)
REAL_PAIRS: dict[str, object] = {
    "tuple": EXACT,
    "list": list(EXACT),
    "np.float64": (np.float64(0.125), np.float64(0.25)),
    "np.float32": (np.float32(0.125), np.float32(0.25)),
    "np.ndarray": np.array(EXACT),
    "np.ndarray float32": np.array(EXACT, dtype=np.float32),
    "Decimal": (Decimal("0.125"), Decimal("0.25")),
    "Fraction": (Fraction(1, 8), Fraction(1, 4)),
    "mixed": (np.float32(0.125), Decimal("0.25")),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", sorted(REAL_PAIRS))
def test_ranges_accept_numpy_and_decimal_numbers(kind: str, engine: str) -> None:
    book: list[tuple[str, str, float]] = [
        ("a", "XYZ", 100),
        ("a", "XYZ-C", -3),
        ("a", "ABC", -250),
        ("b", "XYZ-C", 2),
        ("b", "SPX", 1),
    ]
    plain = TimsModel(product_classes=CLASSES, ranges={**PRODUCT_CLASS_RANGES, "equity": EXACT})
    model = TimsModel(product_classes=CLASSES, ranges={**PRODUCT_CLASS_RANGES, "equity": REAL_PAIRS[kind]})  # type: ignore[dict-item]
    assert model.ranges["equity"] == EXACT
    assert all(type(x) is float for x in model.ranges["equity"])
    assert model.parameter_set == plain.parameter_set
    assert accounts(book, model, engine) == accounts(book, plain, engine)


def test_ranges_accept_numpy_integers() -> None:
    # (1 is a valid up move: up > 0 has no upper bound.)
    model = TimsModel(ranges={**PRODUCT_CLASS_RANGES, "equity": (0.5, np.int64(1))})  # type: ignore[dict-item]
    assert model.ranges["equity"] == (0.5, 1.0)
    assert type(model.ranges["equity"][1]) is float


REFUSED = "must be (down, up), two finite numbers, got "


@pytest.mark.parametrize(
    ("pair", "shown"),
    [
        ((True, 0.1), "(True, 0.1)"),
        ((0.1, np.bool_(True)), "(0.1, np.True_)"),
        (np.array([True, False]), "array([ True, False])"),
        ((0.1, "0.2"), "(0.1, '0.2')"),
        ((0.1, None), "(0.1, None)"),
        ((0.1, complex(0.2, 0)), "(0.1, (0.2+0j))"),
        ((0.1, float("nan")), "(0.1, nan)"),
        ((0.1, np.float32("inf")), "(0.1, np.float32(inf))"),
        ((0.1, Decimal("NaN")), "(0.1, Decimal('NaN'))"),
        ((0.1, Decimal("sNaN")), "(0.1, Decimal('sNaN'))"),
        ((0.1, Decimal("Infinity")), "(0.1, Decimal('Infinity'))"),
        ((0.1, 10**400), f"(0.1, {10**400})"),
        (np.array([0.1, np.nan]), "array([0.1, nan])"),
        (np.array([0.1, 0.2, 0.3]), "array([0.1, 0.2, 0.3])"),
        (np.array([[0.1, 0.2]]), "array([[0.1, 0.2]])"),
        (np.array(0.1), "array(0.1)"),
        (np.float64(0.1), "np.float64(0.1)"),
        (Decimal("0.1"), "Decimal('0.1')"),
        ((np.float32(0.1),), "(np.float32(0.1),)"),
        ((0.1, 0.2, 0.3), "(0.1, 0.2, 0.3)"),
        ({0.1, 0.2}, repr({0.1, 0.2})),
        ({"down": 0.1, "up": 0.2}, "{'down': 0.1, 'up': 0.2}"),
        (b"ab", "b'ab'"),
    ],
    ids=repr,
)
def test_ranges_refuse_what_is_not_two_finite_numbers(pair: object, shown: str) -> None:
    with pytest.raises(MarginConfigError) as err:
        TimsModel(ranges={**PRODUCT_CLASS_RANGES, "narrow_index": pair})  # type: ignore[dict-item]
    assert (err.value.table, err.value.column, err.value.reason) == ("model", "ranges.narrow_index", REFUSED + shown)
    assert str(err.value) == f"model.ranges.narrow_index: {REFUSED}{shown}"


@pytest.mark.parametrize(
    ("pair", "shown"),
    [
        ((np.float32(1.0), 0.1), "(np.float32(1.0), 0.1)"),
        (np.array([0.1, 0.0]), "array([0.1, 0. ])"),
        ((Decimal("0"), Decimal("0.1")), "(Decimal('0'), Decimal('0.1'))"),
        ((np.int64(-1), 0.1), "(np.int64(-1), 0.1)"),
    ],
    ids=repr,
)
def test_ranges_of_numpy_or_decimal_numbers_are_bounded(pair: object, shown: str) -> None:
    with pytest.raises(MarginConfigError) as err:
        TimsModel(ranges={**PRODUCT_CLASS_RANGES, "equity": pair})  # type: ignore[dict-item]
    assert (err.value.column, err.value.reason) == (
        "ranges.equity",
        f"must be (down, up) with down in (0, 1) and up > 0, got {shown}",
    )


@pytest.mark.parametrize("column", ["product_class", "underlying"])
def test_invalid_utf8_in_the_product_class_columns_is_a_named_cell(column: str) -> None:
    """Finding 9 (audit 11c): a raw UnicodeDecodeError before."""
    values = {"product_class": ["high_cap_index", "high_cap_index", "equity", "equity", "equity"]}
    table = instruments().append_column("product_class", pa.array(values["product_class"]))
    i = table.column_names.index(column)
    table = table.set_column(i, column, bad_utf8(table.column(column).to_pylist()))
    for margin in MARGIN.values():
        with pytest.raises(MarginInputError) as err:
            margin(positions([("a", "SPX", 20)]), table, market(), tims())
        assert (err.value.table, err.value.column, err.value.row) == ("instruments", column, 4)
        assert err.value.reason == "not valid UTF-8 text"


def test_an_integer_underlying_column_is_blamed_not_the_model() -> None:
    table = instruments().set_column(1, "underlying", pa.array([1, 2, 3, 4, 3]))
    table = table.append_column("product_class", pa.array(["equity"] * 5))
    for margin in MARGIN.values():
        with pytest.raises(MarginInputError, match=r"expected .*string") as err:
            margin(positions([("a", "SPX", 20)]), table, market(), tims())
        assert (err.value.table, err.value.column) == ("instruments", "underlying")
        assert not isinstance(err.value, MarginConfigError)
