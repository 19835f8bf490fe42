"""SIMM (pmargin.simm, pmargin.presets.simm): the published cases through both engines
(tests/cases/simm: AC-M1 ORE v2.6 10-day call and post to 1e-9, AC-M3 as an equality), and the
invariants: contributions add up to the total (Euler), scaling every amount by k scales SIMM by
k below the concentration thresholds, an exactly offsetting row removes its risk, row order
changes no bit, and a book's CRIF records the crypto mapping it used."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pmargin
from pmargin import _core
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.presets import simm
from pmargin.reference.sensitivity import simm_tables
from tests.methods.sensitivity.crifs import crif_rows, crifs, table

CASES = Path(__file__).resolve().parents[2] / "cases" / "simm"
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def both(crif: Any, side: str = "call", amount_column: str | None = None) -> list[dict[str, pa.Table]]:
    t, spec = simm("2.6", side=side).prepare(pa.table(crif), amount_column=amount_column)
    return [_core.simm(t, spec), simm_tables(t, spec)]


def load(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((CASES / name).read_text())
    return case


@pytest.mark.parametrize("side", ["call", "post"])
def test_ore_v26_10d_example(side: str) -> None:
    case = load("ore-v2.6-10d-ir-bermudan.json")
    want = case["expected"][side]
    tol = case["tolerance"]
    for tables in both(case["crif"], side, case["amount_column"]):
        rc = tables["risk_classes"].to_pylist()
        assert len(rc) == 1 and rc[0]["risk_class"] == "InterestRate"
        for key in ("delta", "vega", "curvature"):
            assert rc[0][key] == pytest.approx(want[key], rel=tol, abs=tol)
        assert tables["accounts"].column("simm")[0].as_py() == pytest.approx(want["simm"], rel=tol)
        curv = [b for b in tables["buckets"].to_pylist() if b["margin_type"] == "Curvature"]
        assert curv[0]["k"] == pytest.approx(want["curvature_bucket_k"], rel=tol)
        total = math.fsum(tables["contributions"].column("contribution").to_pylist())
        assert total == pytest.approx(want["simm"], rel=1e-12)


def test_equity_delta_ignores_label1() -> None:
    case = load("acm3-equity-label1.json")
    for two, one in zip(both(case["crif"]), both(case["equal_to"]), strict=True):
        assert two["accounts"].column("simm")[0].as_py() == one["accounts"].column("simm")[0].as_py()
        assert two["accounts"].column("simm")[0].as_py() > 0


@SETTINGS
@given(crif=crifs(), side=st.sampled_from(["call", "post"]))
def test_contributions_add_up(crif: pa.Table, side: str) -> None:
    native, _ = both(crif, side)
    contrib = crif.append_column("c", native["contributions"].column("contribution"))
    for row in native["accounts"].to_pylist():
        mine = [
            c
            for p, c in zip(contrib.column("Portfolio").to_pylist(), contrib.column("c").to_pylist(), strict=True)
            if p == row["account"]
        ]
        assert math.fsum(mine) == pytest.approx(row["simm"], rel=1e-9, abs=1e-6)


# below every concentration threshold even summed over 25 rows and scaled by 10 (equity residual: 0.37m)
small = st.floats(-1e3, 1e3, allow_nan=False)


@SETTINGS
@given(rows=st.lists(crif_rows(small), min_size=1, max_size=25), k=st.sampled_from([0.5, 2.0, 3.0, 10.0]))
def test_scaling(rows: list[tuple[Any, ...]], k: float) -> None:
    base = table([("P", *r) for r in rows])
    scaled = table([("P", *r[:-1], r[-1] * k) for r in rows])
    a = both(base)[0]["accounts"].column("simm")[0].as_py()
    b = both(scaled)[0]["accounts"].column("simm")[0].as_py()
    assert b == pytest.approx(k * a, rel=1e-9, abs=1e-6)


@SETTINGS
@given(rows=st.lists(crif_rows(), min_size=1, max_size=25), extra=crif_rows())
def test_offsetting_row_removes_its_risk(rows: list[tuple[Any, ...]], extra: tuple[Any, ...]) -> None:
    base = table([("P", *r) for r in rows])
    hedged = table([("P", *r) for r in rows] + [("P", *extra), ("P", *extra[:-1], -extra[-1])])
    for x, y in zip(both(base), both(hedged), strict=True):
        assert y["accounts"].to_pylist() == x["accounts"].to_pylist()
        c = y["contributions"].column("contribution").to_pylist()
        assert c[-2] == -c[-1] or (c[-2] == 0.0 and c[-1] == 0.0)


@SETTINGS
@given(crif=crifs(), seed=st.integers(0, 2**32 - 1))
def test_row_order_and_batch_splits_change_no_bit(crif: pa.Table, seed: int) -> None:
    import random

    perm = list(range(crif.num_rows))
    random.Random(seed).shuffle(perm)
    shuffled = crif.take(pa.array(perm, pa.int64()))
    a = both(crif)[0]
    b = both(shuffled)[0]
    assert a["accounts"].to_pylist() == b["accounts"].to_pylist()
    assert a["risk_classes"].to_pylist() == b["risk_classes"].to_pylist()
    ca = a["contributions"].column("contribution").to_pylist()
    cb = b["contributions"].column("contribution").to_pylist()
    assert [cb[perm.index(i)] for i in range(len(perm))] == ca
    # The shuffled rows in several record batches: the same bits.
    split = pa.Table.from_batches(shuffled.to_batches(max_chunksize=1 + seed % 7), shuffled.schema)
    c = both(split)[0]
    assert c["accounts"].to_pylist() == b["accounts"].to_pylist()
    assert c["risk_classes"].to_pylist() == b["risk_classes"].to_pylist()
    assert c["contributions"].column("contribution").to_pylist() == cb


def test_book_crif_and_mapping() -> None:
    book = pmargin.sample.book(n_accounts=4, seed=5)
    model = simm("2.6")
    default = model.margin_book(book.positions, book.instruments, book.market)
    assert default.mapping is not None
    assert default.mapping.to_pylist() == [
        {"underlying": "BTC", "risk_class": "Equity", "bucket": "Residual", "default": True},
        {"underlying": "ETH", "risk_class": "Equity", "bucket": "Residual", "default": True},
    ]
    mapped = model.margin_book(book.positions, book.instruments, book.market, mapping={"BTC": ("Commodity", "1")})
    assert mapped.mapping is not None and mapped.mapping.column("default").to_pylist() == [False, True]
    assert set(mapped.contributions.column("ProductClass").to_pylist()) == {"Commodity", "Equity"}
    for r in (default, mapped):
        assert r.parameters.name == "ISDA SIMM" and r.parameters.version == "2.6/10d"
        by = {}
        for p, c in zip(
            r.contributions.column("Portfolio").to_pylist(),
            r.contributions.column("contribution").to_pylist(),
            strict=True,
        ):
            by.setdefault(p, []).append(c)
        for row in r.accounts.to_pylist():
            assert math.fsum(by[row["account"]]) == pytest.approx(row["simm"], rel=1e-9)
    with pytest.raises(MarginConfigError):
        model.margin_book(book.positions, book.instruments, book.market, mapping={"BTC": ("Credit", "1")})


def test_csv_input(tmp_path: Path) -> None:
    case = load("ore-v2.6-10d-ir-bermudan.json")
    import pyarrow.csv as pcsv

    path = tmp_path / "crif.csv"
    pcsv.write_csv(pa.table(case["crif"]), path)
    r = simm("2.6").margin(str(path))
    assert r.accounts.column("simm")[0].as_py() == pytest.approx(case["expected"]["call"]["simm"], rel=1e-9)


def test_unknown_version() -> None:
    with pytest.raises(MarginConfigError):
        simm("1.0")


def test_amount_in_another_currency_names_the_first_row() -> None:
    rows = {
        "Portfolio": ["A", "A", "A"],
        "ProductClass": ["RatesFX"] * 3,
        "RiskType": ["Risk_FX"] * 3,
        "Qualifier": ["EUR"] * 3,
        "Amount": [1.0, 2.0, 3.0],
        "AmountCurrency": ["USD", None, "EUR"],
    }
    with pytest.raises(MarginInputError, match="row 1: amount in None without an AmountUSD") as e:
        simm("2.6").margin(pa.table(rows))
    assert (e.value.column, e.value.row) == ("AmountCurrency", 1)
    rows["AmountCurrency"] = ["USD"] * 3
    assert simm("2.6").margin(pa.table(rows)).accounts.column("simm").to_pylist() == [44.400000000000006]


def test_crif_without_amounts_names_amount_usd() -> None:
    rows = {"Portfolio": ["A"], "ProductClass": ["RatesFX"], "RiskType": ["Risk_FX"], "Qualifier": ["EUR"]}
    with pytest.raises(MarginInputError, match=r"crif.AmountUSD: missing column: the CRIF needs AmountUSD") as e:
        simm("2.6").margin(pa.table(rows))
    assert (e.value.table, e.value.column, e.value.row) == ("crif", "AmountUSD", None)


def test_reference_engine_from_the_model() -> None:
    rows = [("P", "Equity", "Risk_Equity", "X", "1", "", "", 5e6), ("Q", "RatesFX", "Risk_FX", "EUR", "", "", "", 2e7)]
    model = simm("2.6")
    native, ref = model.margin(table(rows)), model.margin(table(rows), engine="reference")
    assert ref.accounts.column("simm").to_pylist() == pytest.approx(native.accounts.column("simm").to_pylist(), 1e-12)
    assert ref.contributions.column("contribution").to_pylist() == pytest.approx(
        native.contributions.column("contribution").to_pylist(), rel=1e-12
    )
    with pytest.raises(MarginConfigError, match="engine must be 'native' or 'reference'"):
        model.margin(table(rows), engine="numpy")


def test_preset_parameters_are_the_models_own() -> None:
    changed = simm("2.6")
    changed.parameters["interest_rate"]["delta_risk_weights"]["1"][0] = 1e6
    assert simm("2.6").parameters["interest_rate"]["delta_risk_weights"]["1"][0] == 109.0


@pytest.mark.parametrize("drop", ["1", "3"])
def test_ir_bucket_without_risk_weights_is_a_config_error(drop: str) -> None:
    # "1" holds USD; "3" is the default bucket (currencies in no list).
    t, spec = simm("2.6").prepare(table([("A", "RatesFX", "Risk_IRCurve", "USD", "", "1y", "OIS", 1e6)]))
    del spec["parameters"]["interest_rate"]["delta_risk_weights"][drop]
    errors = []
    for run in (_core.simm, simm_tables):
        with pytest.raises(MarginConfigError) as e:
            run(t, spec)
        errors.append(str(e.value))
    assert (
        errors
        == [f"model.interest_rate.delta_risk_weights.{drop}: missing parameter interest_rate.delta_risk_weights.{drop}"]
        * 2
    )


#: Two counterparties with exactly offsetting equity deltas (30,000 SIMM each, 0 if netted).
OFFSETTING = {
    "ProductClass": ["Equity"] * 2,
    "RiskType": ["Risk_Equity"] * 2,
    "Qualifier": ["X", "X"],
    "Bucket": ["1", "1"],
    "Label1": ["", ""],
    "Label2": ["", ""],
    "AmountUSD": [1000.0, -1000.0],
}


def simms(result: Any) -> dict[str, float]:
    return dict(
        zip(result.accounts.column("account").to_pylist(), result.accounts.column("simm").to_pylist(), strict=True)
    )


@pytest.mark.parametrize("engine", ["native", "reference"])
def test_the_account_column_is_never_silently_missing(engine: str) -> None:
    model = simm("2.6")
    by_portfolio = pa.table({"Portfolio": ["alice", "bob"], **OFFSETTING})
    assert simms(model.margin(by_portfolio, engine=engine)) == {"alice": 30000.0, "bob": 30000.0}
    named = pa.table({"PortfolioID": ["alice", "bob"], **OFFSETTING})
    assert simms(model.margin(named, account_column="PortfolioID", engine=engine)) == {"alice": 30000.0, "bob": 30000.0}
    # Another spelling of the account column, without naming it: an error, not one netted account.
    for spelling in ("portfolio", "PortfolioID", "account_id", "Account", "CounterpartyID", "NettingSet"):
        with pytest.raises(MarginInputError) as e:
            model.margin(pa.table({spelling: ["alice", "bob"], **OFFSETTING}), engine=engine)
        assert (e.value.table, e.value.column, e.value.row) == ("crif", "Portfolio", None)
        assert f"account_column={spelling!r}" in str(e.value)
    # A named column must exist.
    with pytest.raises(MarginInputError) as e:
        model.margin(by_portfolio, account_column="Account", engine=engine)
    assert (e.value.table, e.value.column) == ("crif", "Account")
    # No account column at all: one account, as documented.
    assert simms(model.margin(pa.table(OFFSETTING), engine=engine)) == {"": 0.0}


def qualifier_errors(rows: list[tuple[Any, ...]]) -> list[str]:
    """The native and the reference error for ``rows``, each at crif.Qualifier, row 1."""
    messages = []
    for run in (_core.simm, simm_tables):
        t, spec = simm("2.6").prepare(table(rows))
        with pytest.raises(MarginInputError) as e:
            run(t, spec)
        assert (e.value.table, e.value.column, e.value.row) == ("crif", "Qualifier", 1)
        messages.append(str(e.value))
    return messages


def test_currencies_are_capital_letters() -> None:
    for code in ("usd", "Usd", "US", "€€€", 840):
        with pytest.raises(MarginConfigError) as e:
            simm("2.6", calculation_currency=code)  # type: ignore[arg-type]
        assert e.value.column == "calculation_currency"
    ir = [("A", "RatesFX", "Risk_IRCurve", "USD", "", "5y", "OIS", 1000.0)]
    for rows, q in (
        ([*ir, ("A", "RatesFX", "Risk_IRCurve", "usd", "", "5y", "OIS", -1000.0)], "usd"),
        ([*ir, ("A", "RatesFX", "Risk_FX", "eur", "", "", "", 1000000.0)], "eur"),
        ([*ir, ("A", "RatesFX", "Risk_FXVol", "EURusd", "", "1y", "", 1000000.0)], "EURusd"),
        ([*ir, ("A", "RatesFX", "Risk_IRVol", "US1", "", "1y", "", 1000000.0)], "US1"),
    ):
        messages = qualifier_errors(rows)
        assert messages[0] == messages[1] and f"'{q}'" in messages[0] and "capital letters" in messages[0]


def test_dictionary_columns_of_any_string_type_read_as_their_strings() -> None:
    import polars as pl

    plain = pa.table({"Portfolio": ["P", "P", "Q"], **{k: [*v, v[0]] for k, v in OFFSETTING.items()}})
    want = simms(simm("2.6").margin(plain))
    frame = pl.from_arrow(plain)
    assert isinstance(frame, pl.DataFrame)
    for column in ("Portfolio", "RiskType", "Qualifier", "Bucket"):
        categorical = frame.with_columns(pl.col(column).cast(pl.Categorical))
        assert simms(simm("2.6").margin(categorical)) == want == {"P": 0.0, "Q": 30000.0}
    views = pa.table(
        {
            k: plain.column(k).cast(pa.string_view()).dictionary_encode() if k == "Qualifier" else plain.column(k)
            for k in plain.column_names
        }
    )
    assert simms(simm("2.6").margin(views)) == want


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("sigma_horizon_days",), 0),
        (("threshold_unit",), -1.0),
        (("equity", "delta_thresholds", "1"), 0.0),
        (("equity", "delta_thresholds", "1"), -1.0),
        (("interest_rate", "vega_thresholds", "1"), math.inf),
        (("fx", "delta_thresholds", "1"), True),
    ],
)
def test_parameters_that_divide_by_zero_or_disable_concentration_are_refused(path: tuple[str, ...], value: Any) -> None:
    params = simm("2.6").parameters
    at = params
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    with pytest.raises(MarginConfigError) as e:
        pmargin.simm.SensitivityModel(params)
    assert e.value.column == "parameters." + ".".join(path)


def test_risk_class_correlations_must_be_symmetric() -> None:
    params = simm("2.6").parameters
    params["risk_class_correlations"][0][3] = 0.9
    with pytest.raises(MarginConfigError) as e:
        pmargin.simm.SensitivityModel(params)
    assert e.value.column == "parameters.risk_class_correlations" and "[3][0]" in str(e.value)


def test_thresholds_in_another_calculation_currency_scale_with_the_threshold_unit() -> None:
    """Amounts in EUR at 0.9 EUR per USD with threshold_unit 0.9e6 are the USD book's margin x 0.9,
    concentration included (amounts far above the equity thresholds)."""
    usd = {
        "Portfolio": ["P", "P"],
        "ProductClass": ["Equity", "Equity"],
        "RiskType": ["Risk_Equity", "Risk_Equity"],
        "Qualifier": ["X", "Y"],
        "Bucket": ["1", "1"],
        "Label1": ["", ""],
        "Label2": ["", ""],
        "AmountUSD": [4e7, -1.5e7],
    }
    in_usd = simm("2.6").margin(pa.table(usd)).accounts.column("simm")[0].as_py()
    params = simm("2.6").parameters
    params["threshold_unit"] = 0.9e6
    eur_model = pmargin.simm.SensitivityModel(params, calculation_currency="EUR")
    eur = {**{k: v for k, v in usd.items() if k != "AmountUSD"}, "Amount": [0.9 * a for a in usd["AmountUSD"]]}
    in_eur = eur_model.margin(pa.table(eur)).accounts.column("simm")[0].as_py()
    assert in_eur == pytest.approx(0.9 * in_usd, rel=1e-12)
    # Without the conversion the thresholds bind differently: not 0.9 x.
    plain = simm("2.6", calculation_currency="EUR").margin(pa.table(eur)).accounts.column("simm")[0].as_py()
    assert abs(plain / in_usd - 0.9) > 1e-3


@pytest.mark.parametrize(
    ("path", "change", "reason"),
    [
        (("equity", "intra_bucket_correlations", "1"), 1.5, "within [-1, 1]"),
        (("commodity", "intra_bucket_correlations", "2"), -3.0, "within [-1, 1]"),
        (("interest_rate", "tenor_correlations", "0", "0"), 0.5, "the diagonal must be 1"),
        (("equity", "inter_bucket_correlations", "0", "1"), 0.9, "must be symmetric"),
        (("interest_rate", "tenor_correlations", "3", "1"), 0.1, "must be symmetric"),
        (("equity", "delta_risk_weights", "1"), -30.0, "must be >= 0"),
        (("equity", "curvature_weights", "0"), -0.5, "must be >= 0"),
        (("fx", "historical_volatility_ratio"), -0.1, "must be >= 0"),
        (("fx", "vega_correlation"), 1.01, "within [-1, 1]"),
    ],
)
def test_impossible_parameter_values_are_refused(path: tuple[str, ...], change: float, reason: str) -> None:
    params = simm("2.6").parameters
    at: Any = params
    for key in path[:-1]:
        at = at[int(key)] if isinstance(at, list) else at[key]
    last = path[-1]
    at[int(last) if isinstance(at, list) else last] = change
    with pytest.raises(MarginConfigError) as e:
        pmargin.simm.SensitivityModel(params)
    # A value out of range is named by its own path, a matrix that is not symmetric by the matrix's.
    named = ".".join(k for k in path if not k.isdigit())
    assert e.value.column is not None and e.value.column.startswith(f"parameters.{named}")
    assert reason in str(e.value)


def test_a_pair_of_one_currency_has_no_volatility() -> None:
    rows = [
        ("A", "RatesFX", "Risk_FXVol", "EURUSD", "", "1y", "", 1e3),
        ("A", "RatesFX", "Risk_FXVol", "USDUSD", "", "1y", "", 1e3),
    ]
    messages = qualifier_errors(rows)
    assert messages == ["crif.Qualifier, row 1: FX vol qualifier 'USDUSD' must be a pair of two currencies"] * 2


@pytest.mark.parametrize("engine", ["native", "reference"])
def test_columns_read_by_name_are_named_once_and_the_account_is_not_the_amount(engine: str) -> None:
    names = ["Portfolio", "Portfolio", "ProductClass", "RiskType", "Qualifier", "Bucket", "AmountUSD"]
    cells = [["P"], ["Q"], ["Equity"], ["Risk_Equity"], ["X"], ["1"], [1.0]]
    twice = pa.table([pa.array(c) for c in cells], names=names)
    with pytest.raises(MarginInputError) as e:
        simm("2.6").margin(twice, engine=engine)
    assert str(e.value) == "crif.Portfolio: column 'Portfolio' appears 2 times"
    once = pa.table([pa.array(c) for c in cells[1:]], names=names[1:])
    with pytest.raises(MarginConfigError) as c:
        simm("2.6").margin(once, account_column="AmountUSD", engine=engine)
    assert c.value.column == "account_column"
