//! Typed, validated access to the columns of an input table given as Arrow record batches.
//!
//! Strings may be Utf8, LargeUtf8, Utf8View (Polars) or dictionary-encoded, and are checked to be
//! valid UTF-8 when read; numbers any float, integer or decimal type; times any timestamp unit or
//! a date, within the int64-nanosecond range. Reading never copies string data: a string column
//! is a list of borrowed `&str`.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type, Float16Type, Float32Type,
    Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::float_text::repr;
use crate::input::{spelling, utf8};

/// The one supported time range (as_of, expiries, historical dates): epoch nanoseconds that fit
/// an int64, 1677-09-21T00:12:43.145224192 to 2262-04-11T23:47:16.854775807 UTC.
pub const TIME_RANGE: &str = "outside the supported time range 1677-09-21T00:12:43.145224192 to \
                              2262-04-11T23:47:16.854775807 UTC (int64 nanoseconds)";

/// One input table: its name (used in errors), schema and batches.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    pub name: &'static str,
    schema: &'a SchemaRef,
    batches: &'a [RecordBatch],
}

impl<'a> Table<'a> {
    pub fn new(name: &'static str, schema: &'a SchemaRef, batches: &'a [RecordBatch]) -> Self {
        Table { name, schema, batches }
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.schema.index_of(column).is_ok()
    }

