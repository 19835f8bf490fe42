//! The VaR / ES specs. Historical: `{"type": "historical", "moves": table, "stressed": table |
//! null, "measure": "var" | "es", "confidence": c, "vol_shock": "relative" | "absolute",
//! "mm_ratio": m, "ewma_lambda": l | null}`. Monte Carlo: `{"type": "montecarlo",
//! "correlation": {"names", "matrix"}, "horizon_vols": [v | null per name], "n_scenarios": n,
//! "seed": s, "dof": d | null (Student t when given), "vol_of_vol": x, "spot_vol_correlation":
//! r, "measure", "confidence", "mm_ratio"}`. Both also take `"tail_scenarios": false | true | n`
//! (absent: false): whether the accounts table carries the `tail_scenarios` column, and how many
//! of the tail's scenarios (all, or the worst n).

use crate::error::Result;
use crate::methods::grid::spec::correlation;
use crate::risk::tail::Measure;
use crate::scenarios::montecarlo::{Distribution, MonteCarloSpec};
use crate::scenarios::VolShockMode;
use crate::spec::{check_mm_ratio, config_error, Fields, OwnedTable, Value};

/// VaR / ES settings shared by the historical and Monte Carlo models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailSpec {
    pub measure: Measure,
    pub confidence: f64,
    pub mm_ratio: f64,
    /// How many tail scenarios the accounts table lists: None (no `tail_scenarios` column), or
    /// the worst n (`usize::MAX`: all of them).
    pub tail_scenarios: Option<usize>,
}

impl TailSpec {
    fn parse(fields: &mut Fields<'_>) -> Result<Self> {
        let measure = fields.parse("measure")?;
        let confidence = fields.f64("confidence")?;
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(config_error("confidence", format!("must be in (0, 1), got {confidence}")));
        }
        let mm_ratio = check_mm_ratio(fields.f64("mm_ratio")?)?;
        Ok(TailSpec { measure, confidence, mm_ratio, tail_scenarios: tail_scenarios(fields)? })
    }
}

/// `tail_scenarios`: absent, null or false (no column), true (the whole tail) or n >= 1 (the
/// worst n). The column is off by default: with many scenarios it dominates the result's size.
fn tail_scenarios(fields: &mut Fields<'_>) -> Result<Option<usize>> {
    match fields.get("tail_scenarios") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(usize::MAX)),
        Some(Value::Int(n)) if *n >= 1 => Ok(Some(usize::try_from(*n).unwrap_or(usize::MAX))),
        Some(other) => {
            let got = match other {
                Value::Int(n) => n.to_string(),
                other => other.kind().to_owned(),
            };
            Err(config_error("tail_scenarios", format!("must be true, false or a whole number >= 1, got {got}")))
        }
    }
}

/// Historical simulation over one or two windows of joint moves.
#[derive(Debug, Clone)]
pub struct HistoricalSpec {
    pub moves: OwnedTable,
    pub stressed: Option<OwnedTable>,
    pub vol_mode: VolShockMode,
    pub ewma_lambda: Option<f64>,
    pub tail: TailSpec,
}

impl HistoricalSpec {
    pub fn parse(fields: &mut Fields<'_>) -> Result<Self> {
        let moves = fields.table("moves")?.clone();
        let stressed = fields.optional_table("stressed")?.cloned();
        let vol_mode = fields.parse("vol_shock")?;
        let ewma_lambda = fields.optional_f64("ewma_lambda")?;
        Ok(HistoricalSpec { moves, stressed, vol_mode, ewma_lambda, tail: TailSpec::parse(fields)? })
    }
}

/// Correlated Monte Carlo from a counter-based generator.
#[derive(Debug, Clone, PartialEq)]
pub struct MonteCarloModel {
    pub scenarios: MonteCarloSpec,
    pub tail: TailSpec,
}

