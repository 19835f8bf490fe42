"""Model configuration from TOML: defaults, both layouts, every bad key or value, and ``--config``;
``load_model`` for the three model types (grid, historical, Monte Carlo), tables given as files.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pmargin
from pmargin import GridModel, MarginConfigError, MarginInputError
from pmargin.cli import main
from pmargin.io import read_table, write_table
from pmargin.models import HistoricalModel, MonteCarloModel, load_model
from tests.methods.models import CORR, SMALL_MOVES, VOLS, config_error

DEFAULT_PRICE_SHOCKS = [round(-0.15 + 0.015 * i, 10) for i in range(21)]


def _toml(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_the_documented_grid() -> None:
    model = GridModel()
    assert len(model.price_shocks) == 21
    assert list(model.price_shocks) == pytest.approx(DEFAULT_PRICE_SHOCKS, abs=1e-12)
    assert model.price_shocks[0] == pytest.approx(-0.15) and model.price_shocks[-1] == pytest.approx(0.15)
    assert model.price_shocks[10] == 0.0
    assert list(model.vol_shocks) == [-0.30, 0.0, 0.30]
    assert model.vol_shock == "relative"
    assert model.cross == "sum"
    assert model.mm_ratio == 0.75
    assert model.n_scenarios == 63
    first, last = model.scenario_shocks()[0], model.scenario_shocks()[62]
    assert first[0] == pytest.approx(-0.15) and first[1] == -0.30
    assert last[0] == pytest.approx(0.15) and last[1] == 0.30


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert GridModel.from_toml(_toml(tmp_path, "")) == GridModel()


def test_top_level_keys(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        'type = "grid"\nprice_shocks = [-0.2, 0, 0.2]\nvol_shocks = [0.0, 0.05]\nvol_shock = "absolute"\n'
        'cross = "joint"\nmm_ratio = 0.5\n',
    )
    model = GridModel.from_toml(path)
    assert model.price_shocks == (-0.2, 0.0, 0.2)
    assert model.vol_shocks == (0.0, 0.05)
    assert model.vol_shock == "absolute"
    assert model.cross == "joint"
    assert model.mm_ratio == 0.5
    assert model.n_scenarios == 6


def test_model_table(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[model]\nprice_shocks = [-0.1, 0.1]\nmm_ratio = 1\n")
    model = GridModel.from_toml(path)
    assert model.price_shocks == (-0.1, 0.1)
    assert model.vol_shocks == (-0.30, 0.0, 0.30)  # unspecified keys keep their defaults
    assert model.mm_ratio == 1.0 and isinstance(model.mm_ratio, float)
    assert model.cross == "sum"


def test_integers_are_accepted_as_shocks(tmp_path: Path) -> None:
    model = GridModel.from_toml(_toml(tmp_path, "price_shocks = [0, 1]\nvol_shocks = [0]\n"))
    assert model.price_shocks == (0.0, 1.0) and all(isinstance(p, float) for p in model.price_shocks)


def test_absolute_vol_shocks_may_go_below_minus_one(tmp_path: Path) -> None:
    model = GridModel.from_toml(_toml(tmp_path, 'vol_shock = "absolute"\nvol_shocks = [-1.5, 0.0]\n'))
    assert model.vol_shocks == (-1.5, 0.0)


BAD_CONFIGS = [
    ("unknown key", "price_shock = [0.1]\n", "price_shock", "unknown key"),
    ("unknown key in [model]", "[model]\nmm = 0.5\n", "mm", "unknown key"),
    ("key beside [model]", "cross = 'sum'\n[model]\nmm_ratio = 0.5\n", "cross", "beside [model]"),
    ("other model type", 'type = "simm"\n', "type", "unknown model type"),
    ("shocks not a list", "price_shocks = 0.1\n", "price_shocks", "list of numbers"),
    ("shocks a string", 'price_shocks = "0.1"\n', "price_shocks", "must be a number"),
    ("shock not a number", 'vol_shocks = [0.0, "up"]\n', "vol_shocks", "item 1 must be a number"),
    ("shock a boolean", "price_shocks = [true]\n", "price_shocks", "item 0 must be a number"),
    ("shock not finite", "price_shocks = [0.1, nan]\n", "price_shocks", "item 1 must be finite"),
    ("shock infinite", "vol_shocks = [inf]\n", "vol_shocks", "item 0 must be finite"),
    ("empty price shocks", "price_shocks = []\n", "price_shocks", "at least one"),
    ("empty vol shocks", "vol_shocks = []\n", "vol_shocks", "at least one"),
    ("price shock -100%", "price_shocks = [-0.5, -1.0]\n", "price_shocks", "item 1 is -1.0"),
    ("price shock below -100%", "price_shocks = [-1.2]\n", "price_shocks", "item 0 is -1.2"),
    ("relative vol shock -100%", "vol_shocks = [-1.0, 0.0]\n", "vol_shocks", "item 0 is -1.0"),
    ("bad cross", 'cross = "max"\n', "cross", "'sum' or 'joint'"),
    ("cross of wrong type", "cross = 1\n", "cross", "'sum' or 'joint'"),
    ("bad vol_shock", 'vol_shock = "percent"\n', "vol_shock", "'relative' or 'absolute'"),
    ("mm_ratio zero", "mm_ratio = 0\n", "mm_ratio", "(0, 1]"),
    ("mm_ratio above one", "mm_ratio = 1.01\n", "mm_ratio", "(0, 1]"),
    ("mm_ratio negative", "mm_ratio = -0.5\n", "mm_ratio", "(0, 1]"),
    ("mm_ratio a string", 'mm_ratio = "0.5"\n', "mm_ratio", "(0, 1]"),
    ("mm_ratio a boolean", "mm_ratio = true\n", "mm_ratio", "(0, 1]"),
]


@pytest.mark.parametrize(("text", "key", "reason"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_key_or_value_names_the_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    with pytest.raises(MarginConfigError) as info:
        GridModel.from_toml(_toml(tmp_path, text))
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, MarginInputError)
    assert err.column == key
    assert err.table == "model"
    assert reason in err.reason
    assert str(err).startswith(f"model.{key}: ")


def test_not_toml(tmp_path: Path) -> None:
    path = _toml(tmp_path, "price_shocks = [0.1,\nthis is not toml\n")
    with pytest.raises(MarginConfigError, match="not valid TOML") as info:
        GridModel.from_toml(path)
    assert info.value.column is None and info.value.table == "model"
    assert str(path) in info.value.reason


def test_not_text(tmp_path: Path) -> None:
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"garbage \xff\x00")
    for read in (load_model, GridModel.from_toml):
        with pytest.raises(MarginConfigError) as info:
            read(path)
        assert (info.value.table, info.value.column, info.value.row) == ("model", None, None)
        assert str(info.value) == f"model: {path}: not UTF-8 text (a model configuration is a TOML text file)"


def test_model_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(MarginConfigError, match="must be a table of keys") as info:
        GridModel.from_toml(_toml(tmp_path, "model = 3\n"))
    assert info.value.column is None


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(MarginConfigError, match="cannot read") as info:
        GridModel.from_toml(path)
    assert isinstance(info.value, ValueError)
    assert info.value.column is None
    assert str(path) in info.value.reason


def test_config_errors_are_value_errors_and_margin_errors() -> None:
    assert issubclass(MarginConfigError, ValueError)
    assert issubclass(MarginConfigError, pmargin.MarginError)
    with pytest.raises(ValueError, match=r"model\.mm_ratio: "):
        GridModel(mm_ratio=2.0)


def _write_book(tmp_path: Path) -> list[str]:
    """Write a small sample book as Parquet; return the CLI's input arguments."""
    book = pmargin.sample.book(60, seed=5)
    args: list[str] = []
    for name in ("positions", "instruments", "underlyings", "vols"):
        path = tmp_path / f"{name}.parquet"
        write_table(getattr(book, name), path)
        args += [f"--{name}", str(path)]
    return [*args, "--as-of", book.as_of.isoformat()]


