//! Fixtures shared by the unit tests: Arrow columns, the input tables in the shapes the readers
//! accept, a small two-underlying market, spec values and hand-built books, so each test states
//! only the numbers it checks.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema};

use crate::domain::book::Book;
use crate::domain::instruments::{Kind, Payoff};
use crate::engine::Engine;
use crate::error::Result;
use crate::methods::MethodSpec;
use crate::risk::arrays::RiskArrays;
use crate::scenarios::{ScenarioSet, VolShockMode};
use crate::spec::{OwnedTable, Value};
use crate::valuation::contract::Contract;
use crate::valuation::Valuation;

pub const DAY_NS: i64 = 86_400_000_000_000;
/// The valuation time of every fixture: 2024-01-01T00:00:00Z.
pub const AS_OF: i64 = 19_723 * DAY_NS;

pub fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

pub fn opt_strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

pub fn floats(values: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

pub fn opt_floats(values: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

pub fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

/// Timestamps (ns, tz-naive) `days` after [`AS_OF`]; None is null.
pub fn days_after(days: &[Option<i64>]) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(days.iter().map(|d| d.map(|d| AS_OF + d * DAY_NS)).collect::<Vec<_>>()))
}

/// A one-batch table of named columns (every field nullable, as pyarrow makes them).
pub fn table(columns: Vec<(&str, ArrayRef)>) -> OwnedTable {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).expect("a valid batch");
    OwnedTable { schema, batches: vec![batch] }
}

/// The same rows cut into batches of at most `rows` rows.
pub fn rebatched(table: &OwnedTable, rows: usize) -> OwnedTable {
    let mut batches = Vec::new();
    for batch in &table.batches {
        let mut start = 0;
        while start < batch.num_rows() {
            let len = rows.min(batch.num_rows() - start);
            batches.push(batch.slice(start, len));
            start += len;
        }
    }
    OwnedTable { schema: table.schema.clone(), batches }
}

/// One row of the instruments table.
#[derive(Debug, Clone, Copy)]
pub struct Inst {
    pub id: &'static str,
    pub underlying: &'static str,
    pub kind: &'static str,
    pub option_type: Option<&'static str>,
    pub strike: Option<f64>,
    /// Days from [`AS_OF`] to expiry.
    pub expiry_days: Option<i64>,
    pub multiplier: f64,
    pub payoff: Option<&'static str>,
    pub barrier_type: Option<&'static str>,
    pub barrier: Option<f64>,
    pub rebate: Option<f64>,
}

impl Inst {
    fn new(id: &'static str, underlying: &'static str, kind: &'static str) -> Inst {
        Inst {
            id,
            underlying,
            kind,
            option_type: None,
            strike: None,
            expiry_days: None,
            multiplier: 1.0,
            payoff: None,
            barrier_type: None,
            barrier: None,
            rebate: None,
        }
    }

    pub fn spot(id: &'static str, underlying: &'static str) -> Inst {
        Inst::new(id, underlying, "spot")
    }

    pub fn future(id: &'static str, underlying: &'static str, days: i64) -> Inst {
        Inst { expiry_days: Some(days), ..Inst::new(id, underlying, "future") }
    }

    pub fn option(
        id: &'static str,
        underlying: &'static str,
        option_type: &'static str,
        strike: f64,
        days: i64,
    ) -> Inst {
        Inst {
            option_type: Some(option_type),
            strike: Some(strike),
            expiry_days: Some(days),
            ..Inst::new(id, underlying, "option")
        }
    }

    pub fn times(self, multiplier: f64) -> Inst {
        Inst { multiplier, ..self }
    }
}

/// The instruments table with every column the reader knows.
pub fn instruments(rows: &[Inst]) -> OwnedTable {
    let col = |f: &dyn Fn(&Inst) -> Option<&'static str>| opt_strings(&rows.iter().map(f).collect::<Vec<_>>());
    let num = |f: &dyn Fn(&Inst) -> Option<f64>| opt_floats(&rows.iter().map(f).collect::<Vec<_>>());
    table(vec![
        ("instrument_id", strings(&rows.iter().map(|r| r.id).collect::<Vec<_>>())),
        ("underlying", strings(&rows.iter().map(|r| r.underlying).collect::<Vec<_>>())),
        ("kind", strings(&rows.iter().map(|r| r.kind).collect::<Vec<_>>())),
        ("option_type", col(&|r| r.option_type)),
        ("strike", num(&|r| r.strike)),
        ("expiry", days_after(&rows.iter().map(|r| r.expiry_days).collect::<Vec<_>>())),
        ("multiplier", floats(&rows.iter().map(|r| r.multiplier).collect::<Vec<_>>())),
        ("payoff", col(&|r| r.payoff)),
        ("barrier_type", col(&|r| r.barrier_type)),
        ("barrier", num(&|r| r.barrier)),
        ("rebate", num(&|r| r.rebate)),
    ])
}