    pub fn schema(&self) -> &'a SchemaRef {
        self.schema
    }

    pub fn batches(&self) -> &'a [RecordBatch] {
        self.batches
    }

    fn chunks(&self, column: &str) -> Result<(DataType, Vec<&'a ArrayRef>)> {
        let copies = self.schema.fields().iter().filter(|f| f.name() == column).count();
        if copies > 1 {
            return Err(MarginError::column(self.name, column, format!("column '{column}' appears {copies} times")));
        }
        let index =
            self.schema.index_of(column).map_err(|_| MarginError::column(self.name, column, "missing column"))?;
        let dtype = self.schema.field(index).data_type().clone();
        Ok((dtype, self.batches.iter().map(|b| b.column(index)).collect()))
    }

    fn type_error(&self, column: &str, expected: &str, got: &DataType) -> MarginError {
        MarginError::column(self.name, column, format!("expected {expected}, got Arrow type {got}"))
    }

    /// An unknown column that resembles a column of `known` the table lacks is an error
    /// (a misspelled optional column would otherwise be ignored).
    pub fn check_spelling(&self, known: &[&str]) -> Result<()> {
        spelling::check_spelling(self.name, self.schema.fields().iter().map(|f| f.name().as_str()), known)
    }

    /// The chunks of a string column, every non-null value checked to be valid UTF-8.
    fn string_chunks(&self, column: &str) -> Result<(DataType, Vec<&'a ArrayRef>)> {
        let (dtype, chunks) = self.chunks(column)?;
        if is_string_like(&dtype) {
            let mut offset = 0;
            for chunk in &chunks {
                if let Some(row) = utf8::first_invalid_row(chunk.as_ref()) {
                    return Err(MarginError::cell(self.name, column, offset + row, "not valid UTF-8 text"));
                }
                offset += chunk.len();
            }
        }
        Ok((dtype, chunks))
    }

    /// A string column, one `Option<&str>` per row (None for null).
    pub fn strings(&self, column: &str) -> Result<Vec<Option<&'a str>>> {
        let (dtype, chunks) = self.string_chunks(column)?;
        if !is_string_like(&dtype) && dtype != DataType::Null {
            return Err(self.type_error(column, "a string column", &dtype));
        }
        Ok(gather_strings(&chunks, self.num_rows()))
    }

    /// The chunks of a plain Utf8 column without nulls (the common layout), read in place; None
    /// for any other encoding, which callers then read through [`Table::required_strings`].
    pub fn plain_strings(&self, column: &str) -> Result<Option<Vec<&'a arrow_array::StringArray>>> {
        let (dtype, chunks) = self.chunks(column)?;
        if dtype != DataType::Utf8 || chunks.iter().any(|c| c.null_count() > 0) {
            return Ok(None);
        }
        self.string_chunks(column)?;
        Ok(Some(chunks.iter().map(|c| c.as_string::<i32>()).collect()))
    }

    /// An Int64 column without nulls (the usual integer ids), in place when it is one chunk;
    /// None for any other type or with nulls.
    pub fn plain_i64(&self, column: &str) -> Result<Option<std::borrow::Cow<'a, [i64]>>> {
        let (dtype, chunks) = self.chunks(column)?;
        if dtype != DataType::Int64 || chunks.iter().any(|c| c.null_count() > 0) {
            return Ok(None);
        }
        Ok(Some(match chunks.as_slice() {
            [chunk] => std::borrow::Cow::Borrowed(chunk.as_primitive::<Int64Type>().values().as_ref()),
            _ => std::borrow::Cow::Owned(
                chunks.iter().flat_map(|c| c.as_primitive::<Int64Type>().values().iter().copied()).collect(),
            ),
        }))
    }

    /// A string column where every row must be present.
    pub fn required_strings(&self, column: &str) -> Result<Vec<&'a str>> {
        let (dtype, chunks) = self.string_chunks(column)?;
        // Plain Utf8 without nulls (the common case) is read in one pass.
        if dtype == DataType::Utf8 && chunks.iter().all(|c| c.null_count() == 0) {
            let mut out = Vec::with_capacity(self.num_rows());
            for chunk in chunks {
                let strings = chunk.as_string::<i32>();
                let start = out.len();
                out.resize(start + strings.len(), "");
                out[start..].par_chunks_mut(1 << 14).enumerate().for_each(|(c, slots)| {
                    for (i, slot) in slots.iter_mut().enumerate() {
                        *slot = strings.value(c * (1 << 14) + i);
                    }
                });
            }
            return Ok(out);
        }
        if !is_string_like(&dtype) && dtype != DataType::Null {
            return Err(self.type_error(column, "a string column", &dtype));
        }
        let values = gather_strings(&chunks, self.num_rows());
        values
            .iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| MarginError::cell(self.name, column, row, "null is not allowed")))
            .collect()
    }

    /// The values of a Float64 column held in one chunk without nulls, read in place (no
    /// check of their values); None for any other layout.
    pub fn plain_f64(&self, column: &str) -> Result<Option<&'a [f64]>> {
        let (dtype, chunks) = self.chunks(column)?;
        Ok(match (&dtype, chunks.as_slice()) {
            (DataType::Float64, [chunk]) if chunk.null_count() == 0 => {
                Some(chunk.as_primitive::<Float64Type>().values())
            }
            _ => None,
        })
    }

    /// A numeric column as f64 (None for null); integers are converted exactly where possible.
    pub fn numbers(&self, column: &str) -> Result<Vec<Option<f64>>> {
        let (dtype, chunks) = self.chunks(column)?;
        let mut out = Vec::with_capacity(self.num_rows());
        for chunk in chunks {
            if !push_numbers(chunk.as_ref(), &mut out) {
                return Err(self.type_error(column, "a number column", &dtype));
            }
        }
        Ok(out)
    }

    /// [`Self::required_finite`] without a copy when the column is one Float64 chunk without
    /// nulls (the usual positions table): the values are read in place.
    pub fn required_finite_values(&self, column: &str) -> Result<std::borrow::Cow<'a, [f64]>> {
        let (dtype, chunks) = self.chunks(column)?;
        if let (DataType::Float64, [chunk]) = (&dtype, chunks.as_slice()) {
            if chunk.null_count() == 0 {
                let values: &'a [f64] = chunk.as_primitive::<Float64Type>().values();
                // All finite, checked over runs so the test vectorises (in parallel); the first
                // bad row only when one fails.
                let finite = |run: &[f64]| run.chunks(64).all(|run| run.iter().fold(true, |ok, x| ok & x.is_finite()));
                if values.par_chunks(1 << 16).all(finite) {
                    return Ok(std::borrow::Cow::Borrowed(values));
                }
            }
        }
        self.required_finite(column).map(std::borrow::Cow::Owned)
    }

    /// A numeric column where every row must be a finite number.
    pub fn required_finite(&self, column: &str) -> Result<Vec<f64>> {
        let (dtype, chunks) = self.chunks(column)?;
        // Float64 without nulls (the common case): copy the values, check them in one pass.
        if dtype == DataType::Float64 && chunks.iter().all(|c| c.null_count() == 0) {
            let mut out = Vec::with_capacity(self.num_rows());
            for chunk in chunks {
                out.extend_from_slice(chunk.as_primitive::<Float64Type>().values());
            }
            if let Some(row) = out.iter().position(|x| !x.is_finite()) {
                let x = out[row];
                return Err(MarginError::cell(self.name, column, row, format!("not a finite number: {}", repr(x))));
            }
            return Ok(out);
        }
        let values = self.numbers(column)?;
        values
            .iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Err(MarginError::cell(self.name, column, row, "null is not allowed")),
                Some(x) if !x.is_finite() => {
                    Err(MarginError::cell(self.name, column, row, format!("not a finite number: {}", repr(*x))))
                }
                Some(x) => Ok(*x),
            })
            .collect()
    }

    /// A timestamp (any unit; tz-naive read as UTC) or date column as epoch nanoseconds; a time
    /// outside the int64-nanosecond range ([`TIME_RANGE`]) is an error naming its row.
    pub fn times_ns(&self, column: &str) -> Result<Vec<Option<i64>>> {
        let (dtype, chunks) = self.chunks(column)?;
        let mut wide = Vec::with_capacity(self.num_rows());
        for chunk in chunks {
            if !push_times(chunk.as_ref(), &mut wide) {
                return Err(self.type_error(column, "a timestamp or date column", &dtype));
            }
        }
        wide.iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Ok(None),
                Some(ns) => i64::try_from(*ns)
                    .map(Some)
                    .map_err(|_| MarginError::cell(self.name, column, row, format!("time is {TIME_RANGE}"))),
            })
            .collect()
    }

    /// Is this column an integer or a string column (the two kinds an account id may be)?
    pub fn is_integer(&self, column: &str) -> Result<bool> {
        let (dtype, _) = self.chunks(column)?;
        Ok(dtype.is_integer() || matches!(&dtype, DataType::Dictionary(_, v) if v.is_integer()))
    }

    /// An integer column as i128 (None for null).
    pub fn integers(&self, column: &str) -> Result<Vec<Option<i128>>> {
        let (dtype, chunks) = self.chunks(column)?;
        let mut out = Vec::with_capacity(self.num_rows());
        for chunk in chunks {
            if !push_integers(chunk.as_ref(), &mut out) {
                return Err(self.type_error(column, "an integer or string column", &dtype));
            }
        }
        Ok(out)
    }
}

