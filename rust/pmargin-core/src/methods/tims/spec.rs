//! The TIMS spec: each class group (an underlying) with its range and product group, each product
//! group's offset of gains, and the per-contract minimum.

use crate::error::Result;
use crate::spec::{config_error, Fields, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ClassGroup {
    pub underlying: String,
    /// Fractions: the points run from -down to +up.
    pub down: f64,
    pub up: f64,
    pub product_group: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductGroup {
    pub name: String,
    /// Fraction of one class group's gains that offsets another's losses at the same point.
    pub offset: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimsModel {
    pub parameter_set: String,
    /// Per option contract, times its multiplier (FINRA: $0.375).
    pub minimum_per_contract: f64,
    pub class_groups: Vec<ClassGroup>,
    pub product_groups: Vec<ProductGroup>,
}

fn list<'v>(fields: &mut Fields<'v>, key: &str) -> Result<&'v [Value]> {
    match fields.required(key)? {
        Value::List(items) => Ok(items),
        other => Err(config_error(key, format!("must be a list, got {}", other.kind()))),
    }
}

fn at(e: crate::error::MarginError, prefix: &str) -> crate::error::MarginError {
    match e {
        crate::error::MarginError::Config { field, reason } => config_error(&format!("{prefix}.{field}"), reason),
        other => other,
    }
}

pub fn parse(fields: &mut Fields<'_>) -> Result<TimsModel> {
    let parameter_set = fields.str("parameter_set")?.to_owned();
    let minimum_per_contract = fields.f64_or("minimum_per_contract", 0.375)?;
    if minimum_per_contract < 0.0 {
        return Err(config_error("minimum_per_contract", format!("must be >= 0, got {minimum_per_contract}")));
    }
    let mut product_groups = Vec::new();
    for (i, item) in list(fields, "product_groups")?.iter().enumerate() {
        let prefix = format!("product_groups[{i}]");
        let mut f = Fields::new(item).map_err(|e| at(e, &prefix))?;
        let name = f.str("name").map_err(|e| at(e, &prefix))?.to_owned();
        let offset = f.f64("offset").map_err(|e| at(e, &prefix))?;
        f.finish().map_err(|e| at(e, &prefix))?;
        if !(0.0..=1.0).contains(&offset) {
            return Err(config_error(&format!("{prefix}.offset"), format!("must be in [0, 1], got {offset}")));
        }
        if product_groups.iter().any(|p: &ProductGroup| p.name == name) {
            return Err(config_error(&format!("{prefix}.name"), format!("'{name}' is given twice")));
        }
        product_groups.push(ProductGroup { name, offset });
    }
    let mut class_groups: Vec<ClassGroup> = Vec::new();
    for (i, item) in list(fields, "class_groups")?.iter().enumerate() {
        let prefix = format!("class_groups[{i}]");
        let mut f = Fields::new(item).map_err(|e| at(e, &prefix))?;
        let underlying = f.str("underlying").map_err(|e| at(e, &prefix))?.to_owned();
        let down = f.f64("down").map_err(|e| at(e, &prefix))?;
        let up = f.f64("up").map_err(|e| at(e, &prefix))?;
        let group = f.str("product_group").map_err(|e| at(e, &prefix))?;
        f.finish().map_err(|e| at(e, &prefix))?;
        if !(down > 0.0 && down < 1.0) || up <= 0.0 {
            return Err(config_error(
                &prefix,
                format!("range must be -down..+up with down in (0, 1) and up > 0, got {down}, {up}"),
            ));
        }
        let product_group = product_groups.iter().position(|p| p.name == group).ok_or_else(|| {
            config_error(&format!("{prefix}.product_group"), format!("'{group}' is not in product_groups"))
        })?;
        if class_groups.iter().any(|g| g.underlying == underlying) {
            return Err(config_error(&format!("{prefix}.underlying"), format!("'{underlying}' is given twice")));
        }
        class_groups.push(ClassGroup { underlying, down, up, product_group });
    }
    Ok(TimsModel { parameter_set, minimum_per_contract, class_groups, product_groups })
}

#[cfg(test)]
mod tests {
    use crate::methods::MethodSpec;
    use crate::spec::Value;
    use crate::test_support::map;

    fn class(underlying: &str, group: &str) -> Value {
        map(vec![
            ("underlying", Value::Str(underlying.into())),
            ("down", Value::Float(0.08)),
            ("up", Value::Float(0.06)),
            ("product_group", Value::Str(group.into())),
        ])
    }

    fn spec(classes: Vec<Value>) -> Value {
        map(vec![
            ("type", Value::Str("tims".into())),
            ("parameter_set", Value::Str("t@1#0".into())),
            (
                "product_groups",
                Value::List(vec![map(vec![("name", Value::Str("idx".into())), ("offset", Value::Float(0.9))])]),
            ),
            ("class_groups", Value::List(classes)),
        ])
    }

    #[test]
    fn parses_and_checks_groups() {
        let Ok(MethodSpec::Tims(model)) = MethodSpec::from_value(&spec(vec![class("SPX", "idx")])) else {
            panic!("a tims spec")
        };
        assert_eq!((model.minimum_per_contract, model.class_groups[0].product_group), (0.375, 0));
        let err = MethodSpec::from_value(&spec(vec![class("SPX", "bonds")])).err().expect("unknown group");
        assert_eq!(err.to_string(), "model.class_groups[0].product_group: 'bonds' is not in product_groups");
    }
}
