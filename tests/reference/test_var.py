"""The pure-Python reference's VaR / ES models against numbers worked out by hand or in closed
form (docs/methods.md):

- a historical book equals hand-computed order statistics (VaR and ES, per account and per
  underlying, gross, undiversified, labels, tails, the risk matrix), and k = 10 on 1000 dates;
- perfectly correlated offsetting positions net to zero (historical, Monte Carlo);
- the stressed window binds (or not) and the result says which;
- a single long linear position under normal Monte Carlo converges to the analytic lognormal VaR
  and ES of its loss within 4 standard errors;
- bad input is rejected naming table, column and row.
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist
from typing import Any

import pyarrow as pa
import pytest

from pmargin.correlation import Correlation
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.market import Market
from pmargin.models import HistoricalModel, MeasureName, MonteCarloModel
from pmargin.reference import margin
from pmargin.reference.risk.tail import tail_count
from pmargin.result import MarginResult

AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)

DAY0 = dt.date(2024, 3, 1)

N01 = NormalDist()


def spot_market(spots: dict[str, float]) -> tuple[pa.Table, Market]:
    """One spot instrument ``<U>-SPOT`` per underlying, and the market of those spots."""
    names = list(spots)
    instruments = pa.table(
        {
            "instrument_id": [f"{u}-SPOT" for u in names],
            "underlying": names,
            "kind": ["spot"] * len(names),
        }
    )
    return instruments, Market(AS_OF, pa.table({"underlying": names, "spot": [spots[u] for u in names]}))


def positions(rows: list[tuple[Any, str, float]]) -> pa.Table:
    return pa.table(
        {
            "account_id": [r[0] for r in rows],
            "instrument_id": [r[1] for r in rows],
            "quantity": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def moves_table(series: dict[str, list[float]], first: int = 0, shuffle: bool = True) -> pa.Table:
    """One row per (date, underlying); dates DAY0 + first + i; rows in a scrambled order."""
    rows = [(DAY0 + dt.timedelta(days=first + i), u, r) for u, rs in series.items() for i, r in enumerate(rs)]
    if shuffle:
        rows = rows[1::2] + rows[::2]
    return pa.table(
        {
            "date": pa.array([r[0] for r in rows], pa.date32()),
            "underlying": [r[1] for r in rows],
            "return": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def row(result: MarginResult, account: Any = "acct") -> dict[str, Any]:
    table = result.accounts
    index = table.column("account_id").to_pylist().index(account)
    values: dict[str, Any] = table.slice(index, 1).to_pylist()[0]
    return values


def label(i: int, first: int = 0) -> str:
    return (DAY0 + dt.timedelta(days=first + i)).isoformat()


#: Returns in units of 1/128 on spots 128 (BTC) and 64 (ETH): long 1 BTC, short 2 ETH gives the
#: P&L b (BTC) and -e (ETH) exactly.
B = [1, -3, 2, -1, 0, 4, -2, 1]

E = [0, -1, 3, 2, -1, 1, 1, 2]


def hand_book() -> tuple[pa.Table, pa.Table, Market, pa.Table]:
    instruments, market = spot_market({"BTC": 128.0, "ETH": 64.0})
    book = positions([("acct", "BTC-SPOT", 1.0), ("acct", "ETH-SPOT", -2.0)])
    moves = moves_table({"BTC": [b / 128 for b in B], "ETH": [e / 128 for e in E], "SOL": [0.5] * 8})
    return book, instruments, market, moves


def test_historical_es_equals_the_order_statistics() -> None:
    """Losses e - b = [-1, 2, 1, 3, -1, -3, 3, 1]; c = 0.625 gives k = 3: tail (3, 6, 1),
    ES = (3 + 3 + 2) / 3. BTC alone (losses -b): tail (1, 6, 3), ES 2; ETH alone (losses e):
    tail (2, 3, 7), ES 7/3. Gross: 1 x ES(unit long BTC) + 2 x ES(unit short ETH = e / 2)."""
    book, instruments, market, moves = hand_book()
    result = margin(
        book, instruments, market, HistoricalModel(moves, confidence=0.625, mm_ratio=0.5, tail_scenarios=True)
    )
    acc = row(result)
    assert acc["initial_margin"] == pytest.approx(8 / 3, rel=1e-15)
    assert acc["maintenance_margin"] == pytest.approx(4 / 3, rel=1e-15)
    assert acc["undiversified_margin"] == pytest.approx(2 + 7 / 3, rel=1e-15)
    assert acc["cross_underlying_benefit"] == pytest.approx(5 / 3, rel=1e-14)
    assert acc["gross_margin"] == pytest.approx(2 + 2 * 7 / 6, rel=1e-15)
    assert acc["measure_scenario"] == 3 and acc["measure_scenario_label"] == label(3)
    assert acc["tail_scenarios"] == [3, 6, 1]
    assert acc["binding_window"] is None
    assert result.by_underlying.to_pylist() == [
        {
            "account_id": "acct",
            "underlying": "BTC",
            "requirement": 2.0,
            "measure_scenario": 1,
            "measure_scenario_label": label(1),
        },
        {
            "account_id": "acct",
            "underlying": "ETH",
            "requirement": 7 / 3,
            "measure_scenario": 2,
            "measure_scenario_label": label(2),
        },
    ]
    matrix = result.scenarios("acct")
    assert matrix.column_names == ["scenario", "label", "BTC", "ETH", "total"]
    assert matrix.column("label").to_pylist() == [label(i) for i in range(8)]
    assert matrix.column("BTC").to_pylist() == [float(b) for b in B]
    assert matrix.column("ETH").to_pylist() == [float(-e) for e in E]
    assert matrix.column("total").to_pylist() == [float(b - e) for b, e in zip(B, E, strict=True)]


def test_historical_var_equals_the_order_statistic() -> None:
    """k = 3: VaR is the third loss in tail order, 2 (scenario 1); BTC alone 1 (scenario 3,
    after 3 and 2); ETH alone 2 (scenario 7: the tie with scenario 3 goes to the lower index
    first). Gross: 1 x 1 + 2 x VaR(e / 2) = 1 + 2 x 1."""
    book, instruments, market, moves = hand_book()
    result = margin(
        book, instruments, market, HistoricalModel(moves, measure="var", confidence=0.625, tail_scenarios=True)
    )
    acc = row(result)
    assert (acc["initial_margin"], acc["measure_scenario"], acc["tail_scenarios"]) == (2.0, 1, [1])
    assert acc["measure_scenario_label"] == label(1)
    assert acc["maintenance_margin"] == 0.75 * 2.0
    assert (acc["undiversified_margin"], acc["cross_underlying_benefit"], acc["gross_margin"]) == (3.0, 1.0, 3.0)
    by = result.by_underlying
    assert by.column("requirement").to_pylist() == [1.0, 2.0]
    assert by.column("measure_scenario").to_pylist() == [3, 7]


def test_k_is_ten_on_a_thousand_dates() -> None:
    """Losses a permutation of 1..1000 (exact: spot 1024, returns -L/1024): at 99% VaR is the
    10th largest, 991, and ES the mean of 991..1000."""
    instruments, market = spot_market({"X": 1024.0})
    losses = [(i * 7919) % 1000 + 1 for i in range(1000)]
    moves = pa.table(
        {
            "date": pa.array([DAY0 + dt.timedelta(days=i) for i in range(1000)], pa.date32()),
            "underlying": ["X"] * 1000,
            "return": [-loss / 1024 for loss in losses],
        }
    )
    book = positions([(1, "X-SPOT", 1.0)])
    var = row(margin(book, instruments, market, HistoricalModel(moves, measure="var", confidence=0.99)), 1)
    assert var["initial_margin"] == 991.0
    assert var["measure_scenario"] == losses.index(991)
    es = row(margin(book, instruments, market, HistoricalModel(moves, confidence=0.99, tail_scenarios=True)), 1)
    assert es["initial_margin"] == 995.5
    assert es["tail_scenarios"] == [losses.index(v) for v in range(1000, 990, -1)]


def test_nothing_at_risk_reports_no_scenario() -> None:
    """Returns all positive for a long: every loss is negative, margin 0, no scenario, empty tail."""
    instruments, market = spot_market({"BTC": 128.0})
    result = margin(
        positions([("a", "BTC-SPOT", 2.0)]),
        instruments,
        market,
        HistoricalModel(moves_table({"BTC": [0.01] * 4}), confidence=0.5, tail_scenarios=True),
    )
    acc = row(result, "a")
    assert acc["initial_margin"] == 0.0 and acc["measure_scenario"] is None
    assert acc["measure_scenario_label"] is None and acc["tail_scenarios"] == []
    assert result.by_underlying.column("measure_scenario").to_pylist() == [None]


def test_perfectly_correlated_offsets_net_to_zero_historically() -> None:
    """Identical returns (exact multiples of 1/128), long 1 A at 128, short 2 B at 64."""
    instruments, market = spot_market({"A": 128.0, "B": 64.0})
    rs = [k / 128 for k in (-9, 3, -4, 7, -1, 2)]
    result = margin(
        positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -2.0)]),
        instruments,
        market,
        HistoricalModel(moves_table({"A": rs, "B": rs}), confidence=0.5, tail_scenarios=True),
    )
    acc = row(result)
    assert acc["initial_margin"] == 0.0 and acc["tail_scenarios"] == [] and acc["measure_scenario"] is None
    assert acc["undiversified_margin"] == pytest.approx((9 + 4 + 1) / 3 + (7 + 3 + 2) / 3, rel=1e-15)


def test_perfectly_correlated_offsets_net_to_zero_in_monte_carlo() -> None:
    """rho = 1 and equal vols: the two names draw the same z (the semi-definite Cholesky factor
    has a zero column), so long 1 A at 100 and short 1.25 B at 80 cancel to rounding."""
    instruments, market = spot_market({"A": 100.0, "B": 80.0})
    model = MonteCarloModel(
        pa.table({"underlying": ["A", "B"], "vol": [0.05, 0.05]}), Correlation(["A", "B"], [[1, 1], [1, 1]]), 400, 5
    )
    scenarios = model.scenarios()
    returns = scenarios.column("return").to_pylist()
    assert returns[0::2] == returns[1::2]
    acc = row(margin(positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", -1.25)]), instruments, market, model))
    assert acc["initial_margin"] < 1e-12
    assert acc["undiversified_margin"] > 15.0


def stressed_case(normal: list[float], stressed: list[float], measure: MeasureName = "var") -> dict[str, Any]:
    instruments, market = spot_market({"BTC": 128.0})
    model = HistoricalModel(
        moves_table({"BTC": [k / 128 for k in normal]}),
        measure=measure,
        confidence=0.75,
        stressed=moves_table({"BTC": [k / 128 for k in stressed]}, first=100),
        tail_scenarios=True,
    )
    result = margin(positions([("acct", "BTC-SPOT", 1.0)]), instruments, market, model)
    acc = row(result)
    by = result.by_underlying.to_pylist()[0]
    assert by["requirement"] == acc["initial_margin"]
    assert by["measure_scenario"] == acc["measure_scenario"]
    assert by["measure_scenario_label"] == acc["measure_scenario_label"]
    return acc


def test_the_stressed_window_binds() -> None:
    """k = 1 of 4: normal VaR 2 (scenario 3), stressed VaR 16 (its scenario 2, dated 100 days later)."""
    acc = stressed_case([1, -1, 2, -2], [-8, 4, -16, 2])
    assert (acc["initial_margin"], acc["binding_window"]) == (16.0, "stressed")
    assert (acc["measure_scenario"], acc["measure_scenario_label"], acc["tail_scenarios"]) == (2, label(2, 100), [2])
    normal = stressed_case([1, -1, 2, -20], [-8, 4, -16, 2])
    assert (normal["initial_margin"], normal["binding_window"], normal["measure_scenario"]) == (20.0, "normal", 3)
    assert normal["measure_scenario_label"] == label(3)
    tie = stressed_case([1, -1, 2, -16], [-8, 4, -16, 2])
    assert (tie["initial_margin"], tie["binding_window"], tie["measure_scenario"]) == (16.0, "normal", 3)


def test_the_stressed_window_is_never_filtered() -> None:
    """With EWMA on, the stressed window keeps its raw returns (VaR 16 exactly)."""
    instruments, market = spot_market({"BTC": 128.0})
    model = HistoricalModel(
        moves_table({"BTC": [k / 128 for k in (1, -1, 2, -2)]}),
        measure="var",
        confidence=0.75,
        ewma_lambda=0.9,
        stressed=moves_table({"BTC": [k / 128 for k in (-8, 4, -16, 2)]}, first=100),
    )
    acc = row(margin(positions([("acct", "BTC-SPOT", 1.0)]), instruments, market, model))
    assert (acc["initial_margin"], acc["binding_window"]) == (16.0, "stressed")


def test_each_underlying_takes_its_own_worst_window() -> None:
    """Normal: A falls 16 once; stressed: B falls 8 once. ES k = 1 of 4. The account binds in the
    normal window (16 > 8) while B alone binds in the stressed window."""
    instruments, market = spot_market({"A": 128.0, "B": 128.0})
    model = HistoricalModel(
        moves_table({"A": [k / 128 for k in (-16, 0, 0, 0)], "B": [0.0] * 4}),
        confidence=0.75,
        stressed=moves_table({"A": [0.0] * 4, "B": [k / 128 for k in (0, 0, -8, 0)]}, first=50),
    )
    result = margin(positions([("acct", "A-SPOT", 1.0), ("acct", "B-SPOT", 1.0)]), instruments, market, model)
    acc = row(result)
    assert (acc["initial_margin"], acc["binding_window"], acc["undiversified_margin"]) == (16.0, "normal", 24.0)
    assert result.by_underlying.column("measure_scenario_label").to_pylist() == [label(0), label(2, 50)]


def lognormal_tail(sigma: float, c: float, spot: float) -> tuple[float, float, float, float]:
    """VaR, ES and their standard errors over N = 1 for the loss spot (1 - e^(sigma Z))."""
    a = 1.0 - c
    z = N01.inv_cdf(a)
    var = spot * (1.0 - math.exp(sigma * z))
    tail_mean = math.exp(0.5 * sigma * sigma) * N01.cdf(z - sigma) / a
    tail_square = math.exp(2.0 * sigma * sigma) * N01.cdf(z - 2.0 * sigma) / a
    es = spot * (1.0 - tail_mean)
    tail_var = spot * spot * (tail_square - tail_mean * tail_mean)
    density = N01.pdf(z) / (spot * sigma * math.exp(sigma * z))
    se_var = math.sqrt(a * (1.0 - a)) / density
    se_es = math.sqrt((tail_var + (1.0 - a) * (es - var) ** 2) / a)
    return var, es, se_var, se_es


@pytest.mark.parametrize(("measure", "c"), [("var", 0.99), ("es", 0.975), ("es", 0.99)])
def test_a_long_position_converges_to_the_lognormal_measures(measure: MeasureName, c: float) -> None:
    n = 20_000
    instruments, market = spot_market({"BTC": 100.0})
    model = MonteCarloModel(
        pa.table({"underlying": ["BTC"], "vol": [0.05]}),
        Correlation(["BTC"], [[1.0]]),
        n,
        2026,
        measure=measure,
        confidence=c,
        tail_scenarios=True,
    )
    acc = row(margin(positions([("acct", "BTC-SPOT", 1.0)]), instruments, market, model))
    var, es, se_var, se_es = lognormal_tail(0.05, c, 100.0)
    expected, se = (var, se_var) if measure == "var" else (es, se_es)
    assert abs(acc["initial_margin"] - expected) < 4.0 * se / math.sqrt(n), (acc["initial_margin"], expected)
    assert acc["measure_scenario_label"] == f"MC #{acc['measure_scenario']}"
    assert len(acc["tail_scenarios"]) == (1 if measure == "var" else tail_count(n, c))


def where(run: Any) -> tuple[str | None, str | None, int | None, str]:
    with pytest.raises(MarginInputError) as info:
        run()
    return info.value.table, info.value.column, info.value.row, info.value.reason


BOOK = positions([("a", "BTC-SPOT", 1.0), ("a", "ETH-SPOT", -1.0)])


def historical_error(table: pa.Table, confidence: float = 0.5, **kwargs: Any) -> tuple[Any, ...]:
    instruments, market = spot_market({"BTC": 100.0, "ETH": 50.0, "SOL": 10.0})
    return where(lambda: margin(BOOK, instruments, market, HistoricalModel(table, confidence=confidence, **kwargs)))


def test_a_date_missing_a_held_underlying() -> None:
    table = moves_table({"BTC": [0.01, 0.02, 0.03], "ETH": [0.01, 0.02]}, shuffle=False)
    table_, column, row_, reason = historical_error(table)
    assert (table_, column, row_) == ("moves", "date", None)
    assert label(2) in reason and "'ETH'" in reason


def test_an_underlying_without_moves() -> None:
    assert historical_error(moves_table({"BTC": [0.01, 0.02]}))[:3] == ("moves", "underlying", None)
    # SOL is in the market but not held: no moves needed; extra underlyings in the moves are fine.
    instruments, market = spot_market({"BTC": 100.0, "SOL": 10.0})
    moves = moves_table({"BTC": [0.01, -0.02], "XRP": [0.5, 0.5]})
    result = margin(positions([("a", "BTC-SPOT", 1.0)]), instruments, market, HistoricalModel(moves, confidence=0.5))
    assert row(result, "a")["initial_margin"] == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize(
    ("column", "value", "where_"),
    [
        ("return", math.nan, ("moves", "return", 3)),
        ("return", None, ("moves", "return", 3)),
        ("return", -1.0, ("moves", "return", 3)),
        ("underlying", "BTC", ("moves", "underlying", 3)),
        ("underlying", None, ("moves", "underlying", 3)),
    ],
    ids=["nan return", "null return", "return -100%", "duplicate date and underlying", "null underlying"],
)
def test_bad_moves_name_the_row(column: str, value: Any, where_: tuple[str, str, int]) -> None:
    table = moves_table({"BTC": [0.01, 0.02], "ETH": [0.03, 0.04]}, shuffle=False)
    values = table.column(column).to_pylist()
    values[3] = value
    table = table.set_column(
        table.column_names.index(column), column, pa.array(values, table.schema.field(column).type)
    )
    assert historical_error(table)[:3] == where_
    assert historical_error(moves_table({"BTC": [0.1] * 4, "ETH": [0.1] * 4}), stressed=table)[:3] == (
        "stressed",
        *where_[1:],
    )


def test_bad_date_column() -> None:
    table = moves_table({"BTC": [0.01], "ETH": [0.02]}).set_column(0, "date", pa.array([1.5, 2.5]))
    assert historical_error(table)[:3] == ("moves", "date", None)


def test_too_few_dates_for_the_confidence() -> None:
    """3 dates cannot serve 97.5% (3 x 0.025 < 1): a configuration error naming the confidence."""
    table = moves_table({"BTC": [0.01, 0.02, 0.03], "ETH": [0.01, 0.02, 0.03]})
    instruments, market = spot_market({"BTC": 100.0, "ETH": 50.0})
    with pytest.raises(MarginConfigError) as info:
        margin(BOOK, instruments, market, HistoricalModel(table, confidence=0.975))
    assert (info.value.table, info.value.column, info.value.row) == ("model", "confidence", None)


def test_ewma_cannot_push_a_price_below_zero() -> None:
    """A calm history then a -90% day: filtered by EWMA (lambda 0.5) it becomes below -100%."""
    table = moves_table({"BTC": [0.001] * 6 + [-0.9], "ETH": [0.0] * 7}, shuffle=False)
    table_, column, row_, reason = historical_error(table, ewma_lambda=0.5)
    assert (table_, column, row_) == ("moves", "return", 6)
    assert "EWMA" in reason and label(6) in reason


def test_monte_carlo_underlying_outside_the_matrix_or_without_a_vol() -> None:
    instruments, market = spot_market({"BTC": 100.0, "ETH": 50.0})
    corr = Correlation(["BTC"], [[1.0]])
    model = MonteCarloModel(pa.table({"underlying": ["BTC", "ETH"], "vol": [0.1, 0.1]}), corr, 100, 1)
    table_, column, row_, reason = where(lambda: margin(BOOK, instruments, market, model))
    assert (table_, column, row_) == ("correlation", None, None) and "'ETH'" in reason
    corr2 = Correlation(["BTC", "ETH"], [[1.0, 0.0], [0.0, 1.0]])
    model2 = MonteCarloModel(pa.table({"underlying": ["BTC"], "vol": [0.1]}), corr2, 100, 1)
    assert where(lambda: margin(BOOK, instruments, market, model2))[:3] == ("mc_vols", "underlying", None)


def test_a_market_problem_comes_before_a_missing_underlying() -> None:
    """An option without a vol on an underlying the moves lack: the instruments error wins."""
    instruments = pa.table(
        {
            "instrument_id": ["OPT"],
            "underlying": ["ETH"],
            "kind": ["option"],
            "option_type": ["call"],
            "strike": [50.0],
            "expiry": pa.array([AS_OF + dt.timedelta(days=30)], pa.timestamp("us", tz="UTC")),
        }
    )
    market = Market(AS_OF, pa.table({"underlying": ["ETH"], "spot": [50.0]}))
    model = HistoricalModel(moves_table({"BTC": [0.1, 0.2]}), confidence=0.5)
    assert where(lambda: margin(positions([("a", "OPT", 1.0)]), instruments, market, model))[:3] == (
        "instruments",
        "instrument_id",
        0,
    )