pub fn is_string_like(dtype: &DataType) -> bool {
    match dtype {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_string_like(values),
        _ => false,
    }
}

/// The values of an integer (or integer-dictionary) array, None for any other type.
pub fn integer_values(array: &dyn Array) -> Option<Vec<Option<i128>>> {
    let mut out = Vec::with_capacity(array.len());
    push_integers(array, &mut out).then_some(out)
}

/// The values of a string (or string-dictionary) array already checked to be valid UTF-8.
pub fn string_values(array: &dyn Array) -> Vec<Option<&str>> {
    let mut out = Vec::with_capacity(array.len());
    push_strings(array, &mut out);
    out
}

/// Every row of string chunks (already checked to be valid UTF-8) as `Option<&str>`.
fn gather_strings<'a>(chunks: &[&'a ArrayRef], rows: usize) -> Vec<Option<&'a str>> {
    let mut out = Vec::with_capacity(rows);
    for &chunk in chunks {
        push_strings(chunk.as_ref(), &mut out);
    }
    out
}

fn push_strings<'a>(array: &'a dyn Array, out: &mut Vec<Option<&'a str>>) {
    match array.data_type() {
        DataType::Utf8 => out.extend(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => out.extend(array.as_string::<i64>().iter()),
        DataType::Utf8View => out.extend(array.as_string_view().iter()),
        DataType::Dictionary(_, _) => {
            let Some(dict) = array.as_any_dictionary_opt() else {
                return;
            };
            if dict.values().is_empty() {
                // Every key is null (arrow cannot normalise keys into an empty dictionary).
                out.extend(std::iter::repeat_n(None, array.len()));
                return;
            }
            let mut values = Vec::with_capacity(dict.values().len());
            push_strings(dict.values().as_ref(), &mut values);
            let keys = dict.normalized_keys();
            out.extend(keys.iter().enumerate().map(|(i, &k)| if dict.is_null(i) { None } else { values[k] }));
        }
        // Null-typed columns are all nulls; callers check every other type first.
        _ => out.extend(std::iter::repeat_n(None, array.len())),
    }
}

