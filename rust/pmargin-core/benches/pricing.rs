//! Closed-form pricing kernels, one call per iteration: Black-76, the vanilla Greeks, the
//! cash-or-nothing digital and the single-barrier closed form (price, and price with Greeks).
//!
//! `cargo bench -p pmargin-core --bench pricing`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pmargin_core::domain::option_terms::{BarrierType, OptionType};
use pmargin_core::pricing::barrier::{self, BarrierParams};
use pmargin_core::pricing::black76::{black76, black76_sqrt};
use pmargin_core::pricing::{digital, greeks};

/// A one-month option slightly out of the money: spot, strike, years, rate, vol.
const S: f64 = 60_000.0;
const K: f64 = 63_000.0;
const T: f64 = 30.0 / 365.0;
const R: f64 = 0.04;
const VOL: f64 = 0.55;

fn black_76(c: &mut Criterion) {
    let mut group = c.benchmark_group("black76");
    let (f, df) = (S * (R * T).exp(), (-R * T).exp());
    for option_type in [OptionType::Call, OptionType::Put] {
        let name = format!("{option_type:?}").to_lowercase();
        group.bench_function(format!("price/{name}"), |b| {
            b.iter(|| black76(black_box(option_type), black_box(f), black_box(K), black_box(T), black_box(VOL), df))
        });
    }
    // The scenario loops' form: sqrt(t) computed once by the caller.
    let sqrt_t = T.sqrt();
    group.bench_function("price_sqrt/call", |b| {
        b.iter(|| black76_sqrt(OptionType::Call, black_box(f), black_box(K), T, sqrt_t, black_box(VOL), df))
    });
    group.bench_function("greeks/call", |b| {
        b.iter(|| greeks::vanilla(OptionType::Call, black_box(S), black_box(K), black_box(T), R, black_box(VOL)))
    });
    group.finish();
}

fn digitals(c: &mut Criterion) {
    let mut group = c.benchmark_group("digital");
    group.bench_function("price/call", |b| {
        b.iter(|| digital::price(OptionType::Call, black_box(S), black_box(K), black_box(T), R, black_box(VOL)))
    });
    group.bench_function("greeks/call", |b| {
        b.iter(|| digital::greeks(OptionType::Call, black_box(S), black_box(K), black_box(T), R, black_box(VOL)))
    });
    group.finish();
}

fn barriers(c: &mut Criterion) {
    let mut group = c.benchmark_group("barrier");
    let cases = [
        ("down-and-out call", OptionType::Call, BarrierType::DownOut, 50_000.0),
        ("up-and-in put", OptionType::Put, BarrierType::UpIn, 70_000.0),
        ("up-and-out call", OptionType::Call, BarrierType::UpOut, 70_000.0),
    ];
    for (name, option_type, barrier_type, level) in cases {
        let params = BarrierParams {
            option_type,
            barrier_type,
            spot: S,
            strike: K,
            barrier: level,
            rebate: 100.0,
            t: T,
            rate: R,
            vol: VOL,
        };
        group.bench_function(format!("price/{name}"), |b| b.iter(|| barrier::price(black_box(&params))));
        group.bench_function(format!("greeks/{name}"), |b| b.iter(|| barrier::greeks(black_box(&params))));
    }
    group.finish();
}

criterion_group!(benches, black_76, digitals, barriers);
criterion_main!(benches);
