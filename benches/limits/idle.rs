//! Scenario 2, idle scale: up to 9,900 TLS connections, each after one round trip, left open (32
//! set up at a time). The count is capped by descriptors: the agent holds 2 per connection (client
//! and backend side), and so does this process (client and echo side), so each side's cap is
//! (soft limit − descriptors open − a margin) / 2. The agent is read before (after one warm-up
//! round trip) and after: VmRSS, descriptors, then CPU over `IDLE_WINDOW` with every connection
//! open and silent; then one new TLS round trip is timed with all of them still open. The time to
//! open them all is reported too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use crate::agent::{Agent, Spec};
use crate::net::{Tls, close, connector, round_trip, round_trip_closed};
use crate::procfs::{core_percent, cpu_ticks, fd_count, nofile, rss_kib};
use crate::report::{Row, thousands};
use crate::{Ctx, STEP};

const NAME: &str = "2 idle scale";
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const RSS_TARGET_KIB: f64 = 24.0;
const CPU_TARGET_PERCENT: f64 = 2.0;
/// Bound on opening all the connections.
const OPEN_BOUND: Duration = Duration::from_secs(300);
/// Descriptors kept free in this process and in the agent.
const MARGIN: usize = 64;

/// The agent's readings with the connections open.
struct Readings {
    target: usize,
    cap: usize,
    opened: usize,
    failed: Vec<String>,
    rss: (u64, u64),
    fds: (usize, usize),
    cpu_percent: Option<f64>,
    /// How long opening them took.
    open_time: Duration,
    /// A new TLS round trip made while they were all open: its time, or why it failed.
    fresh: Result<Duration, String>,
}

pub fn run(ctx: &Ctx) -> Vec<Row> {
    let target = ctx.scaled(9900, 20);
    let targets = [
        format!("{} concurrent idle TLS connections (2 agent descriptors each)", thousands(target)),
        format!("agent RSS growth ≤ {RSS_TARGET_KIB} KiB per idle connection (VmRSS before/after)"),
        format!("agent CPU < {CPU_TARGET_PERCENT}% of a core over {} s idle", IDLE_WINDOW.as_secs()),
        "agent descriptors per connection: 2 (/proc/PID/fd)".to_string(),
        format!("all opened within {} s (32 handshakes at a time)", OPEN_BOUND.as_secs()),
        "a new TLS round trip while they are open: ≤ 1 s".to_string(),
    ];
    let spec = Spec { name: "idle", listeners: &[("IDLE", "MaxConnectionsPerSource 16384")], nofile: None };
    let measured = Agent::start(ctx, &spec)
        .and_then(|a| connector(&a.ca).map(|c| (a, c)))
        .and_then(|(mut agent, tls)| measure(ctx, &mut agent, &tls, target));
    let r = match measured {
        Ok(r) => r,
        Err(e) => return targets.into_iter().map(|t| Row::unmeasured(NAME, t, &e)).collect(),
    };
    let [t_count, t_rss, t_cpu, t_fds, t_open, t_fresh] = targets;
    let n = r.opened.max(1);
    let mut count = format!("{} open", thousands(r.opened));
    if r.cap < target {
        count.push_str(&format!(" (capped by descriptors at {})", thousands(r.cap)));
    }
    if let Some(e) = r.failed.first() {
        count.push_str(&format!("; {} failed, first: {e}", thousands(r.failed.len())));
    }
    let rss_per = (r.rss.1 as f64 - r.rss.0 as f64) / n as f64;
    let fds_per = (r.fds.1 as f64 - r.fds.0 as f64) / n as f64;
    let cpu = match r.cpu_percent {
        Some(p) => Row::new(NAME, t_cpu, format!("{p:.2}%"), p < CPU_TARGET_PERCENT),
        None => Row::unmeasured(NAME, t_cpu, "the agent's /proc/PID/stat could not be read"),
    };
    vec![
        Row::new(NAME, t_count, count, r.opened >= r.target && r.failed.is_empty()),
        Row::new(
            NAME,
            t_rss,
            format!(
                "{rss_per:.1} KiB ({:.1} → {:.1} MiB for {})",
                r.rss.0 as f64 / 1024.0,
                r.rss.1 as f64 / 1024.0,
                thousands(r.opened)
            ),
            r.opened > 0 && rss_per <= RSS_TARGET_KIB,
        ),
        cpu,
        Row::new(
            NAME,
            t_fds,
            format!("{fds_per:.3} ({} → {} descriptors)", thousands(r.fds.0), thousands(r.fds.1)),
            r.opened > 0 && fds_per <= 2.01,
        ),
        Row::new(
            NAME,
            t_open,
            format!(
                "{:.1} s ({:.0} connections/s)",
                r.open_time.as_secs_f64(),
                r.opened as f64 / r.open_time.as_secs_f64().max(0.001)
            ),
            r.opened > 0 && r.open_time < OPEN_BOUND,
        ),
        match &r.fresh {
            Ok(d) => Row::new(NAME, t_fresh, format!("{} ms", d.as_millis()), *d <= Duration::from_secs(1)),
            Err(e) => Row::new(NAME, t_fresh, format!("failed: {e}"), false),
        },
    ]
}

