//! The output, per scenario: the medians of the rounds as a markdown table (a row per proxy) and the
//! latency table, each proxy's resumed/full handshake CPU ratio, attls's resumed handshakes right
//! after a refresh (the peers: `-`, they have no refresh with the same meaning), the target checks
//! (`targets.rs`); and all of it, each phase's raw figures included, as JSON in
//! `target/peers.json` (a row per scenario and proxy).

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::Params;
use crate::latency::LatencyRow;
use crate::measure::cores;
use crate::proxies::Kind;
use crate::scenario::Scenario;

/// The table's figures (medians over the rounds).
#[derive(Debug, Default)]
pub struct Row {
    pub cpu_s_per_gb_1: Option<f64>,
    pub cpu_s_per_gb_8: Option<f64>,
    pub mb_s_1: Option<f64>,
    pub mb_s_8: Option<f64>,
    pub cpu_ms_full: Option<f64>,
    pub cpu_ms_resumed: Option<f64>,
    pub hs_s_full: Option<f64>,
    pub hs_s_resumed: Option<f64>,
    pub rss_kib_idle: Option<f64>,
    pub rss_kib_base: Option<u64>,
    /// attls only (None: a peer, `-` in the table).
    pub after_refresh: Option<AfterRefresh>,
    /// 1 KiB request/response latency with one connection and with `idle` at once.
    pub latency_1: Option<LatencyRow>,
    pub latency_many: Option<LatencyRow>,
    pub phases: Vec<Value>,
    pub error: Option<String>,
}

/// Resumed handshakes right after a refresh (the refresh phase, attls only).
#[derive(Debug, Default)]
pub struct AfterRefresh {
    /// Medians over the rounds: CPU ms per handshake (ticks), handshakes/s, and the per-round ratio
    /// of the CPU per handshake to the Resumed phase's of the same round (by thread when both
    /// phases have that reading, else ticks).
    pub cpu_ms: Option<f64>,
    pub hs_s: Option<f64>,
    pub over_before: Option<f64>,
    /// Medians of the CPU ms per handshake by thread (ns): after the refresh, and before it.
    pub by_thread: Option<(f64, f64)>,
    /// Over all rounds: attempts that resumed, and attempts.
    pub resumed: usize,
    pub attempts: usize,
    /// Every round's figures.
    pub rounds: Vec<Value>,
}

impl AfterRefresh {
    pub fn share(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.resumed as f64 / self.attempts as f64)
    }

    fn json(&self) -> Value {
        json!({
            "cpu_ms_per_handshake": self.cpu_ms,
            "handshakes_per_s": self.hs_s,
            "after_over_before_cpu": self.over_before,
            "cpu_ms_per_handshake_by_thread": self.by_thread.map(|b| b.0),
            "before_cpu_ms_per_handshake_by_thread": self.by_thread.map(|b| b.1),
            "resumed": self.resumed,
            "attempts": self.attempts,
            "resumed_share": self.share(),
            "rounds": self.rounds,
        })
    }

    /// The figures after a refresh against `before` (the Resumed phase's median, ticks).
    fn summary(&self, before: Option<f64>) -> String {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let fine = self.by_thread.map_or(String::new(), |(after, before)| {
            format!(", by thread {after:.3} after vs {before:.3} before")
        });
        format!(
            "CPU ms/handshake {} after vs {} before{fine}; after / before (median of rounds) {}; {} of {} resumed",
            f(self.cpu_ms),
            f(before),
            f(self.over_before),
            self.resumed,
            self.attempts
        )
    }

    /// The table cell: `0.512 (100%)`, or n/a when the phase did not run.
    fn cell(&self) -> String {
        match (self.cpu_ms, self.share()) {
            (Some(ms), Some(share)) => format!("{ms:.3} ({:.0}%)", share * 100.0),
            _ => "n/a".into(),
        }
    }
}

impl Row {
    /// CPU per resumed handshake over CPU per full handshake.
    pub fn resumed_over_full(&self) -> Option<f64> {
        let (r, f) = (self.cpu_ms_resumed?, self.cpu_ms_full?);
        (f > 0.0).then(|| r / f)
    }

