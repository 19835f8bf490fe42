//! The SPAN spec: a parameter set (combined commodities, scan ranges, tier and spread tables,
//! short option minimum rates) as plain data, parsed once and checked field by field.

use std::str::FromStr;

use crate::error::Result;
use crate::float_text::repr;
use crate::scenarios::VolShockMode;
use crate::spec::{config_error, Fields, OwnedTable, Value};

/// What an inter-commodity credit is a rate of (the published rule leaves the split of scan risk
/// open, so the reading is explicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditBasis {
    /// Weighted price risk = scanning risk / |net delta| (CME's worked example: a % of outright).
    Scan,
    /// Weighted price risk = (scanning risk - time risk - volatility risk) / |net delta|.
    PriceRisk,
}

impl FromStr for CreditBasis {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "scan" => Ok(CreditBasis::Scan),
            "price_risk" => Ok(CreditBasis::PriceRisk),
            other => Err(format!("must be 'scan' or 'price_risk', got '{other}'")),
        }
    }
}

/// One intra-commodity spread of the priority table: tiers `a` and `b`, charge per spread.
#[derive(Debug, Clone, PartialEq)]
pub struct IntraSpread {
    pub tier_a: usize,
    pub tier_b: usize,
    pub charge: f64,
}

/// A combined commodity: the underlyings it covers and its own rates.
#[derive(Debug, Clone, PartialEq)]
pub struct Commodity {
    pub name: String,
    pub underlyings: Vec<String>,
    /// Price scan range as a fraction of spot; None when every contract has a supplied array.
    pub price_scan: Option<f64>,
    pub vol_scan: f64,
    pub extreme_move: f64,
    pub extreme_cover: f64,
    /// Per net short option (the greater of net short calls and net short puts).
    pub short_option_minimum: f64,
    /// Per unit of |net composite delta| in the delivery (spot) month.
    pub delivery_charge: f64,
    /// A contract expiring within this many days of `as_of` is in the delivery month.
    pub delivery_days: f64,
    pub initial_ratio: f64,
    /// Upper bound (days to expiry, inclusive) of each tier, ascending.
    pub tiers: Vec<f64>,
    pub intra: Vec<IntraSpread>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    pub commodity: usize,
    pub delta_ratio: f64,
    /// +1 for side A, -1 for side B: a spread needs every A leg's delta of one sign, every B
    /// leg's of the other.
    pub side: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterSpread {
    pub credit_rate: f64,
    pub legs: Vec<Leg>,
}

/// A SPAN model: a parameter set and the readings left open by the published rule.
#[derive(Debug, Clone)]
pub struct SpanModel {
    pub parameter_set: String,
    pub credit_basis: CreditBasis,
    pub vol_mode: VolShockMode,
    pub commodities: Vec<Commodity>,
    pub inter: Vec<InterSpread>,
    /// Published risk arrays: `instrument_id`, `risk_1`..`risk_16` (loss per long unit, losses
    /// positive, extreme scenarios already scaled by their cover), `composite_delta`.
    pub risk_arrays: Option<OwnedTable>,
}

fn items<'v>(fields: &mut Fields<'v>, key: &str) -> Result<&'v [Value]> {
    match fields.get(key) {
        None => Ok(&[]),
        Some(Value::List(items)) => Ok(items),
        Some(other) => Err(config_error(key, format!("must be a list, got {}", other.kind()))),
    }
}

fn rename(e: crate::error::MarginError, prefix: &str) -> crate::error::MarginError {
    match e {
        crate::error::MarginError::Config { field, reason } => config_error(&format!("{prefix}.{field}"), reason),
        other => other,
    }
}

fn non_negative(field: &str, x: f64) -> Result<f64> {
    if x < 0.0 {
        return Err(config_error(field, format!("must be >= 0, got {}", repr(x))));
    }
    Ok(x)
}

