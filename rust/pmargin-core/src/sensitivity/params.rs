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
    /// The inter-bucket correlations, row-major (one row per listed bucket), and whether they
    /// are symmetric bit for bit.
    pub inter: Vec<f64>,
    pub inter_symmetric: bool,
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
        let inter = matrix(
            get(e, "inter_bucket_correlations", path)?,
            &format!("{path}.inter_bucket_correlations"),
            buckets.len(),
        )?;
        Ok(BucketedParams {
            delta_rw: per_bucket("delta_risk_weights", &names)?,
            vega_rw: per_bucket("vega_risk_weights", &names)?,
            intra,
            inter_symmetric: symmetric(&inter),
            inter: inter.concat(),
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
    /// The parameters above rearranged for the per-account loop.
    pub dense: Dense,
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
        let currency_bucket = groups(at("currency_buckets")?, &path("currency_buckets"))?;
        let default_bucket = string(at("default_bucket")?, &path("default_bucket"))?;
        // Every bucket a currency can fall in has its weights (the first missing one, by name).
        let mut used: Vec<&String> = currency_bucket.values().chain([&default_bucket]).collect();
        used.sort();
        if let Some(b) = used.into_iter().find(|b| !delta_rw.contains_key(*b)) {
            let field = format!("{}.{b}", path("delta_risk_weights"));
            return Err(config_error(&field, format!("missing parameter {field}")));
        }
        let irp = IrParams {
            currency_bucket,
            default_bucket,
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
        let unit = num_at(p, "threshold_unit", "parameters")?;
        let calculation_currency = string(get(s, "calculation_currency", "model")?, "calculation_currency")?;
        let dense = Dense::new(&irp, &fxp, unit, &calculation_currency);
        Ok(SimmParams {
            unit,
            sigma_multiplier: num_at(s, "sigma_multiplier", "model")?,
            curvature_q: num_at(s, "curvature_q", "model")?,
            ir: irp,
            fx: fxp,
            equity: BucketedParams::read(get(p, "equity", "parameters")?, "equity", n)?,
            commodity: BucketedParams::read(get(p, "commodity", "parameters")?, "commodity", n)?,
            psi,
            calculation_currency,
            post: side == "post",
            account_column: opt_str("account_column", "Portfolio")?,
            amount_column: opt_str("amount_column", "AmountUSD")?,
            dense,
        })
    }

    pub fn bucketed(&self, rc: usize) -> &BucketedParams {
        if rc == EQ {
            &self.equity
        } else {
            &self.commodity
        }
    }

    /// The parameters of currency `name` (any string: a three-byte name by its code, others
    /// through the name lists).
    #[inline]
    pub fn currency(&self, name: &str) -> Currency {
        let d = &self.dense;
        d.by_code(name).unwrap_or_else(|| resolve_currency(&self.ir, &self.fx, self.unit, &d.ir_buckets, Some(name)))
    }

    /// [`SimmParams::currency`] of a qualifier whose first eight bytes are `prefix` (big-endian,
    /// zero-padded): a three-byte name's code is read from the prefix, not from the string,
    /// which in a CRIF out of account order lies far from anything recently read.
    #[inline]
    pub fn currency_prefixed(&self, prefix: u64, name: &str) -> Currency {
        self.dense.by_prefix(prefix, name).unwrap_or_else(|| self.currency(name))
    }
}

/// Whether a square matrix equals its transpose bit for bit (then a quadratic form may read each
/// pair once and get the same sums).
pub fn symmetric(m: &[Vec<f64>]) -> bool {
    m.iter().enumerate().all(|(i, row)| row.iter().enumerate().all(|(j, x)| x.to_bits() == m[j][i].to_bits()))
}

/// One currency's parameters, resolved from the IR and FX name lists once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Currency {
    /// Row of [`Dense::ir_delta_rw`] (the currency's IR bucket); None when that bucket has no
    /// risk weights.
    pub ir_rw: Option<usize>,
    /// IR delta and vega concentration thresholds, times the threshold unit.
    pub ir_delta_threshold: f64,
    pub ir_vega_threshold: f64,
    /// FX volatility group: 1 high, 0 regular.
    pub fx_group: usize,
    /// FX concentration category: the group's name read as a number (3 when it is not one).
    pub fx_category: u8,
    pub fx_delta_threshold: f64,
}

/// A three-byte name as an integer (currency codes), else None.
#[inline]
fn code(name: &str) -> Option<u32> {
    let [a, b, c]: [u8; 3] = name.as_bytes().try_into().ok()?;
    Some(u32::from_be_bytes([0, a, b, c]))
}

