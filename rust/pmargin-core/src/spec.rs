//! Model specifications as typed data: a small tree of values (what a Python dict, a TOML table
//! or a Rust caller hands over) and a reader that turns one table of keys into a method's typed
//! spec, checking every field once and naming the field in a [`MarginError::Config`].
//!
//! The bindings only convert Python objects into [`Value`]s; every method parses its own spec
//! from them (`methods::<name>::spec`), so adding a method never touches the bindings.

use std::str::FromStr;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::error::{MarginError, Result};
use crate::float_text::repr;
use crate::input::Table;

/// An Arrow table owned by a spec (historical moves, a stressed window).
#[derive(Debug, Clone)]
pub struct OwnedTable {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl OwnedTable {
    /// A view that names the table in its errors.
    pub fn view(&self, name: &'static str) -> Table<'_> {
        Table::new(name, &self.schema, &self.batches)
    }
}

/// One value of a spec.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    /// Wide enough for any u64 and i64 (seeds).
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// Keys in the order given.
    Map(Vec<(String, Value)>),
    Table(OwnedTable),
}

impl Value {
    /// What kind of value this is, for error messages ("an integer").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a table of keys",
            Value::Table(_) => "an Arrow table",
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(x) => Some(x),
            Value::Int(i) => Some(i as f64),
            _ => None,
        }
    }
}

/// Limits of a run, set by the user (`pmargin.Limits`): bounds that catch implausible inputs and
/// the memory a run may take. Defaults are documented in the README ("Limits").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Implied vols above this are rejected as implausible (a percent given as a fraction's
    /// 100 times, usually); `f64::INFINITY` turns the check off.
    pub max_implied_vol: f64,
    /// Bytes a run may allocate for its scenario and risk arrays.
    pub memory_budget: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_implied_vol: 5.0, memory_budget: 8 << 30 }
    }
}

impl Limits {
    /// From `{"max_implied_vol": x | null, "memory_budget": bytes}` (absent keys keep the
    /// defaults; a null `max_implied_vol` turns that check off).
    pub fn from_value(value: &Value) -> Result<Limits> {
        let defaults = Limits::default();
        let mut fields = Fields::new(value)?;
        let max_implied_vol = if fields.contains("max_implied_vol") {
            fields.optional_f64("max_implied_vol")?.unwrap_or(f64::INFINITY)
        } else {
            defaults.max_implied_vol
        };
        if max_implied_vol <= 0.0 {
            return Err(config_error("max_implied_vol", format!("must be > 0, got {}", repr(max_implied_vol))));
        }
        let memory_budget = match fields.get("memory_budget") {
            None => defaults.memory_budget,
            Some(_) => fields.count("memory_budget")?,
        };
        fields.finish()?;
        Ok(Limits { max_implied_vol, memory_budget })
    }
}

/// `mm_ratio`, maintenance over initial margin: a number in (0, 1]. Every method checks it here.
pub fn check_mm_ratio(mm_ratio: f64) -> Result<f64> {
    if mm_ratio.is_finite() && mm_ratio > 0.0 && mm_ratio <= 1.0 {
        Ok(mm_ratio)
    } else {
        Err(config_error("mm_ratio", format!("must be a number in (0, 1], got {mm_ratio}")))
    }
}

/// A config error about one field.
pub fn config_error(field: &str, reason: impl Into<String>) -> MarginError {
    MarginError::Config { field: field.to_owned(), reason: reason.into() }
}

/// Reads the fields of one table of keys; [`Fields::finish`] rejects keys nobody read.
pub struct Fields<'v> {
    entries: &'v [(String, Value)],
    read: Vec<bool>,
}

impl<'v> Fields<'v> {
    pub fn new(value: &'v Value) -> Result<Self> {
        match value {
            Value::Map(entries) => Ok(Fields { entries, read: vec![false; entries.len()] }),
            other => Err(config_error("spec", format!("must be a table of keys, got {}", other.kind()))),
        }
    }

