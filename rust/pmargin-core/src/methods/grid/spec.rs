//! The grid spec: `{"type": "grid", "price_shocks": [...], "vol_shocks": [...], "vol_shock":
//! "relative" | "absolute", "cross": "sum" | "joint" | "correlation", "mm_ratio": m,
//! "correlation": {"names": [...], "matrix": [row-major d x d]}, "floor_largest": bool}`.
//! Checked here once ([`GridModel::new`] checks the shocks and `mm_ratio`).

use super::model::{Cross, DeltaShock, GridModel, Ranges};
use crate::domain::correlation::CorrelationMatrix;
use crate::error::Result;
use crate::float_text::{g, repr};
use crate::scenarios::VolShockMode;
use crate::spec::{config_error, Fields, Value};

/// The largest add-on rate (a fraction of spot, per unit): 10 is 1,000% of spot, beyond any
/// venue's charge, and keeps every add-on finite (the P&L bound covers the notionals it scales).
pub const MAX_ADDON_RATE: f64 = 10.0;

/// A correlation matrix given as `{"names": [...], "matrix": [...]}` (row-major, flat).
pub fn correlation(fields: &mut Fields<'_>, key: &str) -> Result<Option<CorrelationMatrix>> {
    let Some(mut inner) = fields.optional_fields(key)? else { return Ok(None) };
    let names = inner.str_list("names")?;
    let matrix = inner.f64_list("matrix")?;
    inner.finish()?;
    CorrelationMatrix::new(names, matrix).map(Some)
}

pub fn parse(fields: &mut Fields<'_>) -> Result<GridModel> {
    let price_shocks = fields.f64_list("price_shocks")?;
    let vol_shocks = fields.f64_list("vol_shocks")?;
    let vol_mode: VolShockMode = fields.parse("vol_shock")?;
    let matrix = correlation(fields, "correlation")?;
    let floor_largest = fields.bool_or("floor_largest", false)?;
    let cross = match (fields.str("cross")?, matrix) {
        ("sum", _) => Cross::Sum,
        ("joint", _) => Cross::Joint,
        ("correlation", Some(matrix)) => Cross::Correlation { matrix, floor_largest },
        ("correlation", None) => {
            return Err(config_error("correlation", "cross='correlation' needs a correlation matrix"))
        }
        (other, _) => {
            return Err(config_error("cross", format!("must be 'sum', 'joint' or 'correlation', got '{other}'")))
        }
    };
    let model = GridModel::new(price_shocks, vol_shocks, vol_mode, cross, fields.f64("mm_ratio")?)?;
    let ranges = Ranges {
        price: named_numbers(fields, "price_ranges")?,
        vol: named_numbers(fields, "vol_ranges")?,
        column: match fields.get("range_column") {
            None => None,
            Some(Value::Str(s)) => Some(s.clone()),
            Some(other) => return Err(config_error("range_column", format!("must be a string, got {}", other.kind()))),
        },
    };
    let mut model = model.with_ranges(ranges)?;
    let non_negative = |key: &str, x: f64| {
        if !x.is_finite() || x < 0.0 {
            Err(config_error(key, format!("must be a number >= 0, got {}", repr(x))))
        } else {
            Ok(x)
        }
    };
    let rate = |key: &str, x: f64| {
        let x = non_negative(key, x)?;
        if x > MAX_ADDON_RATE {
            let reason =
                format!("must be at most {} (a fraction of spot: 0.01 is 1%), got {}", g(MAX_ADDON_RATE), repr(x));
            return Err(config_error(key, reason));
        }
        Ok(x)
    };
    model.addons.calendar_rate = rate("calendar_rate", fields.f64_or("calendar_rate", 0.0)?)?;
    model.addons.short_option_minimum = rate("short_option_minimum", fields.f64_or("short_option_minimum", 0.0)?)?;
    if let Some(mut inner) = fields.optional_fields("delta_shock")? {
        let shock = DeltaShock {
            threshold: non_negative("delta_shock.threshold", inner.f64("threshold")?)?,
            m_inc: non_negative("delta_shock.m_inc", inner.f64("m_inc")?)?,
            max_shock: rate("delta_shock.max_shock", inner.f64("max_shock")?)?,
        };
        inner.finish()?;
        model.addons.delta_shock = Some(shock);
    }
    Ok(model)
}

