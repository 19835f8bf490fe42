"""The new model classes: argument validation (each error naming ``model.<argument>``), the
Monte Carlo vols table, ``HistoricalModel.from_prices`` arithmetic, EWMA filtering on a hand
example, scenario tables and labels, the grid's correlation options, and ``load_model`` for the
three model types."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from pmargin.correlation import Correlation
from pmargin.errors import MarginConfigError, MarginInputError
from pmargin.io import write_table
from pmargin.models import GridModel, HistoricalModel, MonteCarloModel, load_model

CORR = Correlation(["BTC", "ETH"], [[1.0, 0.8], [0.8, 1.0]])
VOLS = pa.table({"underlying": ["ETH", "BTC"], "vol": [0.05, 0.04]})


def moves(dates: list[Any], underlyings: list[str], returns: list[float], **extra: list[Any]) -> pa.Table:
    return pa.table({"date": dates, "underlying": underlyings, "return": returns, **extra})


SMALL_MOVES = moves([dt.date(2024, 1, d) for d in (1, 1, 2, 2)], ["BTC", "ETH", "BTC", "ETH"], [0.01, -0.02, 0.03, 0.0])


def config_error(run: Any) -> MarginConfigError:
    with pytest.raises(MarginConfigError) as info:
        run()
    assert info.value.table == "model"
    assert isinstance(info.value, MarginInputError)
    return info.value


# --- HistoricalModel arguments ----------------------------------------------------------------

HISTORICAL_BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("measure", {"measure": "cvar"}, "measure", "'es'"),
    ("confidence 0", {"confidence": 0.0}, "confidence", "(0, 1)"),
    ("confidence 1", {"confidence": 1.0}, "confidence", "(0, 1)"),
    ("confidence nan", {"confidence": math.nan}, "confidence", "(0, 1)"),
    ("confidence string", {"confidence": "0.99"}, "confidence", "(0, 1)"),
    ("ewma 0", {"ewma_lambda": 0.0}, "ewma_lambda", "(0, 1)"),
    ("ewma 1", {"ewma_lambda": 1.0}, "ewma_lambda", "(0, 1)"),
    ("mm_ratio 0", {"mm_ratio": 0.0}, "mm_ratio", "(0, 1]"),
    ("mm_ratio above 1", {"mm_ratio": 1.5}, "mm_ratio", "(0, 1]"),
    ("vol_shock", {"vol_shock": "percent"}, "vol_shock", "'relative' or 'absolute'"),
]


@pytest.mark.parametrize(
    ("kwargs", "column", "reason"), [c[1:] for c in HISTORICAL_BAD], ids=[c[0] for c in HISTORICAL_BAD]
)
def test_historical_arguments_are_checked(kwargs: dict[str, Any], column: str, reason: str) -> None:
    err = config_error(lambda: HistoricalModel(SMALL_MOVES, **kwargs))
    assert err.column == column
    assert reason in err.reason


def test_historical_defaults_and_tables() -> None:
    model = HistoricalModel(pl.from_arrow(SMALL_MOVES), stressed=dict(SMALL_MOVES.to_pydict()))
    assert (model.measure, model.confidence, model.vol_shock, model.mm_ratio) == ("es", 0.975, "relative", 0.75)
    assert model.ewma_lambda is None and model.type == "historical"
    assert isinstance(model.moves, pa.Table) and isinstance(model.stressed, pa.Table)
    assert model.moves.column("return").to_pylist() == [0.01, -0.02, 0.03, 0.0]
    assert model.stressed.column("return").to_pylist() == [0.01, -0.02, 0.03, 0.0]
    same = HistoricalModel(SMALL_MOVES, stressed=SMALL_MOVES)
    assert same == HistoricalModel(SMALL_MOVES, stressed=SMALL_MOVES)
    assert same != HistoricalModel(SMALL_MOVES)
    assert same != HistoricalModel(SMALL_MOVES, stressed=SMALL_MOVES, measure="var")


def test_moves_must_be_a_table() -> None:
    with pytest.raises(MarginInputError) as info:
        HistoricalModel(3.0)
    assert info.value.table == "moves"


# --- MonteCarloModel arguments ----------------------------------------------------------------

MC_BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("student_t without dof", {"distribution": "student_t"}, "dof", "dof > 2"),
    ("dof 2", {"distribution": "student_t", "dof": 2.0}, "dof", "dof > 2"),
    ("dof 1.5", {"distribution": "student_t", "dof": 1.5}, "dof", "dof > 2"),
    ("dof infinite", {"distribution": "student_t", "dof": math.inf}, "dof", "dof > 2"),
    ("dof with normal", {"dof": 5.0}, "dof", "only to distribution='student_t'"),
    ("distribution", {"distribution": "cauchy"}, "distribution", "'normal' or 'student_t'"),
    ("no scenarios", {"n_scenarios": 0}, "n_scenarios", "must be in [1,"),
    ("fractional scenarios", {"n_scenarios": 100.5}, "n_scenarios", "integer"),
    ("boolean scenarios", {"n_scenarios": True}, "n_scenarios", "integer"),
    ("negative seed", {"seed": -1}, "seed", "must be in [0, 18446744073709551615]"),
    ("seed 2**64", {"seed": 2**64}, "seed", "must be in [0, 18446744073709551615]"),
    ("float seed", {"seed": 1.0}, "seed", "integer"),
    ("spot_vol_correlation", {"spot_vol_correlation": -1.5}, "spot_vol_correlation", "[-1, 1]"),
    ("vol_of_vol negative", {"vol_of_vol": -0.1}, "vol_of_vol", ">= 0"),
    ("vol_of_vol nan", {"vol_of_vol": math.nan}, "vol_of_vol", ">= 0"),
    ("horizon_days 0", {"horizon_days": 0}, "horizon_days", "> 0"),
    ("too few scenarios", {"n_scenarios": 39}, "confidence", "39 scenarios are too few"),
    ("confidence", {"confidence": 1.2}, "confidence", "(0, 1)"),
    ("measure", {"measure": "max"}, "measure", "'es'"),
    ("mm_ratio", {"mm_ratio": -1}, "mm_ratio", "(0, 1]"),
    ("correlation", {"correlation": [[1.0]]}, "correlation", "pmargin.Correlation"),
]


@pytest.mark.parametrize(("kwargs", "column", "reason"), [c[1:] for c in MC_BAD], ids=[c[0] for c in MC_BAD])
def test_monte_carlo_arguments_are_checked(kwargs: dict[str, Any], column: str, reason: str) -> None:
    arguments: dict[str, Any] = {"vols": VOLS, "correlation": CORR, "n_scenarios": 100, "seed": 7, **kwargs}
    err = config_error(lambda: MonteCarloModel(**arguments))
    assert err.column == column
    assert reason in err.reason


def test_forty_scenarios_serve_97_5_percent() -> None:
    """40 x (1 - 0.975) = 1.0000000000000009: exactly one tail scenario, not too few."""
    assert MonteCarloModel(VOLS, CORR, 40, 0).n_scenarios == 40


VOL_TABLE_BAD: list[tuple[str, dict[str, list[Any]], tuple[str, str, int | None]]] = [
    ("zero vol", {"underlying": ["BTC", "ETH"], "vol": [0.04, 0.0]}, ("mc_vols", "vol", 1)),
    ("negative vol", {"underlying": ["BTC", "ETH"], "vol": [-0.04, 0.05]}, ("mc_vols", "vol", 0)),
    ("nan vol", {"underlying": ["BTC", "ETH", "SOL"], "vol": [0.04, 0.05, math.nan]}, ("mc_vols", "vol", 2)),
    ("null vol", {"underlying": ["BTC", "ETH"], "vol": [None, 0.05]}, ("mc_vols", "vol", 0)),
    ("duplicate underlying", {"underlying": ["BTC", "BTC"], "vol": [0.04, 0.05]}, ("mc_vols", "underlying", 1)),
    ("no vol column", {"underlying": ["BTC"], "sigma": [0.04]}, ("mc_vols", "vol", None)),
]


@pytest.mark.parametrize(("columns", "location"), [c[1:] for c in VOL_TABLE_BAD], ids=[c[0] for c in VOL_TABLE_BAD])
def test_monte_carlo_vols_table_errors_name_the_row(
    columns: dict[str, list[Any]], location: tuple[str, str, int | None]
) -> None:
    with pytest.raises(MarginInputError) as info:
        MonteCarloModel(pa.table(columns), CORR, 100, 1)
    assert (info.value.table, info.value.column, info.value.row) == location


def test_horizon_vols_follow_the_correlation_names() -> None:
    """Aligned with ``correlation.names``; None where the vols table has no row (SOL); extra rows
    (XRP) ignored; annual vols scaled by sqrt(h / 365)."""
    corr = Correlation(["SOL", "BTC", "ETH"], [[1, 0, 0], [0, 1, 0.5], [0, 0.5, 1]])
    vols = pa.table({"underlying": ["XRP", "ETH", "BTC"], "vol": [0.9, 0.05, 0.04]})
    assert MonteCarloModel(vols, corr, 100, 1).horizon_vols() == [None, 0.04, 0.05]
    annual = MonteCarloModel(vols, corr, 100, 1, horizon_days=10)
    assert annual.horizon_vols() == [None, 0.04 * math.sqrt(10 / 365.0), 0.05 * math.sqrt(10 / 365.0)]


def test_monte_carlo_scenario_table_layout() -> None:
    model = MonteCarloModel(VOLS, CORR, 3, 11, confidence=0.5, vol_of_vol=0.5, spot_vol_correlation=-0.7)
    table = model.scenarios()
    assert table.schema.names == ["scenario", "underlying", "return", "vol_change"]
    assert [table.schema.field(n).type for n in table.schema.names] == [
        pa.int32(),
        pa.string(),
        pa.float64(),
        pa.float64(),
    ]
    assert table.column("scenario").to_pylist() == [0, 0, 1, 1, 2, 2]
    assert table.column("underlying").to_pylist() == ["BTC", "ETH"] * 3
    assert all(r > -1.0 for r in table.column("return").to_pylist())
    assert all(v > -1.0 and v != 0.0 for v in table.column("vol_change").to_pylist())
    plain = MonteCarloModel(VOLS, CORR, 3, 11, confidence=0.5).scenarios()
    assert plain.column("vol_change").to_pylist() == [0.0] * 6
    # e_j is the first normal of its stream, eta_j the second: vol of vol leaves the prices alone.
    assert plain.column("return").to_pylist() == table.column("return").to_pylist()


# --- from_prices ------------------------------------------------------------------------------


def test_from_prices_builds_overlapping_returns() -> None:
    """Rows shuffled; per underlying (first-seen order), dates ascending, p_{t+h} / p_t - 1 at date_t."""
    day = [dt.date(2024, 3, d) for d in (1, 2, 3, 4)]
    prices = pa.table(
        {
            "date": [day[2], day[0], day[1], day[3], day[0], day[1], day[2]],
            "underlying": ["ETH", "ETH", "BTC", "ETH", "BTC", "ETH", "BTC"],
            "price": [110.0, 100.0, 60.0, 99.0, 50.0, 120.0, 45.0],
        }
    )
    one = HistoricalModel.from_prices(prices, measure="var", confidence=0.5)
    assert one.measure == "var" and one.confidence == 0.5
    assert one.moves.column_names == ["date", "underlying", "return"]
    assert one.moves.schema.field("date").type == pa.date32()
    assert one.moves.column("underlying").to_pylist() == ["ETH", "ETH", "ETH", "BTC", "BTC"]
    assert one.moves.column("date").to_pylist() == [day[0], day[1], day[2], day[0], day[1]]
    assert one.moves.column("return").to_pylist() == [
        120.0 / 100.0 - 1.0,
        110.0 / 120.0 - 1.0,
        99.0 / 110.0 - 1.0,
        60.0 / 50.0 - 1.0,
        45.0 / 60.0 - 1.0,
    ]
    two = HistoricalModel.from_prices(prices, horizon_days=2)
    assert two.moves.column("underlying").to_pylist() == ["ETH", "ETH", "BTC"]
    assert two.moves.column("return").to_pylist() == [110.0 / 100.0 - 1.0, 99.0 / 120.0 - 1.0, 45.0 / 50.0 - 1.0]
    assert HistoricalModel.from_prices(prices, horizon_days=3).moves.column("underlying").to_pylist() == ["ETH"]


@pytest.mark.parametrize(
    ("prices", "location"),
    [
        ({"date": ["2024-01-01", "2024-01-02"], "underlying": ["A", "A"], "price": [1.0, 0.0]}, ("prices", "price", 1)),
        (
            {"date": ["2024-01-01", "2024-01-01"], "underlying": ["A", "A"], "price": [1.0, 2.0]},
            ("prices", "underlying", 1),
        ),
        ({"date": ["2024-01-01", None], "underlying": ["A", "A"], "price": [1.0, 2.0]}, ("prices", "date", 1)),
    ],
    ids=["zero price", "duplicate date", "null date"],
)
def test_from_prices_errors(prices: dict[str, list[Any]], location: tuple[str, str, int]) -> None:
    with pytest.raises(MarginInputError) as info:
        HistoricalModel.from_prices(pa.table(prices))
    assert (info.value.table, info.value.column, info.value.row) == location


def test_from_prices_horizon_must_be_a_positive_integer() -> None:
    prices = pa.table({"date": ["2024-01-01"], "underlying": ["A"], "price": [1.0]})
    for bad in (0, 1.5, True):
        assert (
            config_error(lambda bad=bad: HistoricalModel.from_prices(prices, horizon_days=bad)).column == "horizon_days"
        )


# --- scenarios and EWMA -----------------------------------------------------------------------


def test_ewma_filter_on_four_dates() -> None:
    """lambda = 0.5, r = [0.02, -0.04, 0.01, 0.03] (rows shuffled):
    s2_1 = 0.003 / 4 = 0.00075, s2_2 = 0.000575, s2_3 = 0.0010875, s2_4 = 0.00059375,
    s2_5 = 0.000746875; r_t' = r_t sqrt(s2_5 / s2_t). vol_change is not rescaled."""
    table = moves(
        ["2024-01-03", "2024-01-01", "2024-01-04", "2024-01-02"],
        ["X", "X", "X", "X"],
        [0.01, 0.02, 0.03, -0.04],
        vol_change=[0.3, 0.1, 0.4, 0.2],
    )
    s2 = [0.00075, 0.000575, 0.0010875, 0.00059375]
    today = 0.000746875
    expected = [r * math.sqrt(today / s) for r, s in zip([0.02, -0.04, 0.01, 0.03], s2, strict=True)]
    model = HistoricalModel(table, ewma_lambda=0.5, confidence=0.5, stressed=table)
    got = model.scenarios()
    assert got.column("date").to_pylist() == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    assert got.column("return").to_pylist() == pytest.approx(expected, rel=1e-13)
    assert got.column("return").to_pylist()[0] == pytest.approx(0.01995829, rel=1e-7)
    assert got.column("vol_change").to_pylist() == [0.1, 0.2, 0.3, 0.4]
    # The stressed window is never filtered.
    assert model.scenarios("stressed").column("return").to_pylist() == [0.02, -0.04, 0.01, 0.03]
    assert HistoricalModel(table).scenarios().column("return").to_pylist() == [0.02, -0.04, 0.01, 0.03]