macro_rules! extend_as_f64 {
    ($array:expr, $out:expr, $t:ty) => {
        $out.extend($array.as_primitive::<$t>().iter().map(|v| v.map(|x| x as f64)))
    };
}

fn push_numbers(array: &dyn Array, out: &mut Vec<Option<f64>>) -> bool {
    match array.data_type() {
        DataType::Float64 => out.extend(array.as_primitive::<Float64Type>().iter()),
        DataType::Float32 => extend_as_f64!(array, out, Float32Type),
        DataType::Float16 => out.extend(array.as_primitive::<Float16Type>().iter().map(|v| v.map(f64::from))),
        DataType::Int8 => extend_as_f64!(array, out, Int8Type),
        DataType::Int16 => extend_as_f64!(array, out, Int16Type),
        DataType::Int32 => extend_as_f64!(array, out, Int32Type),
        DataType::Int64 => extend_as_f64!(array, out, Int64Type),
        DataType::UInt8 => extend_as_f64!(array, out, UInt8Type),
        DataType::UInt16 => extend_as_f64!(array, out, UInt16Type),
        DataType::UInt32 => extend_as_f64!(array, out, UInt32Type),
        DataType::UInt64 => extend_as_f64!(array, out, UInt64Type),
        DataType::Decimal32(_, s) => {
            out.extend(array.as_primitive::<Decimal32Type>().iter().map(|v| v.map(|m| decimal(m.into(), *s))))
        }
        DataType::Decimal64(_, s) => {
            out.extend(array.as_primitive::<Decimal64Type>().iter().map(|v| v.map(|m| decimal(m.into(), *s))))
        }
        DataType::Decimal128(_, s) => {
            out.extend(array.as_primitive::<Decimal128Type>().iter().map(|v| v.map(|m| decimal(m, *s))))
        }
        DataType::Decimal256(_, s) => out.extend(array.as_primitive::<Decimal256Type>().iter().map(|v| {
            v.map(|m| match m.to_i128() {
                Some(m) => decimal(m, *s),
                None => format!("{m}e{}", -i32::from(*s)).parse().unwrap_or(f64::NAN),
            })
        })),
        DataType::Null => out.extend(std::iter::repeat_n(None, array.len())),
        _ => return false,
    }
    true
}

/// The f64 nearest to the decimal `m x 10^-scale` (correctly rounded, like Python's
/// `float(Decimal)`): one exact division when both parts are exact in f64, else a decimal parse.
fn decimal(m: i128, scale: i8) -> f64 {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    if m.unsigned_abs() <= 1 << 53 && (0..=22).contains(&scale) {
        return m as f64 / POW10[scale as usize];
    }
    format!("{m}e{}", -i32::from(scale)).parse().unwrap_or(f64::NAN)
}

macro_rules! extend_as_i128 {
    ($array:expr, $out:expr, $t:ty) => {
        $out.extend($array.as_primitive::<$t>().iter().map(|v| v.map(i128::from)))
    };
}

fn push_integers(array: &dyn Array, out: &mut Vec<Option<i128>>) -> bool {
    match array.data_type() {
        DataType::Int8 => extend_as_i128!(array, out, Int8Type),
        DataType::Int16 => extend_as_i128!(array, out, Int16Type),
        DataType::Int32 => extend_as_i128!(array, out, Int32Type),
        DataType::Int64 => extend_as_i128!(array, out, Int64Type),
        DataType::UInt8 => extend_as_i128!(array, out, UInt8Type),
        DataType::UInt16 => extend_as_i128!(array, out, UInt16Type),
        DataType::UInt32 => extend_as_i128!(array, out, UInt32Type),
        DataType::UInt64 => extend_as_i128!(array, out, UInt64Type),
        DataType::Dictionary(_, _) => {
            let Some(dict) = array.as_any_dictionary_opt() else {
                return false;
            };
            if dict.values().is_empty() {
                out.extend(std::iter::repeat_n(None, array.len()));
                return dict.values().data_type().is_integer();
            }
            let mut values = Vec::with_capacity(dict.values().len());
            if !push_integers(dict.values().as_ref(), &mut values) {
                return false;
            }
            let keys = dict.normalized_keys();
            out.extend(keys.iter().enumerate().map(|(i, &k)| if dict.is_null(i) { None } else { values[k] }));
        }
        _ => return false,
    }
    true
}

