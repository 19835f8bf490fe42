"""The pure-Python reference's Monte Carlo draws: SplitMix64 against its published sequence,
scenarios a pure function of (seed, scenario index, name index), draws with the requested
moments, Student t draws of unit variance, vol-of-vol shocks with mean 0 and the requested
spot-vol correlation.
"""

from __future__ import annotations

import math

import pyarrow as pa

from pmargin.correlation import Correlation
from pmargin.models import MonteCarloModel
from pmargin.reference.scenarios.montecarlo import Stream, scenario_table, splitmix


def test_splitmix64_matches_the_published_sequence() -> None:
    """Vigna's SplitMix64 seeded with 0: 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4."""
    assert splitmix(0) == 0xE220A8397B1DCDAF
    stream = Stream(0, 0, 0)
    stream.state = 0
    assert [stream.next_u64(), stream.next_u64()] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


def z_draws(model: MonteCarloModel) -> dict[str, list[float]]:
    """z of every name (vol 1, so z = log(1 + return))."""
    table = scenario_table(model)
    out: dict[str, list[float]] = {}
    for name, r in zip(table.column("underlying").to_pylist(), table.column("return").to_pylist(), strict=True):
        out.setdefault(name, []).append(math.log1p(r))
    return out


def unit_vols(names: list[str]) -> pa.Table:
    return pa.table({"underlying": names, "vol": [1.0] * len(names)})


def test_scenarios_are_a_pure_function_of_seed_index_and_name() -> None:
    corr = Correlation(["A", "B"], [[1.0, 0.6], [0.6, 1.0]])
    small = scenario_table(MonteCarloModel(unit_vols(["A", "B"]), corr, 10, 99, confidence=0.5))
    large = scenario_table(MonteCarloModel(unit_vols(["A", "B"]), corr, 1000, 99, confidence=0.5))
    assert small.slice(0, 10).to_pylist() == large.slice(0, 10).to_pylist()
    other_seed = scenario_table(MonteCarloModel(unit_vols(["A", "B"]), corr, 10, 100, confidence=0.5))
    assert other_seed.column("return").to_pylist() != small.column("return").to_pylist()
    # A third name appended (index 2) leaves the draws of names 0 and 1 unchanged.
    wider = Correlation(["A", "B", "C"], [[1.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 1.0]])
    three = MonteCarloModel(unit_vols(["A", "B", "C"]), wider, 10, 99, confidence=0.5).scenarios()
    kept = three.filter(pa.compute.not_equal(three.column("underlying"), "C"))
    assert kept.to_pylist() == small.to_pylist()


def test_draws_have_the_requested_moments() -> None:
    """Normal draws: mean 0, variance 1 and correlation 0.6, each within 4 standard errors."""
    n = 20_000
    z = z_draws(MonteCarloModel(unit_vols(["A", "B"]), Correlation(["A", "B"], [[1, 0.6], [0.6, 1]]), n, 1))
    for values in z.values():
        assert abs(sum(values) / n) < 4.0 / math.sqrt(n)
        assert abs(sum(v * v for v in values) / n - 1.0) < 4.0 * math.sqrt(2.0 / n)
    products = [a * b for a, b in zip(z["A"], z["B"], strict=True)]
    mean = sum(products) / n
    sd = math.sqrt(sum((p - mean) ** 2 for p in products) / (n - 1))
    assert abs(mean - 0.6) < 4.0 * sd / math.sqrt(n)


def test_student_t_draws_have_unit_variance() -> None:
    """nu = 8: E z^2 = 1 with Var z^2 = E z^4 - 1 = 3 (nu - 2) / (nu - 4) - 1 = 3.5; and within a
    scenario every name is scaled by the same sqrt((nu - 2) / W)."""
    n = 20_000
    corr = Correlation(["A", "B"], [[1.0, 0.3], [0.3, 1.0]])
    t = z_draws(MonteCarloModel(unit_vols(["A", "B"]), corr, n, 8, distribution="student_t", dof=8.0))
    normal = z_draws(MonteCarloModel(unit_vols(["A", "B"]), corr, n, 8))
    for values in t.values():
        assert abs(sum(v * v for v in values) / n - 1.0) < 4.0 * math.sqrt(3.5 / n)
    ratios = [(ta / na, tb / nb) for ta, na, tb, nb in zip(t["A"], normal["A"], t["B"], normal["B"], strict=True)]
    assert all(math.isclose(ra, rb, rel_tol=1e-9) for ra, rb in ratios)
    assert max(abs(v) for v in t["A"]) > max(abs(v) for v in normal["A"])


def test_vol_of_vol_shocks() -> None:
    """dv = exp(w x - w^2 / 2) - 1 has mean 0, and x = (log(1 + dv) + w^2 / 2) / w correlates
    with z at spot_vol_correlation (each within 4 standard errors)."""
    n = 20_000
    w, rho = 0.8, -0.7
    model = MonteCarloModel(unit_vols(["A"]), Correlation(["A"], [[1.0]]), n, 3, vol_of_vol=w, spot_vol_correlation=rho)
    table = scenario_table(model)
    dv = table.column("vol_change").to_pylist()
    z = [math.log1p(r) for r in table.column("return").to_pylist()]
    mean = sum(dv) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in dv) / (n - 1))
    assert abs(mean) < 4.0 * sd / math.sqrt(n)
    products = [(math.log1p(d) + 0.5 * w * w) / w * zi for d, zi in zip(dv, z, strict=True)]
    mean_p = sum(products) / n
    sd_p = math.sqrt(sum((p - mean_p) ** 2 for p in products) / (n - 1))
    assert abs(mean_p - rho) < 4.0 * sd_p / math.sqrt(n)
