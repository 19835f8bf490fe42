//! The instruments table: what each `instrument_id` is, validated row by row.

use hashbrown::HashMap;

use crate::float_text::repr;
use crate::input::id_index::IdIndex;

use crate::domain::id_pattern::PatternIndex;
use crate::domain::option_terms::{BarrierType, OptionType};
use crate::error::{MarginError, Result};
use crate::input::table::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Spot,
    Future,
    Perpetual,
    Option,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "spot" => Some(Kind::Spot),
            "future" => Some(Kind::Future),
            "perpetual" => Some(Kind::Perpetual),
            "option" => Some(Kind::Option),
            _ => None,
        }
    }

    /// Futures and options have an expiry; spot and perpetuals do not.
    pub fn expires(self) -> bool {
        matches!(self, Kind::Future | Kind::Option)
    }
}

/// How a contract settles: in USD (linear, the default) or in its underlying coin (inverse,
/// coin-margined: P&L in the coin, as Deribit's BTC and ETH books).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Settlement {
    #[default]
    Linear,
    Inverse,
}

/// What an option pays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Payoff {
    Vanilla,
    /// Cash-or-nothing: pays the multiplier if it ends in the money.
    Digital,
    /// Continuously monitored single barrier; `rebate` is cash per unit.
    Barrier {
        barrier_type: BarrierType,
        barrier: f64,
        rebate: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    pub underlying: String,
    pub kind: Kind,
    /// Options only.
    pub option_type: Option<OptionType>,
    /// Options only (0 otherwise).
    pub strike: f64,
    /// Futures and options only.
    pub expiry_ns: Option<i64>,
    pub multiplier: f64,
    /// Options only (Vanilla otherwise).
    pub payoff: Payoff,
    /// Optional `settlement` column; linear when absent or null.
    pub settlement: Settlement,
}

/// All rows of the instruments table, in table order, with an id -> row index.
#[derive(Debug, Default)]
pub struct Instruments {
    pub rows: Vec<Instrument>,
    /// The ids in table order, and the id -> row index.
    index: IdIndex,
    /// The rows by number, when the ids are of one numbered pattern ([`PatternIndex`]).
    numbered: Option<PatternIndex>,
}

impl Instruments {
    #[inline(always)]
    pub fn row_of(&self, id: &str) -> Option<u32> {
        self.index.get(id)
    }

    /// The rows by number, when every id has the first id's numbered pattern.
    pub fn numbered(&self) -> Option<&PatternIndex> {
        self.numbered.as_ref()
    }