/// Scale to nanoseconds, exactly (the caller checks the int64 range).
fn scaled(v: Option<i64>, factor: i128) -> Option<i128> {
    v.map(|x| i128::from(x) * factor)
}

fn push_times(array: &dyn Array, out: &mut Vec<Option<i128>>) -> bool {
    const DAY_NS: i128 = 86_400 * 1_000_000_000;
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            out.extend(array.as_primitive::<TimestampSecondType>().iter().map(|v| scaled(v, 1_000_000_000)))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            out.extend(array.as_primitive::<TimestampMillisecondType>().iter().map(|v| scaled(v, 1_000_000)))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            out.extend(array.as_primitive::<TimestampMicrosecondType>().iter().map(|v| scaled(v, 1_000)))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            out.extend(array.as_primitive::<TimestampNanosecondType>().iter().map(|v| scaled(v, 1)))
        }
        DataType::Date32 => {
            out.extend(array.as_primitive::<Date32Type>().iter().map(|v| scaled(v.map(i64::from), DAY_NS)))
        }
        DataType::Date64 => out.extend(array.as_primitive::<Date64Type>().iter().map(|v| scaled(v, 1_000_000))),
        DataType::Null => out.extend(std::iter::repeat_n(None, array.len())),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, Float32Array, Int32Array, StringArray, StringViewArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> (SchemaRef, Vec<RecordBatch>) {
        let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let b =
            RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).expect("valid batch");
        (schema, vec![b])
    }

    #[test]
    fn reads_every_string_encoding() {
        let dict: DictionaryArray<Int32Type> = vec!["x", "y", "x"].into_iter().collect();
        let (schema, batches) = batch(vec![
            ("a", Arc::new(StringArray::from(vec!["x", "y", "x"]))),
            ("b", Arc::new(StringViewArray::from(vec!["x", "y", "x"]))),
            ("c", Arc::new(dict)),
        ]);
        let t = Table::new("t", &schema, &batches);
        for c in ["a", "b", "c"] {
            assert_eq!(t.required_strings(c).expect("strings"), vec!["x", "y", "x"]);
        }
    }

    #[test]
    fn null_typed_and_empty_dictionary_columns_are_all_nulls() {
        let empty_dict = DictionaryArray::<Int32Type>::new(
            Int32Array::from(vec![None, None]),
            Arc::new(StringArray::from(Vec::<&str>::new())),
        );
        let (schema, batches) =
            batch(vec![("n", Arc::new(arrow_array::NullArray::new(2))), ("d", Arc::new(empty_dict))]);
        let t = Table::new("t", &schema, &batches);
        assert_eq!(t.strings("n").expect("null type reads as nulls"), vec![None, None]);
        assert_eq!(t.strings("d").expect("empty dictionary"), vec![None, None]);
        assert_eq!(t.required_strings("d").unwrap_err().to_string(), "t.d, row 0: null is not allowed");
    }

    #[test]
    fn duplicate_column_names_are_an_error() {
        let (schema, batches) =
            batch(vec![("a", Arc::new(Int32Array::from(vec![1]))), ("a", Arc::new(Int32Array::from(vec![2])))]);
        let t = Table::new("t", &schema, &batches);
        assert_eq!(t.numbers("a").unwrap_err().to_string(), "t.a: column 'a' appears 2 times");
    }

    #[test]
    fn errors_name_column_and_row() {
        let (schema, batches) = batch(vec![
            ("s", Arc::new(StringArray::from(vec![Some("x"), None]))),
            ("f", Arc::new(Float32Array::from(vec![1.0, f32::NAN]))),
            ("i", Arc::new(Int32Array::from(vec![1, 2]))),
        ]);
        let t = Table::new("t", &schema, &batches);
        assert_eq!(t.required_strings("s").unwrap_err().to_string(), "t.s, row 1: null is not allowed");
        assert_eq!(t.required_finite("f").unwrap_err().to_string(), "t.f, row 1: not a finite number: nan");
        assert_eq!(t.required_finite("i").expect("ints are numbers"), vec![1.0, 2.0]);
        assert!(t.strings("i").unwrap_err().to_string().contains("expected a string column"));
        assert_eq!(t.strings("zz").unwrap_err().to_string(), "t.zz: missing column");
    }

    #[test]
    fn times_must_fit_int64_nanoseconds() {
        use arrow_array::{Date32Array, TimestampNanosecondArray, TimestampSecondArray};
        // The ends of the range are accepted, whatever the unit; one step beyond is an error.
        let max_s = i64::MAX / 1_000_000_000;
        let (schema, batches) = batch(vec![
            ("ns", Arc::new(TimestampNanosecondArray::from(vec![Some(i64::MIN), None, Some(i64::MAX)]))),
            ("s", Arc::new(TimestampSecondArray::from(vec![Some(-max_s), Some(max_s), Some(max_s + 1)]))),
            ("d", Arc::new(Date32Array::from(vec![Some(0), Some(106_751), Some(2_932_896)]))),
        ]);
        let t = Table::new("t", &schema, &batches);
        assert_eq!(t.times_ns("ns").expect("in range"), vec![Some(i64::MIN), None, Some(i64::MAX)]);
        let expected = format!("t.s, row 2: time is {TIME_RANGE}");
        assert_eq!(t.times_ns("s").unwrap_err().to_string(), expected);
        // 2262-04-11 is day 106,751; 9999-12-31 is day 2,932,896.
        assert_eq!(t.times_ns("d").unwrap_err().to_string(), format!("t.d, row 2: time is {TIME_RANGE}"));
    }

    #[test]
    fn decimals_become_the_nearest_float() {
        use arrow_array::{Decimal128Array, Decimal256Array};
        use arrow_buffer::i256;
        let d128 = Decimal128Array::from(vec![Some(12_345), None, Some(-1), Some(i128::MAX / 7)])
            .with_precision_and_scale(38, 2)
            .expect("valid decimal");
        let big = i256::from_i128(i128::MAX).wrapping_mul(i256::from_i128(1000));
        let d256 = Decimal256Array::from(vec![Some(i256::from_i128(5)), Some(big)])
            .with_precision_and_scale(76, -3)
            .expect("valid decimal");
        let (schema, batches) = batch(vec![("a", Arc::new(d128))]);
        let t = Table::new("t", &schema, &batches);
        let got = t.numbers("a").expect("decimals are numbers");
        let exact: f64 = format!("{}e-2", i128::MAX / 7).parse().expect("a number");
        assert_eq!(got, vec![Some(123.45), None, Some(-0.01), Some(exact)]);
        let big_exact: f64 = format!("{}e3", i128::MAX.to_string() + "000").parse().expect("a number");
        let (schema, batches) = batch(vec![("b", Arc::new(d256))]);
        let t = Table::new("t", &schema, &batches);
        assert_eq!(t.numbers("b").expect("decimals are numbers"), vec![Some(5000.0), Some(big_exact)]);
        assert_eq!(decimal(1, 0), 1.0);
        assert_eq!(decimal(7, -2), 700.0);
        assert_eq!(decimal(1, 30), 1e-30);
    }

    #[test]
    fn invalid_utf8_names_the_row_across_batches() {
        let good: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let data = arrow_buffer::Buffer::from_vec(b"ok\xff".to_vec());
        let offsets = arrow_buffer::OffsetBuffer::new(vec![0i32, 2, 3].into());
        // SAFETY: an array with invalid bytes on purpose; the reader must reject it.
        let bad: ArrayRef = Arc::new(unsafe { StringArray::new_unchecked(offsets, data, None) });
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let batches = vec![
            RecordBatch::try_new(schema.clone(), vec![good]).expect("valid"),
            RecordBatch::try_new(schema.clone(), vec![bad]).expect("valid layout"),
        ];
        let t = Table::new("t", &schema, &batches);
        let expected = "t.s, row 3: not valid UTF-8 text";
        assert_eq!(t.strings("s").unwrap_err().to_string(), expected);
        assert_eq!(t.required_strings("s").unwrap_err().to_string(), expected);
        assert_eq!(t.plain_strings("s").expect_err("invalid").to_string(), expected);
    }
}
