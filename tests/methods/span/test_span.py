"""CME SPAN (pmargin.models.span, methods/span): the published worked examples AC-S1..S3 through
both engines, the parts of the requirement on small books, invariants, parameter-set identity and
named errors."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

import pmargin
from pmargin import reference
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.models import load_model
from pmargin.models.span import SpanModel
from pmargin.presets import span
from tests.methods.venue_cases import case_paths, check, load, run

ENGINES = ("native", "reference")
MARGIN = {"native": pmargin.margin, "reference": reference.margin}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", case_paths("span"), ids=lambda p: p.stem)
def test_published_cases(path: Path, engine: str) -> None:
    case = load(path)
    assert case.source
    check(case, run(case, engine))


def test_ac_s1_is_exact_and_the_sign_trap_is_avoided() -> None:
    case = load(case_paths("span")[0])
    result = run(case, "native")
    row = result.by_underlying.to_pylist()[0]
    assert row["scanning_risk"] == 6620.0 and row["active_scenario"] == 13
    # Negating both printed rows (the sign trap) would give 13,990: not what the engine does.
    assert result.accounts.column("scanning_risk").to_pylist() == [6620.0]


def test_ac_s2_is_the_same_under_either_credit_basis() -> None:
    case = load(case_paths("span")[1])
    params = dict(case.model.params)
    for basis in ("scan", "price_risk"):
        model = SpanModel({**params, "credit_basis": basis}, case.model.risk_arrays)
        for engine in ENGINES:
            accounts = MARGIN[engine](case.positions, case.instruments, case.market, model).accounts
            assert accounts.column("maintenance_margin").to_pylist()[0] == pytest.approx(2700.0, abs=1e-9)


# --- a small market with pmargin's own revaluation ----------------------------------------------

AS_OF = "2026-06-30T00:00:00Z"


def market() -> pmargin.Market:
    return pmargin.Market(
        AS_OF,
        pa.table({"underlying": ["A", "B"], "spot": [100.0, 50.0], "rate": [0.0, 0.0]}),
        pa.table({"instrument_id": ["AC", "AP"], "implied_vol": [0.3, 0.3]}),
    )


def instruments() -> pa.Table:
    day = 86_400 * 10**9
    base = pmargin.market.to_epoch_ns(AS_OF)
    return pa.table(
        {
            "instrument_id": ["A1", "A2", "AC", "AP", "B1"],
            "underlying": ["A", "A", "A", "A", "B"],
            "kind": ["future", "future", "option", "option", "future"],
            "option_type": [None, None, "call", "put", None],
            "strike": [None, None, 100.0, 95.0, None],
            "expiry": pa.array(
                [base + 5 * day, base + 100 * day, base + 40 * day, base + 40 * day, base + 50 * day],
                pa.timestamp("ns", tz="UTC"),
            ),
            "multiplier": [10.0, 10.0, 10.0, 10.0, 20.0],
        }
    )


PARAMS = {
    "name": "test-set",
    "version": "1",
    "combined_commodities": [
        {
            "name": "A",
            "underlyings": ["A"],
            "price_scan_range": 0.1,
            "vol_scan_range": 0.05,
            "short_option_minimum": 25.0,
            "delivery_charge": 7.0,
            "delivery_days": 10,
            "initial_ratio": 1.1,
            "tiers": [30, 3650],
            "intra_spreads": [{"tiers": [1, 2], "charge": 15.0}],
        },
        {"name": "B", "underlyings": ["B"], "price_scan_range": 0.2},
    ],
    "inter_spreads": [
        {"credit_rate": 0.5, "legs": [{"commodity": "A", "delta_ratio": 1}, {"commodity": "B", "delta_ratio": 1}]}
    ],
}


def positions(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": [float(r[2]) for r in rows],
        }
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_outright_future_is_its_scan_range(engine: str) -> None:
    result = MARGIN[engine](positions([("a", "B1", 1)]), instruments(), market(), SpanModel(PARAMS))
    # B at 50, multiplier 20, PSR 20%: a 3/3 move loses 200; the extreme move 2x at 35% only 140.
    acct = result.accounts.to_pylist()[0]
    assert acct["scanning_risk"] == pytest.approx(200.0, rel=1e-12)
    assert acct["maintenance_margin"] == pytest.approx(200.0, rel=1e-12)
    assert acct["initial_margin"] == pytest.approx(200.0, rel=1e-12)
    assert acct["parameter_set"] == str(SpanModel(PARAMS).parameter_set)


@pytest.mark.parametrize("engine", ENGINES)
def test_calendar_spread_pays_intra_and_delivery(engine: str) -> None:
    result = MARGIN[engine](positions([("a", "A1", 1), ("a", "A2", -1)]), instruments(), market(), SpanModel(PARAMS))
    row = result.by_underlying.to_pylist()[0]
    # Futures revalue identically at zero rates: no scan risk; one tier-1 v tier-2 spread; the
    # 5-day future is in the delivery month (|delta| 1 x 7).
    assert row["scanning_risk"] == pytest.approx(0.0, abs=1e-9)
    assert row["intra_charge"] == pytest.approx(15.0)
    assert row["delivery_charge"] == pytest.approx(7.0)
    assert row["total"] == pytest.approx(22.0)
    acct = result.accounts.to_pylist()[0]
    assert acct["initial_margin"] == pytest.approx(1.1 * 22.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_short_option_minimum_on_the_greater_side_after_netting(engine: str) -> None:
    # 3 short calls, 1 short put: SOM = 25 x max(3, 1); deep-hedged by nothing, but scan is larger.
    book = positions([("a", "AC", -2), ("a", "AC", -1), ("a", "AP", -1), ("b", "AC", -1), ("b", "AC", 1)])
    result = MARGIN[engine](book, instruments(), market(), SpanModel(PARAMS))
    rows = result.by_underlying.to_pylist()
    assert [r["account_id"] for r in rows] == ["a"]  # b nets to zero: holds nothing
    assert rows[0]["short_option_minimum"] == pytest.approx(75.0)
    assert rows[0]["total"] == pytest.approx(max(rows[0]["scanning_risk"], 75.0))
    nov = rows[0]["net_option_value"]
    assert nov < 0  # short options: the premium is added to the requirement
    acct = result.accounts.to_pylist()[0]
    assert acct["maintenance_margin"] == pytest.approx(acct["span_requirement"] - nov)


@pytest.mark.parametrize("engine", ENGINES)
def test_short_option_minimum_binds_for_far_otm_options(engine: str) -> None:
    params = {
        **PARAMS,
        "combined_commodities": [
            {**PARAMS["combined_commodities"][0], "short_option_minimum": 1e4},
            PARAMS["combined_commodities"][1],
        ],
    }
    result = MARGIN[engine](positions([("a", "AP", -1)]), instruments(), market(), SpanModel(params))
    row = result.by_underlying.to_pylist()[0]
    assert row["total"] == 1e4 and row["scanning_risk"] < 1e4


@pytest.mark.parametrize("engine", ENGINES)
def test_inter_credit_between_named_commodities(engine: str) -> None:
    book = positions([("a", "B1", 1), ("a", "A2", -2)])
    result = MARGIN[engine](book, instruments(), market(), SpanModel(PARAMS))
    rows = {r["combined_commodity"]: r for r in result.by_underlying.to_pylist()}
    # 1:1 ratio: one spread; each leg credited 50% of its weighted price risk x 1 delta.
    assert rows["B"]["inter_credit"] == pytest.approx(0.5 * rows["B"]["scanning_risk"])
    assert rows["A"]["inter_credit"] == pytest.approx(0.5 * rows["A"]["scanning_risk"] / 2)
    # Same-signed deltas form no spread.
    same = MARGIN[engine](positions([("a", "B1", 1), ("a", "A2", 2)]), instruments(), market(), SpanModel(PARAMS))
    assert same.accounts.column("inter_credit").to_pylist() == [0.0]


BOOK = [
    ("a", "A1", 3),
    ("a", "A2", -2),
    ("a", "AC", -4),
    ("a", "AP", 2),
    ("a", "B1", 1),
    ("b", "AP", -3),
    ("b", "B1", -2),
    ("c", "AC", 5),
]


def requirements(rows: list[tuple[str, str, float]], engine: str = "native") -> dict[str, dict[str, float]]:
    result = MARGIN[engine](positions(rows), instruments(), market(), SpanModel(PARAMS))
    return {r["account_id"]: r for r in result.accounts.to_pylist()}


@pytest.mark.parametrize("k", [0.5, 3.0, 1e3])
def test_scaling_every_quantity_scales_every_part(k: float) -> None:
    base = requirements(BOOK)
    scaled = requirements([(a, i, q * k) for a, i, q in BOOK])
    for account, row in base.items():
        for column in (
            "maintenance_margin",
            "initial_margin",
            "scanning_risk",
            "intra_charge",
            "inter_credit",
            "short_option_minimum",
            "net_option_value",
        ):
            assert scaled[account][column] == pytest.approx(k * row[column], rel=1e-9, abs=1e-9)


def test_an_exactly_offsetting_position_changes_nothing() -> None:
    base = requirements(BOOK)
    with_offset = requirements([*BOOK, ("a", "AC", 4), ("a", "AC", -4), ("c", "AC", -5), ("c", "AC", 5)])
    assert with_offset == base


def test_never_above_the_sum_of_stand_alone_requirements() -> None:
    # Holds for SPAN when no intra charge exceeds what its legs would cost outright (true of any
    # sensible table, and of this one); a parameter set can break it by design (docs/span.md).
    for account in ("a", "b", "c"):
        rows = [r for r in BOOK if r[0] == account]
        together = requirements(rows)[account]["maintenance_margin"]
        alone = sum(requirements([r])[account]["maintenance_margin"] for r in rows)
        assert together <= alone + 1e-9


def test_a_commodity_missing_from_the_parameter_file_is_a_named_error() -> None:
    params = {**PARAMS, "combined_commodities": PARAMS["combined_commodities"][:1], "inter_spreads": []}
    for margin in MARGIN.values():
        with pytest.raises(MarginInputError) as err:
            margin(positions([("a", "A1", 1), ("a", "B1", 1)]), instruments(), market(), SpanModel(params))
        assert (err.value.table, err.value.column) == ("span_parameters", "combined_commodities")
        assert "'B'" in str(err.value) and "test-set@1#" in str(err.value)
    # Not held: not an error.
    assert requirements([("a", "A1", 1)])["a"]["maintenance_margin"] > 0


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"credit_basis": "net"}, "credit_basis"),
        (
            {"combined_commodities": [{"name": "A", "underlyings": ["A"], "price_scan_range": 1.5}]},
            "combined_commodities[0].price_scan_range",
        ),
        (
            {"combined_commodities": [{"name": "A", "underlyings": ["A"], "tiers": [30, 10]}]},
            "combined_commodities[0].tiers",
        ),
        (
            {
                "combined_commodities": [
                    {
                        "name": "A",
                        "underlyings": ["A"],
                        "tiers": [30],
                        "intra_spreads": [{"tiers": [1, 2], "charge": 1}],
                    }
                ]
            },
            "combined_commodities[0].intra_spreads[0].tiers",
        ),
        ({"combined_commodities": [{"name": "A", "underlyings": ["A"], "scan": 1}]}, "combined_commodities[0].scan"),
        (
            {
                "inter_spreads": [
                    {
                        "credit_rate": 0.5,
                        "legs": [{"commodity": "A", "delta_ratio": 1}, {"commodity": "Z", "delta_ratio": 1}],
                    }
                ]
            },
            "inter_spreads[0].legs[1].commodity",
        ),
        ({"inter_spreads": [{"credit_rate": 1.5, "legs": []}]}, "inter_spreads[0].credit_rate"),
    ],
)
def test_bad_parameters_name_the_field(change: dict[str, object], column: str) -> None:
    with pytest.raises(MarginConfigError) as err:
        SpanModel({**PARAMS, **change})
    assert err.value.column == column


def test_the_native_parser_checks_the_spec_too() -> None:
    spec = SpanModel(PARAMS).to_spec()
    spec["combined_commodities"][0]["extreme_cover"] = -1.0
    with pytest.raises(MarginConfigError) as err:
        pmargin._core.Engine(
            instruments(), market().underlyings, market().vols, market().as_of_ns, spec, pmargin.Limits().to_spec()
        )
    assert err.value.column == "combined_commodities[0].extreme_cover"


def test_parameter_set_identity_follows_the_content() -> None:
    a, b = SpanModel(PARAMS), SpanModel(dict(reversed(list(PARAMS.items()))))
    assert str(a.parameter_set) == str(b.parameter_set)
    assert str(a.parameter_set).startswith("test-set@1#")
    changed = SpanModel(
        {
            **PARAMS,
            "combined_commodities": [
                {**PARAMS["combined_commodities"][0], "short_option_minimum": 26.0},
                PARAMS["combined_commodities"][1],
            ],
        }
    )
    assert changed.parameter_set.sha256 != a.parameter_set.sha256
    with pytest.raises(MarginConfigError):
        SpanModel({k: v for k, v in PARAMS.items() if k != "version"})


def test_by_position_is_a_config_error() -> None:
    for margin in MARGIN.values():
        with pytest.raises(MarginConfigError) as err:
            margin(positions([("a", "A1", 1)]), instruments(), market(), SpanModel(PARAMS), by_position=True)
        assert err.value.column == "by_position"


def test_demo_set_and_toml_model_file(tmp_path: Path) -> None:
    demo = span()
    assert str(demo.parameter_set).startswith("pmargin-demo-span@2026-12-01#")
    assert demo.commodity_names() == ["BTC", "ETH", "SOL", "SPX"]
    (tmp_path / "params.json").write_text(__import__("json").dumps(PARAMS))
    (tmp_path / "model.toml").write_text('type = "span"\nparams = "params.json"\n')
    model = load_model(tmp_path / "model.toml")
    assert isinstance(model, SpanModel) and str(model.parameter_set) == str(SpanModel(PARAMS).parameter_set)


def test_supplied_arrays_are_checked() -> None:
    arrays = pa.table({"instrument_id": ["ZZ"], **{f"risk_{s}": [1.0] for s in range(1, 17)}, "composite_delta": [1.0]})
    for margin in MARGIN.values():
        with pytest.raises(MarginInputError) as err:
            margin(positions([("a", "A1", 1)]), instruments(), market(), SpanModel(PARAMS, arrays))
        assert (err.value.table, err.value.column, err.value.row) == ("risk_arrays", "instrument_id", 0)
    with pytest.raises(MarginConfigError):
        SpanModel(PARAMS, arrays.drop(["risk_16"]))


def test_scenario_matrix_is_the_loss_per_commodity() -> None:
    result = pmargin.margin(positions([("a", "B1", 1)]), instruments(), market(), SpanModel(PARAMS))
    matrix = result.scenarios("a")
    assert matrix.column_names == ["scenario", "label", "B", "total"]
    assert matrix.column("label").to_pylist()[12] == "price -3/3 vol up"
    assert max(matrix.column("total").to_pylist()) == pytest.approx(200.0)
    assert math.isclose(matrix.column("B").to_pylist()[14], -0.35 * 2 * 200.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_gross_margin_is_each_position_margined_alone(engine: str) -> None:
    result = MARGIN[engine](positions(BOOK), instruments(), market(), SpanModel(PARAMS))
    for row in result.accounts.to_pylist():
        rows = [r for r in BOOK if r[0] == row["account_id"]]
        alone = [
            MARGIN[engine](positions([r]), instruments(), market(), SpanModel(PARAMS)).accounts.to_pylist()[0]
            for r in rows
        ]
        assert row["gross_margin"] == pytest.approx(sum(a["initial_margin"] for a in alone), rel=1e-12)
        assert row["netting_benefit"] == pytest.approx(row["gross_margin"] - row["initial_margin"])
        assert row["initial_margin"] <= row["gross_margin"] + 1e-9


def test_the_margin_command_takes_a_span_model_file(tmp_path: Path) -> None:
    from pmargin.cli import main
    from pmargin.io import read_table, write_table

    args = []
    for name, table in (
        ("positions", positions(BOOK)),
        ("instruments", instruments()),
        ("underlyings", market().underlyings),
        ("vols", market().vols),
    ):
        write_table(table, tmp_path / f"{name}.parquet")
        args += [f"--{name}", str(tmp_path / f"{name}.parquet")]
    (tmp_path / "params.json").write_text(__import__("json").dumps(PARAMS))
    (tmp_path / "span.toml").write_text('type = "span"\nparams = "params.json"\n')
    out = tmp_path / "out.parquet"
    assert main(["margin", *args, "--as-of", AS_OF, "--config", str(tmp_path / "span.toml"), "--out", str(out)]) == 0
    want = pmargin.margin(positions(BOOK), instruments(), market(), SpanModel(PARAMS)).accounts
    assert read_table(out, "accounts").equals(want)
    assert main(["margin", *args, "--as-of", AS_OF, "--config", str(tmp_path / "span.toml")]) == 0


def test_numbers_do_not_depend_on_row_order() -> None:
    import random

    rows = [*BOOK, ("a", "AC", 1), ("c", "A1", -2)]
    base = requirements(rows)
    for seed in range(3):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert requirements(shuffled) == base


def test_an_intra_charge_above_the_outrights_breaks_subadditivity_by_design() -> None:
    # The spread table is set independently of the scan ranges: a calendar charge above what the
    # two legs cost outright makes the spread dearer than its legs alone (documented, docs/span.md).
    dear = {
        **PARAMS,
        "combined_commodities": [
            {**PARAMS["combined_commodities"][0], "intra_spreads": [{"tiers": [1, 2], "charge": 1e4}]},
            PARAMS["combined_commodities"][1],
        ],
    }
    result = pmargin.margin(positions([("a", "A1", 1), ("a", "A2", -1)]), instruments(), market(), SpanModel(dear))
    row = result.accounts.to_pylist()[0]
    assert row["initial_margin"] > row["gross_margin"] and row["netting_benefit"] < 0


@pytest.mark.parametrize("bound", [math.inf, math.nan])
def test_a_non_finite_intra_spread_tier_names_the_field(bound: float) -> None:
    """Finding 8 (audit 11c): int(inf) / int(nan) raised a raw OverflowError / ValueError."""
    commodity = {"name": "A", "underlyings": ["A"], "tiers": [30, 90], "intra_spreads": [{"tiers": [1, bound]}]}
    with pytest.raises(MarginConfigError) as err:
        SpanModel({**PARAMS, "combined_commodities": [commodity], "inter_spreads": []})
    assert (err.value.table, err.value.column) == ("model", "combined_commodities[0].intra_spreads[0].tiers")
    assert err.value.reason == f"tier {bound!r} is not one of 1..2"


def test_decimal_risk_arrays_are_read_as_numbers() -> None:
    """Finding 9 (audit 11c): decimals (documented as numbers) were refused ("no canonical form")."""
    case = load(case_paths("span")[0])
    arrays = case.model.risk_arrays
    decimals = pa.table(
        {
            n: arrays.column(n) if n == "instrument_id" else arrays.column(n).cast(pa.decimal128(18, 6))
            for n in arrays.column_names
        }
    )
    model = SpanModel(case.model.params, decimals)
    assert model.parameter_set == SpanModel(case.model.params, arrays).parameter_set
    for engine in ENGINES:
        result = MARGIN[engine](case.positions, case.instruments, case.market, model)
        assert result.accounts.column("scanning_risk").to_pylist() == [6620.0]


@pytest.mark.parametrize(
    ("value", "reason"),
    [(math.nan, "not a finite number: nan"), (-math.inf, "not a finite number: -inf"), (None, "null is not allowed")],
)
def test_a_bad_risk_array_loss_is_its_cell(value: float | None, reason: str) -> None:
    """Finding 9 (audit 11c): a NaN loss was reported as params.risk_arrays[1][3]; the native
    core's words for its own check of the column."""
    case = load(case_paths("span")[0])
    arrays = case.model.risk_arrays
    arrays = arrays.set_column(3, "risk_3", pa.array([arrays.column("risk_3")[0].as_py(), value], pa.float64()))
    with pytest.raises(MarginInputError) as err:
        SpanModel(case.model.params, arrays)
    assert (err.value.table, err.value.column, err.value.row, err.value.reason) == ("risk_arrays", "risk_3", 1, reason)
    assert not isinstance(err.value, MarginConfigError)


def test_invalid_utf8_in_a_risk_array_id_is_its_cell() -> None:
    """Finding 9 (audit 11c): a raw UnicodeDecodeError before."""
    case = load(case_paths("span")[0])
    arrays = case.model.risk_arrays
    ids = arrays.column("instrument_id").to_pylist()
    data = ids[0].encode() + b"\xff"
    offsets = pa.array([0, len(ids[0].encode()), len(data)], pa.int32()).buffers()[1]
    bad = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(data)])
    with pytest.raises(MarginInputError) as err:
        SpanModel(case.model.params, arrays.set_column(0, "instrument_id", bad))
    assert (err.value.table, err.value.column, err.value.row) == ("risk_arrays", "instrument_id", 1)
    assert err.value.reason == "not valid UTF-8 text"
