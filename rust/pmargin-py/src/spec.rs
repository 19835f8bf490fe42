//! A model's spec, handed over as a Python dict (`model.to_spec()`), converted into the core's
//! value tree. Only conversion happens here: every method parses and checks its own spec.

use pmargin_core::spec::config_error;
use pmargin_core::Value;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3_arrow::input::AnyRecordBatch;

use crate::arrow_io::import;
use crate::errors::Result;

/// Convert a spec value; `field` names it in errors.
pub fn to_value(obj: &Bound<'_, PyAny>, field: &str) -> Result<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        let i: i128 = obj.extract().map_err(|_| config_error(field, "is an integer out of range"))?;
        return Ok(Value::Int(i));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut entries = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| config_error(field, "keys must be strings"))?;
            let value = to_value(&v, &key)?;
            entries.push((key, value));
        }
        return Ok(Value::Map(entries));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items = obj.try_iter()?.map(|item| to_value(&item?, field)).collect::<Result<Vec<_>>>()?;
        return Ok(Value::List(items));
    }
    if let Ok(table) = obj.extract::<AnyRecordBatch>() {
        return Ok(Value::Table(import(table, field)?));
    }
    let kind = obj.get_type().name()?;
    Err(config_error(field, format!("cannot be a {kind}")).into())
}
