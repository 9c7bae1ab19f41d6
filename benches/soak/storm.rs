//! Phase `storm`: `storm_conns` TLS connections through one listener to the echo backend, each
//! sending its own byte pattern in chunks of 1 B to 32 KiB and checking every byte that comes back,
//! for `storm_secs`; meanwhile `storm_rate` refreshes a second, every other one after an atomic
//! rewrite of the policy, each answered over the control socket (every tenth by `pagent refresh`)
//! with a generation above the one before. Every connection must live to the end and close
//! cleanly (close_notify both ways), every byte must come back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use crate::Ctx;
use crate::probe::{Probe, refresh, refresh_command};
use crate::report::Row;
use crate::support::agent::{AgentSetup, policy, write_atomic};
use crate::tls::{End, connect, connector, pattern, pattern_mismatch, read_to_end, start_echo};

const STEP: Duration = Duration::from_secs(10);
const CHUNK_MAX: usize = 32 * 1024;

/// What one connection did.
#[derive(Default)]
struct Conn {
    sent: u64,
    verified: u64,
    error: Option<String>,
}

/// What the refresher did.
#[derive(Default)]
struct Refreshed {
    answered: usize,
    by_command: usize,
    failures: Vec<String>,
    last_generation: u64,
}

pub fn run(ctx: &Ctx) -> Row {
    let c = &ctx.counts;
    let mut row = Row::new("storm");
    let echo = ctx.rt.block_on(start_echo()).expect("echo backend");
    let setup = AgentSetup::new("soak-storm");
    let pki = setup.pki("pki");
    let rule = |i: usize| {
        let timeout = format!("HandshakeTimeout {}", 10 + i % 5);
        policy::server_rule("soak~storm", "STORM", &pki.server_ring, &[&timeout], None)
    };
    let agent = setup
        .listener_with("STORM", echo, "Inbound", &["MaxConnectionsPerSource 4000"])
        .policy(&rule(0))
        .start();
    let probe = Probe::new(agent.pid(), agent.socket());
    let tls = connector(&pki.ca, false).expect("client configuration");
    let addr = agent.addr("STORM");
    let warm = ctx.rt.block_on(one_conn(tls.clone(), addr, 1, tokio::time::Instant::now()));
    row.expect(warm.error.is_none(), || format!("warm-up connection: {:?}", warm.error));
    let before = probe.check_leaks(&mut row, probe.read());
    let policy_file = agent.dir().join("policy.pol");
    let t0 = Instant::now();
    let (conns, refreshed) = ctx.rt.block_on(async {
        let duration = Duration::from_secs(c.storm_secs);
        // Every connection is up before the storm starts, and runs until it ends.
        let start = tokio::time::Instant::now() + Duration::from_millis(500);
        let end = start + duration;
        let mut set = JoinSet::new();
        for i in 0..c.storm_conns {
            set.spawn(one_conn(tls.clone(), addr, 100 + i as u64, end));
        }
        tokio::time::sleep_until(start).await;
        let refresher =
            refresh_storm(agent.socket().to_path_buf(), policy_file, &rule, c.storm_rate, duration);
        let refreshed = refresher.await;
        let mut conns = Vec::new();
        while let Some(r) = set.join_next().await {
            conns.push(r.unwrap_or_else(|e| Conn { error: Some(e.to_string()), ..Conn::default() }));
        }
        (conns, refreshed)
    });
    let secs = t0.elapsed().as_secs_f64();
    let sent: u64 = conns.iter().map(|c| c.sent).sum();
    let verified: u64 = conns.iter().map(|c| c.verified).sum();
    for (i, conn) in conns.iter().enumerate() {
        if let Some(e) = &conn.error {
            row.fail(format!("connection {i}: {e} (sent {}, verified {})", conn.sent, conn.verified));
        }
    }
    row.mismatches = sent - verified.min(sent);
    for f in refreshed.failures {
        row.fail(f);
    }
    let planned = (c.storm_rate * c.storm_secs) as usize;
    row.expect(refreshed.answered == planned, || {
        format!("{} of {planned} refreshes answered", refreshed.answered)
    });
    row.done = format!(
        "{} connections × {} s ({:.0} MiB echoed and checked), {} refreshes in {secs:.1} s ({} by `pagent refresh`; last generation {})",
        c.storm_conns,
        c.storm_secs,
        verified as f64 / (1 << 20) as f64,
        refreshed.answered,
        refreshed.by_command,
        refreshed.last_generation
    );
    let after = probe.check_leaks(&mut row, before);
    row.notes.push(format!(
        "agent descriptors {} → {}, threads {} → {}, RSS {} → {} KiB",
        before.fds, after.fds, before.threads, after.threads, before.rss_kib, after.rss_kib
    ));
    row
}