/// A code of three capital letters as a number below 26^3, else None.
#[inline]
fn letters(code: u32) -> Option<usize> {
    let [_, a, b, c] = code.to_be_bytes();
    let at = |x: u8| x.is_ascii_uppercase().then(|| usize::from(x - b'A'));
    Some((at(a)? * 26 + at(b)?) * 26 + at(c)?)
}

/// Currency `name`'s parameters from the name lists; `None` is a currency no list names.
fn resolve_currency(ir: &IrParams, fx: &FxParams, unit: f64, ir_buckets: &[String], name: Option<&str>) -> Currency {
    fn group<'m>(map: &'m HashMap<String, String>, name: Option<&str>, default: &'m String) -> &'m String {
        name.and_then(|c| map.get(c)).unwrap_or(default)
    }
    let threshold = |map: &HashMap<String, f64>, g: &str| map.get(g).copied().unwrap_or(f64::INFINITY) * unit;
    let ir_bucket = group(&ir.currency_bucket, name, &ir.default_bucket);
    let ir_group = group(&ir.terms.threshold_group, name, &ir.terms.default_threshold_group);
    let fx_group = group(&fx.terms.threshold_group, name, &fx.terms.default_threshold_group);
    Currency {
        ir_rw: ir_buckets.iter().position(|b| b == ir_bucket),
        ir_delta_threshold: threshold(&ir.terms.delta_thresholds, ir_group),
        ir_vega_threshold: threshold(&ir.terms.vega_thresholds, ir_group),
        fx_group: usize::from(name.is_some_and(|c| fx.high_vol.iter().any(|h| h == c))),
        fx_category: fx_group.parse().unwrap_or(3),
        fx_delta_threshold: threshold(&fx.terms.delta_thresholds, fx_group),
    }
}

/// The parameters rearranged for the per-account loop, built once: currencies by code, IR
/// risk weights by bucket index, IR correlations as flat tables.
pub struct Dense {
    /// (code, parameters) of every three-byte currency an IR or FX list names, sorted by code.
    currencies: Vec<(u32, Currency)>,
    /// Every code of three capital letters (index [`letters`]): 1 + its place in `currencies`,
    /// 0 when unlisted. The usual codes are then found by one load, not a search.
    by_letters: Vec<u16>,
    /// Any currency no list names.
    unlisted: Currency,
    /// IR bucket names (sorted) and their delta risk weights per tenor.
    ir_buckets: Vec<String>,
    pub ir_delta_rw: Vec<Vec<f64>>,
    /// IR correlations by margin type, row-major: delta between (tenor, sub-curve) pairs (index
    /// [`Dense::ir_delta_index`]) with the sub-curve correlation applied, vega between tenors,
    /// curvature the vega's squares.
    pub ir_rho: [Vec<f64>; 3],
    pub ir_rho_dim: [usize; 3],
    ir_sub_curves: usize,
    /// Whether the IR tenor correlations, and both FX delta correlation matrices, are symmetric.
    pub ir_symmetric: bool,
    pub fx_symmetric: bool,
    /// The calculation currency's FX volatility group.
    pub fx_calc_group: usize,
    /// FX vega thresholds (times the unit) by vega key 1..=6, at index key - 1.
    fx_vega_thresholds: [f64; 6],
}

impl Dense {
    fn new(ir: &IrParams, fx: &FxParams, unit: f64, calculation_currency: &str) -> Self {
        let mut ir_buckets: Vec<String> = ir.delta_rw.keys().cloned().collect();
        ir_buckets.sort();
        let ir_delta_rw = ir_buckets.iter().map(|b| ir.delta_rw[b].clone()).collect();
        let names = ir.currency_bucket.keys().chain(ir.terms.threshold_group.keys());
        let names = names.chain(&fx.high_vol).chain(fx.terms.threshold_group.keys());
        let mut currencies: Vec<(u32, Currency)> =
            names.filter_map(|n| Some((code(n)?, resolve_currency(ir, fx, unit, &ir_buckets, Some(n))))).collect();
        currencies.sort_by_key(|e| e.0);
        currencies.dedup_by_key(|e| e.0);
        let mut by_letters = vec![0u16; 26 * 26 * 26];
        for (i, (c, _)) in currencies.iter().enumerate() {
            if let (Some(at), Ok(place)) = (letters(*c), u16::try_from(i + 1)) {
                by_letters[at] = place;
            }
        }
        let resolve = |name| resolve_currency(ir, fx, unit, &ir_buckets, name);
        let (unlisted, fx_calc_group) = (resolve(None), resolve(Some(calculation_currency)).fx_group);
        let fx_vega_thresholds = ["1", "2", "3", "4", "5", "6"]
            .map(|key| fx.terms.vega_thresholds.get(key).copied().unwrap_or(f64::INFINITY) * unit);
        let (tenor, sub) = (ir.tenor_corr.len(), ir.sub_curves.len().max(1));
        let delta = (0..tenor * sub)
            .flat_map(|a| (0..tenor * sub).map(move |b| (a, b)))
            .map(|(a, b)| {
                let r = ir.tenor_corr[a / sub][b / sub];
                if a % sub != b % sub {
                    r * ir.sub_curve_corr
                } else {
                    r
                }
            })
            .collect();
        let vega: Vec<f64> = ir.tenor_corr.iter().flatten().copied().collect();
        let curvature = vega.iter().map(|r| r * r).collect();
        Dense {
            currencies,
            by_letters,
            unlisted,
            ir_buckets,
            ir_delta_rw,
            ir_rho: [delta, vega, curvature],
            ir_rho_dim: [tenor * sub, tenor, tenor],
            ir_sub_curves: sub,
            ir_symmetric: symmetric(&ir.tenor_corr),
            fx_symmetric: symmetric(&fx.corr_regular) && symmetric(&fx.corr_high),
            fx_calc_group,
            fx_vega_thresholds,
        }
    }

