"""The Monte Carlo model: argument validation (each error naming ``model.<argument>``), the vols
table, the scenario table, and margins that do not depend on batches or on the thread count and
follow the seed.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest

import pmargin
from pmargin.correlation import Correlation
from pmargin.errors import MarginInputError
from pmargin.models import MonteCarloModel
from tests.methods.models import CORR, VOLS, config_error, mc_model, sample_book

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


def test_the_scenario_table_is_checked_against_the_memory_budget() -> None:
    # 10**8 scenarios x 2 names need about 14.9 GiB: refused before anything is drawn.
    big = MonteCarloModel(VOLS, CORR, 10**8, 11)
    with pytest.raises(pmargin.MarginConfigError, match=r"needs about 14\.9 GiB, over the memory budget of 8\.0") as e:
        big.scenarios()
    assert (e.value.table, e.value.column) == ("model", "n_scenarios")
    assert "about 53,687,091 fit" in str(e.value)
    small = MonteCarloModel(VOLS, CORR, 1000, 11)
    with pytest.raises(pmargin.MarginConfigError, match="n_scenarios"):
        small.scenarios(limits=pmargin.Limits(memory_budget=100_000))
    assert small.scenarios(limits=pmargin.Limits(memory_budget=160_000)).num_rows == 2000


def test_batches_do_not_change_monte_carlo_margins() -> None:
    book = sample_book()
    model = mc_model()
    one = pmargin.margin(book.positions, book.instruments, book.market, model)
    batches = book.positions.to_batches(max_chunksize=37)
    many = pmargin.margin(
        pa.RecordBatchReader.from_batches(book.positions.schema, batches), book.instruments, book.market, model
    )
    assert one.accounts.equals(many.accounts)
    assert one.by_underlying.equals(many.by_underlying)
    assert one.accounts.column("initial_margin").to_pylist()[0] > 0


def _digest(threads: int, script: str) -> str:
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


DIGEST = """
import hashlib, pmargin, pyarrow as pa
b = pmargin.sample.book(n_accounts=3000, seed=5)
names = ["BTC", "ETH"]
corr = pmargin.Correlation(names, [[1.0, 0.7], [0.7, 1.0]])
vols = pa.table({"underlying": names, "vol": [0.05, 0.07]})
model = pmargin.MonteCarloModel(vols, corr, n_scenarios=1500, seed=3, distribution="student_t", dof=5.0)
r = pmargin.margin(b.positions, b.instruments, b.market, model)
sink = pa.BufferOutputStream()
for t in (r.accounts, r.by_underlying):
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
print(hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest())
"""


def test_monte_carlo_is_bit_identical_across_thread_counts() -> None:
    one, two = _digest(1, DIGEST), _digest(2, DIGEST)
    assert len(one) == 64 and one == two
    assert one != hashlib.sha256(b"").hexdigest()


def test_same_seed_same_margins_other_seed_other_margins() -> None:
    book = sample_book()
    a = pmargin.margin(book.positions, book.instruments, book.market, mc_model(seed=11))
    b = pmargin.margin(book.positions, book.instruments, book.market, mc_model(seed=11))
    c = pmargin.margin(book.positions, book.instruments, book.market, mc_model(seed=12))
    assert a.accounts.equals(b.accounts)
    assert a.accounts.column("initial_margin").to_pylist() != c.accounts.column("initial_margin").to_pylist()
