//! UTF-8 validation of string columns at the boundary. Arrow's importer trusts the producer, and
//! a `&str` read from invalid bytes would reach error messages and result tables (a Python string
//! cannot be built from it). Every string column is checked once, when it is read: the value
//! bytes of each run of rows in one pass (pure ASCII, the usual case, is one vectorised scan),
//! and each row on its own only when a run fails, to name the first bad row. Null rows are never
//! read, so their bytes are not checked.

use arrow_array::cast::AsArray;
use arrow_array::{Array, GenericStringArray, OffsetSizeTrait, StringViewArray};
use arrow_schema::DataType;
use rayon::prelude::*;

/// Rows checked per task.
const RUN: usize = 1 << 16;

/// First row (0-based in `array`) whose non-null value is not valid UTF-8 (None: all valid).
/// `array` is any string array or a dictionary of one; other types have no text to check.
pub fn first_invalid_row(array: &dyn Array) -> Option<usize> {
    match array.data_type() {
        DataType::Utf8 => first_invalid_offsets(array.as_string::<i32>()),
        DataType::LargeUtf8 => first_invalid_offsets(array.as_string::<i64>()),
        DataType::Utf8View => first_invalid_view(array.as_string_view()),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary_opt()?;
            let values = dict.values();
            first_invalid_row(values.as_ref())?;
            // Some dictionary value is bad: the first row that uses one (unused values are fine).
            let bad: Vec<bool> = (0..values.len()).map(|v| !valid_at(values.as_ref(), v)).collect();
            let keys = dict.normalized_keys();
            (0..array.len()).find(|&i| dict.is_valid(i) && bad.get(keys[i]).copied().unwrap_or(true))
        }
        _ => None,
    }
}

/// Is value `i` of a string array null or valid UTF-8?
fn valid_at(array: &dyn Array, i: usize) -> bool {
    if array.is_null(i) {
        return true;
    }
    match array.data_type() {
        DataType::Utf8 => offset_bytes(array.as_string::<i32>(), i).is_some_and(|b| std::str::from_utf8(b).is_ok()),
        DataType::LargeUtf8 => {
            offset_bytes(array.as_string::<i64>(), i).is_some_and(|b| std::str::from_utf8(b).is_ok())
        }
        DataType::Utf8View => view_bytes(array.as_string_view(), i).is_some_and(|b| std::str::from_utf8(b).is_ok()),
        _ => first_invalid_row(&array.slice(i, 1)).is_none(),
    }
}

fn offset_bytes<O: OffsetSizeTrait>(array: &GenericStringArray<O>, i: usize) -> Option<&[u8]> {
    let offsets = array.value_offsets();
    array.value_data().get(offsets[i].as_usize()..offsets[i + 1].as_usize())
}

/// Whole runs first: a run's bytes are valid UTF-8 and each of its offsets starts a character
/// exactly when every value in the run is valid on its own.
fn first_invalid_offsets<O: OffsetSizeTrait>(array: &GenericStringArray<O>) -> Option<usize> {
    let offsets = array.value_offsets();
    let data = array.value_data();
    let run_is_valid = |rows: std::ops::Range<usize>| {
        let Some(bytes) = data.get(offsets[rows.start].as_usize()..offsets[rows.end].as_usize()) else {
            return false;
        };
        bytes.is_ascii()
            || (std::str::from_utf8(bytes).is_ok()
                && offsets[rows].iter().all(|o| data.get(o.as_usize()).is_none_or(|&b| (b as i8) >= -0x40)))
    };
    first_bad(array.len(), run_is_valid, |i| array.is_null(i) || offset_bytes(array, i).is_some_and(is_text))
}

fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

/// The bytes of view `i`: inline up to 12 bytes, else in a data buffer (None if out of bounds).
fn view_bytes(array: &StringViewArray, i: usize) -> Option<&[u8]> {
    let view = &array.views()[i];
    let len = *view as u32 as usize;
    if len <= 12 {
        // Little-endian layout: length (4 bytes), then the inline bytes.
        let start = i * 16 + 4;
        return array.views().inner().as_slice().get(start..start + len);
    }
    let buffer = (*view >> 64) as u32 as usize;
    let offset = (*view >> 96) as u32 as usize;
    array.data_buffers().get(buffer)?.as_slice().get(offset..offset + len)
}

fn first_invalid_view(array: &StringViewArray) -> Option<usize> {
    let valid = |i: usize| array.is_null(i) || view_bytes(array, i).is_some_and(is_text);
    first_bad(array.len(), |rows| rows.into_iter().all(valid), valid)
}

