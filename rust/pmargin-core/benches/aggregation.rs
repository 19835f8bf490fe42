//! Aggregation kernels and the methods built on them, on generated data:
//!
//! - `kernels`: `accumulate` (acc += q x row) and `least_differences` over a few row counts and
//!   widths, and `worst_loss` over a few lengths;
//! - `grid`: a generated book of 10,000 accounts (20 underlyings, 780 instruments, about 45,000
//!   positions) margined through `Engine` (reading the book included), and the grid aggregation
//!   alone on the same netted book;
//! - `var`: the streaming tail aggregation (`risk::tail_stream`) of 1,000 accounts under 1,000
//!   historical scenarios, alone and through `Engine`.
//!
//! `cargo bench -p pmargin-core --bench aggregation`

use std::hint::black_box;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_schema::{Field, Schema};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pmargin_core::domain::book::{read_book, Book, OnError};
use pmargin_core::methods::grid::aggregate::aggregate;
use pmargin_core::methods::grid::model::{Cross, GridModel};
use pmargin_core::methods::grid::outcome::GridContext;
use pmargin_core::methods::var::{HistoricalSpec, TailSpec};
use pmargin_core::risk::arrays::RiskArrays;
use pmargin_core::risk::kernels::{accumulate, least_differences, WeightedRow};
use pmargin_core::risk::tail::{tail_count, Measure};
use pmargin_core::risk::tail_stream::{plans, window_outcomes, UnitTails};
use pmargin_core::risk::worst_loss::worst_loss;
use pmargin_core::scenarios::{historical, VolShockMode};
use pmargin_core::valuation::Valuation;
use pmargin_core::{Engine, Limits, MethodSpec, OwnedTable};

const DAY_NS: i64 = 86_400_000_000_000;
/// 2024-01-01T00:00:00Z.
const AS_OF: i64 = 19_723 * DAY_NS;
const UNDERLYINGS: usize = 20;

/// A deterministic generator of numbers in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n - 1)
    }
}

fn table(columns: Vec<(&str, ArrayRef)>) -> OwnedTable {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect());
    OwnedTable { schema, batches: vec![batch.expect("a valid generated batch")] }
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn floats(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn times(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(values))
}

/// The generated market: per underlying two futures, a perpetual and 36 options (9 strikes from
/// 80% to 120% of spot, calls and puts, 30 and 90 days), each option with its own vol.
struct Market {
    instruments: OwnedTable,
    underlyings: OwnedTable,
    vols: OwnedTable,
    /// Instrument ids of each underlying.
    ids: Vec<Vec<String>>,
}

fn market() -> Market {
    let mut rng = Lcg(7);
    let (mut id, mut underlying, mut kind, mut option_type, mut strike, mut expiry) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut vol_ids, mut vols, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    let mut add =
        |ids: &mut Vec<String>, name: String, u: &str, k: &str, o: Option<&str>, x: Option<f64>, days: Option<i64>| {
            ids.push(name.clone());
            id.push(name);
            underlying.push(u.to_owned());
            kind.push(k.to_owned());
            option_type.push(o.map(str::to_owned));
            strike.push(x);
            expiry.push(days.map(|d| AS_OF + d * DAY_NS));
        };
    let names: Vec<String> = (0..UNDERLYINGS).map(|u| format!("U{u:02}")).collect();
    let spots: Vec<f64> = (0..UNDERLYINGS).map(|u| 100.0 * (1 + u) as f64).collect();
    for (u, name) in names.iter().enumerate() {
        let mut own = Vec::new();
        add(&mut own, format!("{name}-F30"), name, "future", None, None, Some(30));
        add(&mut own, format!("{name}-F90"), name, "future", None, None, Some(90));
        add(&mut own, format!("{name}-PERP"), name, "perpetual", None, None, None);
        for days in [30, 90] {
            for step in 0..9 {
                let k = spots[u] * (0.8 + 0.05 * step as f64);
                for side in ["call", "put"] {
                    let option = format!("{name}-{days}D-{k:.0}-{}", &side[..1].to_uppercase());
                    vol_ids.push(option.clone());
                    vols.push(0.3 + 0.5 * rng.next());
                    add(&mut own, option, name, "option", Some(side), Some(k), Some(days));
                }
            }
        }
        ids.push(own);
    }
    let option_type: Vec<Option<&str>> = option_type.iter().map(Option::as_deref).collect();
    Market {
        instruments: table(vec![
            ("instrument_id", strings(id)),
            ("underlying", strings(underlying)),
            ("kind", strings(kind)),
            ("option_type", Arc::new(StringArray::from(option_type))),
            ("strike", Arc::new(Float64Array::from(strike))),
            ("expiry", times(expiry)),
        ]),
        underlyings: table(vec![
            ("underlying", strings(names)),
            ("spot", floats(spots)),
            ("rate", floats(vec![0.02; UNDERLYINGS])),
        ]),
        vols: table(vec![("instrument_id", strings(vol_ids)), ("implied_vol", floats(vols))]),
        ids,
    }
}

