//! The output: a header (date, machine, limits), one row per target (scenario, target, measured,
//! PASS or FAIL; a figure that could not be measured is a FAIL saying why) as a markdown table on
//! stdout, and the same rows as JSON in `target/limits.json`.

use serde_json::{Value, json};

use crate::Ctx;
use crate::readings::command_output;

/// One target and what the run measured against it.
pub struct Row {
    pub scenario: &'static str,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

impl Row {
    pub fn new(
        scenario: &'static str,
        target: impl Into<String>,
        measured: impl Into<String>,
        pass: bool,
    ) -> Row {
        Row { scenario, target: target.into(), measured: measured.into(), pass }
    }

    /// A target the scenario could not measure (its agent did not start, for instance).
    pub fn unmeasured(scenario: &'static str, target: impl Into<String>, why: &str) -> Row {
        Row::new(scenario, target, format!("not measured: {why}"), false)
    }
}

/// Date, machine and limits, printed first and kept in the JSON.
pub fn header(ctx: &Ctx, tool_nofile: u64) -> String {
    let first = |cmd: &str, args: &[&str]| {
        command_output(cmd, args)
            .and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "# attls limits under abuse: {date}\n{uname}; {cores} cores ({cpu}); load average {load}\n\
         open-file limit of this tool {tool_nofile} (hard {hard}); scale {scale}; CLK_TCK {clk}\npagent: {pagent}",
        date = first("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        uname = first("uname", &["-srm"]),
        load = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        hard = rlimit::Resource::NOFILE.get().map_or(0, |(_, h)| h),
        scale = ctx.scale,
        clk = ctx.clk_tck,
        pagent = env!("CARGO_BIN_EXE_pagent"),
    )
}

/// The table on stdout, a summary line, and `target/limits.json`.
pub fn publish(header: &str, rows: &[Row]) {
    println!("\n| scenario | target | measured | result |\n|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} |",
            r.scenario,
            cell(&r.target),
            cell(&r.measured),
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    println!("\n{} of {} targets met", rows.len() - failed, rows.len());
    let json: Vec<Value> = rows
        .iter()
        .map(|r| json!({"scenario": r.scenario, "target": r.target, "measured": r.measured, "pass": r.pass}))
        .collect();
    crate::readings::write_json("limits.json", &json!({"header": header, "rows": json}));
}

/// A table cell: no line breaks, no column separators.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// `n` with thousands separators (3,000).
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

/// A duration in ms, or in s with two decimals from one second up.
pub fn secs(d: std::time::Duration) -> String {
    if d.as_secs_f64() < 1.0 { format!("{} ms", d.as_millis()) } else { format!("{:.2} s", d.as_secs_f64()) }
}
