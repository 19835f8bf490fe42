//! SIMM parameters read from the spec: the versioned data file (`parameters`, e.g.
//! python/pmargin/presets/data/simm/2.6/10d.json) plus the two derived constants the Python
//! preset computes (`sigma_multiplier`, `curvature_q`). Nothing numeric is hard-coded here.

use hashbrown::HashMap;

use crate::error::Result;
use crate::spec::{config_error, Value};

/// Product classes (CRIF `ProductClass`), in output order.
pub const PRODUCT_CLASSES: [&str; 4] = ["RatesFX", "Credit", "Equity", "Commodity"];
/// Risk classes computed, in output order.
pub const RISK_CLASSES: [&str; 4] = ["InterestRate", "FX", "Equity", "Commodity"];
pub const MARGIN_TYPES: [&str; 3] = ["Delta", "Vega", "Curvature"];
pub const IR: usize = 0;
pub const FX: usize = 1;
pub const EQ: usize = 2;
pub const CM: usize = 3;

/// CRIF risk type -> (risk class, is a vol risk type).
pub fn risk_type(name: &str) -> Option<(usize, bool)> {
    Some(match name {
        "Risk_IRCurve" => (IR, false),
        "Risk_IRVol" => (IR, true),
        "Risk_FX" => (FX, false),
        "Risk_FXVol" => (FX, true),
        "Risk_Equity" => (EQ, false),
        "Risk_EquityVol" => (EQ, true),
        "Risk_Commodity" => (CM, false),
        "Risk_CommodityVol" => (CM, true),
        _ => return None,
    })
}

/// The CRIF risk types [`risk_type`] reads.
pub const RISK_TYPES: [&str; 8] = [
    "Risk_IRCurve",
    "Risk_IRVol",
    "Risk_FX",
    "Risk_FXVol",
    "Risk_Equity",
    "Risk_EquityVol",
    "Risk_Commodity",
    "Risk_CommodityVol",
];

pub const RISK_TYPE_NAMES: &str = "Risk_IRCurve, Risk_IRVol, Risk_FX, Risk_FXVol, Risk_Equity, Risk_EquityVol, \
                                   Risk_Commodity, Risk_CommodityVol";

type Entries = [(String, Value)];

fn entries<'v>(v: &'v Value, path: &str) -> Result<&'v Entries> {
    match v {
        Value::Map(e) => Ok(e),
        other => Err(config_error(path, format!("must be a table, got {}", other.kind()))),
    }
}

fn get<'v>(e: &'v Entries, key: &str, path: &str) -> Result<&'v Value> {
    e.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .ok_or_else(|| config_error(&format!("{path}.{key}"), format!("missing parameter {path}.{key}")))
}

fn num(v: &Value, path: &str) -> Result<f64> {
    match *v {
        Value::Float(x) if x.is_finite() => Ok(x),
        Value::Int(i) => Ok(i as f64),
        _ => Err(config_error(path, format!("{path} must be a number"))),
    }
}

fn num_at(e: &Entries, key: &str, path: &str) -> Result<f64> {
    num(get(e, key, path)?, &format!("{path}.{key}"))
}

fn nums(v: &Value, path: &str, n: Option<usize>) -> Result<Vec<f64>> {
    let Value::List(items) = v else { return Err(config_error(path, format!("{path} must be a list of numbers"))) };
    if let Some(n) = n {
        if items.len() != n {
            return Err(config_error(path, format!("{path} must have {n} entries, got {}", items.len())));
        }
    }
    items.iter().map(|x| num(x, path)).collect()
}

fn matrix(v: &Value, path: &str, n: usize) -> Result<Vec<Vec<f64>>> {
    let Value::List(rows) = v else { return Err(config_error(path, format!("{path} must be a {n}x{n} matrix"))) };
    if rows.len() != n {
        return Err(config_error(path, format!("{path} must be a {n}x{n} matrix")));
    }
    rows.iter().enumerate().map(|(i, r)| nums(r, &format!("{path}[{i}]"), Some(n))).collect()
}

fn strs(v: &Value, path: &str) -> Result<Vec<String>> {
    let Value::List(items) = v else { return Err(config_error(path, format!("{path} must be a list of strings"))) };
    items
        .iter()
        .map(|x| match x {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(config_error(path, format!("{path} must be a list of strings"))),
        })
        .collect()
}

fn string(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(config_error(path, format!("{path} must be a string"))),
    }
}

/// `{"group": [names]}` -> name -> group.
fn groups(v: &Value, path: &str) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (group, names) in entries(v, path)? {
        for name in strs(names, &format!("{path}.{group}"))? {
            out.insert(name, group.clone());
        }
    }
    Ok(out)
}

fn num_map(v: &Value, path: &str) -> Result<HashMap<String, f64>> {
    entries(v, path)?.iter().map(|(k, x)| Ok((k.clone(), num(x, &format!("{path}.{k}"))?))).collect()
}

fn pick(map: &HashMap<String, f64>, key: &str, path: &str) -> Result<f64> {
    map.get(key).copied().ok_or_else(|| config_error(path, format!("{path} has no entry {key}")))
}

