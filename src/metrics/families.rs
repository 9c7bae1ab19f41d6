//! The metric families attls exports (docs/metrics.md): their names, labels and types are a
//! contract. Connection figures are counted from ended connections ([`Families::count_ended`]);
//! the rest is read when a scrape comes ([`Families::render`]): live connections and their bytes,
//! the generation in force and its certificates, the reload and dropped-record counts.
//!
//! Label values come from the configuration and the policy only (listener and rule names, return
//! codes, keyrings and labels the rules name), never from clients, so every label set is bounded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as MetricRegistry;

use super::RefreshCounts;
use super::exposition::{Format, to_prometheus_text};
use crate::registry::{ConnSnapshot, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Ended {
    listener: String,
    /// The rule's name, `-` for none.
    rule: String,
    /// The ConnStatus word the connection ended in.
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Listener {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReturnCode {
    rc: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Certificate {
    keyring: String,
    label: String,
}

const IN: Direction = Direction { direction: "in" };
const OUT: Direction = Direction { direction: "out" };
const SUCCESS: Outcome = Outcome { result: "success" };
const FAILURE: Outcome = Outcome { result: "failure" };

/// What a scrape reads besides the families' own counts.
pub struct Scrape<'a> {
    pub connections: &'a Registry,
    /// The generation in force and its rules.
    pub generation: u64,
    pub certificates: &'a [crate::engine::generation::CertificateExpiry],
    /// Every configured listener (each gets an active-connections series, 0 when idle).
    pub listeners: &'a [String],
    pub refreshes: &'a RefreshCounts,
    /// Records the full ended-connection queue dropped.
    pub dropped: u64,
}

/// Every family, registered for encoding.
#[derive(Debug)]
pub struct Families {
    registry: MetricRegistry,
    connections: Family<Ended, Counter>,
    active: Family<Listener, Gauge>,
    handshake_failures: Family<ReturnCode, Counter>,
    bytes: Family<Direction, Counter>,
    resumed: Counter,
    generation: Gauge,
    refreshes: Family<Outcome, Counter>,
    expiry: Family<Certificate, Gauge>,
    dropped: Counter,
    /// Bytes from and to clients of the connections whose ended record was counted.
    ended_in: AtomicU64,
    ended_out: AtomicU64,
    /// One scrape at a time brings the families up to date and encodes them; the value is the
    /// generation whose certificates `expiry` holds.
    scraping: Mutex<Option<u64>>,
}

impl Default for Families {
    fn default() -> Families {
        let f = Families {
            registry: MetricRegistry::default(),
            connections: Family::default(),
            active: Family::default(),
            handshake_failures: Family::default(),
            bytes: Family::default(),
            resumed: Counter::default(),
            generation: Gauge::default(),
            refreshes: Family::default(),
            expiry: Family::default(),
            dropped: Counter::default(),
            ended_in: AtomicU64::new(0),
            ended_out: AtomicU64::new(0),
            scraping: Mutex::new(None),
        };
        // Series that exist from the start, so rates and alerts see them before the first event.
        for d in [IN, OUT] {
            let _created = f.bytes.get_or_create(&d);
        }
        for o in [SUCCESS, FAILURE] {
            let _created = f.refreshes.get_or_create(&o);
        }
        f.register()
    }
}

impl Families {
    /// Registers each family under its contract name (counters get `_total` when encoded).
    fn register(mut self) -> Families {
        let r = &mut self.registry;
        r.register(
            "attls_connections",
            "Connections that ended, by listener, rule (- for none) and the status they ended in",
            self.connections.clone(),
        );
        r.register("attls_connections_active", "Live connections, by listener", self.active.clone());
        r.register(
            "attls_handshake_failures",
            "Failed TLS handshakes by z/OS return code, counted when their connection ends",
            self.handshake_failures.clone(),
        );
        r.register(
            "attls_bytes",
            "Bytes from clients (in) and to clients (out), live connections included",
            self.bytes.clone(),
        );
        r.register(
            "attls_resumed_handshakes",
            "TLS handshakes that resumed a session, counted when their connection ends",
            self.resumed.clone(),
        );
        r.register("attls_policy_generation", "The policy generation in force", self.generation.clone());
        r.register(
            "attls_refresh",
            "Policy reloads after startup (refresh command, SIGHUP, file change, interval), by result",
            self.refreshes.clone(),
        );
        r.register(
            "attls_certificate_expiry_seconds",
            "notAfter of each certificate the rules in force use, in seconds since the Unix epoch",
            self.expiry.clone(),
        );
        r.register(
            "attls_ended_records_dropped",
            "Ended connections left uncounted because the metrics queue was full",
            self.dropped.clone(),
        );
        self
    }

    /// Counts one ended connection.
    pub fn count_ended(&self, c: &ConnSnapshot) {
        let rule = c.rule.as_ref().map_or_else(|| "-".to_string(), |r| r.name.clone());
        let labels = Ended { listener: c.listener.clone(), rule, status: c.conn_status.word() };
        self.connections.get_or_create(&labels).inc();
        if let Some(rc) = c.rc {
            self.handshake_failures.get_or_create(&ReturnCode { rc }).inc();
        }
        if c.tls_resumed == Some(true) {
            self.resumed.inc();
        }
        // Release: a scrape that sees these bytes also sees the connection gone from the live table.
        self.ended_in.fetch_add(c.bytes_in, Ordering::Release);
        self.ended_out.fetch_add(c.bytes_out, Ordering::Release);
    }

    /// Brings the families up to date with `s` and encodes them in `format`.
    pub fn render(&self, s: &Scrape<'_>, format: Format) -> String {
        let mut expiry_of = self.scraping.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(s, &mut expiry_of);
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would leave a partial page.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        match format {
            Format::OpenMetrics => text,
            Format::PrometheusText => to_prometheus_text(&text),
        }
    }

    fn refresh(&self, s: &Scrape<'_>, expiry_of: &mut Option<u64>) {
        // Ended bytes first, then the live table: a connection counted in the first is no longer
        // in the second, so none is counted twice. One that has left the table but whose record
        // is not counted yet is missing for a moment: `raise` keeps the counters from going down.
        let (ended_in, ended_out) =
            (self.ended_in.load(Ordering::Acquire), self.ended_out.load(Ordering::Acquire));
        let live = s.connections.live_totals();
        raise(&self.bytes.get_or_create(&IN), ended_in + live.bytes_in);
        raise(&self.bytes.get_or_create(&OUT), ended_out + live.bytes_out);
        self.active.clear();
        for name in s.listeners {
            self.active.get_or_create(&Listener { listener: name.clone() }).set(0);
        }
        for (name, n) in &live.per_listener {
            self.active.get_or_create(&Listener { listener: name.clone() }).set(gauge_value(*n));
        }
        raise(&self.refreshes.get_or_create(&SUCCESS), s.refreshes.succeeded());
        raise(&self.refreshes.get_or_create(&FAILURE), s.refreshes.failed());
        raise(&self.dropped, s.dropped);
        self.generation.set(gauge_value(s.generation));
        if *expiry_of != Some(s.generation) {
            self.expiry.clear();
            for leaf in s.certificates {
                let c = Certificate { keyring: leaf.keyring.clone(), label: leaf.label.clone() };
                self.expiry.get_or_create(&c).set(unix_seconds(leaf.not_after));
            }
            *expiry_of = Some(s.generation);
        }
    }
}

/// Raises a counter to `to` (a counter never goes down; a lower figure leaves it as it is).
fn raise(counter: &Counter, to: u64) {
    let now = counter.get();
    if to > now {
        counter.inc_by(to - now);
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => gauge_value(d.as_secs()),
        Err(e) => -gauge_value(e.duration().as_secs()),
    }
}

#[cfg(test)]
mod tests;
