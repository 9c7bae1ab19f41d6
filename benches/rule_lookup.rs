//! Rule lookup for one connection with 100, 1,000 and 10,000 rules (target: under 1 µs median at
//! 10,000). Three probes: a hit early in evaluation order, a hit late, and a miss.

use std::hint::black_box;
use std::net::SocketAddr;

use attls::policy::{ConnDirection, Connection, LoadOptions, load_str};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

mod common;

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("rule_lookup");
    for n in [100usize, 1_000, 10_000] {
        let loaded = load_str("bench.pol", &common::policy_text(n), LoadOptions::default());
        let table = loaded.table.expect("synthetic policy loads");
        let remote: SocketAddr = "192.0.2.9:40000".parse().expect("addr");
        let probes = [
            ("first", 1024u16, "JOB0A"),
            ("last", 1024 + n as u16 - 2, if (n - 2) % 7 == 0 { "JOB0A" } else { "JOB1A" }),
            ("miss", 1023, "JOB0A"),
        ];
        for (label, port, job) in probes {
            let local: SocketAddr = format!("10.1.1.2:{port}").parse().expect("addr");
            let conn = Connection {
                direction: ConnDirection::Inbound,
                local,
                remote,
                jobname: Some(job),
                userid: None,
            };
            assert_eq!(
                table.lookup(&conn).map(|r| &r.name),
                table.lookup_scan(&conn).map(|r| &r.name),
                "index and scan agree"
            );
            group.bench_with_input(BenchmarkId::new(label, n), &conn, |b, conn| {
                b.iter(|| black_box(table.lookup(black_box(conn))).is_some())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