    /// Ids in table order.
    pub fn ids(&self) -> &[String] {
        self.index.ids()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

const TABLE: &str = "instruments";

/// Every column the instruments table may have, in the order they are checked.
pub const COLUMNS: [&str; 12] = [
    "instrument_id",
    "underlying",
    "kind",
    "option_type",
    "strike",
    "expiry",
    "payoff",
    "barrier_type",
    "barrier",
    "rebate",
    "multiplier",
    "settlement",
];

/// Read and validate the instruments table (every row, whether held or not).
pub fn read_instruments(table: Table<'_>) -> Result<Instruments> {
    table.check_spelling(&COLUMNS)?;
    let ids = table.required_strings("instrument_id")?;
    unique_index(TABLE, "instrument_id", &ids)?;
    let underlyings = table.required_strings("underlying")?;
    let kinds = read_kinds(table)?;

    let has_option = kinds.contains(&Kind::Option);
    let option_types = if has_option { read_option_types(table, &kinds)? } else { vec![None; kinds.len()] };
    let strikes = if has_option { read_strikes(table, &kinds)? } else { vec![0.0; kinds.len()] };
    let expiries =
        if kinds.iter().any(|k| k.expires()) { read_expiries(table, &kinds)? } else { vec![None; kinds.len()] };
    let payoffs = if has_option { read_payoffs(table, &kinds)? } else { vec![Payoff::Vanilla; kinds.len()] };
    let multipliers = read_multipliers(table, &payoffs)?;
    let settlements = read_settlements(table, &kinds)?;

    let rows = (0..ids.len())
        .map(|i| Instrument {
            underlying: underlyings[i].to_owned(),
            kind: kinds[i],
            option_type: option_types[i],
            strike: strikes[i],
            expiry_ns: expiries[i],
            multiplier: multipliers[i],
            payoff: payoffs[i],
            settlement: settlements[i],
        })
        .collect();
    let numbered = PatternIndex::new(&ids);
    Ok(Instruments { rows, index: IdIndex::new(ids.iter().map(|s| (*s).to_owned()).collect()), numbered })
}

/// Map each key to its row; a repeated key is an error naming the second row and the first.
pub fn unique_index(table: &str, column: &str, keys: &[&str]) -> Result<HashMap<String, u32>> {
    let mut index: HashMap<String, u32> = HashMap::with_capacity(keys.len());
    for (row, key) in keys.iter().enumerate() {
        if let Some(first) = index.get(*key) {
            return Err(MarginError::cell(
                table,
                column,
                row,
                format!("duplicate {column} '{key}' (first at row {first})"),
            ));
        }
        index.insert((*key).to_owned(), row as u32);
    }
    Ok(index)
}

fn read_kinds(table: Table<'_>) -> Result<Vec<Kind>> {
    let kinds = table.required_strings("kind")?;
    kinds
        .iter()
        .enumerate()
        .map(|(row, k)| {
            Kind::parse(k).ok_or_else(|| {
                MarginError::cell(
                    TABLE,
                    "kind",
                    row,
                    format!("unknown kind '{k}'; expected spot, future, perpetual or option"),
                )
            })
        })
        .collect()
}

fn read_option_types(table: Table<'_>, kinds: &[Kind]) -> Result<Vec<Option<OptionType>>> {
    per_option(kinds, table.strings("option_type")?, None, |row, v| match v {
        Some("call") => Ok(Some(OptionType::Call)),
        Some("put") => Ok(Some(OptionType::Put)),
        None => Err(MarginError::cell(TABLE, "option_type", row, "null is not allowed for an option")),
        Some(other) => Err(MarginError::cell(
            TABLE,
            "option_type",
            row,
            format!("unknown option_type '{other}'; expected call or put"),
        )),
    })
}

fn read_strikes(table: Table<'_>, kinds: &[Kind]) -> Result<Vec<f64>> {
    per_option(kinds, table.numbers("strike")?, 0.0, |row, v| positive_cell(TABLE, "strike", row, v, "an option"))
}

/// `read(row, value)` of each option's row; `other` for every other kind (its cell is not read).
fn per_option<V, T: Copy>(
    kinds: &[Kind],
    values: Vec<V>,
    other: T,
    read: impl Fn(usize, V) -> Result<T>,
) -> Result<Vec<T>> {
    kinds
        .iter()
        .zip(values)
        .enumerate()
        .map(|(row, (kind, v))| if *kind == Kind::Option { read(row, v) } else { Ok(other) })
        .collect()
}

/// A present, finite, strictly positive number.
pub fn positive_cell(table: &str, column: &str, row: usize, value: Option<f64>, what: &str) -> Result<f64> {
    match value {
        None => Err(MarginError::cell(table, column, row, format!("null is not allowed for {what}"))),
        Some(x) if !x.is_finite() => {
            Err(MarginError::cell(table, column, row, format!("not a finite number: {}", repr(x))))
        }
        Some(x) if x <= 0.0 => Err(MarginError::cell(table, column, row, format!("must be > 0, got {}", repr(x)))),
        Some(x) => Ok(x),
    }
}

fn read_expiries(table: Table<'_>, kinds: &[Kind]) -> Result<Vec<Option<i64>>> {
    let values = table.times_ns("expiry")?;
    kinds
        .iter()
        .zip(values)
        .enumerate()
        .map(|(row, (kind, v))| match (kind.expires(), v) {
            (false, _) => Ok(None),
            (true, Some(ns)) => Ok(Some(ns)),
            (true, None) => Err(MarginError::cell(TABLE, "expiry", row, "null is not allowed for a future or option")),
        })
        .collect()
}

fn read_multipliers(table: Table<'_>, payoffs: &[Payoff]) -> Result<Vec<f64>> {
    let n = table.num_rows();
    if !table.has_column("multiplier") {
        return Ok(vec![1.0; n]);
    }
    let values = table.numbers("multiplier")?;
    values
        .into_iter()
        .zip(payoffs)
        .enumerate()
        .map(|(row, (v, payoff))| {
            let what = if *payoff == Payoff::Digital { "a digital's payout (its multiplier)" } else { "a multiplier" };
            positive_cell(TABLE, "multiplier", row, v, what).map_err(|e| match (payoff, v) {
                (Payoff::Digital, Some(x)) if x <= 0.0 => MarginError::cell(
                    TABLE,
                    "multiplier",
                    row,
                    format!("a digital pays its multiplier: the payout must be > 0, got {}", repr(x)),
                ),
                _ => e,
            })
        })
        .collect()
}

/// `settlement`: null or absent is linear; "inverse" is coin-settled (futures, perpetuals and
/// options only: spot held in its own coin has no coin P&L).
fn read_settlements(table: Table<'_>, kinds: &[Kind]) -> Result<Vec<Settlement>> {
    optional_strings(table, "settlement")?
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v {
            None | Some("linear") => Ok(Settlement::Linear),
            Some("inverse") if kinds[row] == Kind::Spot => Err(MarginError::cell(
                TABLE,
                "settlement",
                row,
                "spot cannot be inverse (a coin held in its own coin has no coin P&L): use 'linear'",
            )),
            Some("inverse") => Ok(Settlement::Inverse),
            Some(other) => Err(MarginError::cell(
                TABLE,
                "settlement",
                row,
                format!("unknown settlement '{other}'; expected linear or inverse"),
            )),
        })
        .collect()
}

/// Optional string column: None per row when the column is absent.
fn optional_strings<'a>(table: Table<'a>, column: &str) -> Result<Vec<Option<&'a str>>> {
    if table.has_column(column) {
        table.strings(column)
    } else {
        Ok(vec![None; table.num_rows()])
    }
}