/// `(underlying, spot, rate)` rows.
pub fn underlyings(rows: &[(&str, f64, f64)]) -> OwnedTable {
    table(vec![
        ("underlying", strings(&rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        ("spot", floats(&rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        ("rate", floats(&rows.iter().map(|r| r.2).collect::<Vec<_>>())),
    ])
}

/// `(instrument_id, implied_vol)` rows.
pub fn vols(rows: &[(&str, f64)]) -> OwnedTable {
    table(vec![
        ("instrument_id", strings(&rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        ("implied_vol", floats(&rows.iter().map(|r| r.1).collect::<Vec<_>>())),
    ])
}

/// `(account_id, instrument_id, quantity)` rows.
pub fn positions(rows: &[(&str, &str, f64)]) -> OwnedTable {
    table(vec![
        ("account_id", strings(&rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        ("instrument_id", strings(&rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        ("quantity", floats(&rows.iter().map(|r| r.2).collect::<Vec<_>>())),
    ])
}

/// Input tables of a market.
pub struct Market {
    pub instruments: OwnedTable,
    pub underlyings: OwnedTable,
    pub vols: OwnedTable,
}

impl Market {
    pub fn new(instruments: &[Inst], underlyings_rows: &[(&str, f64, f64)], vol_rows: &[(&str, f64)]) -> Market {
        Market {
            instruments: self::instruments(instruments),
            underlyings: self::underlyings(underlyings_rows),
            vols: self::vols(vol_rows),
        }
    }

    pub fn valuation(&self) -> Result<Valuation> {
        Valuation::new(
            self.instruments.view("instruments"),
            self.underlyings.view("underlyings"),
            self.vols.view("vols"),
            AS_OF,
            crate::spec::Limits::default(),
        )
    }

    pub fn engine(&self, spec: &Value) -> Result<Engine> {
        Engine::new(
            self.instruments.view("instruments"),
            self.underlyings.view("underlyings"),
            self.vols.view("vols"),
            AS_OF,
            MethodSpec::from_value(spec)?,
            crate::spec::Limits::default(),
        )
    }
}

/// Two underlyings at rate 0 (so a future is worth its multiplier times spot): A at 100, B at
/// 50. Instrument rows: 0 `FA` future on A; 1 `FB` future on B with multiplier 2; 2 `SA` spot
/// A; 3 `CA` one-year call on A struck at 100, vol 0.2; 4 `PB` one-year put on B struck at 50,
/// vol 0.3.
pub fn two_underlyings() -> Market {
    Market::new(
        &[
            Inst::future("FA", "A", 30),
            Inst::future("FB", "B", 30).times(2.0),
            Inst::spot("SA", "A"),
            Inst::option("CA", "A", "call", 100.0, 365),
            Inst::option("PB", "B", "put", 50.0, 365),
        ],
        &[("A", 100.0, 0.0), ("B", 50.0, 0.0)],
        &[("CA", 0.2), ("PB", 0.3)],
    )
}

pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

pub fn float_list(xs: &[f64]) -> Value {
    Value::List(xs.iter().map(|&x| Value::Float(x)).collect())
}

pub fn str_list(xs: &[&str]) -> Value {
    Value::List(xs.iter().map(|&x| Value::Str(x.to_owned())).collect())
}

/// `{"names": [...], "matrix": [...]}`.
pub fn correlation(names: &[&str], matrix: &[f64]) -> Value {
    map(vec![("names", str_list(names)), ("matrix", float_list(matrix))])
}

/// A grid spec, relative vol shocks; `cross` is "sum", "joint" or "correlation" (then give
/// `rho`).
pub fn grid_spec(price_shocks: &[f64], vol_shocks: &[f64], cross: &str, mm_ratio: f64, rho: Option<Value>) -> Value {
    let mut entries = vec![
        ("type", Value::Str("grid".into())),
        ("price_shocks", float_list(price_shocks)),
        ("vol_shocks", float_list(vol_shocks)),
        ("vol_shock", Value::Str("relative".into())),
        ("cross", Value::Str(cross.into())),
        ("mm_ratio", Value::Float(mm_ratio)),
    ];
    if let Some(rho) = rho {
        entries.push(("correlation", rho));
    }
    map(entries)
}

/// A moves table: `(day after AS_OF, underlying, return)`.
pub fn moves(rows: &[(i64, &str, f64)]) -> OwnedTable {
    table(vec![
        ("date", days_after(&rows.iter().map(|r| Some(r.0)).collect::<Vec<_>>())),
        ("underlying", strings(&rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        ("return", floats(&rows.iter().map(|r| r.2).collect::<Vec<_>>())),
    ])
}

/// A historical spec with relative vol moves and no EWMA.
pub fn historical_spec(
    moves: OwnedTable,
    stressed: Option<OwnedTable>,
    measure: &str,
    confidence: f64,
    mm_ratio: f64,
) -> Value {
    map(vec![
        ("type", Value::Str("historical".into())),
        ("moves", Value::Table(moves)),
        ("stressed", stressed.map_or(Value::Null, Value::Table)),
        ("measure", Value::Str(measure.into())),
        ("confidence", Value::Float(confidence)),
        ("vol_shock", Value::Str("relative".into())),
        ("mm_ratio", Value::Float(mm_ratio)),
        ("ewma_lambda", Value::Null),
        ("tail_scenarios", Value::Bool(true)),
    ])
}

/// A netted book: per account, its `(instrument row, quantity)` positions.
pub fn book(accounts: &[&[(u32, f64)]]) -> Book {
    let mut offsets = vec![0];
    let (mut instrument, mut quantity) = (Vec::new(), Vec::new());
    for positions in accounts {
        for &(c, q) in *positions {
            instrument.push(c);
            quantity.push(q);
        }
        offsets.push(instrument.len());
    }
    let first_row = offsets[..accounts.len()].to_vec();
    Book { first_row, offsets, instrument: instrument.into(), quantity: quantity.into(), failed: Vec::new() }
}

/// A spot contract (multiplier 1) on underlyings-table row `underlying`.
pub fn spot_contract(underlying: u32, spot: f64) -> Contract {
    Contract {
        underlying,
        kind: Kind::Spot,
        option_type: None,
        strike: 0.0,
        t: 0.0,
        multiplier: 1.0,
        spot,
        rate: 0.0,
        vol: 0.0,
        growth: 1.0,
        discount: 1.0,
        sqrt_t: 0.0,
        payoff: Payoff::Vanilla,
    }
}

/// A scenario set from each underlying's spot factor per scenario (no vol moves, no labels).
pub fn scenario_set(factors: &[Vec<f64>]) -> ScenarioSet {
    let n = factors.first().map_or(0, Vec::len);
    assert!(factors.iter().all(|f| f.len() == n), "as many scenarios for every underlying");
    ScenarioSet {
        n,
        price_factor: factors.concat(),
        vol_change: vec![0.0; n * factors.len()],
        vol_mode: VolShockMode::Relative,
        missing: vec![None; factors.len()],
        labels: (0..n).map(|s| format!("s{s}")).collect(),
    }
}

/// Risk arrays of spot contracts `(underlying, spot)` under `factors` (see [`scenario_set`]): the
/// P&L per unit of contract c under scenario s is `spot_c x (factor - 1)`.
pub fn spot_risk(contracts: &[(u32, f64)], factors: &[Vec<f64>]) -> RiskArrays {
    let contracts: Vec<Option<Contract>> = contracts.iter().map(|&(u, s)| Some(spot_contract(u, s))).collect();
    let base: Vec<f64> = contracts.iter().flatten().map(|c| c.spot).collect();
    RiskArrays::build(&contracts, &base, &scenario_set(factors)).expect("finite")
}

/// A deterministic generator for tests: a 64-bit linear congruential generator (no dependency,
/// the same stream on every platform). `Lcg(seed)` starts from `seed`.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next state.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    /// The next number in [0, 1), from the state's top 53 bits.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Lcg {
    /// A generator whose stream differs well between nearby seeds (the seed's bits spread).
    pub fn seeded(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
}

/// A deterministic stream of numbers in [0, 1) ([`Lcg::seeded`]).
pub fn uniforms(seed: u64, n: usize) -> Vec<f64> {
    let mut g = Lcg::seeded(seed);
    (0..n).map(|_| g.next_unit()).collect()
}

/// `n_accounts` random netted accounts: each of `floor(len x u)` draws of a contract
/// `floor(contracts x u)` and a quantity `quantity(u)`, then one position per contract, never
/// zero, in contract order (the form `domain::Book` holds).
pub fn netted_accounts(
    seed: u64,
    n_accounts: usize,
    len: f64,
    contracts: f64,
    quantity: impl Fn(f64) -> f64,
) -> Vec<Vec<(u32, f64)>> {
    let mut g = Lcg::seeded(seed);
    (0..n_accounts)
        .map(|_| {
            let n = (g.next_unit() * len) as usize;
            let mut held: Vec<(u32, f64)> =
                (0..n).map(|_| ((g.next_unit() * contracts) as u32, quantity(g.next_unit()))).collect();
            held.sort_by_key(|p| p.0);
            held.dedup_by_key(|p| p.0);
            held.retain(|p| p.1 != 0.0);
            held
        })
        .collect()
}

/// A Float64 column of a batch by name.
pub fn f64_column(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let column = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    column.as_primitive::<Float64Type>().values().to_vec()
}

/// A nullable Float64 column of a batch by name.
pub fn opt_f64_column(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    column.as_primitive::<Float64Type>().iter().collect()
}

/// A Utf8 column of a batch by name (None for null).
pub fn str_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    column.as_string::<i32>().iter().map(|s| s.map(str::to_owned)).collect()
}

/// `(name, type, nullable)` of every field, in order.
pub fn schema_of(batch: &RecordBatch) -> Vec<(String, DataType, bool)> {
    batch.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable())).collect()
}

/// `|a - b| <= tol`, with both numbers in the message.
#[track_caller]
pub fn assert_close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
}

/// Elementwise [`assert_close`].
#[track_caller]
pub fn assert_all_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?} (tolerance {tol})");
    }
}
