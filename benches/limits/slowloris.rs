//! Scenario 1, slowloris: `silent` TCP connections (3,000) that never send a byte, opened 256 at a
//! time, against a listener with `MaxConnectionsPerSource 4000` and the policy's HandshakeTimeout;
//! meanwhile `legit` (50) round trips, one after the other on a fixed schedule spread over
//! `LEGIT_SPAN` (so they meet the opening, the holding and the agent's mass close), each bounded by
//! `LEGIT_BOUND` and judged against 1 s. Each silent connection reads until the agent closes it
//! (reset or FIN) or `SILENT_WAIT` after its connect has passed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use crate::Ctx;
use crate::agent::{Agent, HANDSHAKE_TIMEOUT, Spec};
use crate::net::{connector, round_trip_closed};
use crate::report::{Row, secs, thousands};

const NAME: &str = "1 slowloris";
const LEGIT_SPAN: Duration = Duration::from_secs(6);
const LEGIT_TARGET: Duration = Duration::from_secs(1);
const LEGIT_BOUND: Duration = Duration::from_secs(5);
/// How long a silent connection waits for the agent to close it (the target is HandshakeTimeout +
/// 2 s; the wait goes further so a late close is measured, not just missed).
const SILENT_WAIT: Duration = Duration::from_secs(HANDSHAKE_TIMEOUT + 7);
const SILENT_TARGET: Duration = Duration::from_secs(HANDSHAKE_TIMEOUT + 2);

/// How a silent connection ended.
enum Silent {
    NotConnected,
    Reset(Duration),
    Fin(Duration),
    /// The agent sent bytes (an alert) and then closed.
    Bytes(Duration),
    StillOpen,
}

pub fn run(ctx: &Ctx) -> Vec<Row> {
    let silent_n = ctx.scaled(3000, 10);
    let legit_n = ctx.scaled(50, 5);
    let t_legit = format!(
        "{legit_n} TLS round trips (connect, handshake, 1 KiB echo) during {} silent connections: each ≤ 1 s",
        thousands(silent_n)
    );
    let t_silent = format!(
        "{} silent connections closed by the agent within HandshakeTimeout {HANDSHAKE_TIMEOUT} s + 2 s",
        thousands(silent_n)
    );
    let spec =
        Spec { name: "slowloris", listeners: &[("SLOW", "MaxConnectionsPerSource 4000")], nofile: None };
    let (mut agent, tls) = match Agent::start(ctx, &spec).and_then(|a| connector(&a.ca).map(|c| (a, c))) {
        Ok(v) => v,
        Err(e) => return vec![Row::unmeasured(NAME, t_legit, &e), Row::unmeasured(NAME, t_silent, &e)],
    };
    let addr = agent.addr("SLOW");
    let (silent, legit) = ctx.rt.block_on(async {
        let silent = tokio::spawn(open_silent(addr, silent_n));
        let legit = legit_trips(&tls, addr, legit_n).await;
        (silent.await.unwrap_or_default(), legit)
    });
    let up = agent.alive().map_or_else(|e| format!("; agent {e}"), |()| String::new());
    vec![legit_row(t_legit, &legit, &up), silent_row(t_silent, &silent, &agent, &up)]
}

/// Opens the silent connections and waits for each to be closed; how each ended.
async fn open_silent(addr: SocketAddr, n: usize) -> Vec<Silent> {
    let gate = Arc::new(Semaphore::new(256));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let gate = gate.clone();
        set.spawn(async move {
            let permit = gate.acquire_owned().await;
            let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
            else {
                return Silent::NotConnected;
            };
            drop(permit);
            let t0 = Instant::now();
            let mut buf = [0u8; 512];
            let mut got_bytes = false;
            // Bounded: each read ends by the deadline; a peer sending forever is cut there too.
            loop {
                match tokio::time::timeout_at((t0 + SILENT_WAIT).into(), s.read(&mut buf)).await {
                    Err(_) => return Silent::StillOpen,
                    Ok(Ok(0)) if got_bytes => return Silent::Bytes(t0.elapsed()),
                    Ok(Ok(0)) => return Silent::Fin(t0.elapsed()),
                    Ok(Ok(_)) => got_bytes = true,
                    Ok(Err(_)) => return Silent::Reset(t0.elapsed()),
                }
            }
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap_or(Silent::NotConnected));
    }
    out
}

/// `n` round trips on a fixed schedule over `LEGIT_SPAN`; the latency of each, or its error.
async fn legit_trips(tls: &TlsConnector, addr: SocketAddr, n: usize) -> Vec<Result<Duration, String>> {
    let start = tokio::time::Instant::now();
    let every = LEGIT_SPAN / n as u32;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + every * i as u32).await;
        let t = Instant::now();
        out.push(round_trip_closed(tls, addr, LEGIT_BOUND).await.map(|()| t.elapsed()));
    }
    out
}

fn legit_row(target: String, legit: &[Result<Duration, String>], up: &str) -> Row {
    let mut ok: Vec<Duration> = legit.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    ok.sort();
    let errors: Vec<&String> = legit.iter().filter_map(|r| r.as_ref().err()).collect();
    let (Some(max), Some(p50)) = (ok.last(), ok.get(ok.len() / 2)) else {
        let why = errors.first().map_or("none ran".to_string(), |e| e.to_string());
        return Row::new(NAME, target, format!("0/{} completed: {why}{up}", legit.len()), false);
    };
    let mut measured =
        format!("{}/{} completed; max {}, p50 {}", ok.len(), legit.len(), secs(*max), secs(*p50));
    if let Some(e) = errors.first() {
        measured.push_str(&format!("; first error: {e}"));
    }
    measured.push_str(up);
    let pass = errors.is_empty() && *max <= LEGIT_TARGET && up.is_empty();
    Row::new(NAME, target, measured, pass)
}

fn silent_row(target: String, silent: &[Silent], agent: &Agent, up: &str) -> Row {
    let (mut reset, mut fin, mut bytes, mut open, mut unconnected, mut late) = (0, 0, 0, 0, 0, 0);
    let mut delays = Vec::new();
    for s in silent {
        let d = match s {
            Silent::NotConnected => {
                unconnected += 1;
                continue;
            }
            Silent::StillOpen => {
                open += 1;
                continue;
            }
            Silent::Reset(d) => {
                reset += 1;
                d
            }
            Silent::Fin(d) => {
                fin += 1;
                d
            }
            Silent::Bytes(d) => {
                bytes += 1;
                d
            }
        };
        late += usize::from(*d > SILENT_TARGET);
        delays.push(*d);
    }
    delays.sort();
    let closed = delays.len();
    let mut measured = format!(
        "{}/{} closed ({} reset, {} FIN, {} after bytes)",
        thousands(closed),
        thousands(silent.len()),
        thousands(reset),
        thousands(fin),
        bytes
    );
    if let (Some(first), Some(last)) = (delays.first(), delays.last()) {
        measured.push_str(&format!(", {}–{} after connect", secs(*first), secs(*last)));
    }
    let still = format!("still open {} s after connect", SILENT_WAIT.as_secs());
    for (n, what) in [(late, "closed late"), (open, still.as_str()), (unconnected, "never connected")] {
        if n > 0 {
            measured.push_str(&format!("; {} {what}", thousands(n)));
        }
    }
    let timeouts = agent.log_count("handshake timer expired");
    measured.push_str(&format!("; agent log: {} `handshake timer expired`{up}", thousands(timeouts)));
    let pass = closed == silent.len() && late == 0 && up.is_empty();
    Row::new(NAME, target, measured, pass)
}
