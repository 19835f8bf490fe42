//! The Deribit spec: `{"type": "deribit", "parameter_set": "name@version#hash", "params":
//! {"BTC": {...}, "ETH": {...}, "*": {...}}}`, one flat record of published `model_params` per
//! underlying ("*": any other underlying). Per-currency entries of Deribit's `model_params`
//! (`pnl_offset`, `extended_dampener`, `annualised_move_risk`, `min_annualised_move`) come
//! split into `<name>_coin` (the underlying's own coin: inverse vectors) and `<name>_usd`
//! (linear, USD-settled vectors); the Python model does that split (docs/methods.md, "Deribit").

use crate::error::{MarginError, Result};
use crate::float_text::repr;
use crate::spec::{config_error, Fields, Value};

/// One underlying's parameters, as Deribit publishes them in `model_params`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeribitParams {
    /// `price_range` R: the standard table's largest move.
    pub price_range: f64,
    /// `buckets_count` n: moves each side of zero (2n + 1 moves).
    pub buckets_count: usize,
    pub volatility_range_up: f64,
    pub volatility_range_down: f64,
    pub short_term_vega_power: f64,
    pub long_term_vega_power: f64,
    /// Floor of the shocked-up vol.
    pub min_volatility_for_shock_up: f64,
    /// Days to expiry are floored here in the vega term structure (Derive's DTE_FLOOR).
    pub dte_floor_days: f64,
    pub extended_table_factor: f64,
    /// USD amounts removed from extended-table entries (coin vectors, USD vectors).
    pub extended_dampener_coin: f64,
    pub extended_dampener_usd: f64,
    /// Fraction of scenario gains that count.
    pub pnl_offset_coin: f64,
    pub pnl_offset_usd: f64,
    /// Cap on a counted gain (USD; 0 = no cap).
    pub max_offsetable_pnl: f64,
    pub annualised_move_risk_coin: f64,
    pub annualised_move_risk_usd: f64,
    pub min_annualised_move_coin: f64,
    pub min_annualised_move_usd: f64,
    /// USD net delta above which the delta shock applies.
    pub delta_total_liq_shock_threshold: f64,
    pub max_delta_shock: f64,
    pub m_inc: f64,
    /// Maintenance = mm_factor x risk-matrix margin.
    pub mm_factor: f64,
}

/// The parsed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct DeribitModel {
    /// `name@version#hash12` of the parameter set (recorded in every result).
    pub parameter_set: String,
    /// Per underlying name, in the order given.
    pub params: Vec<(String, DeribitParams)>,
    /// For any other underlying ("*").
    pub default: Option<DeribitParams>,
}

impl DeribitModel {
    /// The parameters of underlying `name`, or None when neither it nor "*" has any.
    pub fn params_of(&self, name: &str) -> Option<&DeribitParams> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, p)| p).or(self.default.as_ref())
    }
}

/// The published parameter a spec field holds: `annualised_move_risk` for `annualised_move_risk_coin`
/// and `_usd`. A bound error names it, as the Python model does (the value shows which entry).
fn published(key: &str) -> &str {
    key.strip_suffix("_coin").or_else(|| key.strip_suffix("_usd")).unwrap_or(key)
}

/// A finite number, worded as the Python model words it (`must be a finite number, got inf`).
fn number(fields: &mut Fields<'_>, key: &str) -> Result<f64> {
    let x = match *fields.required(key)? {
        Value::Float(x) => x,
        Value::Int(i) => i as f64,
        ref other => return Err(config_error(key, format!("must be a number, got {}", other.kind()))),
    };
    if x.is_finite() {
        Ok(x)
    } else {
        Err(config_error(key, format!("must be a finite number, got {}", repr(x))))
    }
}

/// The number at `key` when it is in `[lo, hi]`; else `must be <what>, got x`, naming the
/// published parameter. The wording is the Python model's for the same defect
/// (`pmargin.models.deribit.flat_params`), so both engines say the same thing.
fn in_range(fields: &mut Fields<'_>, key: &str, lo: f64, hi: f64, what: &str) -> Result<f64> {
    let x = number(fields, key)?;
    if x >= lo && x <= hi {
        Ok(x)
    } else {
        Err(config_error(published(key), format!("must be {what}, got {}", repr(x))))
    }
}

/// Upper bounds (generous: Deribit publishes values below 1) that keep every margin finite: the
/// roll rate `exp(annualised_move_risk x T) - 1`, the vega term structure `(30 / DTE)^power` and
/// the delta shock rate. The Python model checks the same bounds.
pub const MAX_POWER_OR_RATE: f64 = 10.0;