/// What the interest rate and FX classes read alike: concentration thresholds by currency group,
/// the vega risk weight, the historical volatility ratio and the curvature weights per tenor.
pub struct CurrencyTerms {
    pub threshold_group: HashMap<String, String>,
    pub default_threshold_group: String,
    pub delta_thresholds: HashMap<String, f64>,
    pub vega_thresholds: HashMap<String, f64>,
    pub vega_rw: f64,
    pub hvr: f64,
    pub curvature_weights: Vec<f64>,
}

impl CurrencyTerms {
    fn read(section: &Entries, name: &str, n_tenors: usize) -> Result<Self> {
        let at = |key: &str| get(section, key, name);
        let path = |key: &str| format!("{name}.{key}");
        Ok(CurrencyTerms {
            threshold_group: groups(at("threshold_groups")?, &path("threshold_groups"))?,
            default_threshold_group: string(at("default_threshold_group")?, &path("default_threshold_group"))?,
            delta_thresholds: num_map(at("delta_thresholds")?, &path("delta_thresholds"))?,
            vega_thresholds: num_map(at("vega_thresholds")?, &path("vega_thresholds"))?,
            vega_rw: num(at("vega_risk_weight")?, &path("vega_risk_weight"))?,
            hvr: num(at("historical_volatility_ratio")?, &path("historical_volatility_ratio"))?,
            curvature_weights: nums(at("curvature_weights")?, &path("curvature_weights"), Some(n_tenors))?,
        })
    }
}

pub struct IrParams {
    pub tenors: Vec<String>,
    pub currency_bucket: HashMap<String, String>,
    pub default_bucket: String,
    pub delta_rw: HashMap<String, Vec<f64>>,
    pub tenor_corr: Vec<Vec<f64>>,
    pub sub_curves: Vec<String>,
    pub sub_curve_corr: f64,
    pub inter_currency_corr: f64,
    pub terms: CurrencyTerms,
}

pub struct FxParams {
    pub high_vol: Vec<String>,
    pub delta_rw: Vec<Vec<f64>>,
    pub corr_regular: Vec<Vec<f64>>,
    pub corr_high: Vec<Vec<f64>>,
    pub vega_corr: f64,
    pub terms: CurrencyTerms,
}

/// Equity or commodity: buckets 0..n-1 as listed, then the residual bucket (if any) as n.
pub struct BucketedParams {
    pub buckets: Vec<String>,
    pub residual: Option<String>,
    pub delta_rw: Vec<f64>,
    pub vega_rw: Vec<f64>,
    pub intra: Vec<f64>,
    pub inter: Vec<Vec<f64>>,
    pub delta_thresholds: Vec<f64>,
    pub vega_thresholds: Vec<f64>,
    pub hvr: f64,
    pub curvature_weights: Vec<f64>,
    pub curvature_zero: Vec<bool>,
}

impl BucketedParams {
    pub fn bucket_index(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.buckets.iter().position(|b| b == name) {
            return Some(i);
        }
        match &self.residual {
            Some(r) if r == name => Some(self.buckets.len()),
            _ => None,
        }
    }

    pub fn is_residual(&self, index: usize) -> bool {
        index == self.buckets.len()
    }

    pub fn name(&self, index: usize) -> &str {
        self.buckets.get(index).map_or_else(|| self.residual.as_deref().unwrap_or(""), String::as_str)
    }

    fn read(v: &Value, path: &str, n_tenors: usize) -> Result<Self> {
        let e = entries(v, path)?;
        let buckets = strs(get(e, "buckets", path)?, &format!("{path}.buckets"))?;
        let residual = match get(e, "residual_bucket", path)? {
            Value::Null => None,
            Value::Str(s) => Some(s.clone()),
            _ => return Err(config_error(path, format!("{path}.residual_bucket must be a string or null"))),
        };
        let mut names = buckets.clone();
        names.extend(residual.clone());
        let per_bucket = |key: &str, names: &[String]| -> Result<Vec<f64>> {
            let p = format!("{path}.{key}");
            let m = num_map(get(e, key, path)?, &p)?;
            names.iter().map(|b| pick(&m, b, &p)).collect()
        };
        let mut intra = per_bucket("intra_bucket_correlations", &buckets)?;
        if residual.is_some() {
            intra.push(0.0);
        }
        let zero = strs(get(e, "curvature_zero_buckets", path)?, &format!("{path}.curvature_zero_buckets"))?;
        Ok(BucketedParams {
            delta_rw: per_bucket("delta_risk_weights", &names)?,
            vega_rw: per_bucket("vega_risk_weights", &names)?,
            intra,
            inter: matrix(
                get(e, "inter_bucket_correlations", path)?,
                &format!("{path}.inter_bucket_correlations"),
                buckets.len(),
            )?,
            delta_thresholds: per_bucket("delta_thresholds", &names)?,
            vega_thresholds: per_bucket("vega_thresholds", &names)?,
            hvr: num_at(e, "historical_volatility_ratio", path)?,
            curvature_weights: nums(
                get(e, "curvature_weights", path)?,
                &format!("{path}.curvature_weights"),
                Some(n_tenors),
            )?,
            curvature_zero: names.iter().map(|b| zero.contains(b)).collect(),
            buckets,
            residual,
        })
    }
}