/// The Monte Carlo scenario settings alone (also what `monte_carlo_scenarios` takes).
pub fn monte_carlo_scenarios(fields: &mut Fields<'_>) -> Result<MonteCarloSpec> {
    let correlation = correlation(fields, "correlation")?
        .ok_or_else(|| config_error("correlation", "a Monte Carlo model needs a correlation matrix"))?;
    let n_scenarios = usize::try_from(fields.count("n_scenarios")?)
        .map_err(|_| config_error("n_scenarios", "is too large for this machine"))?;
    let spec = MonteCarloSpec {
        correlation,
        horizon_vols: fields.optional_f64_list("horizon_vols")?,
        n_scenarios,
        seed: fields.count("seed")?,
        distribution: fields.optional_f64("dof")?.map_or(Distribution::Normal, |dof| Distribution::StudentT { dof }),
        vol_of_vol: fields.f64_or("vol_of_vol", 0.0)?,
        spot_vol_correlation: fields.f64_or("spot_vol_correlation", 0.0)?,
    };
    spec.validate()?;
    Ok(spec)
}

impl MonteCarloModel {
    pub fn parse(fields: &mut Fields<'_>) -> Result<Self> {
        Ok(MonteCarloModel { scenarios: monte_carlo_scenarios(fields)?, tail: TailSpec::parse(fields)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn monte_carlo(confidence: f64, dof: Value) -> Value {
        let rho = spec(vec![
            ("names", Value::List(vec![Value::Str("BTC".into())])),
            ("matrix", Value::List(vec![Value::Float(1.0)])),
        ]);
        spec(vec![
            ("correlation", rho),
            ("horizon_vols", Value::List(vec![Value::Float(0.05)])),
            ("n_scenarios", Value::Int(1000)),
            ("seed", Value::Int(u64::MAX as i128)),
            ("dof", dof),
            ("measure", Value::Str("es".into())),
            ("confidence", Value::Float(confidence)),
            ("mm_ratio", Value::Float(0.8)),
        ])
    }

    #[test]
    fn parses_monte_carlo_with_a_full_width_seed() {
        let value = monte_carlo(0.99, Value::Float(4.0));
        let mut fields = Fields::new(&value).expect("map");
        let model = MonteCarloModel::parse(&mut fields).expect("valid");
        fields.finish().expect("every key read");
        assert_eq!(model.scenarios.seed, u64::MAX);
        assert_eq!(model.scenarios.distribution, Distribution::StudentT { dof: 4.0 });
        assert_eq!(
            model.tail,
            TailSpec { measure: Measure::ES, confidence: 0.99, mm_ratio: 0.8, tail_scenarios: None }
        );
    }

    #[test]
    fn bad_confidence_and_dof_name_their_field() {
        let value = monte_carlo(1.0, Value::Null);
        let err = MonteCarloModel::parse(&mut Fields::new(&value).expect("map")).expect_err("c = 1");
        assert_eq!(err.to_string(), "model.confidence: must be in (0, 1), got 1");
        let value = monte_carlo(0.99, Value::Float(2.0));
        let err = MonteCarloModel::parse(&mut Fields::new(&value).expect("map")).expect_err("dof 2");
        assert_eq!(err.to_string(), "model.dof: must be > 2 (finite variance), got 2");
    }

    #[test]
    fn tail_scenarios_is_off_by_default_all_or_capped() {
        let parse = |v: Option<Value>| {
            let Value::Map(mut entries) = monte_carlo(0.99, Value::Null) else { panic!("a map") };
            entries.extend(v.map(|v| ("tail_scenarios".to_owned(), v)));
            let value = Value::Map(entries);
            MonteCarloModel::parse(&mut Fields::new(&value).expect("map")).map(|m| m.tail.tail_scenarios)
        };
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some(Value::Bool(false))), Ok(None));
        assert_eq!(parse(Some(Value::Bool(true))), Ok(Some(usize::MAX)));
        assert_eq!(parse(Some(Value::Int(5))), Ok(Some(5)));
        let err = parse(Some(Value::Int(0))).expect_err("zero");
        assert_eq!(err.to_string(), "model.tail_scenarios: must be true, false or a whole number >= 1, got 0");
    }
}
