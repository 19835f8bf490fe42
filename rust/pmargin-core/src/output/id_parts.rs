//! A result table's `account_id` column written part by part ([`super::text_parts`]): Utf8 and
//! Int64 ids (the two types result tables carry) by the tasks that write the table's other
//! columns, in the same pass; any other type from the account numbers afterwards (Arrow's
//! `take`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, StringArray};
use arrow_schema::DataType;

use super::arrow::ids_for;
use super::text_parts::{TextColumn, TextPart};
use crate::error::Result;
use crate::input::parts::{Parted, TrackedPart};

/// An `account_id` column being written.
pub enum IdColumn<'a> {
    Text(&'a StringArray, TextColumn),
    Int(&'a [i64], Parted<i64>),
    Other(&'a ArrayRef, Parted<u32>),
}

/// One task's part of an [`IdColumn`].
pub enum IdPart<'a, 'b> {
    Text(&'a StringArray, TextPart<'b>),
    Int(&'a [i64], TrackedPart<'b, i64>),
    Other(TrackedPart<'b, u32>),
}

impl<'a> IdColumn<'a> {
    /// The ids when they are Utf8 without nulls: the caller counts their bytes per task.
    pub fn text_ids(account_ids: &'a ArrayRef) -> Option<&'a StringArray> {
        match account_ids.data_type() {
            DataType::Utf8 if account_ids.null_count() == 0 => Some(account_ids.as_string::<i32>()),
            _ => None,
        }
    }

    /// Bytes of account number `account`'s id when the ids are text (`text`, from
    /// [`IdColumn::text_ids`]); 0 for other ids, and for no such account (its part then comes out
    /// short: an internal error, not a read past the ids).
    pub fn text_len(text: Option<&StringArray>, account: usize) -> usize {
        text.filter(|t| account < t.len()).map_or(0, |t| t.value_length(account) as usize)
    }

    /// The column of `rows[t]` ids per task `t`, `text_bytes[t]` bytes each when
    /// [`IdColumn::text_ids`] has them.
    pub fn new(account_ids: &'a ArrayRef, rows: &[usize], text_bytes: Vec<usize>) -> Result<IdColumn<'a>> {
        Ok(match (IdColumn::text_ids(account_ids), account_ids.data_type()) {
            (Some(t), _) => IdColumn::Text(t, TextColumn::new(rows, text_bytes)?),
            (None, DataType::Int64) if account_ids.null_count() == 0 => {
                IdColumn::Int(account_ids.as_primitive::<Int64Type>().values(), Parted::new(rows.to_vec()))
            }
            _ => IdColumn::Other(account_ids, Parted::new(rows.to_vec())),
        })
    }

    /// One part per task, in order.
    pub fn parts(&mut self) -> Vec<IdPart<'a, '_>> {
        match self {
            IdColumn::Text(t, c) => c.parts().into_iter().map(|p| IdPart::Text(t, p)).collect(),
            IdColumn::Int(v, c) => c.parts().into_iter().map(|p| IdPart::Int(v, p)).collect(),
            IdColumn::Other(_, c) => c.parts().into_iter().map(IdPart::Other).collect(),
        }
    }

    /// The column; an internal error unless every part was filled exactly (an account number
    /// without an id leaves its part short).
    pub fn finish(self) -> Result<ArrayRef> {
        Ok(match self {
            IdColumn::Text(_, c) => c.finish(None)?,
            IdColumn::Int(_, c) => Arc::new(Int64Array::from(c.finish()?)),
            IdColumn::Other(ids, c) => ids_for(ids, c.finish()?)?,
        })
    }
}

impl IdPart<'_, '_> {
    /// Append the id of account number `account`; nothing when there is no such account.
    #[inline(always)]
    pub fn push(&mut self, account: usize) {
        match self {
            IdPart::Text(ids, part) => {
                if account < ids.len() {
                    part.push(ids.value(account));
                }
            }
            IdPart::Int(ids, part) => {
                if let Some(&id) = ids.get(account) {
                    part.push(id);
                }
            }
            IdPart::Other(part) => part.push(account as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Float64Array;
    use rayon::prelude::*;

    use super::*;

    fn write(ids: &ArrayRef, tasks: &[&[usize]]) -> Result<ArrayRef> {
        let rows: Vec<usize> = tasks.iter().map(|t| t.len()).collect();
        let bytes = tasks
            .iter()
            .map(|t| {
                let text = IdColumn::text_ids(ids);
                t.iter().map(|&a| IdColumn::text_len(text, a)).sum()
            })
            .collect();
        let mut column = IdColumn::new(ids, &rows, bytes)?;
        column.parts().into_par_iter().zip(tasks).for_each(|(mut part, accounts)| {
            for &a in *accounts {
                part.push(a);
            }
        });
        column.finish()
    }

    #[test]
    fn ids_keep_their_type_across_tasks() {
        let tasks: [&[usize]; 3] = [&[2, 0], &[], &[1, 1, 2]];
        let text: ArrayRef = Arc::new(StringArray::from(vec!["a", "bb", "ccc"]));
        let got = write(&text, &tasks).expect("in range");
        let want: StringArray = ["ccc", "a", "bb", "bb", "ccc"].into_iter().map(Some).collect();
        assert_eq!(got.as_string::<i32>(), &want);
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![7, 8, 9]));
        let got = write(&ints, &tasks).expect("in range");
        assert_eq!(got.as_primitive::<Int64Type>().values().to_vec(), vec![9, 7, 8, 8, 9]);
        // Any other type: taken afterwards.
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5]));
        let got = write(&floats, &tasks).expect("in range");
        assert_eq!(
            got.as_primitive::<arrow_array::types::Float64Type>().values().to_vec(),
            vec![2.5, 0.5, 1.5, 1.5, 2.5]
        );
    }

    #[test]
    fn an_account_without_an_id_is_an_error() {
        for ids in [
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
            Arc::new(Float64Array::from(vec![0.5])) as ArrayRef,
        ] {
            assert!(write(&ids, &[&[0, 1]]).is_err(), "{:?}", ids.data_type());
        }
    }
}
