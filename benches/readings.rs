//! Host readings both load tools take (`benches/peers`, `benches/ftp`): CLK_TCK, a command's output,
//! one core's `openssl speed`, and where their JSON results go.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn clk_tck() -> u64 {
    command_output("getconf", &["CLK_TCK"]).and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

/// stdout (or stderr when stdout is empty: `stunnel4 -version`) of a command that exits by itself.
pub fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).stdin(Stdio::null()).output().ok()?;
    let s = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    Some(String::from_utf8_lossy(&s).into_owned())
}

/// One-core AES-128-GCM throughput of `openssl speed` at 16 KiB blocks, in MB/s.
pub fn openssl_speed() -> Option<f64> {
    let out = command_output(
        "openssl",
        &["speed", "-elapsed", "-seconds", "2", "-bytes", "16384", "-evp", "aes-128-gcm"],
    )?;
    let line = out.lines().rev().find(|l| l.to_ascii_lowercase().starts_with("aes-128-gcm"))?;
    let kb = line.split_whitespace().last()?.trim_end_matches('k').parse::<f64>().ok()?;
    Some(kb * 1000.0 / 1e6)
}

/// Writes `json` to `target/NAME` (or under CARGO_TARGET_DIR) and says where.
pub fn write_json(name: &str, json: &serde_json::Value) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let out = dir.join(name);
    match std::fs::write(&out, serde_json::to_string_pretty(json).unwrap_or_default()) {
        Ok(()) => println!("\nJSON: {}", out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", out.display()),
    }
}