fn commodity(value: &Value) -> Result<Commodity> {
    let mut f = Fields::new(value)?;
    let name = f.str("name")?.to_owned();
    let underlyings = f.str_list("underlyings")?;
    let price_scan = f.optional_f64("price_scan_range")?;
    if let Some(p) = price_scan {
        if !(p > 0.0 && p < 1.0) {
            return Err(config_error("price_scan_range", format!("must be in (0, 1), got {p}")));
        }
    }
    let vol_scan = non_negative("vol_scan_range", f.f64_or("vol_scan_range", 0.0)?)?;
    let extreme_move = non_negative("extreme_move", f.f64_or("extreme_move", 2.0)?)?;
    if let Some(p) = price_scan {
        if extreme_move * p >= 1.0 {
            return Err(config_error("extreme_move", "extreme_move x price_scan_range must be below 1"));
        }
    }
    let extreme_cover = non_negative("extreme_cover", f.f64_or("extreme_cover", 0.35)?)?;
    let short_option_minimum = non_negative("short_option_minimum", f.f64_or("short_option_minimum", 0.0)?)?;
    let delivery_charge = non_negative("delivery_charge", f.f64_or("delivery_charge", 0.0)?)?;
    let delivery_days = non_negative("delivery_days", f.f64_or("delivery_days", 0.0)?)?;
    let initial_ratio = f.f64_or("initial_ratio", 1.0)?;
    if initial_ratio < 1.0 {
        return Err(config_error("initial_ratio", format!("must be >= 1, got {initial_ratio}")));
    }
    let tiers = match f.get("tiers") {
        None => Vec::new(),
        Some(_) => f.f64_list("tiers")?,
    };
    if tiers.windows(2).any(|w| w[1] <= w[0]) {
        return Err(config_error("tiers", "tier bounds (days to expiry) must be strictly ascending"));
    }
    let mut intra = Vec::new();
    for (i, item) in items(&mut f, "intra_spreads")?.iter().enumerate() {
        let at = format!("intra_spreads[{i}]");
        let mut s = Fields::new(item).map_err(|e| rename(e, &at))?;
        let pair = s.f64_list("tiers").map_err(|e| rename(e, &at))?;
        let charge = s.f64("charge").map_err(|e| rename(e, &at))?;
        s.finish().map_err(|e| rename(e, &at))?;
        let tier = |x: f64| -> Result<usize> {
            if x.fract() == 0.0 && x >= 1.0 && (x as usize) <= tiers.len() {
                Ok(x as usize - 1)
            } else {
                Err(config_error(&format!("{at}.tiers"), format!("tier {x} is not one of 1..{}", tiers.len())))
            }
        };
        if pair.len() != 2 {
            return Err(config_error(&format!("{at}.tiers"), "must name two tiers"));
        }
        let (tier_a, tier_b) = (tier(pair[0])?, tier(pair[1])?);
        if tier_a == tier_b {
            return Err(config_error(&format!("{at}.tiers"), "must name two different tiers"));
        }
        intra.push(IntraSpread { tier_a, tier_b, charge: non_negative(&format!("{at}.charge"), charge)? });
    }
    f.finish()?;
    Ok(Commodity {
        name,
        underlyings,
        price_scan,
        vol_scan,
        extreme_move,
        extreme_cover,
        short_option_minimum,
        delivery_charge,
        delivery_days,
        initial_ratio,
        tiers,
        intra,
    })
}

fn inter_spread(value: &Value, commodities: &[Commodity]) -> Result<InterSpread> {
    let mut f = Fields::new(value)?;
    let credit_rate = f.f64("credit_rate")?;
    if !(0.0..=1.0).contains(&credit_rate) {
        return Err(config_error("credit_rate", format!("must be in [0, 1], got {credit_rate}")));
    }
    let mut legs = Vec::new();
    for (i, item) in items(&mut f, "legs")?.iter().enumerate() {
        let at = format!("legs[{i}]");
        let mut l = Fields::new(item).map_err(|e| rename(e, &at))?;
        let name = l.str("commodity").map_err(|e| rename(e, &at))?;
        let delta_ratio = l.f64("delta_ratio").map_err(|e| rename(e, &at))?;
        let side = match l.get("side") {
            None => {
                if i == 0 {
                    1.0
                } else {
                    -1.0
                }
            }
            Some(Value::Str(s)) if s == "A" => 1.0,
            Some(Value::Str(s)) if s == "B" => -1.0,
            Some(_) => return Err(config_error(&format!("{at}.side"), "must be 'A' or 'B'")),
        };
        l.finish().map_err(|e| rename(e, &at))?;
        let commodity = commodities.iter().position(|c| c.name == name).ok_or_else(|| {
            config_error(&format!("{at}.commodity"), format!("'{name}' is not a combined commodity of the set"))
        })?;
        if delta_ratio <= 0.0 {
            return Err(config_error(&format!("{at}.delta_ratio"), format!("must be > 0, got {delta_ratio}")));
        }
        legs.push(Leg { commodity, delta_ratio, side });
    }
    if legs.len() < 2 || !legs.iter().any(|l| l.side > 0.0) || !legs.iter().any(|l| l.side < 0.0) {
        return Err(config_error("legs", "a spread needs at least one leg on side A and one on side B"));
    }
    f.finish()?;
    Ok(InterSpread { credit_rate, legs })
}