/// The first row in `0..n` that fails `row_is_valid`, checking runs with `run_is_valid` first
/// (in parallel) and rows one by one only inside a failing run.
fn first_bad(
    n: usize,
    run_is_valid: impl Fn(std::ops::Range<usize>) -> bool + Sync,
    row_is_valid: impl Fn(usize) -> bool + Sync,
) -> Option<usize> {
    (0..n.div_ceil(RUN))
        .into_par_iter()
        .filter_map(|run| {
            let rows = run * RUN..((run + 1) * RUN).min(n);
            if run_is_valid(rows.clone()) {
                return None;
            }
            rows.into_iter().find(|&i| !row_is_valid(i))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int32Array, LargeStringArray, StringArray};
    use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};

    use super::*;

    /// A Utf8 array of `values` (raw bytes, unchecked), `None` for null.
    fn raw_strings(values: &[Option<&[u8]>]) -> StringArray {
        let mut data = Vec::new();
        let mut offsets = vec![0i32];
        for v in values {
            data.extend_from_slice(v.unwrap_or(b""));
            offsets.push(data.len() as i32);
        }
        let nulls = arrow_buffer::NullBuffer::from(values.iter().map(Option::is_some).collect::<Vec<_>>());
        // SAFETY: the point of these tests is arrays whose bytes are not valid UTF-8; they are
        // only inspected as bytes.
        unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Buffer::from_vec(data),
                Some(nulls),
            )
        }
    }

    #[test]
    fn valid_text_passes_in_every_encoding() {
        let values = vec!["BTC", "é-ü", "", "a much longer identifier than twelve bytes"];
        assert_eq!(first_invalid_row(&StringArray::from(values.clone())), None);
        assert_eq!(first_invalid_row(&LargeStringArray::from(values.clone())), None);
        assert_eq!(first_invalid_row(&StringViewArray::from(values.clone())), None);
        let dict: DictionaryArray<Int32Type> = values.into_iter().collect();
        assert_eq!(first_invalid_row(&dict), None);
    }

    #[test]
    fn names_the_first_invalid_row_and_skips_nulls() {
        let a = raw_strings(&[Some(b"ok"), None, Some(b"\xff\xfe"), Some(b"\xc3")]);
        assert_eq!(first_invalid_row(&a), Some(2));
        assert_eq!(first_invalid_row(&a.slice(3, 1)), Some(0));
        // Each value valid, but an offset splits a character: "é" as two one-byte rows.
        let split = raw_strings(&[Some(b"\xc3"), Some(b"\xa9")]);
        assert_eq!(first_invalid_row(&split), Some(0));
        // Junk bytes under a null row are never read.
        let mut data = b"ab".to_vec();
        data.extend_from_slice(b"\xff");
        let nulls = arrow_buffer::NullBuffer::from(vec![true, false]);
        // SAFETY: see raw_strings.
        let hidden = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new(ScalarBuffer::from(vec![0i32, 2, 3])),
                Buffer::from_vec(data),
                Some(nulls),
            )
        };
        assert_eq!(first_invalid_row(&hidden), None);
    }

    #[test]
    fn long_columns_are_checked_in_runs() {
        let mut values: Vec<Option<&[u8]>> = vec![Some(b"x".as_slice()); 3 * RUN];
        values[2 * RUN + 5] = Some(b"\x80");
        values[2 * RUN + 9] = Some(b"\x80");
        assert_eq!(first_invalid_row(&raw_strings(&values)), Some(2 * RUN + 5));
    }

    #[test]
    fn dictionaries_report_the_first_row_using_a_bad_value() {
        let values = Arc::new(raw_strings(&[Some(b"good"), Some(b"\xff"), Some(b"unused")]));
        let keys = Int32Array::from(vec![Some(0), None, Some(0), Some(1)]);
        let dict = DictionaryArray::<Int32Type>::try_new(keys, values.clone()).expect("keys in range");
        assert_eq!(first_invalid_row(&dict), Some(3));
        let unused = DictionaryArray::<Int32Type>::try_new(Int32Array::from(vec![0, 2]), values).expect("keys");
        assert_eq!(first_invalid_row(&unused), None);
    }

    #[test]
    fn views_inline_and_in_buffers() {
        let good = StringViewArray::from(vec!["short", "a value longer than twelve bytes"]);
        assert_eq!(first_invalid_row(&good), None);
        // Rebuild the same views over a corrupted data buffer: the long value becomes invalid.
        let mut bytes = good.data_buffers()[0].as_slice().to_vec();
        bytes[0] = 0xff;
        // SAFETY: see raw_strings.
        let bad = unsafe { StringViewArray::new_unchecked(good.views().clone(), vec![Buffer::from_vec(bytes)], None) };
        assert_eq!(first_invalid_row(&bad), Some(1));
    }
}
