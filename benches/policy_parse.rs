//! Parsing plus resolving a policy file of 100, 1,000 and 10,000 rules (target: under 100 ms at
//! 10,000), the work of `pagent check` and of every refresh.

use std::hint::black_box;

use attls::policy::{LoadOptions, load_str};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_parse");
    group.sample_size(20);
    for n in [100usize, 1_000, 10_000] {
        let text = common::policy_text(n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse_resolve", n), &text, |b, text| {
            b.iter(|| {
                let loaded = load_str("bench.pol", black_box(text), LoadOptions::default());
                assert!(loaded.table.is_some());
                loaded
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
