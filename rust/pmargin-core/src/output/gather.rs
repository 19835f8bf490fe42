//! Result columns gathered from a few distinct values in parallel: string columns (account ids,
//! underlying names, scenario labels) as `values[index]` per row, and nullable floats. A result
//! table repeats a small set of strings hundreds of thousands of times; gathering them in chunks
//! of rows on every core (offsets first, then each chunk's bytes into its own part of the
//! buffer) costs a fraction of appending them one by one to a builder.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{MarginError, Result};
use crate::input::parts::filled_in_parts;
use crate::output::text_parts::{TextColumn, WideValues};

/// Rows per parallel task.
const CHUNK: usize = 1 << 14;

/// A Utf8 array whose row `i` is `value(index[i])`, null where `index[i]` is None.
pub fn gather_strings<'a>(
    n_values: usize,
    value: impl Fn(usize) -> &'a str + Sync,
    index: &[Option<u32>],
) -> Result<ArrayRef> {
    if let Some(bad) = index.iter().flatten().find(|&&v| v as usize >= n_values) {
        return Err(MarginError::Internal(format!("gathering strings: no value number {bad}")));
    }
    // Each value's length once (two passes below read one per row).
    let lens: Vec<usize> = (0..n_values).into_par_iter().with_min_len(1 << 12).map(|v| value(v).len()).collect();
    let len_of = |i: &Option<u32>| i.map_or(0, |v| lens[v as usize]);
    // Bytes per chunk of rows, then each chunk's first offset.
    let chunk_bytes: Vec<usize> = index.par_chunks(CHUNK).map(|rows| rows.iter().map(len_of).sum()).collect();
    let total: usize = chunk_bytes.iter().sum();
    if i32::try_from(total).is_err() {
        return Err(MarginError::Internal(format!("a result string column of {total} bytes is over 2 GiB")));
    }
    // Offsets, then bytes, each chunk of rows into its own part (nothing zeroed first).
    let mut offset_work = vec![(1, None)];
    let mut byte_work = Vec::with_capacity(chunk_bytes.len());
    let mut start = 0usize;
    for (rows, &size) in index.chunks(CHUNK).zip(&chunk_bytes) {
        offset_work.push((rows.len(), Some((rows, start))));
        byte_work.push((size, rows));
        start += size;
    }
    let offsets = filled_in_parts(offset_work, |chunk, part| {
        let Some((rows, start)) = chunk else { return part.push(0i32) };
        let mut at = start;
        // In range: the column's total was checked to fit an i32.
        part.extend(rows.iter().map(|i| {
            at += len_of(i);
            at as i32
        }));
    })?;
    // Many more rows than values: each row one fixed-size copy instead of a call into memcpy.
    let wide = WideValues::of((0..n_values).map(&value), index.len());
    let bytes = filled_in_parts(byte_work, |rows, part| {
        for &v in rows.iter().flatten() {
            match wide.as_ref().map(|w| w.padded(v as usize)) {
                Some((padded, len)) => part.extend_padded(padded, len),
                None => part.extend_from_slice(value(v as usize).as_bytes()),
            }
        }
    })?;
    let nulls = nulls_where(index.len(), |i| index[i].is_some());
    // `OffsetBuffer::new` checks the offsets start at 0 and never decrease; they end at
    // `total`, the length of `bytes`, by construction.
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // `bytes` is whole `&str` values one after another, so it is UTF-8 and every offset falls
    // between two values: checking it again (`StringArray::try_new`) would read every byte once
    // more, a fifth of the cost of a string column.
    debug_assert!(std::str::from_utf8(&bytes).is_ok());
    // SAFETY: offsets valid for `bytes` (above), every slice between two offsets valid UTF-8,
    // nulls (if any) of the same length as the offsets' rows.
    let array = unsafe { StringArray::new_unchecked(offsets, Buffer::from(bytes), nulls) };
    Ok(Arc::new(array))
}

/// A nullable Float64 array: `values[i]` where `valid[i]`.
pub fn nullable_f64s(values: Vec<f64>, valid: &[bool]) -> ArrayRef {
    Arc::new(Float64Array::new(ScalarBuffer::from(values), nulls_where(valid.len(), |i| valid[i])))
}

/// The validity of `n` rows (`valid(i)`), None when none is null. Packed 64 rows per word
/// (`collect_bool`), several times cheaper than pushing one bit at a time.
pub fn nulls_where(n: usize, valid: impl FnMut(usize) -> bool) -> Option<NullBuffer> {
    let nulls = NullBuffer::new(BooleanBuffer::collect_bool(n, valid));
    (nulls.null_count() > 0).then_some(nulls)
}

/// Rows per parallel task of [`strings_at`].
const AT_CHUNK: usize = 1 << 12;

/// The values of a Utf8 `array` without nulls at `rows` (each an index into it), gathered in
/// parallel tasks of rows (sizes counted first): a book's account ids at their first rows, where
/// Arrow's `interleave` made one serial pass.
pub fn strings_at(array: &StringArray, rows: &[usize]) -> Result<ArrayRef> {
    let n = array.len();
    if let Some(bad) = rows.par_iter().find_any(|&&r| r >= n) {
        return Err(MarginError::Internal(format!("gathering strings: no row {bad}")));
    }
    let tasks: Vec<&[usize]> = rows.chunks(AT_CHUNK).collect();
    let counts: Vec<usize> = tasks.iter().map(|t| t.len()).collect();
    let bytes = tasks.par_iter().map(|t| t.iter().map(|&r| array.value_length(r) as usize).sum()).collect();
    let mut column = TextColumn::new(&counts, bytes)?;
    tasks.into_par_iter().zip(column.parts()).for_each(|(rows, mut part)| {
        for &r in rows {
            part.push(array.value(r));
        }
    });
    column.finish(None)
}

