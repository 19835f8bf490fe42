"""Build pmargin's SIMM v2.6 10-day parameter file from ORE's published tables (facts only: the
numbers are read out of ORE's C++ initialiser lists into pmargin's own JSON layout).

Usage, from a clone of OpenSourceRisk/Engine (checked at commit b1f23933):
    git show HEAD:OREAnalytics/orea/simm/simmconfigurationisdav2_6.cpp > /tmp/simm26.cpp
    git show HEAD:OREAnalytics/orea/simm/simmconcentrationisdav2_6.cpp > /tmp/conc26.cpp
    python tools/simm_params_from_ore.py python/pmargin/presets/data/simm/2.6/10d.json
IR currency buckets and sub-curves follow simmbucketmapperbase.cpp (irBucket) and the v2.6
configuration's Label2 list; the curvature scaling factors are 0.5 x 14 days / tenor days.
"""
import json, re, sys
src = open('/tmp/simm26.cpp').read()
conc = open('/tmp/conc26.cpp').read()
ten_day = src[src.index('if (mporDays_ == 10) {', src.index('vector<Real> temp;')):src.index('} else {\n       // SIMM:Technical Paper, Section I.1')]
TENORS = ["2w","1m","3m","6m","1y","2y","3y","5y","10y","15y","20y","30y"]

def block(text, start):
    i = text.index(start)
    j = text.index('= {', i) + 2
    depth = 0
    for k in range(j, len(text)):
        if text[k] == '{': depth += 1
        elif text[k] == '}':
            depth -= 1
            if depth == 0: return text[j:k+1]
    raise ValueError(start)

def triples(b):
    return [(a, c, d, float(v)) for a, c, d, v in re.findall(r'\{\{"([^"]*)", "([^"]*)", "([^"]*)"\}, ([-0-9.]+)\}', b)]

def rw_bucket(rt):
    b = block(ten_day, 'rwBucket_')
    part = b[b.index('RiskType::' + rt + ','):]
    part = part[:part.index('}}}') + 3]
    return {k: v for k, _, _, v in triples(part)}

out = {"name": "ISDA SIMM", "version": "2.6", "mpor_days": 10,
       "source": "OpenSourceRisk/Engine b1f23933 OREAnalytics/orea/simm/simmconfigurationisdav2_6.cpp, simmconcentrationisdav2_6.cpp, simmbucketmapperbase.cpp",
       "threshold_unit": 1e6, "sigma_horizon_days": 14, "vega_quantile": 0.99, "curvature_quantile": 0.995}
# IR
rwl = triples(block(ten_day, 'rwLabel_1_'))
ir_rw = {b: [None]*12 for b in "123"}
for b, t, _, v in rwl: ir_rw[b][TENORS.index(t)] = v
tc = {(a, b): v for _, a, b, v in triples(block(src, 'intraBucketCorrelation_[CrifRecord::RiskType::IRCurve]'))}
tenor_corr = [[1.0 if i == j else tc[(TENORS[i], TENORS[j])] for j in range(12)] for i in range(12)]
def flat(name):
    m = re.search(r'\{ CrifRecord::RiskType::' + name + r', ([-0-9.]+) \}', ten_day); return float(m.group(1))
def scalar(name):
    return float(re.search(name + r' = ([-0-9.]+);', src).group(1))
def thresholds(rt):
    b = block(conc, 'bucketedThresholds_[RiskType::' + rt + ']')
    return {k: float(v) for k, v in re.findall(r'\{ "([^"]+)", ([-0-9.]+) \}', b)}
ir_cats = {"2": ["USD","EUR","GBP"], "3": ["AUD","CAD","CHF","DKK","HKD","KRW","NOK","NZD","SEK","SGD","TWD"], "4": ["JPY"]}
assert all(c in conc for c in ['"JPY"}}', '"TWD"}']), "IR categories changed"
cw = [0.5 * 14.0 / d for d in [14.0, 365.0/12, 3*365.0/12, 6*365.0/12, 365.0, 2*365.0, 3*365.0, 5*365.0, 10*365.0, 15*365.0, 20*365.0, 30*365.0]]
out["interest_rate"] = {
    "tenors": TENORS,
    "currency_buckets": {"1": ["USD","EUR","GBP","AUD","CAD","CHF","DKK","HKD","KRW","NOK","NZD","SEK","SGD","TWD"], "2": ["JPY"]},
    "default_bucket": "3",
    "delta_risk_weights": ir_rw,
    "tenor_correlations": tenor_corr,
    "sub_curves": ["OIS","Libor1m","Libor3m","Libor6m","Libor12m","Prime","Municipal"],
    "sub_curve_correlation": scalar('irSubCurveCorr_'),
    "inter_currency_correlation": scalar('irInterCurrencyCorr_'),
    "threshold_groups": ir_cats, "default_threshold_group": "1",
    "delta_thresholds": thresholds('IRCurve'),
    "vega_thresholds": thresholds('IRVol'),
    "vega_risk_weight": flat('IRVol'),
    "historical_volatility_ratio": float(re.search(r'hvr_ir_ = ([0-9.]+);', ten_day).group(1)),
    "curvature_weights": cw,
}
# FX
fx_rw = [float(x) for x in re.search(r'temp = \{\s*([-0-9., \n]+)\};\s*rwFX_', ten_day).group(1).replace('\n', ' ').split(',')]
def mat(name):
    return [float(x) for x in re.search(r'temp = \{\s*([-0-9., \n]+)\};\s*' + name, src).group(1).replace('\n', ' ').split(',')]