/// `accounts` accounts of 1 to 8 positions on 1 to 3 underlyings, rows grouped by account.
fn positions(market: &Market, accounts: usize, seed: u64) -> OwnedTable {
    let mut rng = Lcg(seed);
    let (mut account, mut instrument, mut quantity) = (Vec::new(), Vec::new(), Vec::new());
    for a in 0..accounts {
        let held: Vec<usize> = (0..1 + rng.below(3)).map(|_| rng.below(UNDERLYINGS)).collect();
        for _ in 0..1 + rng.below(8) {
            let ids = &market.ids[held[rng.below(held.len())]];
            account.push(format!("ACC{a:07}"));
            instrument.push(ids[rng.below(ids.len())].clone());
            let size = (1 + rng.below(10)) as f64;
            quantity.push(if rng.next() < 0.5 { -size } else { size });
        }
    }
    table(vec![
        ("account_id", strings(account)),
        ("instrument_id", strings(instrument)),
        ("quantity", floats(quantity)),
    ])
}

fn engine(market: &Market, spec: MethodSpec) -> Engine {
    let (i, u, v) =
        (market.instruments.view("instruments"), market.underlyings.view("underlyings"), market.vols.view("vols"));
    Engine::new(i, u, v, AS_OF, spec, Limits::default()).expect("a valid generated market")
}

fn valuation(market: &Market) -> Valuation {
    let (i, u, v) =
        (market.instruments.view("instruments"), market.underlyings.view("underlyings"), market.vols.view("vols"));
    Valuation::new(i, u, v, AS_OF, Limits::default()).expect("a valid generated market")
}

fn netted(valuation: &Valuation, positions: &OwnedTable) -> Book {
    read_book(positions.view("positions"), &valuation.instruments, |row| valuation.check_usable(row), OnError::Raise)
        .expect("valid generated positions")
}

fn grid_model(cross: Cross) -> GridModel {
    let price_shocks = vec![-0.15, -0.1, -0.05, -0.025, 0.0, 0.025, 0.05, 0.1, 0.15];
    GridModel::new(price_shocks, vec![-0.3, 0.0, 0.3], VolShockMode::Relative, cross, 0.75).expect("a valid grid")
}

fn kernels(c: &mut Criterion) {
    let mut rng = Lcg(11);
    let mut group = c.benchmark_group("kernels");
    for width in [256, 4096] {
        let data: Vec<Vec<f64>> = (0..16).map(|_| (0..width).map(|_| rng.next() - 0.5).collect()).collect();
        let p: Vec<f64> = (0..width).map(|_| rng.next() - 0.5).collect();
        for n_rows in [1, 4, 16] {
            let rows: Vec<WeightedRow<'_>> =
                data[..n_rows].iter().enumerate().map(|(r, x)| (r as f64 - 7.5, x.as_slice())).collect();
            group.throughput(Throughput::Elements((n_rows * width) as u64));
            let id = format!("{n_rows}x{width}");
            let mut acc = vec![0.0; width];
            group.bench_function(BenchmarkId::new("accumulate", &id), |b| {
                b.iter(|| accumulate(black_box(&mut acc), black_box(&rows)))
            });
            let mut least = vec![f64::INFINITY; n_rows];
            group.bench_function(BenchmarkId::new("least_differences", &id), |b| {
                b.iter(|| least_differences(black_box(&p), black_box(&rows), black_box(&mut least)))
            });
        }
    }
    for n in [27, 4096, 65_536] {
        let pnl: Vec<f64> = (0..n).map(|_| rng.next() - 0.5).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("worst_loss", n), |b| b.iter(|| worst_loss(black_box(&pnl))));
    }
    group.finish();
}