pub fn parse(fields: &mut Fields<'_>) -> Result<SpanModel> {
    let parameter_set = fields.str("parameter_set")?.to_owned();
    let credit_basis = fields.parse_or("credit_basis", CreditBasis::Scan)?;
    let vol_mode = fields.parse_or("vol_scan_mode", VolShockMode::Absolute)?;
    let mut commodities = Vec::new();
    for (i, item) in items(fields, "combined_commodities")?.iter().enumerate() {
        commodities.push(commodity(item).map_err(|e| rename(e, &format!("combined_commodities[{i}]")))?);
    }
    for (i, c) in commodities.iter().enumerate() {
        for (j, d) in commodities[..i].iter().enumerate() {
            if c.name == d.name {
                return Err(config_error(
                    &format!("combined_commodities[{i}].name"),
                    format!("'{}' is also combined commodity {j}", c.name),
                ));
            }
            if let Some(u) = c.underlyings.iter().find(|u| d.underlyings.contains(u)) {
                return Err(config_error(
                    &format!("combined_commodities[{i}].underlyings"),
                    format!("underlying '{u}' is also in combined commodity '{}'", d.name),
                ));
            }
        }
    }
    let mut inter = Vec::new();
    for (i, item) in items(fields, "inter_spreads")?.iter().enumerate() {
        inter.push(inter_spread(item, &commodities).map_err(|e| rename(e, &format!("inter_spreads[{i}]")))?);
    }
    let risk_arrays = fields.optional_table("risk_arrays")?.cloned();
    Ok(SpanModel { parameter_set, credit_basis, vol_mode, commodities, inter, risk_arrays })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::MethodSpec;
    use crate::test_support::{float_list, map, str_list};

    fn commodity(name: &str, underlyings: &[&str]) -> Value {
        map(vec![
            ("name", Value::Str(name.into())),
            ("underlyings", str_list(underlyings)),
            ("price_scan_range", Value::Float(0.1)),
            ("tiers", float_list(&[30.0, 90.0])),
            (
                "intra_spreads",
                Value::List(vec![map(vec![("tiers", float_list(&[1.0, 2.0])), ("charge", Value::Float(5.0))])]),
            ),
        ])
    }

    fn spec(commodities: Vec<Value>, inter: Vec<Value>) -> Value {
        map(vec![
            ("type", Value::Str("span".into())),
            ("parameter_set", Value::Str("t@1#0".into())),
            ("combined_commodities", Value::List(commodities)),
            ("inter_spreads", Value::List(inter)),
        ])
    }

    fn leg(name: &str, ratio: f64) -> Value {
        map(vec![("commodity", Value::Str(name.into())), ("delta_ratio", Value::Float(ratio))])
    }

    fn error(value: &Value) -> String {
        MethodSpec::from_value(value).err().expect("an invalid spec").to_string()
    }

    #[test]
    fn parses_a_parameter_set() {
        let inter =
            map(vec![("credit_rate", Value::Float(0.5)), ("legs", Value::List(vec![leg("A", 2.0), leg("B", 1.0)]))]);
        let value = spec(vec![commodity("A", &["X"]), commodity("B", &["Y", "Z"])], vec![inter]);
        let Ok(MethodSpec::Span(model)) = MethodSpec::from_value(&value) else { panic!("a span spec") };
        assert_eq!(model.credit_basis, CreditBasis::Scan);
        assert_eq!(model.commodities[1].underlyings, ["Y", "Z"]);
        assert_eq!(model.commodities[0].intra, [IntraSpread { tier_a: 0, tier_b: 1, charge: 5.0 }]);
        assert_eq!(model.commodities[0].extreme_cover, 0.35);
        assert_eq!(model.inter[0].legs[1], Leg { commodity: 1, delta_ratio: 1.0, side: -1.0 });
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let twice = spec(vec![commodity("A", &["X"]), commodity("B", &["X"])], vec![]);
        assert_eq!(
            error(&twice),
            "model.combined_commodities[1].underlyings: underlying 'X' is also in combined commodity 'A'"
        );
        let inter =
            map(vec![("credit_rate", Value::Float(0.5)), ("legs", Value::List(vec![leg("A", 1.0), leg("Q", 1.0)]))]);
        assert_eq!(
            error(&spec(vec![commodity("A", &["X"])], vec![inter])),
            "model.inter_spreads[0].legs[1].commodity: 'Q' is not a combined commodity of the set"
        );
        let one_sided = map(vec![("credit_rate", Value::Float(0.5)), ("legs", Value::List(vec![leg("A", 1.0)]))]);
        assert!(error(&spec(vec![commodity("A", &["X"])], vec![one_sided])).starts_with("model.inter_spreads[0].legs:"));
    }
}