out["fx"] = {
    "high_vol_currencies": ["BRL","RUB","TRY"],
    "delta_risk_weights": [fx_rw[0:2], fx_rw[2:4]],
    "correlations_regular_calc": [mat('fxRegVolCorrelation_')[0:2], mat('fxRegVolCorrelation_')[2:4]],
    "correlations_high_calc": [mat('fxHighVolCorrelation_')[0:2], mat('fxHighVolCorrelation_')[2:4]],
    "vega_correlation": scalar('fxCorr_'),
    "threshold_groups": {"1": ["USD","EUR","JPY","GBP","AUD","CHF","CAD"], "2": ["BRL","CNY","HKD","INR","KRW","MXN","NOK","NZD","RUB","SEK","SGD","TRY","ZAR"]},
    "default_threshold_group": "3",
    "delta_thresholds": thresholds('FX'),
    "vega_thresholds": thresholds('FXVol'),
    "vega_risk_weight": flat('FXVol'),
    "historical_volatility_ratio": float(re.search(r'historicalVolatilityRatios_\[CrifRecord::RiskType::FXVol\] = ([0-9.]+);', ten_day).group(1)),
    "curvature_weights": cw,
}
assert '"RUB", "TRY" }' in src and '{"BRL", "CNY", "HKD", "INR", "KRW", "MXN", "NOK", "NZD", "RUB", "SEK", "SGD", "TRY", "ZAR"}' in conc
def inter(rt, n):
    d = {(a, b): v for _, a, b, v in triples(block(src, 'interBucketCorrelation_[CrifRecord::RiskType::' + rt + ']'))}
    names = [str(i) for i in range(1, n+1)]
    return [[1.0 if i == j else d[(names[i], names[j])] for j in range(n)] for i in range(n)]
def intra(rt):
    return {a: v for a, _, _, v in triples(block(src, 'intraBucketCorrelation_[CrifRecord::RiskType::' + rt + ']'))}
def hvr(rt):
    return float(re.search(r'historicalVolatilityRatios_\[CrifRecord::RiskType::' + rt + r'\] = ([0-9.]+);', ten_day).group(1))
eq_b = [str(i) for i in range(1, 13)]
out["equity"] = {
    "buckets": eq_b, "residual_bucket": "Residual",
    "delta_risk_weights": rw_bucket('Equity'),
    "vega_risk_weights": rw_bucket('EquityVol'),
    "intra_bucket_correlations": intra('Equity'),
    "inter_bucket_correlations": inter('Equity', 12),
    "delta_thresholds": thresholds('Equity'),
    "vega_thresholds": thresholds('EquityVol'),
    "historical_volatility_ratio": hvr('EquityVol'),
    "curvature_weights": cw,
    "curvature_zero_buckets": ["12"],
}
cm_b = [str(i) for i in range(1, 18)]
out["commodity"] = {
    "buckets": cm_b, "residual_bucket": None,
    "delta_risk_weights": rw_bucket('Commodity'),
    "vega_risk_weights": {b: flat('CommodityVol') for b in cm_b},
    "intra_bucket_correlations": intra('Commodity'),
    "inter_bucket_correlations": inter('Commodity', 17),
    "delta_thresholds": thresholds('Commodity'),
    "vega_thresholds": thresholds('CommodityVol'),
    "historical_volatility_ratio": hvr('CommodityVol'),
    "curvature_weights": cw,
    "curvature_zero_buckets": [],
}
rcc = {(a, b): v for _, a, b, v in triples(block(src, 'riskClassCorrelation_'))}
RC = ["InterestRate", "CreditQualifying", "CreditNonQualifying", "Equity", "Commodity", "FX"]
out["risk_classes"] = RC
out["risk_class_correlations"] = [[1.0 if i == j else rcc[(RC[i], RC[j])] for j in range(6)] for i in range(6)]
json.dump(out, open(sys.argv[1], 'w'), indent=1)
print("ok")
