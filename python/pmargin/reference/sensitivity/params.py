"""SIMM parameters read from the spec (the versioned data file plus two derived constants).

The spec is ``{"parameters": <the data file>, "sigma_multiplier": sqrt(365/14)/N^-1(0.99),
"curvature_q": N^-1(0.995), ...}``; every number of the method comes from it.

Mirrors: rust/pmargin-core/src/sensitivity/params.rs
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import MarginConfigError

#: Product classes (CRIF ``ProductClass``), in output order.
PRODUCT_CLASSES = ("RatesFX", "Credit", "Equity", "Commodity")
#: Risk classes pmargin computes, in output order.
RISK_CLASSES = ("InterestRate", "FX", "Equity", "Commodity")
#: CRIF risk types pmargin computes: name -> (risk class, is a vol risk type).
RISK_TYPES = {
    "Risk_IRCurve": ("InterestRate", False),
    "Risk_IRVol": ("InterestRate", True),
    "Risk_FX": ("FX", False),
    "Risk_FXVol": ("FX", True),
    "Risk_Equity": ("Equity", False),
    "Risk_EquityVol": ("Equity", True),
    "Risk_Commodity": ("Commodity", False),
    "Risk_CommodityVol": ("Commodity", True),
}
MARGIN_TYPES = ("Delta", "Vega", "Curvature")


def _get(d: Mapping[str, Any], key: str, path: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise MarginConfigError(f"missing parameter {path}.{key}", table="model", column=f"{path}.{key}")
    return d[key]


def _num(d: Mapping[str, Any], key: str, path: str) -> float:
    v = _get(d, key, path)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MarginConfigError(f"{path}.{key} must be a number", table="model", column=f"{path}.{key}")
    return float(v)


def _nums(v: Any, path: str, n: int | None = None) -> list[float]:
    if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v):
        raise MarginConfigError(f"{path} must be a list of numbers", table="model", column=path)
    if n is not None and len(v) != n:
        raise MarginConfigError(f"{path} must have {n} entries, got {len(v)}", table="model", column=path)
    return [float(x) for x in v]


def _matrix(v: Any, path: str, n: int) -> list[list[float]]:
    if not isinstance(v, list) or len(v) != n:
        raise MarginConfigError(f"{path} must be a {n}x{n} matrix", table="model", column=path)
    return [_nums(row, f"{path}[{i}]", n) for i, row in enumerate(v)]


def _strs(v: Any, path: str) -> list[str]:
    if not isinstance(v, list) or any(not isinstance(x, str) for x in v):
        raise MarginConfigError(f"{path} must be a list of strings", table="model", column=path)
    return list(v)


def _num_map(v: Any, path: str, keys: list[str]) -> dict[str, float]:
    if not isinstance(v, Mapping):
        raise MarginConfigError(f"{path} must be a table", table="model", column=path)
    return {k: _num(v, k, path) for k in keys}


def _groups(v: Any, path: str) -> dict[str, str]:
    """``{"group": [names]}`` -> name -> group."""
    if not isinstance(v, Mapping):
        raise MarginConfigError(f"{path} must be a table", table="model", column=path)
    out: dict[str, str] = {}
    for group, names in v.items():
        for name in _strs(names, f"{path}.{group}"):
            out[name] = group
    return out


@dataclass(frozen=True)
class CurrencyTerms:
    """What the interest rate and FX classes read alike: concentration thresholds by currency
    group, the vega risk weight, the historical volatility ratio and the curvature weights."""

    threshold_group: dict[str, str]
    default_threshold_group: str
    delta_thresholds: dict[str, float]
    vega_thresholds: dict[str, float]
    vega_rw: float
    hvr: float
    curvature_weights: list[float]


def _currency_terms(section: Mapping[str, Any], name: str, n_tenors: int) -> CurrencyTerms:
    def table(key: str) -> dict[str, float]:
        v = _get(section, key, name)
        return _num_map(v, f"{name}.{key}", list(v) if isinstance(v, Mapping) else [])

    return CurrencyTerms(
        threshold_group=_groups(_get(section, "threshold_groups", name), f"{name}.threshold_groups"),
        default_threshold_group=str(_get(section, "default_threshold_group", name)),
        delta_thresholds=table("delta_thresholds"),
        vega_thresholds=table("vega_thresholds"),
        vega_rw=_num(section, "vega_risk_weight", name),
        hvr=_num(section, "historical_volatility_ratio", name),
        curvature_weights=_nums(_get(section, "curvature_weights", name), f"{name}.curvature_weights", n_tenors),
    )


@dataclass(frozen=True)
class IrParams:
    tenors: list[str]
    currency_bucket: dict[str, str]
    default_bucket: str
    delta_rw: dict[str, list[float]]
    tenor_corr: list[list[float]]
    sub_curves: list[str]
    sub_curve_corr: float
    inter_currency_corr: float
    terms: CurrencyTerms


@dataclass(frozen=True)
class FxParams:
    high_vol: set[str]
    delta_rw: list[list[float]]
    corr_regular: list[list[float]]
    corr_high: list[list[float]]
    vega_corr: float
    terms: CurrencyTerms


@dataclass(frozen=True)
class BucketedParams:
    """Equity or commodity: buckets 0..n-1 as listed, then the residual bucket (if any) as n."""

    buckets: list[str]
    residual: str | None
    delta_rw: list[float]
    vega_rw: list[float]
    intra: list[float]
    inter: list[list[float]]
    delta_thresholds: list[float]
    vega_thresholds: list[float]
    hvr: float
    curvature_weights: list[float]
    curvature_zero: list[bool]

    def bucket_index(self, name: str) -> int | None:
        if name in self.buckets:
            return self.buckets.index(name)
        if self.residual is not None and name == self.residual:
            return len(self.buckets)
        return None

    def is_residual(self, index: int) -> bool:
        return index == len(self.buckets)


@dataclass(frozen=True)
class SimmParams:
    unit: float
    sigma_multiplier: float
    curvature_q: float
    ir: IrParams
    fx: FxParams
    equity: BucketedParams
    commodity: BucketedParams
    psi: list[list[float]]  # over RISK_CLASSES
    calculation_currency: str
    post: bool


def _bucketed(d: Mapping[str, Any], path: str, n_tenors: int) -> BucketedParams:
    buckets = _strs(_get(d, "buckets", path), f"{path}.buckets")
    residual = _get(d, "residual_bucket", path)
    if residual is not None and not isinstance(residual, str):
        raise MarginConfigError(f"{path}.residual_bucket must be a string or null", table="model", column=path)
    names = buckets + ([residual] if residual is not None else [])
    dm = _num_map(_get(d, "delta_risk_weights", path), f"{path}.delta_risk_weights", names)
    vm = _num_map(_get(d, "vega_risk_weights", path), f"{path}.vega_risk_weights", names)
    intra = _num_map(_get(d, "intra_bucket_correlations", path), f"{path}.intra_bucket_correlations", buckets)
    dt = _num_map(_get(d, "delta_thresholds", path), f"{path}.delta_thresholds", names)
    vt = _num_map(_get(d, "vega_thresholds", path), f"{path}.vega_thresholds", names)
    zero = set(_strs(_get(d, "curvature_zero_buckets", path), f"{path}.curvature_zero_buckets"))
    return BucketedParams(
        buckets=buckets,
        residual=residual,
        delta_rw=[dm[b] for b in names],
        vega_rw=[vm[b] for b in names],
        intra=[intra[b] for b in buckets] + ([0.0] if residual is not None else []),
        inter=_matrix(_get(d, "inter_bucket_correlations", path), f"{path}.inter_bucket_correlations", len(buckets)),
        delta_thresholds=[dt[b] for b in names],
        vega_thresholds=[vt[b] for b in names],
        hvr=_num(d, "historical_volatility_ratio", path),
        curvature_weights=_nums(_get(d, "curvature_weights", path), f"{path}.curvature_weights", n_tenors),
        curvature_zero=[b in zero for b in names],
    )


def read_params(spec: Mapping[str, Any]) -> SimmParams:
    """The typed parameters of a SIMM spec (a config error names the first bad key)."""
    p = _get(spec, "parameters", "model")
    ir = _get(p, "interest_rate", "parameters")
    tenors = _strs(_get(ir, "tenors", "interest_rate"), "interest_rate.tenors")
    n = len(tenors)
    rw = _get(ir, "delta_risk_weights", "interest_rate")
    if not isinstance(rw, Mapping):
        raise MarginConfigError("interest_rate.delta_risk_weights must be a table", table="model")
    currency_bucket = _groups(_get(ir, "currency_buckets", "interest_rate"), "interest_rate.currency_buckets")
    default_bucket = str(_get(ir, "default_bucket", "interest_rate"))
    # Every bucket a currency can fall in has its weights (the first missing one, by name).
    for b in sorted({*currency_bucket.values(), default_bucket}):
        if b not in rw:
            field = f"interest_rate.delta_risk_weights.{b}"
            raise MarginConfigError(f"missing parameter {field}", table="model", column=field)
    irp = IrParams(
        tenors=tenors,
        currency_bucket=currency_bucket,
        default_bucket=default_bucket,
        delta_rw={b: _nums(v, f"interest_rate.delta_risk_weights.{b}", n) for b, v in rw.items()},
        tenor_corr=_matrix(_get(ir, "tenor_correlations", "interest_rate"), "interest_rate.tenor_correlations", n),
        sub_curves=_strs(_get(ir, "sub_curves", "interest_rate"), "interest_rate.sub_curves"),
        sub_curve_corr=_num(ir, "sub_curve_correlation", "interest_rate"),
        inter_currency_corr=_num(ir, "inter_currency_correlation", "interest_rate"),
        terms=_currency_terms(ir, "interest_rate", n),
    )
    fx = _get(p, "fx", "parameters")
    fxp = FxParams(
        high_vol=set(_strs(_get(fx, "high_vol_currencies", "fx"), "fx.high_vol_currencies")),
        delta_rw=_matrix(_get(fx, "delta_risk_weights", "fx"), "fx.delta_risk_weights", 2),
        corr_regular=_matrix(_get(fx, "correlations_regular_calc", "fx"), "fx.correlations_regular_calc", 2),
        corr_high=_matrix(_get(fx, "correlations_high_calc", "fx"), "fx.correlations_high_calc", 2),
        vega_corr=_num(fx, "vega_correlation", "fx"),
        terms=_currency_terms(fx, "fx", n),
    )
    rc = _strs(_get(p, "risk_classes", "parameters"), "parameters.risk_classes")
    full = _matrix(_get(p, "risk_class_correlations", "parameters"), "parameters.risk_class_correlations", len(rc))
    for name in RISK_CLASSES:
        if name not in rc:
            raise MarginConfigError(f"risk class {name} missing", table="model", column="parameters.risk_classes")
    idx = [rc.index(name) for name in RISK_CLASSES]
    side = _get(spec, "side", "model")
    if side not in ("call", "post"):
        raise MarginConfigError("side must be 'call' or 'post'", table="model", column="side")
    return SimmParams(
        unit=_num(p, "threshold_unit", "parameters"),
        sigma_multiplier=_num(spec, "sigma_multiplier", "model"),
        curvature_q=_num(spec, "curvature_q", "model"),
        ir=irp,
        fx=fxp,
        equity=_bucketed(_get(p, "equity", "parameters"), "equity", n),
        commodity=_bucketed(_get(p, "commodity", "parameters"), "commodity", n),
        psi=[[full[i][j] for j in idx] for i in idx],
        calculation_currency=str(_get(spec, "calculation_currency", "model")),
        post=side == "post",
    )