fn grid(c: &mut Criterion) {
    let market = market();
    let book = positions(&market, 10_000, 3);
    let mut group = c.benchmark_group("grid");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000));
    for (name, cross) in [("sum", Cross::Sum), ("joint", Cross::Joint)] {
        let engine = engine(&market, MethodSpec::Grid(grid_model(cross.clone())));
        group.bench_function(BenchmarkId::new("engine_margin_10k_accounts", name), |b| {
            b.iter(|| engine.margin(book.view("positions"), false, pmargin_core::OnError::Raise).expect("margined"))
        });
        if let Cross::Sum = cross {
            group.bench_function(BenchmarkId::new("engine_margin_by_position_10k_accounts", name), |b| {
                b.iter(|| engine.margin(book.view("positions"), true, pmargin_core::OnError::Raise).expect("margined"))
            });
        }
    }
    // The aggregation alone, on the netted book and the risk arrays built once.
    let valuation = valuation(&market);
    let model = grid_model(Cross::Sum);
    let netted = netted(&valuation, &book);
    let set = model.scenario_set(UNDERLYINGS);
    let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set).expect("finite");
    let correlation_index = vec![None; UNDERLYINGS];
    let ctx = GridContext {
        model: &model,
        risk: &risk,
        underlying_of: &valuation.underlying_of,
        correlation_index: &correlation_index,
        ellipsoid: None,
    };
    group.bench_function("aggregate_10k_accounts/sum", |b| b.iter(|| aggregate(black_box(&netted), &ctx)));
    group.finish();
}

/// 1,000 daily joint moves of every underlying.
fn moves(days: usize) -> OwnedTable {
    let mut rng = Lcg(5);
    let (mut date, mut underlying, mut ret) = (Vec::new(), Vec::new(), Vec::new());
    for d in 0..days {
        let common = rng.next() - 0.5;
        for u in 0..UNDERLYINGS {
            date.push(Some(AS_OF - (days - d) as i64 * DAY_NS));
            underlying.push(format!("U{u:02}"));
            ret.push(0.04 * common + 0.03 * (rng.next() - 0.5));
        }
    }
    table(vec![("date", times(date)), ("underlying", strings(underlying)), ("return", floats(ret))])
}

fn var(c: &mut Criterion) {
    const DAYS: usize = 1000;
    let market = market();
    let book = positions(&market, 1000, 9);
    let moves = moves(DAYS);
    let tail = TailSpec { measure: Measure::ES, confidence: 0.99, mm_ratio: 1.0, tail_scenarios: None };
    let mut group = c.benchmark_group("var");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));

    // The streaming tails alone: risk arrays, plans and unit tails built once.
    let valuation = valuation(&market);
    let set = historical::scenario_set(moves.view("moves"), &valuation.underlyings, VolShockMode::Relative, None)
        .expect("valid moves");
    let risk = RiskArrays::build(&valuation.contracts, &valuation.base_values, &set).expect("finite");
    let k = tail_count(DAYS, tail.confidence).expect("enough scenarios");
    let netted = netted(&valuation, &book);
    let plans = plans(&netted, &valuation.underlying_of);
    let units = UnitTails::new(&netted, &risk, valuation.instruments.len(), k, tail.measure);
    group.bench_function("tail_stream_1k_accounts_1k_scenarios/es", |b| {
        b.iter(|| window_outcomes(black_box(&netted), &plans, &risk, &units, k, tail.measure))
    });

    let spec = HistoricalSpec { moves, stressed: None, vol_mode: VolShockMode::Relative, ewma_lambda: None, tail };
    let engine = engine(&market, MethodSpec::Historical(spec));
    group.bench_function("engine_margin_1k_accounts_1k_scenarios/es", |b| {
        b.iter(|| engine.margin(book.view("positions"), false, pmargin_core::OnError::Raise).expect("margined"))
    });
    group.finish();
}

criterion_group!(benches, kernels, grid, var);
criterion_main!(benches);