def test_historical_scenario_table_and_labels() -> None:
    """Timestamps label as dates at midnight UTC, with the time otherwise; string dates verbatim;
    scenario-major, underlyings first-seen, only the moves the table has."""
    t = [dt.datetime(2024, 5, 2, tzinfo=dt.UTC), dt.datetime(2024, 5, 1, 16, 30, 5, tzinfo=dt.UTC)]
    table = moves(pa.array([t[0], t[1], t[0]], pa.timestamp("ns", tz="UTC")), ["ETH", "BTC", "BTC"], [0.1, -0.2, 0.3])
    got = HistoricalModel(table).scenarios()
    assert got.schema.names == ["scenario", "date", "underlying", "return", "vol_change"]
    assert got.schema.field("scenario").type == pa.int32()
    assert got.to_pylist() == [
        {"scenario": 0, "date": "2024-05-01T16:30:05", "underlying": "BTC", "return": -0.2, "vol_change": 0.0},
        {"scenario": 1, "date": "2024-05-02", "underlying": "ETH", "return": 0.1, "vol_change": 0.0},
        {"scenario": 1, "date": "2024-05-02", "underlying": "BTC", "return": 0.3, "vol_change": 0.0},
    ]
    tokyo = pa.array(
        [dt.datetime(2024, 5, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))], pa.timestamp("s", tz="Asia/Tokyo")
    )
    assert HistoricalModel(moves(tokyo, ["A"], [0.0])).scenarios().column("date").to_pylist() == ["2024-05-02"]
    texts = moves(["d2", "d10", "d1"], ["A", "A", "A"], [0.1, 0.2, 0.3])
    assert HistoricalModel(texts).scenarios().column("date").to_pylist() == ["d1", "d10", "d2"]
    with pytest.raises(MarginConfigError):
        HistoricalModel(table).scenarios("stressed")