pub struct SimmParams {
    pub unit: f64,
    pub sigma_multiplier: f64,
    pub curvature_q: f64,
    pub ir: IrParams,
    pub fx: FxParams,
    pub equity: BucketedParams,
    pub commodity: BucketedParams,
    /// Risk class correlations over RISK_CLASSES.
    pub psi: [[f64; 4]; 4],
    pub calculation_currency: String,
    pub post: bool,
    pub account_column: String,
    pub amount_column: String,
}

impl SimmParams {
    pub fn from_value(spec: &Value) -> Result<Self> {
        let s = entries(spec, "model")?;
        let p = entries(get(s, "parameters", "model")?, "parameters")?;
        let ir = entries(get(p, "interest_rate", "parameters")?, "interest_rate")?;
        let at = |key: &str| get(ir, key, "interest_rate");
        let path = |key: &str| format!("interest_rate.{key}");
        let tenors = strs(at("tenors")?, &path("tenors"))?;
        let n = tenors.len();
        let delta_rw = entries(at("delta_risk_weights")?, &path("delta_risk_weights"))?
            .iter()
            .map(|(b, v)| Ok((b.clone(), nums(v, &path("delta_risk_weights"), Some(n))?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let irp = IrParams {
            currency_bucket: groups(at("currency_buckets")?, &path("currency_buckets"))?,
            default_bucket: string(at("default_bucket")?, &path("default_bucket"))?,
            delta_rw,
            tenor_corr: matrix(at("tenor_correlations")?, &path("tenor_correlations"), n)?,
            sub_curves: strs(at("sub_curves")?, &path("sub_curves"))?,
            sub_curve_corr: num(at("sub_curve_correlation")?, &path("sub_curve_correlation"))?,
            inter_currency_corr: num(at("inter_currency_correlation")?, &path("inter_currency_correlation"))?,
            terms: CurrencyTerms::read(ir, "interest_rate", n)?,
            tenors,
        };
        let fx = entries(get(p, "fx", "parameters")?, "fx")?;
        let at = |key: &str| get(fx, key, "fx");
        let path = |key: &str| format!("fx.{key}");
        let fxp = FxParams {
            high_vol: strs(at("high_vol_currencies")?, &path("high_vol_currencies"))?,
            delta_rw: matrix(at("delta_risk_weights")?, &path("delta_risk_weights"), 2)?,
            corr_regular: matrix(at("correlations_regular_calc")?, &path("correlations_regular_calc"), 2)?,
            corr_high: matrix(at("correlations_high_calc")?, &path("correlations_high_calc"), 2)?,
            vega_corr: num(at("vega_correlation")?, &path("vega_correlation"))?,
            terms: CurrencyTerms::read(fx, "fx", n)?,
        };
        let rc = strs(get(p, "risk_classes", "parameters")?, "parameters.risk_classes")?;
        let full =
            matrix(get(p, "risk_class_correlations", "parameters")?, "parameters.risk_class_correlations", rc.len())?;
        let mut idx = [0usize; 4];
        for (i, name) in RISK_CLASSES.iter().enumerate() {
            idx[i] = rc
                .iter()
                .position(|r| r == name)
                .ok_or_else(|| config_error("parameters.risk_classes", format!("risk class {name} missing")))?;
        }
        let mut psi = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                psi[i][j] = full[idx[i]][idx[j]];
            }
        }
        let side = string(get(s, "side", "model")?, "side")?;
        if side != "call" && side != "post" {
            return Err(config_error("side", "side must be 'call' or 'post'"));
        }
        let opt_str = |key: &str, default: &str| -> Result<String> {
            match s.iter().find(|(k, _)| k == key) {
                None => Ok(default.to_owned()),
                Some((_, v)) => string(v, key),
            }
        };
        Ok(SimmParams {
            unit: num_at(p, "threshold_unit", "parameters")?,
            sigma_multiplier: num_at(s, "sigma_multiplier", "model")?,
            curvature_q: num_at(s, "curvature_q", "model")?,
            ir: irp,
            fx: fxp,
            equity: BucketedParams::read(get(p, "equity", "parameters")?, "equity", n)?,
            commodity: BucketedParams::read(get(p, "commodity", "parameters")?, "commodity", n)?,
            psi,
            calculation_currency: string(get(s, "calculation_currency", "model")?, "calculation_currency")?,
            post: side == "post",
            account_column: opt_str("account_column", "Portfolio")?,
            amount_column: opt_str("amount_column", "AmountUSD")?,
        })
    }

    pub fn bucketed(&self, rc: usize) -> &BucketedParams {
        if rc == EQ {
            &self.equity
        } else {
            &self.commodity
        }
    }
}
