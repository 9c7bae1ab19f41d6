//! What the soak reads of a running agent: descriptors, threads and RSS from `/proc`, live
//! connections and refreshes over its control socket; and the leak check that ends every phase
//! (connections back to 0, descriptors back to their value before the phase, within a bound).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attls::control::proto::Request;
use serde_json::Value;

use crate::procfs::{fd_count, rss_kib, threads};
use crate::report::Row;

/// How long the leak check waits for connections to end and descriptors to come back.
pub const SETTLE: Duration = Duration::from_secs(15);
/// Bound on one control request.
const REQUEST_BOUND: Duration = Duration::from_secs(10);

/// A running agent as the soak sees it: its process and its control socket.
#[derive(Clone, Debug)]
pub struct Probe {
    pub pid: u32,
    pub socket: PathBuf,
}

/// The agent's readings at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    pub fds: usize,
    pub threads: u64,
    pub rss_kib: u64,
}

impl Probe {
    pub fn new(pid: u32, socket: &Path) -> Probe {
        Probe { pid, socket: socket.to_path_buf() }
    }

    pub fn read(&self) -> Reading {
        Reading {
            fds: fd_count(Some(self.pid)).unwrap_or(0),
            threads: threads(self.pid).unwrap_or(0),
            rss_kib: rss_kib(self.pid).unwrap_or(0),
        }
    }

    /// One control request (from a thread outside the runtime: a runtime of its own).
    pub fn request(&self, op: &str) -> Result<Value, String> {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(request(&self.socket, op))
    }

    /// The live connections `pagent netstat` lists.
    pub fn connections(&self) -> Result<Vec<Value>, String> {
        let reply = self.request("netstat")?;
        reply["report"]["connections"].as_array().cloned().ok_or_else(|| format!("no connections in {reply}"))
    }

    /// Waits (up to [`SETTLE`]) for no live connection and at most `fds` descriptors; records a
    /// leak in `row` for whatever is left. Returns the reading at the end.
    pub fn check_leaks(&self, row: &mut Row, before: Reading) -> Reading {
        let t0 = Instant::now();
        let (mut live, mut now) = (usize::MAX, self.read());
        while t0.elapsed() < SETTLE {
            now = self.read();
            live = self.connections().map_or(usize::MAX, |c| c.len());
            if live == 0 && now.fds <= before.fds {
                return now;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if live != 0 {
            let listed = self.connections().map(|c| c.len().to_string()).unwrap_or_else(|e| e);
            row.leak(format!("{listed} connections still listed {} s after the phase", SETTLE.as_secs()));
        }
        if now.fds > before.fds {
            row.leak(format!("descriptors {} → {} (+{})", before.fds, now.fds, now.fds - before.fds));
        }
        now
    }
}

/// One control request, bounded.
pub async fn request(socket: &Path, op: &str) -> Result<Value, String> {
    let req = Request::new(op);
    match tokio::time::timeout(REQUEST_BOUND, attls::control::client::request(socket, &req)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{op}: {e}")),
        Err(_) => Err(format!("{op}: no reply within {REQUEST_BOUND:?}")),
    }
}

/// A refresh over the control socket: the new generation, or why not.
pub async fn refresh(socket: &Path) -> Result<u64, String> {
    let reply = request(socket, "refresh").await?;
    match (reply["ok"].as_bool(), reply["generation"].as_u64()) {
        (Some(true), Some(g)) => Ok(g),
        _ => Err(format!("refresh: {reply}")),
    }
}

/// `pagent refresh --socket SOCKET` (the release binary); the generation it printed, or why not.
pub fn refresh_command(socket: &Path) -> Result<u64, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["refresh", "--socket"])
        .arg(socket)
        .output()
        .map_err(|e| format!("pagent refresh: {e}"))?;
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    let generation = said.split("generation ").nth(1).and_then(|g| g.trim().parse().ok());
    match (out.status.success(), generation) {
        (true, Some(g)) => Ok(g),
        _ => Err(format!("pagent refresh: {}: {}", out.status, said.trim())),
    }
}