# --- the grid's correlation options ---------------------------------------------------------------


def test_grid_correlation_options() -> None:
    model = GridModel(cross="correlation", correlation=CORR, floor_largest=True)
    assert model.correlation == CORR and model.floor_largest is True
    assert config_error(lambda: GridModel(cross="correlation")).column == "correlation"
    assert config_error(lambda: GridModel(correlation=CORR)).column == "correlation"
    assert config_error(lambda: GridModel(floor_largest=True)).column == "floor_largest"
    assert config_error(lambda: GridModel(cross="correlation", correlation=[[1.0]])).column == "correlation"
    err = config_error(lambda: GridModel(cross="max"))
    assert err.column == "cross" and "'correlation'" in err.reason


def test_grid_to_dict_round_trip() -> None:
    model = GridModel(price_shocks=[-0.1, 0.1], cross="correlation", correlation=CORR, floor_largest=True)
    data = model.to_dict()
    assert data["correlation"] == {"names": ["BTC", "ETH"], "matrix": [[1.0, 0.8], [0.8, 1.0]]}
    assert data["floor_largest"] is True
    assert GridModel.from_dict(data) == model
    assert "correlation" not in GridModel().to_dict()
    assert GridModel.from_dict(GridModel().to_dict()) == GridModel()


# --- load_model -------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_model_reads_a_grid_with_a_correlation_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_table(CORR.to_table(), tmp_path / "data" / "rho.csv")
    path = write(
        tmp_path,
        "grid.toml",
        '[model]\ntype = "grid"\ncross = "correlation"\ncorrelation = "data/rho.csv"\nfloor_largest = true\n'
        "price_shocks = [-0.1, 0.1]\n",
    )
    model = load_model(path)
    assert isinstance(model, GridModel)
    assert model == GridModel(price_shocks=[-0.1, 0.1], cross="correlation", correlation=CORR, floor_largest=True)
    assert GridModel.from_toml(path) == model
    assert load_model(write(tmp_path, "plain.toml", "mm_ratio = 0.5\n")) == GridModel(mm_ratio=0.5)


