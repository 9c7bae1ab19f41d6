//! Phase `churn`: `churn` short TLS 1.3 connections (connect, handshake, 16 bytes echoed, close_notify
//! and the agent's close_notify back) by `WORKERS` concurrent rustls clients, half of them resuming
//! sessions (tickets), the other half full handshakes. The agent's RSS is read after the first
//! `churn_first` connections and after all of them, each time once its connections are gone; the
//! second must be within 10% of the first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use crate::Ctx;
use crate::probe::Probe;
use crate::report::{Row, thousands};
use crate::support::agent::{AgentSetup, policy};
use crate::tls::{End, connect, connector, read_to_end, start_echo};

const WORKERS: usize = 8;
const STEP: Duration = Duration::from_secs(10);
/// Allowed RSS growth from after the first batch to after all connections, in percent.
const RSS_GROWTH_PERCENT: u64 = 10;

/// What a batch of connections did.
#[derive(Default)]
struct Batch {
    ok: usize,
    resumed: usize,
    failures: Vec<String>,
}

pub fn run(ctx: &Ctx) -> Row {
    let c = &ctx.counts;
    let mut row = Row::new("churn");
    let echo = ctx.rt.block_on(start_echo()).expect("echo backend");
    let setup = AgentSetup::new("soak-churn");
    let pki = setup.pki("pki");
    let agent = setup
        .listener_with("CHURN", echo, "Inbound", &["MaxConnectionsPerSource 4000"])
        .policy(&policy::server_rule("soak~churn", "CHURN", &pki.server_ring, &[], None))
        .start();
    let probe = Probe::new(agent.pid(), agent.socket());
    let clients = [connector(&pki.ca, false).expect("client"), connector(&pki.ca, true).expect("client")];
    let addr = agent.addr("CHURN");
    let start = probe.read();
    let t0 = Instant::now();
    let first = ctx.rt.block_on(batch(&clients, addr, c.churn_first));
    let after_first = probe.check_leaks(&mut row, start);
    let rest = ctx.rt.block_on(batch(&clients, addr, c.churn - c.churn_first));
    let secs = t0.elapsed().as_secs_f64();
    let after_all = probe.check_leaks(&mut row, after_first);
    let ok = first.ok + rest.ok;
    let resumed = first.resumed + rest.resumed;
    for f in first.failures.into_iter().chain(rest.failures) {
        row.fail(f);
    }
    let limit = after_first.rss_kib + after_first.rss_kib * RSS_GROWTH_PERCENT / 100;
    row.expect(after_all.rss_kib <= limit, || {
        format!(
            "agent RSS {} KiB after {} connections, {} KiB after the first {}: more than {RSS_GROWTH_PERCENT}% growth",
            after_all.rss_kib,
            thousands(c.churn),
            after_first.rss_kib,
            thousands(c.churn_first)
        )
    });
    row.done = format!(
        "{} TLS 1.3 connections in {secs:.0} s ({:.0}/s, {WORKERS} at once; {} completed, {} resumed); agent RSS {} KiB after {}, {} KiB after all ({:+.1}%)",
        thousands(c.churn),
        c.churn as f64 / secs,
        thousands(ok),
        thousands(resumed),
        after_first.rss_kib,
        thousands(c.churn_first),
        after_all.rss_kib,
        (after_all.rss_kib as f64 / after_first.rss_kib.max(1) as f64 - 1.0) * 100.0
    );
    row.notes.push(format!(
        "agent descriptors {} → {} → {}, threads {} → {}, RSS at start {} KiB",
        start.fds, after_first.fds, after_all.fds, start.threads, after_all.threads, start.rss_kib
    ));
    row
}

/// `n` connections by `WORKERS` loops; odd workers resume sessions.
async fn batch(clients: &[TlsConnector; 2], addr: SocketAddr, n: usize) -> Batch {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for w in 0..WORKERS {
        let (tls, next) = (clients[w % 2].clone(), next.clone());
        set.spawn(async move {
            let mut b = Batch::default();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                match short(&tls, addr).await {
                    Ok(resumed) => {
                        b.ok += 1;
                        b.resumed += usize::from(resumed);
                    }
                    Err(e) => b.failures.push(e),
                }
            }
            b
        });
    }
    let mut all = Batch::default();
    while let Some(r) = set.join_next().await {
        let b = r.unwrap_or_else(|e| Batch { failures: vec![e.to_string()], ..Batch::default() });
        all.ok += b.ok;
        all.resumed += b.resumed;
        all.failures.extend(b.failures);
    }
    all
}

/// One short connection; whether it resumed a session.
async fn short(tls: &TlsConnector, addr: SocketAddr) -> Result<bool, String> {
    let mut s = connect(tls, addr, STEP).await?;
    let resumed = s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let work = async {
        s.write_all(b"0123456789abcdef").await?;
        s.flush().await?;
        let mut back = [0u8; 16];
        s.read_exact(&mut back).await?;
        if &back != b"0123456789abcdef" {
            return Err(std::io::Error::other("other bytes came back"));
        }
        s.shutdown().await
    };
    tokio::time::timeout(STEP, work)
        .await
        .map_err(|_| "echo: no answer".to_string())?
        .map_err(|e| format!("echo: {e}"))?;
    match read_to_end(&mut s, STEP).await {
        (End::Clean, 0) => Ok(resumed),
        (end, n) => Err(format!("the end: {end:?} after {n} more bytes")),
    }
}