def test_cli_config_is_honoured(tmp_path: Path) -> None:
    book = pmargin.sample.book(60, seed=5)
    config = _toml(
        tmp_path, '[model]\nprice_shocks = [-0.25, 0.0, 0.25]\nvol_shocks = [0.5]\ncross = "joint"\nmm_ratio = 0.5\n'
    )
    out = tmp_path / "out.parquet"
    assert main(["margin", *_write_book(tmp_path), "--config", str(config), "--out", str(out)]) == 0
    got = read_table(out, "out")

    model = GridModel(price_shocks=[-0.25, 0.0, 0.25], vol_shocks=[0.5], cross="joint", mm_ratio=0.5)
    want = pmargin.margin(book.positions, book.instruments, book.market, model).accounts
    default = pmargin.margin(book.positions, book.instruments, book.market).accounts
    assert got.column("account_id").to_pylist() == want.column("account_id").to_pylist()
    assert got.column("initial_margin").to_pylist() == want.column("initial_margin").to_pylist()
    assert got.column("maintenance_margin").to_pylist() == [0.5 * x for x in want.column("initial_margin").to_pylist()]
    assert got.column("initial_margin").to_pylist() != default.column("initial_margin").to_pylist()
    labels = {s for s in got.column("worst_scenario").to_pylist() if s is not None}
    assert labels and all(s.startswith("ALL ") and s.endswith("vol +50%") for s in labels)
    assert set(got.column("worst_price_shock").drop_null().to_pylist()) <= {-0.25, 0.0, 0.25}
    assert set(got.column("worst_vol_shock").drop_null().to_pylist()) == {0.5}
    assert pc.sum(got.column("initial_margin")).as_py() > 0


def test_cli_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _toml(tmp_path, "[model]\nmm_ratio = 1.5\n")
    assert main(["margin", *_write_book(tmp_path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.mm_ratio: must be a number in (0, 1], got 1.5")
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# load_model: every model type


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
