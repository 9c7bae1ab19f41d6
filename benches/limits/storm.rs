//! Scenario 3, descriptor exhaustion: an agent started under `ulimit -n 256` (soft and hard, so
//! its raise to the hard limit changes nothing) gets `attempts` (600) round-trip attempts at once;
//! each one that completes stays open, and every client is dropped when `STORM` has passed. The
//! agent's CPU is read over the storm; then a fresh round trip is tried (each try bounded, all
//! within `RECOVERY_BOUND`) until one completes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use crate::agent::{Agent, Spec};
use crate::net::{connector, round_trip, round_trip_closed};
use crate::procfs::{core_percent, cpu_ticks, fd_count, nofile};
use crate::report::{Row, secs, thousands};
use crate::{Ctx, STEP};

const NAME: &str = "3 descriptor exhaustion";
const AGENT_NOFILE: u64 = 256;
const STORM: Duration = Duration::from_secs(5);
const CPU_TARGET_PERCENT: f64 = 30.0;
const RECOVERY_TARGET: Duration = Duration::from_secs(3);
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
const RECOVERY_TRY: Duration = Duration::from_millis(1500);

/// How the storm went, from the clients' side and the agent's.
struct Storm {
    served: usize,
    failed: Vec<String>,
    unanswered: usize,
    cpu_percent: Option<f64>,
    peak_fds: usize,
    recovery: Result<Duration, String>,
}

pub fn run(ctx: &Ctx) -> Vec<Row> {
    let attempts = ctx.scaled(600, 20);
    let targets = [
        format!(
            "agent under ulimit -n {AGENT_NOFILE} stays up through {attempts} concurrent connection attempts"
        ),
        format!("agent CPU < {CPU_TARGET_PERCENT}% of a core during the {} s storm", STORM.as_secs()),
        format!("a TLS round trip served again ≤ {} s after the storm", RECOVERY_TARGET.as_secs()),
    ];
    let spec = Spec {
        name: "storm",
        listeners: &[("STORM", "MaxConnectionsPerSource 4000")],
        nofile: Some(AGENT_NOFILE),
    };
    let started = Agent::start(ctx, &spec).and_then(|a| connector(&a.ca).map(|c| (a, c)));
    let (mut agent, tls) = match started {
        Ok(v) => v,
        Err(e) => return targets.into_iter().map(|t| Row::unmeasured(NAME, t, &e)).collect(),
    };
    let limit = nofile(Some(agent.pid()));
    let storm = storm(ctx, &agent, &tls, attempts);
    let up = agent.alive();
    let [t_up, t_cpu, t_rec] = targets;
    let (accept_failed, backend_failed) =
        (agent.log_count("accept failed"), agent.log_count("backend connection failed"));
    let how = format!(
        "{} (soft limit {}, peak {} descriptors); attempts: {} served and held, {} failed ({}), {} without \
         an answer by the storm's end; agent log: {} `backend connection failed`, {} `accept failed`",
        up.as_ref().map_or_else(|e| e.clone(), |()| "up".to_string()),
        limit.map_or("?".into(), |l| l.to_string()),
        storm.peak_fds,
        thousands(storm.served),
        thousands(storm.failed.len()),
        stages(&storm.failed),
        thousands(storm.unanswered),
        thousands(backend_failed),
        thousands(accept_failed),
    );
    let limited = limit == Some(AGENT_NOFILE as usize);
    let how = if limited { how } else { format!("{how}; the agent's limit is not the one asked for") };
    let cpu = match storm.cpu_percent {
        Some(p) => Row::new(NAME, t_cpu, format!("{p:.1}%"), p < CPU_TARGET_PERCENT),
        None => Row::unmeasured(NAME, t_cpu, "the agent's /proc/PID/stat could not be read"),
    };
    let recovery = match &storm.recovery {
        Ok(d) => Row::new(
            NAME,
            t_rec,
            format!("{} after the clients were dropped", secs(*d)),
            *d <= RECOVERY_TARGET,
        ),
        Err(e) => Row::new(NAME, t_rec, format!("none within {}: {e}", secs(RECOVERY_BOUND)), false),
    };
    vec![Row::new(NAME, t_up, how, up.is_ok() && limited), cpu, recovery]
}

/// Failures counted by the step that failed (`connect`, `handshake`, `echo`, …): `echo 126`.
fn stages(failed: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for e in failed {
        let stage = e.split(':').next().unwrap_or(e);
        match counts.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, n)) => *n += 1,
            None => counts.push((stage, 1)),
        }
    }
    if counts.is_empty() {
        return "none".into();
    }
    counts.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", ")
}

fn storm(ctx: &Ctx, agent: &Agent, tls: &TlsConnector, attempts: usize) -> Storm {
    let (pid, addr) = (agent.pid(), agent.addr("STORM"));
    ctx.rt.block_on(async {
        let (c0, w0) = (cpu_ticks(pid), Instant::now());
        let end = tokio::time::Instant::now() + STORM;
        let mut set = JoinSet::new();
        for _ in 0..attempts {
            let tls = tls.clone();
            set.spawn(attempt(tls, addr, end));
        }
        // The agent's descriptors, sampled while the storm lasts (bounded by its end).
        let mut peak_fds = 0;
        while tokio::time::Instant::now() < end {
            peak_fds = peak_fds.max(fd_count(Some(pid)).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let cpu_percent = match (c0, cpu_ticks(pid)) {
            (Some(a), Some(b)) => Some(core_percent(b - a, ctx.clk_tck, w0.elapsed().as_secs_f64())),
            _ => None,
        };
        let (mut served, mut failed, mut unanswered) = (0, Vec::new(), 0);
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(true)) => served += 1,
                Ok(Ok(false)) => unanswered += 1,
                Ok(Err(e)) => failed.push(e),
                Err(e) => failed.push(e.to_string()),
            }
        }
        // Every client is gone now (each task dropped its connection when it ended).
        let recovery = recover(tls, addr).await;
        Storm { served, failed, unanswered, cpu_percent, peak_fds, recovery }
    })
}

/// One attempt: a round trip by `end`, the connection then held until `end`. `Ok(true)`: served,
/// `Ok(false)`: no answer by `end`.
async fn attempt(tls: TlsConnector, addr: SocketAddr, end: tokio::time::Instant) -> Result<bool, String> {
    match tokio::time::timeout_at(end, round_trip(&tls, addr, STEP)).await {
        Ok(Ok(s)) => {
            tokio::time::sleep_until(end).await;
            drop(s);
            Ok(true)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// Round trips until one completes; the time from the call to its completion.
async fn recover(tls: &TlsConnector, addr: SocketAddr) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut last = String::from("no try");
    while t0.elapsed() < RECOVERY_BOUND {
        let left = RECOVERY_BOUND.saturating_sub(t0.elapsed());
        match round_trip_closed(tls, addr, RECOVERY_TRY.min(left)).await {
            Ok(()) => return Ok(t0.elapsed()),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last)
}
