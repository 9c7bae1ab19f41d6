//! The output: a header (date, machine, counts), one row per phase (what was done, failures,
//! mismatches or lost bytes, leaks, time) as a markdown table on stdout, each phase's first
//! problems below it, and the same in `target/soak.json`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Ctx;
use crate::readings::command_output;

/// Problems listed per phase under the table (all of them are counted).
const SHOWN: usize = 5;

/// What one phase did and found.
#[derive(Default)]
pub struct Row {
    pub phase: &'static str,
    /// What was done, in counts.
    pub done: String,
    /// Operations that failed (a transfer, a connection, a refresh, a restart, an expectation).
    pub failures: usize,
    /// Files whose SHA-256 differs, or bytes sent and not received back.
    pub mismatches: u64,
    /// Leaks found by the leak check (empty: none).
    pub leaks: Vec<String>,
    pub time: Duration,
    /// Every failure, mismatch and leak, described.
    pub problems: Vec<String>,
    /// Figures worth keeping that are no problem (RSS, timings).
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(phase: &'static str) -> Row {
        Row { phase, ..Row::default() }
    }

    /// A phase whose set-up failed (the harness panicked).
    pub fn aborted(phase: &str, why: &str) -> Row {
        let phase = crate::PHASES.iter().find(|p| **p == phase).copied().unwrap_or("?");
        let mut row = Row::new(phase);
        row.done = "aborted".into();
        row.fail(format!("aborted: {why}"));
        row
    }

    /// Counts a failure and keeps its description.
    pub fn fail(&mut self, what: impl Into<String>) {
        self.failures += 1;
        self.problems.push(what.into());
    }

    /// Counts a failure when `cond` does not hold.
    pub fn expect(&mut self, cond: bool, what: impl FnOnce() -> String) {
        if !cond {
            self.fail(what());
        }
    }

    pub fn leak(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.problems.push(format!("leak: {what}"));
        self.leaks.push(what);
    }

    pub fn ok(&self) -> bool {
        self.failures == 0 && self.mismatches == 0 && self.leaks.is_empty()
    }
}

/// Date, machine and counts, printed first and kept in the JSON.
pub fn header(ctx: &Ctx, quick: bool) -> String {
    let first = |cmd: &str, args: &[&str]| {
        command_output(cmd, args)
            .and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
            .unwrap_or_default()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "# attls soak: {date}\n{uname}; {cores} cores; load average {load}\n{mode}: {counts:?}\npagent: {pagent}",
        date = first("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        uname = first("uname", &["-srm"]),
        load = first("cat", &["/proc/loadavg"]),
        mode = if quick { "quick run" } else { "full run" },
        counts = ctx.counts,
        pagent = env!("CARGO_BIN_EXE_pagent"),
    )
}

/// The table, the problems, `target/soak.json`; true when no phase found a problem.
pub fn publish(header: &str, rows: &[Row], total: Duration) -> bool {
    println!(
        "\n| phase | done | failures | mismatches / lost bytes | leaks | time |\n|---|---|---|---|---|---|"
    );
    for r in rows {
        let leaks = if r.leaks.is_empty() { "none".to_string() } else { r.leaks.join("; ") };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.phase,
            cell(&r.done),
            r.failures,
            r.mismatches,
            cell(&leaks),
            secs(r.time)
        );
    }
    for r in rows {
        if !r.notes.is_empty() {
            println!("\n{}: {}", r.phase, r.notes.join("; "));
        }
        if !r.problems.is_empty() {
            println!("\n{} problems in {} (first {SHOWN}):", r.problems.len(), r.phase);
            for p in r.problems.iter().take(SHOWN) {
                println!("- {}", p.trim_end());
            }
        }
    }
    let bad: Vec<&str> = rows.iter().filter(|r| !r.ok()).map(|r| r.phase).collect();
    if bad.is_empty() {
        println!("\nsoak passed: {} phases in {}", rows.len(), secs(total));
    } else {
        println!("\nsoak FAILED in {}: {} ({})", bad.join(", "), secs(total), rows.len());
    }
    let json: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"phase": r.phase, "done": r.done, "failures": r.failures, "mismatches": r.mismatches,
                   "leaks": r.leaks, "seconds": r.time.as_secs_f64(), "problems": r.problems, "notes": r.notes})
        })
        .collect();
    crate::readings::write_json(
        "soak.json",
        &json!({"header": header, "seconds": total.as_secs_f64(), "ok": bad.is_empty(), "rows": json}),
    );
    bad.is_empty()
}

/// A table cell: no line breaks, no column separators.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// A duration in ms below a second, else in s with one decimal.
pub fn secs(d: Duration) -> String {
    if d.as_secs_f64() < 1.0 { format!("{} ms", d.as_millis()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// `n` with thousands separators (100,000).
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