/// An optional table of name -> number (`{"SOL": 0.4}`), in the order given.
fn named_numbers(fields: &mut Fields<'_>, key: &str) -> Result<Vec<(String, f64)>> {
    match fields.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Map(entries)) => entries
            .iter()
            .map(|(name, v)| match v {
                Value::Float(x) => Ok((name.clone(), *x)),
                Value::Int(i) => Ok((name.clone(), *i as f64)),
                other => Err(config_error(&format!("{key}.{name}"), format!("must be a number, got {}", other.kind()))),
            })
            .collect(),
        Some(other) => Err(config_error(key, format!("must be a table of name -> range, got {}", other.kind()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Value;

    fn spec(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn floats(xs: &[f64]) -> Value {
        Value::List(xs.iter().map(|&x| Value::Float(x)).collect())
    }

    fn base(cross: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("price_shocks", floats(&[-0.1, 0.1])),
            ("vol_shocks", floats(&[0.0])),
            ("vol_shock", Value::Str("relative".into())),
            ("cross", Value::Str(cross.into())),
            ("mm_ratio", Value::Float(0.75)),
        ]
    }

    #[test]
    fn parses_a_grid() {
        let value = spec(base("joint"));
        let mut fields = Fields::new(&value).expect("map");
        let model = parse(&mut fields).expect("valid");
        fields.finish().expect("every key read");
        assert_eq!(model.cross, Cross::Joint);
        assert_eq!(model.n_scenarios(), 2);
        assert_eq!(model.mm_ratio, 0.75);
    }

    #[test]
    fn correlation_cross_needs_a_matrix_and_checks_it() {
        let value = spec(base("correlation"));
        let err = parse(&mut Fields::new(&value).expect("map")).expect_err("no matrix");
        assert_eq!(err.to_string(), "model.correlation: cross='correlation' needs a correlation matrix");
        let mut entries = base("correlation");
        let rho = spec(vec![
            ("names", Value::List(vec![Value::Str("A".into()), Value::Str("B".into())])),
            ("matrix", floats(&[1.0, 0.5, 0.5, 1.0])),
        ]);
        entries.push(("correlation", rho));
        entries.push(("floor_largest", Value::Bool(true)));
        let value = spec(entries);
        let model = parse(&mut Fields::new(&value).expect("map")).expect("valid");
        assert!(matches!(model.cross, Cross::Correlation { floor_largest: true, .. }));
    }

    #[test]
    fn bad_enum_and_ratio_name_their_field() {
        let mut entries = base("diagonal");
        let value = spec(entries.clone());
        let err = parse(&mut Fields::new(&value).expect("map")).expect_err("bad cross");
        assert_eq!(err.to_string(), "model.cross: must be 'sum', 'joint' or 'correlation', got 'diagonal'");
        entries[2] = ("vol_shock", Value::Str("log".into()));
        let value = spec(entries);
        let err = parse(&mut Fields::new(&value).expect("map")).expect_err("bad vol_shock");
        assert_eq!(err.to_string(), "model.vol_shock: must be 'relative' or 'absolute', got 'log'");
        let mut entries = base("sum");
        entries[4] = ("mm_ratio", Value::Float(1.5));
        let value = spec(entries);
        let err = parse(&mut Fields::new(&value).expect("map")).expect_err("bad ratio");
        assert_eq!(err.to_string(), "model.mm_ratio: must be a number in (0, 1], got 1.5");
    }
}