/// How many connections fit in this process and in the agent.
fn cap(agent: u32, target: usize) -> Result<usize, String> {
    let room = |pid: Option<u32>, who: &str| {
        let (Some(limit), Some(open)) = (nofile(pid), fd_count(pid)) else {
            return Err(format!("cannot read the descriptor limit of {who}"));
        };
        Ok(limit.saturating_sub(open + MARGIN) / 2)
    };
    Ok(target.min(room(None, "this process")?).min(room(Some(agent), "the agent")?))
}

fn measure(ctx: &Ctx, agent: &mut Agent, tls: &TlsConnector, target: usize) -> Result<Readings, String> {
    let pid = agent.pid();
    let addr = agent.addr("IDLE");
    let unreadable = || format!("cannot read /proc/{pid}");
    ctx.rt.block_on(async {
        round_trip_closed(tls, addr, STEP).await.map_err(|e| format!("warm-up: {e}"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cap = cap(pid, target)?;
        let (rss0, fds0) =
            (rss_kib(pid).ok_or_else(unreadable)?, fd_count(Some(pid)).ok_or_else(unreadable)?);
        let t = Instant::now();
        let (open, failed) = open_idle(tls, addr, cap).await;
        let open_time = t.elapsed();
        eprintln!("  {} open in {:.1} s, {} failed", open.len(), open_time.as_secs_f64(), failed.len());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss1, fds1) =
            (rss_kib(pid).ok_or_else(unreadable)?, fd_count(Some(pid)).ok_or_else(unreadable)?);
        let (c0, w0) = (cpu_ticks(pid), Instant::now());
        tokio::time::sleep(IDLE_WINDOW).await;
        let cpu_percent = match (c0, cpu_ticks(pid)) {
            (Some(a), Some(b)) => Some(core_percent(b - a, ctx.clk_tck, w0.elapsed().as_secs_f64())),
            _ => None,
        };
        let t = Instant::now();
        let fresh = round_trip_closed(tls, addr, STEP).await.map(|()| t.elapsed());
        agent.alive()?;
        let opened = open.len();
        close_all(open).await;
        let (rss, fds) = ((rss0, rss1), (fds0, fds1));
        Ok(Readings { target, cap, opened, failed, rss, fds, cpu_percent, open_time, fresh })
    })
}

/// `n` round trips left open, 32 at a time, all within `OPEN_BOUND`; the open ones and the errors.
async fn open_idle(tls: &TlsConnector, addr: SocketAddr, n: usize) -> (Vec<Tls>, Vec<String>) {
    let gate = Arc::new(Semaphore::new(32));
    let deadline = tokio::time::Instant::now() + OPEN_BOUND;
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (tls, gate) = (tls.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            match tokio::time::timeout_at(deadline, round_trip(&tls, addr, STEP)).await {
                Ok(r) => r,
                Err(_) => Err(format!("not open within {OPEN_BOUND:?}")),
            }
        });
    }
    let (mut open, mut failed) = (Vec::with_capacity(n), Vec::new());
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(s) => open.push(s),
            Err(e) => failed.push(e),
        }
    }
    (open, failed)
}

/// close_notify on every connection, 256 at a time, bounded.
async fn close_all(open: Vec<Tls>) {
    let gate = Arc::new(Semaphore::new(256));
    let mut set = JoinSet::new();
    for s in open {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            close(s).await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(60), async { while set.join_next().await.is_some() {} })
        .await;
}
