//! Scenario 4, control socket abuse: `silent` (300) clients connected to the agent's
//! `ControlSocket` and sending nothing, plus one client (a thread) writing a 10 MB request line;
//! meanwhile `pagent netstat --socket PATH` (the release binary, a child process bounded by
//! `NETSTAT_BOUND`) must answer within 2 s, listing the one TLS connection held open through the
//! listener. netstat is timed once before the abuse for reference.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::UnixStream;

use crate::agent::{Agent, Spec};
use crate::net::{connector, round_trip};
use crate::report::{Row, secs, thousands};
use crate::{Ctx, STEP};

const NAME: &str = "4 control socket abuse";
const NETSTAT_TARGET: Duration = Duration::from_secs(2);
const NETSTAT_BOUND: Duration = Duration::from_secs(15);
const BIG_LINE: usize = 10_000_000;
/// Bound on the big writer (each write is bounded too).
const WRITER_BOUND: Duration = Duration::from_secs(20);

pub fn run(ctx: &Ctx) -> Vec<Row> {
    let silent_n = ctx.scaled(300, 5);
    let target = format!(
        "`pagent netstat` answers within {} s with {silent_n} silent control clients and a 10 MB request line",
        NETSTAT_TARGET.as_secs()
    );
    let t_big = "the 10 MB request line is refused, not read whole (limit 64 KiB)".to_string();
    let spec = Spec { name: "control", listeners: &[("CTL", "")], nofile: None };
    let mut agent = match Agent::start(ctx, &spec) {
        Ok(a) => a,
        Err(e) => return vec![Row::unmeasured(NAME, target, &e), Row::unmeasured(NAME, t_big, &e)],
    };
    // One TLS connection held open, so that netstat has a connection to list.
    let held =
        connector(&agent.ca).and_then(|tls| ctx.rt.block_on(round_trip(&tls, agent.addr("CTL"), STEP)));
    let before = netstat(&agent.socket);
    let silent = ctx.rt.block_on(connect_silent(&agent.socket, silent_n));
    let sock = agent.socket.clone();
    let writer = std::thread::spawn(move || big_line(&sock));
    // Let the big line get going (it is refused after 64 KiB), then ask.
    std::thread::sleep(Duration::from_millis(200));
    let during = netstat(&agent.socket);
    let big = writer.join().unwrap_or_else(|_| "the writer panicked".into());
    let connected = silent.len();
    let not_held = held.as_ref().err().cloned();
    {
        let _rt = ctx.rt.enter();
        drop(silent);
        drop(held);
    }
    let mut up = agent.alive().map_or_else(|e| format!("; agent {e}"), |()| String::new());
    if let Some(e) = &not_held {
        up.push_str(&format!("; no TLS connection to list: {e}"));
    }
    let netstat_row = match during {
        Ok((d, lines)) => Row::new(
            NAME,
            target,
            format!(
                "{} ({lines}-line answer; {} before the abuse); {} silent clients connected{up}",
                secs(d),
                before.map_or_else(|e| e, |(d, _)| secs(d)),
                thousands(connected)
            ),
            d <= NETSTAT_TARGET && connected == silent_n && up.is_empty(),
        ),
        Err(e) => Row::new(NAME, target, format!("{e}{up}"), false),
    };
    let refused = big.contains("longer than") || big.contains("closed after");
    vec![netstat_row, Row::new(NAME, t_big, big, refused)]
}

/// `n` control clients that send nothing (each connect bounded); the ones connected.
async fn connect_silent(path: &Path, n: usize) -> Vec<UnixStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), UnixStream::connect(path)).await {
            out.push(s);
        }
    }
    out
}

/// `pagent netstat --socket PATH`: its wall time and stdout line count, or why it failed.
fn netstat(socket: &Path) -> Result<(Duration, usize), String> {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["netstat", "--socket"])
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run pagent netstat: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let d = t.elapsed();
                let mut out = String::new();
                let mut err = String::new();
                child.stdout.take().map(|mut o| o.read_to_string(&mut out));
                child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                if !status.success() {
                    return Err(format!("netstat {status} after {}: {}", secs(d), err.trim()));
                }
                return Ok((d, out.lines().count()));
            }
            Ok(None) if t.elapsed() < NETSTAT_BOUND => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} (killed)", secs(NETSTAT_BOUND)));
            }
            Err(e) => return Err(format!("cannot wait for netstat: {e}")),
        }
    }
}

/// Writes a 10 MB line (no newline until its end) and reads the agent's answer; what happened.
fn big_line(path: &PathBuf) -> String {
    let mut s = match StdUnixStream::connect(path) {
        Ok(s) => s,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = vec![b'x'; BIG_LINE];
    line[BIG_LINE - 1] = b'\n';
    let t = Instant::now();
    let mut written = 0;
    let mut stopped = None;
    for piece in line.chunks(64 * 1024) {
        if t.elapsed() > WRITER_BOUND {
            stopped = Some(format!("still writing after {}", secs(WRITER_BOUND)));
            break;
        }
        if let Err(e) = s.write_all(piece) {
            stopped = Some(e.to_string());
            break;
        }
        written += piece.len();
    }
    let mut reply = Vec::new();
    let _ = s.take(4096).read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).trim().to_string();
    let reply = if reply.is_empty() { "no reply".into() } else { format!("reply `{reply}`") };
    match stopped {
        Some(e) => format!("closed after {} KiB written ({e}); {reply}", written / 1024),
        None => format!("all {} MB written; {reply}", BIG_LINE / 1_000_000),
    }
}