/// A number in `[0, MAX_POWER_OR_RATE]`: `must be in [0, 10], got x` below the range as above it.
fn bounded(fields: &mut Fields<'_>, key: &str) -> Result<f64> {
    in_range(fields, key, 0.0, MAX_POWER_OR_RATE, "in [0, 10]")
}

fn non_negative(fields: &mut Fields<'_>, key: &str) -> Result<f64> {
    in_range(fields, key, 0.0, f64::INFINITY, "a number >= 0")
}

/// `buckets_count`: an integer (a whole float too, as the Python model reads it) in [1, 1000].
fn buckets(fields: &mut Fields<'_>) -> Result<usize> {
    const KEY: &str = "buckets_count";
    let (n, shown) = match *fields.required(KEY)? {
        Value::Int(i) => (i as f64, i.to_string()),
        Value::Float(x) if !x.is_finite() => {
            return Err(config_error(KEY, format!("must be a finite number, got {}", repr(x))))
        }
        Value::Float(x) if x.fract() == 0.0 => (x, repr(x)),
        Value::Float(x) => return Err(config_error(KEY, format!("must be an integer, got {}", repr(x)))),
        ref other => return Err(config_error(KEY, format!("must be an integer, got {}", other.kind()))),
    };
    if (1.0..=1000.0).contains(&n) {
        Ok(n as usize)
    } else {
        Err(config_error(KEY, format!("must be in [1, 1000], got {shown}")))
    }
}

fn parse_params(fields: &mut Fields<'_>) -> Result<DeribitParams> {
    let price_range = number(fields, "price_range")?;
    if price_range <= 0.0 || price_range >= 1.0 {
        return Err(config_error("price_range", format!("must be in (0, 1), got {}", repr(price_range))));
    }
    let params = DeribitParams {
        price_range,
        buckets_count: buckets(fields)?,
        volatility_range_up: non_negative(fields, "volatility_range_up")?,
        volatility_range_down: non_negative(fields, "volatility_range_down")?,
        short_term_vega_power: bounded(fields, "short_term_vega_power")?,
        long_term_vega_power: bounded(fields, "long_term_vega_power")?,
        min_volatility_for_shock_up: non_negative(fields, "min_volatility_for_shock_up")?,
        dte_floor_days: {
            let x = number(fields, "dte_floor_days")?;
            if x <= 0.0 {
                return Err(config_error("dte_floor_days", format!("must be > 0, got {}", repr(x))));
            }
            x
        },
        extended_table_factor: non_negative(fields, "extended_table_factor")?,
        extended_dampener_coin: non_negative(fields, "extended_dampener_coin")?,
        extended_dampener_usd: non_negative(fields, "extended_dampener_usd")?,
        pnl_offset_coin: in_range(fields, "pnl_offset_coin", 0.0, 1.0, "in [0, 1]")?,
        pnl_offset_usd: in_range(fields, "pnl_offset_usd", 0.0, 1.0, "in [0, 1]")?,
        max_offsetable_pnl: non_negative(fields, "max_offsetable_pnl")?,
        annualised_move_risk_coin: bounded(fields, "annualised_move_risk_coin")?,
        annualised_move_risk_usd: bounded(fields, "annualised_move_risk_usd")?,
        min_annualised_move_coin: bounded(fields, "min_annualised_move_coin")?,
        min_annualised_move_usd: bounded(fields, "min_annualised_move_usd")?,
        delta_total_liq_shock_threshold: non_negative(fields, "delta_total_liq_shock_threshold")?,
        max_delta_shock: bounded(fields, "max_delta_shock")?,
        m_inc: non_negative(fields, "m_inc")?,
        mm_factor: {
            let x = number(fields, "mm_factor")?;
            if x <= 0.0 || x > 1.0 {
                return Err(config_error("mm_factor", format!("must be a number in (0, 1], got {}", repr(x))));
            }
            x
        },
    };
    Ok(params)
}

/// A config error of a nested record, its field prefixed: `params.BTC.price_range`.
fn prefixed(e: MarginError, prefix: &str) -> MarginError {
    match e {
        MarginError::Config { field, reason } => MarginError::Config { field: format!("{prefix}.{field}"), reason },
        other => other,
    }
}

pub fn parse(fields: &mut Fields<'_>) -> Result<DeribitModel> {
    let parameter_set = fields.str("parameter_set")?.to_owned();
    let Value::Map(entries) = fields.required("params")? else {
        return Err(config_error("params", "must be a table of underlying -> parameters"));
    };
    let mut params = Vec::new();
    let mut default = None;
    for (name, value) in entries {
        let prefix = format!("params.{name}");
        let mut inner = Fields::new(value).map_err(|e| prefixed(e, &prefix))?;
        let parsed = parse_params(&mut inner).map_err(|e| prefixed(e, &prefix))?;
        inner.finish().map_err(|e| prefixed(e, &prefix))?;
        if name == "*" {
            default = Some(parsed);
        } else {
            params.push((name.clone(), parsed));
        }
    }
    Ok(DeribitModel { parameter_set, params, default })
}

