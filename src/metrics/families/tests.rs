//! The families over a real registry: live bytes are counted before a connection ends, a
//! connection between leaving the live table and its ended record being counted neither lowers
//! nor doubles the byte counters, and the ended record's labels.

use std::sync::Arc;

use super::*;
use crate::registry::{ConnId, ConnStatus};

fn snapshot(id: u32, listener: &str) -> ConnSnapshot {
    ConnSnapshot::sample(ConnId(id), listener)
}

/// The value of the one line that starts with `series ` in a Prometheus text scrape.
fn value(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

struct Fixture {
    families: Families,
    registry: Arc<Registry>,
    refreshes: RefreshCounts,
    listeners: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            families: Families::default(),
            registry: Arc::new(Registry::default()),
            refreshes: RefreshCounts::default(),
            listeners: vec!["L1".into(), "L2".into()],
        }
    }

    fn scrape(&self) -> String {
        let s = Scrape {
            connections: &self.registry,
            generation: 7,
            certificates: &[],
            listeners: &self.listeners,
            refreshes: &self.refreshes,
            dropped: 0,
        };
        self.families.render(&s, Format::PrometheusText)
    }
}

#[test]
fn bytes_count_live_connections_and_never_go_down_or_double() {
    let f = Fixture::new();
    let mut feed = f.registry.subscribe_ended(8);
    let conn = f.registry.register(snapshot(1, "L1"));
    conn.entry.bytes_in.store(100, Ordering::Relaxed);
    conn.entry.bytes_out.store(40, Ordering::Relaxed);
    let live = f.scrape();
    assert_eq!(value(&live, "attls_bytes_total{direction=\"in\"}"), Some(100), "{live}");
    assert_eq!(value(&live, "attls_bytes_total{direction=\"out\"}"), Some(40), "{live}");
    assert_eq!(value(&live, "attls_connections_active{listener=\"L1\"}"), Some(1), "{live}");
    assert_eq!(value(&live, "attls_connections_active{listener=\"L2\"}"), Some(0), "{live}");
    assert_eq!(value(&live, "attls_policy_generation"), Some(7), "{live}");

    // More bytes, then the connection ends: gone from the table, its record not counted yet.
    conn.entry.bytes_in.store(150, Ordering::Relaxed);
    drop(conn);
    let between = f.scrape();
    assert_eq!(value(&between, "attls_bytes_total{direction=\"in\"}"), Some(100), "never down: {between}");
    assert_eq!(value(&between, "attls_connections_active{listener=\"L1\"}"), Some(0), "{between}");

    let ended = feed.records.try_recv().expect("the ended record");
    f.families.count_ended(&ended.snapshot);
    let counted = f.scrape();
    assert_eq!(value(&counted, "attls_bytes_total{direction=\"in\"}"), Some(150), "once: {counted}");
    assert_eq!(value(&counted, "attls_bytes_total{direction=\"out\"}"), Some(40), "{counted}");
    let labels = "attls_connections_total{listener=\"L1\",rule=\"-\",status=\"NOT_SECURE\"}";
    assert_eq!(value(&counted, labels), Some(1), "{counted}");

    let next = f.registry.register(snapshot(2, "L2"));
    next.entry.bytes_in.store(5, Ordering::Relaxed);
    assert_eq!(value(&f.scrape(), "attls_bytes_total{direction=\"in\"}"), Some(155));
}

#[test]
fn failures_resumption_and_refreshes_are_counted() {
    let f = Fixture::new();
    let mut failed = snapshot(1, "L1");
    failed.rc = Some(5004);
    let mut resumed = snapshot(2, "L1");
    (resumed.conn_status, resumed.tls_resumed) = (ConnStatus::Secure, Some(true));
    for c in [&failed, &failed, &resumed] {
        f.families.count_ended(c);
    }
    f.refreshes.count(true);
    f.refreshes.count(false);
    f.refreshes.count(false);
    let text = f.scrape();
    assert_eq!(value(&text, "attls_handshake_failures_total{rc=\"5004\"}"), Some(2), "{text}");
    assert_eq!(value(&text, "attls_resumed_handshakes_total"), Some(1), "{text}");
    let secure = "attls_connections_total{listener=\"L1\",rule=\"-\",status=\"SECURE\"}";
    assert_eq!(value(&text, secure), Some(1), "{text}");
    assert_eq!(value(&text, "attls_refresh_total{result=\"success\"}"), Some(1), "{text}");
    assert_eq!(value(&text, "attls_refresh_total{result=\"failure\"}"), Some(2), "{text}");
}