    /// The parameters of a three-byte currency name, by its code; None for other names.
    #[inline]
    fn by_code(&self, name: &str) -> Option<Currency> {
        Some(self.by_number(code(name)?))
    }

    /// [`Dense::by_code`] of `name`, its code read from `prefix` (its first eight bytes,
    /// big-endian, zero-padded).
    #[inline]
    fn by_prefix(&self, prefix: u64, name: &str) -> Option<Currency> {
        let [a, b, c, ..] = prefix.to_be_bytes();
        (name.len() == 3).then(|| self.by_number(u32::from_be_bytes([0, a, b, c])))
    }

    /// The parameters of the three-byte currency name whose code is `c`.
    #[inline]
    fn by_number(&self, c: u32) -> Currency {
        let place = match letters(c) {
            Some(at) => usize::from(self.by_letters[at]).checked_sub(1).ok_or(()),
            None => self.currencies.binary_search_by_key(&c, |e| e.0).map_err(|_| ()),
        };
        place.map_or(self.unlisted, |i| self.currencies[i].1)
    }

    /// Row of an IR delta factor in `ir_rho[DELTA]`.
    pub fn ir_delta_index(&self, tenor: usize, sub_curve: usize) -> usize {
        tenor * self.ir_sub_curves + sub_curve
    }