#[cfg(test)]
mod tests {
    use crate::methods::MethodSpec;
    use crate::spec::Value;
    use crate::test_support::map;

    /// A spec of one "*" set: the published BTC values, `key` replaced by `x`.
    fn spec(key: &str, x: f64) -> Value {
        let mut fields: Vec<(&str, Value)> = [
            ("price_range", 0.16),
            ("buckets_count", 4.0),
            ("volatility_range_up", 0.5),
            ("volatility_range_down", 0.25),
            ("short_term_vega_power", 0.3),
            ("long_term_vega_power", 0.13),
            ("min_volatility_for_shock_up", 0.5),
            ("dte_floor_days", 1.0),
            ("extended_table_factor", 1.0),
            ("extended_dampener_coin", 100_000.0),
            ("extended_dampener_usd", 25_000.0),
            ("pnl_offset_coin", 0.0),
            ("pnl_offset_usd", 0.0),
            ("max_offsetable_pnl", 0.0),
            ("annualised_move_risk_coin", 0.075),
            ("annualised_move_risk_usd", 0.1),
            ("min_annualised_move_coin", 0.01),
            ("min_annualised_move_usd", 0.01),
            ("delta_total_liq_shock_threshold", 20_000_000.0),
            ("max_delta_shock", 0.1),
            ("m_inc", 0.00005),
            ("mm_factor", 0.8),
        ]
        .into_iter()
        .map(|(k, v)| (k, if k == key { Value::Float(x) } else { Value::Float(v) }))
        .collect();
        if key != "buckets_count" {
            fields[1].1 = Value::Int(4);
        }
        map(vec![
            ("type", Value::Str("deribit".into())),
            ("parameter_set", Value::Str("t@1#0".into())),
            ("params", map(vec![("*", map(fields))])),
        ])
    }

    #[test]
    fn bounds_keep_every_margin_finite() {
        assert!(MethodSpec::from_value(&spec("annualised_move_risk_usd", 10.0)).is_ok());
        for (key, x0, name) in [
            ("annualised_move_risk_usd", 700.0, "annualised_move_risk"),
            ("annualised_move_risk_coin", 10.5, "annualised_move_risk"),
            ("min_annualised_move_coin", 11.0, "min_annualised_move"),
            ("short_term_vega_power", 1e300, "short_term_vega_power"),
            ("long_term_vega_power", 20.0, "long_term_vega_power"),
            ("max_delta_shock", 1e300, "max_delta_shock"),
        ] {
            let err = MethodSpec::from_value(&spec(key, x0)).err().expect("out of bounds");
            let shown = if x0 == 1e300 { "1e+300".to_owned() } else { format!("{x0:.1}") };
            assert_eq!(err.to_string(), format!("model.params.*.{name}: must be in [0, 10], got {shown}"));
        }
        // Below the range the same words (review 14, finding 7: the Python model's).
        let err = MethodSpec::from_value(&spec("max_delta_shock", -1.0)).err().expect("negative");
        assert_eq!(err.to_string(), "model.params.*.max_delta_shock: must be in [0, 10], got -1.0");
    }

    #[test]
    fn a_per_currency_bound_names_the_published_parameter() {
        for (key, x, want) in [
            ("annualised_move_risk_coin", -1.0, "annualised_move_risk: must be in [0, 10], got -1.0"),
            ("min_annualised_move_usd", 11.0, "min_annualised_move: must be in [0, 10], got 11.0"),
            ("pnl_offset_usd", 1.5, "pnl_offset: must be in [0, 1], got 1.5"),
            ("extended_dampener_coin", -2.0, "extended_dampener: must be a number >= 0, got -2.0"),
            ("m_inc", -1.0, "m_inc: must be a number >= 0, got -1.0"),
            ("buckets_count", -1.0, "buckets_count: must be in [1, 1000], got -1.0"),
            ("buckets_count", 4.5, "buckets_count: must be an integer, got 4.5"),
            ("mm_factor", f64::INFINITY, "mm_factor: must be a finite number, got inf"),
        ] {
            let err = MethodSpec::from_value(&spec(key, x)).err().expect("out of bounds");
            assert_eq!(err.to_string(), format!("model.params.*.{want}"), "{key}");
        }
    }
}