/// Optional number column: None per row when the column is absent.
fn optional_numbers(table: Table<'_>, column: &str) -> Result<Vec<Option<f64>>> {
    if table.has_column(column) {
        table.numbers(column)
    } else {
        Ok(vec![None; table.num_rows()])
    }
}

/// Payoff of each option from `payoff` (default vanilla), `barrier_type`, `barrier`, `rebate`
/// (default 0), checked column by column.
fn read_payoffs(table: Table<'_>, kinds: &[Kind]) -> Result<Vec<Payoff>> {
    let is_option = |row: usize| kinds[row] == Kind::Option;
    let payoff_names = optional_strings(table, "payoff")?;
    let mut digital = vec![false; kinds.len()];
    for (row, name) in payoff_names.iter().enumerate().filter(|(row, _)| is_option(*row)) {
        digital[row] = match name {
            None | Some("vanilla") => false,
            Some("digital") => true,
            Some(other) => {
                return Err(MarginError::cell(
                    TABLE,
                    "payoff",
                    row,
                    format!("unknown payoff '{other}'; expected vanilla or digital"),
                ))
            }
        };
    }
    let type_names = optional_strings(table, "barrier_type")?;
    let mut types: Vec<Option<BarrierType>> = vec![None; kinds.len()];
    for (row, name) in type_names.iter().enumerate().filter(|(row, _)| is_option(*row)) {
        let Some(name) = name else { continue };
        let parsed = BarrierType::parse(name).ok_or_else(|| {
            MarginError::cell(
                TABLE,
                "barrier_type",
                row,
                format!("unknown barrier_type '{name}'; expected up-and-out, up-and-in, down-and-out or down-and-in"),
            )
        })?;
        if digital[row] {
            return Err(MarginError::cell(TABLE, "barrier_type", row, "a barrier option must have payoff 'vanilla'"));
        }
        types[row] = Some(parsed);
    }
    let barriers = optional_numbers(table, "barrier")?;
    let mut levels = vec![0.0; kinds.len()];
    for row in (0..kinds.len()).filter(|&r| types[r].is_some()) {
        levels[row] = positive_cell(TABLE, "barrier", row, barriers[row], "a barrier option")?;
    }
    let rebates = optional_numbers(table, "rebate")?;
    let mut cash = vec![0.0; kinds.len()];
    for row in (0..kinds.len()).filter(|&r| types[r].is_some()) {
        cash[row] = match rebates[row] {
            None => 0.0,
            Some(x) if !x.is_finite() => {
                return Err(MarginError::cell(TABLE, "rebate", row, format!("not a finite number: {}", repr(x))))
            }
            Some(x) if x < 0.0 => {
                return Err(MarginError::cell(TABLE, "rebate", row, format!("must be >= 0, got {}", repr(x))))
            }
            Some(x) => x,
        };
    }
    Ok((0..kinds.len())
        .map(|row| match (types[row], digital[row]) {
            (Some(barrier_type), _) => Payoff::Barrier { barrier_type, barrier: levels[row], rebate: cash[row] },
            (None, true) => Payoff::Digital,
            (None, false) => Payoff::Vanilla,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{days_after, instruments, strings, table, Inst, AS_OF, DAY_NS};

    fn read(rows: &[Inst]) -> Result<Instruments> {
        read_instruments(instruments(rows).view("instruments"))
    }

    fn error(rows: &[Inst]) -> String {
        read(rows).expect_err("an invalid instruments table").to_string()
    }

    #[test]
    fn reads_every_kind_with_its_terms() {
        let got = read(&[
            Inst::spot("S", "A"),
            Inst::future("F", "A", 30).times(5.0),
            Inst::option("C", "B", "call", 100.0, 365),
            Inst { payoff: Some("digital"), ..Inst::option("D", "B", "put", 90.0, 10) },
            Inst {
                barrier_type: Some("up-and-out"),
                barrier: Some(120.0),
                rebate: Some(2.0),
                ..Inst::option("U", "B", "call", 100.0, 10)
            },
            Inst { barrier_type: Some("down-and-in"), barrier: Some(80.0), ..Inst::option("K", "B", "put", 95.0, 10) },
        ])
        .expect("a valid table");
        assert_eq!(got.ids(), ["S", "F", "C", "D", "U", "K"]);
        assert_eq!((got.len(), got.is_empty()), (6, false));
        assert_eq!(got.row_of("D"), Some(3));
        assert_eq!(got.row_of("X"), None);
        assert_eq!(
            got.rows[0],
            Instrument {
                underlying: "A".into(),
                kind: Kind::Spot,
                option_type: None,
                strike: 0.0,
                expiry_ns: None,
                multiplier: 1.0,
                payoff: Payoff::Vanilla,
                settlement: Settlement::Linear,
            }
        );
        assert_eq!((got.rows[1].kind, got.rows[1].multiplier), (Kind::Future, 5.0));
        assert_eq!(got.rows[1].expiry_ns, Some(AS_OF + 30 * DAY_NS));
        let call = &got.rows[2];
        assert_eq!((call.option_type, call.strike, call.payoff), (Some(OptionType::Call), 100.0, Payoff::Vanilla));
        assert_eq!((got.rows[3].option_type, got.rows[3].payoff), (Some(OptionType::Put), Payoff::Digital));
        assert_eq!(
            got.rows[4].payoff,
            Payoff::Barrier { barrier_type: BarrierType::UpOut, barrier: 120.0, rebate: 2.0 }
        );
        // The rebate defaults to 0.
        assert_eq!(
            got.rows[5].payoff,
            Payoff::Barrier { barrier_type: BarrierType::DownIn, barrier: 80.0, rebate: 0.0 }
        );
    }

    #[test]
    fn optional_columns_may_be_absent() {
        // No multiplier (1), no option columns (no options), an expiry only where needed.
        let t = table(vec![
            ("instrument_id", strings(&["F", "P"])),
            ("underlying", strings(&["A", "A"])),
            ("kind", strings(&["future", "perpetual"])),
            ("expiry", days_after(&[Some(1), None])),
        ]);
        let got = read_instruments(t.view("instruments")).expect("valid");
        assert_eq!(got.rows.iter().map(|r| r.multiplier).collect::<Vec<_>>(), vec![1.0, 1.0]);
        assert_eq!(got.rows.iter().map(|r| r.expiry_ns).collect::<Vec<_>>(), vec![Some(AS_OF + DAY_NS), None]);
        assert_eq!(got.rows[1].kind, Kind::Perpetual);
        // Spot and perpetuals need no expiry column at all.
        let t = table(vec![
            ("instrument_id", strings(&["S"])),
            ("underlying", strings(&["A"])),
            ("kind", strings(&["spot"])),
        ]);
        assert_eq!(read_instruments(t.view("instruments")).expect("valid").rows[0].expiry_ns, None);
        let t = table(vec![("instrument_id", strings(&["S"])), ("underlying", strings(&["A"]))]);
        assert_eq!(
            read_instruments(t.view("instruments")).expect_err("no kind").to_string(),
            "instruments.kind: missing column"
        );
    }

    #[test]
    fn option_columns_of_other_kinds_are_ignored() {
        let junk = Inst {
            option_type: Some("bogus"),
            strike: Some(-5.0),
            payoff: Some("weird"),
            barrier_type: Some("nope"),
            barrier: Some(-1.0),
            rebate: Some(-1.0),
            ..Inst::future("F", "A", 1)
        };
        let got =
            read(&[junk, Inst::option("C", "A", "call", 100.0, 1)]).expect("the future's option cells are unused");
        assert_eq!((got.rows[0].option_type, got.rows[0].strike, got.rows[0].payoff), (None, 0.0, Payoff::Vanilla));
    }

    #[test]
    fn errors_name_table_column_and_row() {
        let option = Inst::option("C", "A", "call", 100.0, 30);
        let cases: Vec<(Vec<Inst>, &str)> = vec![
            (
                vec![Inst::spot("X", "A"), Inst::spot("Y", "A"), Inst::spot("X", "B")],
                "instruments.instrument_id, row 2: duplicate instrument_id 'X' (first at row 0)",
            ),
            (
                vec![Inst::spot("X", "A"), Inst { kind: "swap", ..Inst::spot("Y", "A") }],
                "instruments.kind, row 1: unknown kind 'swap'; expected spot, future, perpetual or option",
            ),
            (
                vec![Inst { option_type: None, ..option }],
                "instruments.option_type, row 0: null is not allowed for an option",
            ),
            (
                vec![Inst { option_type: Some("straddle"), ..option }],
                "instruments.option_type, row 0: unknown option_type 'straddle'; expected call or put",
            ),
            (
                vec![Inst::spot("S", "A"), Inst { strike: Some(0.0), ..option }],
                "instruments.strike, row 1: must be > 0, got 0.0",
            ),
            (vec![Inst { strike: None, ..option }], "instruments.strike, row 0: null is not allowed for an option"),
            (
                vec![Inst { expiry_days: None, ..Inst::future("F", "A", 1) }],
                "instruments.expiry, row 0: null is not allowed for a future or option",
            ),
            (vec![Inst::spot("S", "A").times(-1.0)], "instruments.multiplier, row 0: must be > 0, got -1.0"),
            (vec![Inst::spot("S", "A").times(f64::NAN)], "instruments.multiplier, row 0: not a finite number: nan"),
            (
                vec![Inst { payoff: Some("digital"), ..option }.times(0.0)],
                "instruments.multiplier, row 0: a digital pays its multiplier: the payout must be > 0, got 0.0",
            ),
            (
                vec![Inst { payoff: Some("asian"), ..option }],
                "instruments.payoff, row 0: unknown payoff 'asian'; expected vanilla or digital",
            ),
            (
                vec![Inst { barrier_type: Some("sideways-and-out"), barrier: Some(1.0), ..option }],
                "instruments.barrier_type, row 0: unknown barrier_type 'sideways-and-out'; expected up-and-out, \
                 up-and-in, down-and-out or down-and-in",
            ),
            (
                vec![Inst {
                    payoff: Some("digital"),
                    barrier_type: Some("up-and-out"),
                    barrier: Some(120.0),
                    ..option
                }],
                "instruments.barrier_type, row 0: a barrier option must have payoff 'vanilla'",
            ),
            (
                vec![Inst { barrier_type: Some("down-and-in"), ..option }],
                "instruments.barrier, row 0: null is not allowed for a barrier option",
            ),
            (
                vec![Inst { barrier_type: Some("down-and-in"), barrier: Some(80.0), rebate: Some(-1.0), ..option }],
                "instruments.rebate, row 0: must be >= 0, got -1.0",
            ),
        ];
        for (rows, message) in cases {
            assert_eq!(error(&rows), message);
        }
    }

    #[test]
    fn unique_index_maps_keys_to_rows() {
        let index = unique_index("t", "k", &["a", "b"]).expect("distinct");
        assert_eq!((index["a"], index["b"]), (0, 1));
        let err = unique_index("t", "k", &["a", "b", "b"]).expect_err("repeated");
        assert_eq!(err.to_string(), "t.k, row 2: duplicate k 'b' (first at row 1)");
    }

    #[test]
    fn only_futures_and_options_expire() {
        let expiring: Vec<bool> = [Kind::Spot, Kind::Future, Kind::Perpetual, Kind::Option].map(Kind::expires).into();
        assert_eq!(expiring, vec![false, true, false, true]);
    }
}