    /// Whether `key` is given at all (even as null).
    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The value of `key`, or None when absent or null.
    pub fn get(&mut self, key: &str) -> Option<&'v Value> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.read[i] = true;
        match &self.entries[i].1 {
            Value::Null => None,
            v => Some(v),
        }
    }

    pub fn required(&mut self, key: &str) -> Result<&'v Value> {
        self.get(key).ok_or_else(|| config_error(key, "is required"))
    }

    pub fn f64(&mut self, key: &str) -> Result<f64> {
        let value = self.required(key)?;
        finite(key, value)
    }

    pub fn optional_f64(&mut self, key: &str) -> Result<Option<f64>> {
        self.get(key).map(|v| finite(key, v)).transpose()
    }

    pub fn f64_or(&mut self, key: &str, default: f64) -> Result<f64> {
        Ok(self.optional_f64(key)?.unwrap_or(default))
    }

    pub fn bool_or(&mut self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(config_error(key, format!("must be true or false, got {}", other.kind()))),
        }
    }

    /// A non-negative integer.
    pub fn count(&mut self, key: &str) -> Result<u64> {
        match self.required(key)? {
            Value::Int(i) => {
                u64::try_from(*i).map_err(|_| config_error(key, format!("must be in [0, 2^64 - 1], got {i}")))
            }
            other => Err(config_error(key, format!("must be an integer, got {}", other.kind()))),
        }
    }

    pub fn str(&mut self, key: &str) -> Result<&'v str> {
        match self.required(key)? {
            Value::Str(s) => Ok(s),
            other => Err(config_error(key, format!("must be a string, got {}", other.kind()))),
        }
    }

    /// A string parsed by the core's own `FromStr` (enum names).
    pub fn parse<T: FromStr<Err = String>>(&mut self, key: &str) -> Result<T> {
        self.str(key)?.parse().map_err(|reason| config_error(key, reason))
    }

    pub fn parse_or<T: FromStr<Err = String>>(&mut self, key: &str, default: T) -> Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.parse(key),
        }
    }

    pub fn f64_list(&mut self, key: &str) -> Result<Vec<f64>> {
        list(key, self.required(key)?)?.iter().enumerate().map(|(i, v)| finite(&format!("{key}[{i}]"), v)).collect()
    }

    /// A list whose items may be null.
    pub fn optional_f64_list(&mut self, key: &str) -> Result<Vec<Option<f64>>> {
        list(key, self.required(key)?)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Null => Ok(None),
                v => finite(&format!("{key}[{i}]"), v).map(Some),
            })
            .collect()
    }

    pub fn str_list(&mut self, key: &str) -> Result<Vec<String>> {
        list(key, self.required(key)?)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Str(s) => Ok(s.clone()),
                other => Err(config_error(&format!("{key}[{i}]"), format!("must be a string, got {}", other.kind()))),
            })
            .collect()
    }

    /// A nested table of keys.
    pub fn optional_fields(&mut self, key: &str) -> Result<Option<Fields<'v>>> {
        self.get(key).map(Fields::new).transpose().map_err(|e| rename(e, key))
    }

    pub fn table(&mut self, key: &str) -> Result<&'v OwnedTable> {
        match self.required(key)? {
            Value::Table(t) => Ok(t),
            other => Err(config_error(key, format!("must be an Arrow table, got {}", other.kind()))),
        }
    }

    pub fn optional_table(&mut self, key: &str) -> Result<Option<&'v OwnedTable>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.table(key).map(Some),
        }
    }

    /// Every key must have been read: a misspelt key is an error, not a silent default.
    pub fn finish(self) -> Result<()> {
        match self.entries.iter().zip(&self.read).find(|(_, read)| !**read) {
            Some(((key, _), _)) => {
                let known: Vec<&str> =
                    self.entries.iter().zip(&self.read).filter(|(_, r)| **r).map(|(e, _)| e.0.as_str()).collect();
                Err(config_error(key, format!("unknown key (the keys read were: {})", known.join(", "))))
            }
            None => Ok(()),
        }
    }
}

fn finite(key: &str, value: &Value) -> Result<f64> {
    match value.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        Some(x) => Err(config_error(key, format!("must be finite, got {}", repr(x)))),
        None => Err(config_error(key, format!("must be a number, got {}", value.kind()))),
    }
}

fn list<'v>(key: &str, value: &'v Value) -> Result<&'v [Value]> {
    match value {
        Value::List(items) => Ok(items),
        other => Err(config_error(key, format!("must be a list, got {}", other.kind()))),
    }
}

fn rename(error: MarginError, key: &str) -> MarginError {
    match error {
        MarginError::Config { reason, .. } => config_error(key, reason),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn reads_typed_fields_and_rejects_unknown_keys() {
        let spec = map(vec![
            ("mm_ratio", Value::Float(0.8)),
            ("n", Value::Int(3)),
            ("shocks", Value::List(vec![Value::Int(-1), Value::Float(0.5)])),
            ("typo", Value::Bool(true)),
        ]);
        let mut f = Fields::new(&spec).expect("a map");
        assert_eq!(f.f64("mm_ratio").expect("number"), 0.8);
        assert_eq!(f.count("n").expect("count"), 3);
        assert_eq!(f.f64_list("shocks").expect("list"), vec![-1.0, 0.5]);
        assert_eq!(f.f64_or("absent", 2.0).expect("default"), 2.0);
        let err = f.finish().expect_err("typo is unknown");
        assert!(matches!(&err, MarginError::Config { field, .. } if field == "typo"), "{err}");
    }

    #[test]
    fn limits_default_and_override() {
        assert_eq!(Limits::from_value(&map(vec![])).expect("empty"), Limits::default());
        let l = Limits::from_value(&map(vec![("max_implied_vol", Value::Null), ("memory_budget", Value::Int(1024))]))
            .expect("valid");
        assert_eq!(l, Limits { max_implied_vol: f64::INFINITY, memory_budget: 1024 });
        let err = Limits::from_value(&map(vec![("max_implied_vol", Value::Float(0.0))])).expect_err("zero");
        assert_eq!(err.to_string(), "model.max_implied_vol: must be > 0, got 0.0");
    }

    #[test]
    fn errors_name_the_field() {
        let spec = map(vec![("x", Value::Str("a".into())), ("l", Value::List(vec![Value::Float(f64::NAN)]))]);
        let mut f = Fields::new(&spec).expect("a map");
        let err = f.f64("x").expect_err("not a number");
        assert_eq!(err.to_string(), "model.x: must be a number, got a string");
        let err = f.f64_list("l").expect_err("NaN");
        assert!(matches!(&err, MarginError::Config { field, .. } if field == "l[0]"), "{err}");
        assert!(matches!(f.f64("missing"), Err(MarginError::Config { .. })));
    }
}