    /// The FX vega concentration threshold of a pair whose currencies are in categories `a`
    /// and `b`.
    pub fn fx_vega_threshold(&self, a: u8, b: u8) -> f64 {
        let key = match (a.min(b), a.max(b)) {
            (1, 1) => 1,
            (1, 2) => 2,
            (1, 3) => 3,
            (2, 2) => 4,
            (2, 3) => 5,
            _ => 6,
        };
        self.fx_vega_thresholds[key - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn numbers(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
        pairs.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }

    fn terms(groups: &[(&str, &str)], default: &str, delta: &[(&str, f64)], vega: &[(&str, f64)]) -> CurrencyTerms {
        CurrencyTerms {
            threshold_group: names(groups),
            default_threshold_group: default.into(),
            delta_thresholds: numbers(delta),
            vega_thresholds: numbers(vega),
            vega_rw: 0.5,
            hvr: 0.6,
            curvature_weights: vec![0.5, 0.25],
        }
    }

    /// Two tenors, two sub-curves; an IR bucket without weights ("high"), a threshold group
    /// without a threshold, a non-numeric FX category, a non-ASCII currency.
    fn fixture() -> (IrParams, FxParams) {
        let ir = IrParams {
            tenors: vec!["1y".into(), "2y".into()],
            currency_bucket: names(&[("JPY", "low"), ("BRL", "high"), ("\u{20ac}UR", "low")]),
            default_bucket: "regular".into(),
            delta_rw: [("regular".to_string(), vec![1.0, 2.0]), ("low".to_string(), vec![3.0, 4.0])].into(),
            tenor_corr: vec![vec![1.0, 0.3], vec![0.3, 1.0]],
            sub_curves: vec!["OIS".into(), "Libor3m".into()],
            sub_curve_corr: 0.9,
            inter_currency_corr: 0.2,
            terms: terms(&[("JPY", "2"), ("BRL", "3")], "1", &[("1", 10.0), ("2", 20.0)], &[("1", 5.0), ("3", 7.0)]),
        };
        let fx = FxParams {
            high_vol: vec!["BRL".into(), "TRYX".into()],
            delta_rw: vec![vec![7.0, 8.0], vec![9.0, 10.0]],
            corr_regular: vec![vec![1.0, 0.5], vec![0.5, 1.0]],
            corr_high: vec![vec![1.0, 0.6], vec![0.6, 1.0]],
            vega_corr: 0.5,
            terms: terms(
                &[("USD", "1"), ("JPY", "2"), ("\u{20ac}UR", "x"), ("GBPX", "2"), ("usd", "2")],
                "3",
                &[("1", 100.0), ("2", 50.0), ("3", 10.0)],
                &[("1", 1.0), ("2", 2.0), ("4", 4.0), ("6", 6.0)],
            ),
        };
        (ir, fx)
    }

    #[test]
    fn currencies_by_code_equal_the_name_lists() {
        let (ir, fx) = fixture();
        let d = Dense::new(&ir, &fx, 1e6, "BRL");
        assert_eq!(d.fx_calc_group, 1);
        for name in ["USD", "JPY", "BRL", "XYZ", "\u{20ac}UR", "GBPX", "TRYX", "", "US", "usd", "ZZZ", "AAA"] {
            let want = resolve_currency(&ir, &fx, 1e6, &d.ir_buckets, Some(name));
            let got = d.by_code(name).unwrap_or_else(|| resolve_currency(&ir, &fx, 1e6, &d.ir_buckets, Some(name)));
            assert_eq!(got, want, "{name}");
        }
        let jpy = d.by_code("JPY");
        assert_eq!(jpy.map(|c| (c.ir_rw, c.ir_delta_threshold, c.fx_category)), Some((Some(0), 20e6, 2)));
        // A bucket without weights, thresholds missing from their group, an unlisted name.
        let brl = d.by_code("BRL");
        assert_eq!(brl.map(|c| (c.ir_rw, c.ir_delta_threshold, c.fx_group)), Some((None, f64::INFINITY, 1)));
        assert_eq!(d.by_code("XYZ"), Some(d.unlisted));
        assert_eq!(d.unlisted.ir_rw, Some(1));
        assert_eq!(d.by_code("GBPX"), None);
        // A listed code that is not three capital letters: found by the search.
        assert_eq!(d.by_code("usd").map(|c| c.fx_category), Some(2));
        assert_eq!(letters(code("USD").unwrap_or(0)), Some((20 * 26 + 18) * 26 + 3));
        // From a qualifier's prefix: the same as from its bytes.
        for name in ["USD", "JPY", "BRL", "XYZ", "\u{20ac}", "GBPX", "", "US", "usd", "ZZZ", "AAAAAAAAA"] {
            let mut head = [0u8; 8];
            let n = name.len().min(8);
            head[..n].copy_from_slice(&name.as_bytes()[..n]);
            assert_eq!(d.by_prefix(u64::from_be_bytes(head), name), d.by_code(name), "{name}");
        }
    }

    #[test]
    fn ir_correlation_tables_are_the_tenor_and_sub_curve_rule() {
        let (ir, fx) = fixture();
        let d = Dense::new(&ir, &fx, 1e6, "USD");
        assert_eq!(d.ir_rho_dim, [4, 2, 2]);
        for (t1, s1, t2, s2) in [(0, 0, 1, 0), (0, 1, 1, 0), (1, 1, 1, 0), (1, 1, 1, 1)] {
            let phi = if s1 == s2 { 1.0 } else { 0.9 };
            let at = d.ir_delta_index(t1, s1) * 4 + d.ir_delta_index(t2, s2);
            assert_eq!(d.ir_rho[0][at], if s1 == s2 { ir.tenor_corr[t1][t2] } else { ir.tenor_corr[t1][t2] * phi });
        }
        assert_eq!(d.ir_rho[1], [1.0, 0.3, 0.3, 1.0]);
        assert_eq!(d.ir_rho[2], [1.0, 0.3 * 0.3, 0.3 * 0.3, 1.0]);
    }

    #[test]
    fn symmetry_is_bitwise() {
        assert!(symmetric(&[vec![1.0, 0.3], vec![0.3, 1.0]]));
        assert!(!symmetric(&[vec![1.0, 0.3], vec![0.30000000000000004, 1.0]]));
        assert!(!symmetric(&[vec![1.0, 0.0], vec![-0.0, 1.0]]));
        assert!(symmetric(&[]));
    }

    #[test]
    fn fx_vega_thresholds_by_the_two_categories() {
        let (ir, fx) = fixture();
        let d = Dense::new(&ir, &fx, 1e6, "USD");
        assert_eq!(d.fx_vega_threshold(1, 1), 1e6);
        assert_eq!(d.fx_vega_threshold(2, 1), 2e6);
        assert_eq!(d.fx_vega_threshold(2, 2), 4e6);
        assert_eq!(d.fx_vega_threshold(3, 2), f64::INFINITY);
        assert_eq!(d.fx_vega_threshold(3, 3), 6e6);
        assert_eq!(d.fx_vega_threshold(9, 1), 6e6);
    }
}