    fn json(&self, scenario: Scenario, kind: Kind) -> Value {
        json!({
            "scenario": scenario.name(),
            "proxy": kind.name(),
            "cpu_s_per_gb_1_conn": self.cpu_s_per_gb_1,
            "cpu_s_per_gb_8_conn": self.cpu_s_per_gb_8,
            "mb_s_1_conn": self.mb_s_1,
            "mb_s_8_conn": self.mb_s_8,
            "cpu_ms_per_full_handshake": self.cpu_ms_full,
            "cpu_ms_per_resumed_handshake": self.cpu_ms_resumed,
            "full_handshakes_per_s": self.hs_s_full,
            "resumed_handshakes_per_s": self.hs_s_resumed,
            "resumed_over_full_cpu": self.resumed_over_full(),
            "rss_kib_per_idle_conn": self.rss_kib_idle,
            "rss_kib_fresh": self.rss_kib_base,
            "resumed_after_refresh": self.after_refresh.as_ref().map_or(json!("n/a"), AfterRefresh::json),
            "latency_1_conn": self.latency_1.map(|l| l.json()),
            "latency_many_conn": self.latency_many.map(|l| l.json()),
            "phases": self.phases,
            "error": self.error,
        })
    }
}

/// Prints, per scenario, the table, the resumed/full ratios and the target checks, then writes the
/// same as JSON to `target/peers.json`.
pub fn publish(params: &Params, aes: Option<f64>, rows: &[(Scenario, Kind, Row)]) {
    let mut targets = Vec::new();
    for &scenario in &params.scenarios {
        let mine: Vec<(Kind, &Row)> =
            rows.iter().filter(|(s, _, _)| *s == scenario).map(|(_, k, r)| (*k, r)).collect();
        let checks = crate::targets::checks(&mine, aes);
        println!("\n## {}: {}\n\n{}", scenario.name(), scenario.describe(), table(&mine));
        println!("1 KiB request/response latency:\n\n{}", crate::latency::table(&mine));
        let ratios: Vec<String> = mine
            .iter()
            .filter_map(|(k, r)| r.resumed_over_full().map(|x| format!("{} {x:.2}", k.name())))
            .collect();
        println!(
            "resumed / full handshake CPU: {}",
            if ratios.is_empty() { "n/a".into() } else { ratios.join(", ") }
        );
        for (kind, r) in &mine {
            if let Some(a) = r.after_refresh.as_ref().filter(|a| a.attempts > 0) {
                println!("{} resumed after refresh: {}", kind.name(), a.summary(r.cpu_ms_resumed));
            }
        }
        for c in &checks {
            println!("{}", c.line());
            targets.push(c.json(scenario));
        }
    }
    let json = json!({
        "scenarios": params.scenarios.iter()
            .map(|s| json!({"name": s.name(), "description": s.describe()}))
            .collect::<Vec<_>>(),
        "scale": params.scale,
        "rounds": params.rounds,
        "cores": cores(),
        "bulk_bytes_1_conn": params.bulk_one,
        "bulk_bytes_per_conn_8_conn": params.bulk_eight,
        "handshakes": params.handshakes,
        "idle_connections": params.idle,
        "pagent": crate::proxies::pagent_exe(),
        "openssl_speed_aes_128_gcm_mb_s": aes,
        "rows": rows.iter().map(|(s, k, r)| r.json(*s, *k)).collect::<Vec<_>>(),
        "targets": targets,
    });
    crate::readings::write_json("peers.json", &json);
}

/// The markdown table: a row per proxy.
fn table(rows: &[(Kind, &Row)]) -> String {
    let f = |v: Option<f64>, digits: usize| v.map_or("n/a".to_string(), |v| format!("{v:.digits$}"));
    let mut t = String::new();
    t.push_str(
        "| proxy | CPU s/GB (1 conn) | CPU s/GB (8 conn) | MB/s (1 conn) | MB/s (8 conn) | CPU ms/full handshake \
         | CPU ms/resumed | CPU ms/resumed after refresh (resumed) | handshakes/s (full / resumed) \
         | RSS KiB/idle conn |\n",
    );
    t.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for (kind, r) in rows {
        if let Some(e) = &r.error {
            let _ = writeln!(t, "| {} | failed: {} ||||||||| ", kind.name(), e.lines().next().unwrap_or(""));
            continue;
        }
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            kind.name(),
            f(r.cpu_s_per_gb_1, 2),
            f(r.cpu_s_per_gb_8, 2),
            f(r.mb_s_1, 0),
            f(r.mb_s_8, 0),
            f(r.cpu_ms_full, 3),
            f(r.cpu_ms_resumed, 3),
            r.after_refresh.as_ref().map_or("-".into(), AfterRefresh::cell),
            f(r.hs_s_full, 0),
            f(r.hs_s_resumed, 0),
            f(r.rss_kib_idle, 1),
        );
    }
    t
}