/// `account_id` of each row from the row's account number: Utf8 and Int64 ids (the two types
/// result tables carry) gathered in parallel, any other type by Arrow's `take`.
pub fn gather_ids(account_ids: &ArrayRef, accounts: &[u32]) -> Result<Option<ArrayRef>> {
    // The length read once: `len` through `dyn Array` is a call the loop would make per row.
    let n = account_ids.len();
    if let Some(bad) = accounts.par_iter().max().filter(|&&a| a as usize >= n) {
        return Err(MarginError::Internal(format!("gathering account ids: no account number {bad}")));
    }
    match account_ids.data_type() {
        DataType::Utf8 if account_ids.null_count() == 0 => {
            let ids = account_ids.as_string::<i32>();
            let index: Vec<Option<u32>> = accounts.par_iter().map(|&a| Some(a)).collect();
            gather_strings(ids.len(), |a| ids.value(a), &index).map(Some)
        }
        DataType::Int64 if account_ids.null_count() == 0 => {
            let ids = account_ids.as_primitive::<Int64Type>().values();
            let values: Vec<i64> = accounts.par_iter().map(|&a| ids[a as usize]).collect();
            Ok(Some(Arc::new(Int64Array::from(values))))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::text_parts::WIDE;

    #[test]
    fn strings_are_gathered_with_nulls_across_chunks() {
        let values = ["", "a", "bc", "déf"];
        let n = 3 * CHUNK + 5;
        let index: Vec<Option<u32>> = (0..n).map(|i| (i % 5 != 4).then_some((i % 4) as u32)).collect();
        let got = gather_strings(values.len(), |v| values[v], &index).expect("valid");
        let got = got.as_string::<i32>();
        assert_eq!(got.len(), n);
        for (i, want) in index.iter().enumerate() {
            assert_eq!(got.is_valid(i), want.is_some(), "{i}");
            if let Some(v) = want {
                assert_eq!(got.value(i), values[*v as usize], "{i}");
            }
        }
        let empty = gather_strings(values.len(), |v| values[v], &[]).expect("valid");
        assert_eq!((empty.len(), empty.null_count()), (0, 0));
        let all = gather_strings(1, |_| "x", &[Some(0), Some(0)]).expect("valid");
        assert_eq!(all.null_count(), 0);
        assert!(gather_strings(1, |_| "x", &[Some(1)]).is_err());
    }

    #[test]
    fn padded_copies_equal_exact_ones() {
        // Few values (the padded path) of every length up to and over WIDE, many rows with
        // nulls, across chunks; and an exact copy per row for comparison.
        let values: Vec<String> = (0..=WIDE + 1).map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)).collect();
        let short: Vec<&str> = values.iter().map(String::as_str).filter(|v| v.len() <= WIDE).collect();
        for vals in [short, values.iter().map(String::as_str).collect()] {
            let n = 2 * CHUNK + 77;
            let index: Vec<Option<u32>> =
                (0..n).map(|i| (i % 11 != 3).then_some(((i * 7919) % vals.len()) as u32)).collect();
            let got = gather_strings(vals.len(), |v| vals[v], &index).expect("valid");
            let want: StringArray = index.iter().map(|i| i.map(|v| vals[v as usize])).collect();
            assert_eq!(got.as_string::<i32>(), &want);
        }
    }

    #[test]
    fn strings_at_rows() {
        let values: StringArray = (0..3 * AT_CHUNK).map(|i| Some(format!("v{i}"))).collect();
        let rows: Vec<usize> = (0..2 * AT_CHUNK + 3).map(|i| (i * 7919) % values.len()).collect();
        let got = strings_at(&values, &rows).expect("in range");
        let want: StringArray = rows.iter().map(|&r| Some(values.value(r))).collect();
        assert_eq!(got.as_string::<i32>(), &want);
        assert_eq!(strings_at(&values, &[]).expect("none").len(), 0);
        assert!(strings_at(&values, &[values.len()]).is_err());
    }

    #[test]
    fn ids_keep_their_type() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["a", "bb", "c"]));
        let got = gather_ids(&strings, &[2, 0, 1, 1]).expect("in range").expect("utf8");
        assert_eq!(
            got.as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("c"), Some("a"), Some("bb"), Some("bb")]
        );
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![7, 9]));
        let got = gather_ids(&ints, &[1, 0]).expect("in range").expect("int64");
        assert_eq!(got.as_primitive::<Int64Type>().values().to_vec(), vec![9, 7]);
        assert!(gather_ids(&ints, &[2]).is_err());
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        assert!(gather_ids(&floats, &[0]).expect("in range").is_none());
    }

    #[test]
    fn packed_nulls_equal_bit_by_bit_ones() {
        for n in [0, 1, 63, 64, 65, 1000] {
            for pattern in [0usize, 1, 3, 7] {
                let valid: Vec<bool> = (0..n).map(|i| pattern == 0 || i % pattern != 0).collect();
                let want = NullBuffer::from_iter(valid.iter().copied());
                let want = (want.null_count() > 0).then_some(want);
                assert_eq!(nulls_where(n, |i| valid[i]), want, "{n} rows, pattern {pattern}");
            }
        }
    }

    #[test]
    fn nullable_floats() {
        let a = nullable_f64s(vec![1.0, 0.0, 3.0], &[true, false, true]);
        let a = a.as_primitive::<arrow_array::types::Float64Type>();
        assert_eq!((a.null_count(), a.value(2)), (1, 3.0));
        assert_eq!(nullable_f64s(vec![1.0], &[true]).null_count(), 0);
    }
}