def test_load_model_reads_a_historical_model(tmp_path: Path) -> None:
    write_table(SMALL_MOVES, tmp_path / "moves.parquet")
    write_table(SMALL_MOVES, tmp_path / "stress.arrow")
    path = write(
        tmp_path,
        "hist.toml",
        'type = "historical"\nmoves = "moves.parquet"\nstressed = "stress.arrow"\nmeasure = "var"\n'
        'confidence = 0.5\newma_lambda = 0.94\nvol_shock = "absolute"\nmm_ratio = 0.8\n',
    )
    model = load_model(path)
    assert isinstance(model, HistoricalModel)
    assert model == HistoricalModel(
        SMALL_MOVES,
        measure="var",
        confidence=0.5,
        ewma_lambda=0.94,
        vol_shock="absolute",
        mm_ratio=0.8,
        stressed=SMALL_MOVES,
    )


def test_load_model_reads_prices(tmp_path: Path) -> None:
    prices = pa.table(
        {"date": ["2024-01-01", "2024-01-02", "2024-01-03"], "underlying": ["A"] * 3, "price": [1.0, 2.0, 3.0]}
    )
    write_table(prices, tmp_path / "prices.csv")
    path = write(tmp_path, "p.toml", 'type = "historical"\nprices = "prices.csv"\nhorizon_days = 2\nconfidence = 0.5\n')
    model = load_model(path)
    assert isinstance(model, HistoricalModel)
    assert model.moves.column("return").to_pylist() == [3.0 / 1.0 - 1.0]