/// One connection: chunks echoed and checked until `end`, then close_notify and a clean end.
async fn one_conn(
    tls: TlsConnector,
    addr: std::net::SocketAddr,
    seed: u64,
    end: tokio::time::Instant,
) -> Conn {
    let mut conn = Conn::default();
    let mut s = match connect(&tls, addr, STEP).await {
        Ok(s) => s,
        Err(e) => {
            conn.error = Some(e);
            return conn;
        }
    };
    let mut out = vec![0u8; CHUNK_MAX];
    let mut back = vec![0u8; CHUNK_MAX];
    let mut rng = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    // Bounded by `end`; each step by STEP.
    while tokio::time::Instant::now() < end {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = 1 + (rng % CHUNK_MAX as u64) as usize;
        pattern(seed, conn.sent, &mut out[..n]);
        let step = async {
            s.write_all(&out[..n]).await?;
            // tokio-rustls may keep records of a write when the socket is full: flush them.
            s.flush().await?;
            s.read_exact(&mut back[..n]).await
        };
        match tokio::time::timeout(STEP, step).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                conn.error = Some(format!("echo: {e}"));
                return conn;
            }
            Err(_) => {
                conn.error = Some(format!("echo: no answer within {STEP:?}"));
                return conn;
            }
        }
        conn.sent += n as u64;
        if let Some(at) = pattern_mismatch(seed, conn.verified, &back[..n]) {
            conn.error = Some(format!("wrong byte at offset {at}"));
            return conn;
        }
        conn.verified += n as u64;
    }
    if let Err(e) = tokio::time::timeout(STEP, s.shutdown()).await.unwrap_or(Ok(())) {
        conn.error = Some(format!("close_notify: {e}"));
        return conn;
    }
    let (how, extra) = read_to_end(&mut s, STEP).await;
    if how != End::Clean || extra != 0 {
        conn.error = Some(format!("the end: {how:?} after {extra} more bytes"));
    }
    conn
}

/// `rate` refreshes a second for `duration`, each in a task of its own (they overlap when the
/// agent is slower than the rate); even ones rewrite the policy first (atomically). Every answer
/// must carry a generation no other answer has.
async fn refresh_storm(
    socket: PathBuf,
    policy_file: PathBuf,
    rule: &dyn Fn(usize) -> String,
    rate: u64,
    duration: Duration,
) -> Refreshed {
    let mut done = Refreshed::default();
    let total = (rate * duration.as_secs()) as usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate.max(1)));
    let mut asked = JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        if i % 2 == 0 {
            write_atomic(&policy_file, &rule(i));
        }
        let socket = socket.clone();
        if i % 10 == 0 {
            done.by_command += 1;
            asked.spawn_blocking(move || (i, refresh_command(&socket)));
        } else {
            asked.spawn(async move { (i, refresh(&socket).await) });
        }
    }
    let mut generations = std::collections::BTreeSet::new();
    while let Some(r) = asked.join_next().await {
        match r {
            Ok((i, Ok(g))) => {
                done.answered += 1;
                if !generations.insert(g) {
                    done.failures.push(format!("refresh {i}: generation {g} answered twice"));
                }
            }
            Ok((i, Err(e))) => done.failures.push(format!("refresh {i}: {e}")),
            Err(e) => done.failures.push(format!("a refresh task: {e}")),
        }
    }
    done.last_generation = generations.last().copied().unwrap_or(0);
    done
}