def test_load_model_reads_a_monte_carlo_model(tmp_path: Path) -> None:
    write_table(VOLS, tmp_path / "vols.csv")
    write_table(CORR.to_table(), tmp_path / "corr.parquet")
    path = write(
        tmp_path,
        "mc.toml",
        '[model]\ntype = "montecarlo"\nvols = "vols.csv"\ncorrelation = "corr.parquet"\nn_scenarios = 500\n'
        'seed = 18446744073709551615\ndistribution = "student_t"\ndof = 5\nmeasure = "var"\nconfidence = 0.99\n'
        "horizon_days = 10\nvol_of_vol = 0.5\nspot_vol_correlation = -0.7\nmm_ratio = 0.9\n",
    )
    model = load_model(path)
    assert isinstance(model, MonteCarloModel)
    assert model == MonteCarloModel(
        VOLS,
        CORR,
        500,
        2**64 - 1,
        distribution="student_t",
        dof=5.0,
        measure="var",
        confidence=0.99,
        horizon_days=10.0,
        vol_of_vol=0.5,
        spot_vol_correlation=-0.7,
        mm_ratio=0.9,
    )


def test_load_model_can_repair_a_correlation_file(tmp_path: Path) -> None:
    rows = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]
    table = pa.table({"underlying": ["A", "B", "C"], **{n: [r[j] for r in rows] for j, n in enumerate("ABC")}})
    write_table(table, tmp_path / "c.csv")
    write_table(pa.table({"underlying": ["A", "B", "C"], "vol": [0.1, 0.1, 0.1]}), tmp_path / "v.csv")
    text = 'type = "montecarlo"\nvols = "v.csv"\ncorrelation = "c.csv"\nn_scenarios = 100\nseed = 1\n'
    with pytest.raises(MarginInputError, match="smallest eigenvalue"):
        load_model(write(tmp_path, "bad.toml", text))
    model = load_model(write(tmp_path, "ok.toml", text + "repair_correlation = true\n"))
    assert isinstance(model, MonteCarloModel) and model.correlation.repaired


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('type = "historical"\nmoves = "m.csv"\nwindow = 3\n', "window"),
        (
            'type = "montecarlo"\nvols = "v.csv"\ncorrelation = "c.csv"\nn_scenarios = 5\nseed = 1\nlambda = 1\n',
            "lambda",
        ),
        ('type = "grid"\nmoves = "m.csv"\n', "moves"),
        ('type = "bootstrap"\n', "type"),
        ('type = "historical"\nmoves = "absent.csv"\n', "moves"),
        ('type = "historical"\n', "moves"),
        ('type = "historical"\nmoves = "m.csv"\nprices = "m.csv"\n', "prices"),
        ('type = "historical"\nmoves = "m.csv"\nhorizon_days = 2\n', "horizon_days"),
        ('type = "montecarlo"\nvols = "v.csv"\n', "correlation"),
        ('type = "grid"\ncross = "correlation"\ncorrelation = "nope.parquet"\n', "correlation"),
        ('[model]\ntype = "grid"\n[extra]\n', "extra"),
    ],
    ids=[
        "unknown historical key",
        "unknown montecarlo key",
        "historical key in a grid",
        "unknown type",
        "missing file",
        "no moves",
        "moves and prices",
        "horizon without prices",
        "no correlation",
        "missing correlation file",
        "table beside model",
    ],
)
def test_load_model_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    write_table(SMALL_MOVES, tmp_path / "m.csv")
    err = config_error(lambda: load_model(write(tmp_path, "bad.toml", text)))
    assert err.column == key
    assert str(err).startswith(f"model.{key}: ")
