//! One proxy under test (`Subject`) and what is measured on it: the idle phase (RSS per open
//! connection) and the timed phases of a round (bulk, full and resumed handshakes), each read as
//! the proxy's own CPU time and the wall time, with the per-round samples the report takes
//! medians of; for attls also resumed handshakes right after a refresh (`refresh.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use rustls::HandshakeKind;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::client::{Clients, close, connect, handshakes, one_handshake, open_idle, request};
use crate::latency::{Latency, LatencyRow, latency_phase};
use crate::measure::{cpu_ticks, rss_kib, thread_cpu_ns, threads_delta_s};
use crate::proxies::{Ctx, Kind, Proxy};
use crate::refresh::{refresh_agent, take_sessions};
use crate::report::{AfterRefresh, Row};
use crate::scenario::Scenario;
use crate::{Params, STEP, WORKERS};

/// One proxy in one scenario: its process, its own clients (so no session crosses to another
/// proxy) and the samples of every round. The first error stops it (and kills the process).
pub struct Subject {
    pub scenario: Scenario,
    pub kind: Kind,
    proxy: Option<Proxy>,
    clients: Clients,
    samples: Samples,
    error: Option<String>,
}

impl Subject {
    pub fn start(kind: Kind, ctx: &Ctx, ca: &Path) -> Subject {
        let scenario = ctx.scenario;
        let (proxy, error) = match kind.start(ctx) {
            Ok(proxy) => {
                eprintln!("{} {} started: pid {}, {}", scenario.name(), kind.name(), proxy.pid(), proxy.addr);
                (Some(proxy), None)
            }
            Err(e) => {
                eprintln!("{} {}: {e}", scenario.name(), kind.name());
                (None, Some(e))
            }
        };
        let clients = Clients::new(ca, scenario, ctx.backend);
        Subject { scenario, kind, proxy, clients, samples: Samples::default(), error }
    }

    pub fn run(&mut self, f: impl FnOnce(&mut Proxy, &Clients, &mut Samples) -> Result<(), String>) {
        let Some(proxy) = self.proxy.as_mut() else { return };
        eprint!("  {:<11} {:<8} ", self.scenario.name(), self.kind.name());
        if let Err(e) = f(proxy, &self.clients, &mut self.samples) {
            eprintln!("{}: {e}\n{}", self.kind.name(), proxy.log_tail());
            self.error = Some(e);
            self.proxy = None;
        }
    }

    pub fn row(&self) -> Row {
        let s = &self.samples;
        Row {
            cpu_s_per_gb_1: median(&s.cpu_s_per_gb_1),
            cpu_s_per_gb_8: median(&s.cpu_s_per_gb_8),
            mb_s_1: median(&s.mb_s_1),
            mb_s_8: median(&s.mb_s_8),
            cpu_ms_full: median(&s.cpu_ms_full),
            cpu_ms_resumed: median(&s.cpu_ms_resumed),
            hs_s_full: median(&s.hs_s_full),
            hs_s_resumed: median(&s.hs_s_resumed),
            rss_kib_idle: s.rss_kib_idle,
            rss_kib_base: s.rss_kib_base,
            after_refresh: (self.kind == Kind::Attls).then(|| AfterRefresh {
                cpu_ms: median(&s.refresh_cpu_ms),
                hs_s: median(&s.refresh_hs_s),
                over_before: median(&s.refresh_over_before),
                by_thread: median(&s.refresh_by_thread.iter().map(|x| x.0).collect::<Vec<_>>())
                    .zip(median(&s.refresh_by_thread.iter().map(|x| x.1).collect::<Vec<_>>())),
                resumed: s.refresh_resumed,
                attempts: s.refresh_attempts,
                rounds: s.refresh_rounds.clone(),
            }),
            latency_1: LatencyRow::of(&s.latency_1),
            latency_many: LatencyRow::of(&s.latency_many),
            phases: s.phases.clone(),
            error: self.error.clone(),
        }
    }
}

/// Per-round values of each figure (the table shows their medians).
#[derive(Debug, Default)]
pub struct Samples {
    cpu_s_per_gb_1: Vec<f64>,
    cpu_s_per_gb_8: Vec<f64>,
    mb_s_1: Vec<f64>,
    mb_s_8: Vec<f64>,
    cpu_ms_full: Vec<f64>,
    cpu_ms_resumed: Vec<f64>,
    hs_s_full: Vec<f64>,
    hs_s_resumed: Vec<f64>,
    rss_kib_idle: Option<f64>,
    rss_kib_base: Option<u64>,
    /// The last timed phase's CPU seconds by thread (`timed`).
    threads_cpu_s: Option<f64>,
    /// This round's CPU ms per resumed handshake (ticks, and by thread), until the refresh phase
    /// takes it as its "before".
    resumed_this_round: Option<(f64, Option<f64>)>,
    refresh_cpu_ms: Vec<f64>,
    refresh_hs_s: Vec<f64>,
    /// Per round: CPU per resumed handshake after the refresh over the Resumed phase's (by thread
    /// when both have it, else ticks).
    refresh_over_before: Vec<f64>,
    /// Per round, by thread: CPU ms per handshake after the refresh and before it.
    refresh_by_thread: Vec<(f64, f64)>,
    refresh_resumed: usize,
    refresh_attempts: usize,
    refresh_rounds: Vec<Value>,
    /// Raw figures of every timed phase: wall, user and system CPU seconds.
    phases: Vec<Value>,
    /// Each round's latency runs with one connection and with `idle` at once.
    latency_1: Vec<Latency>,
    latency_many: Vec<Latency>,
}

pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The timed phases of one round.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Bulk1,
    Bulk8,
    Full,
    Resumed,
    /// attls only: resumed handshakes right after a refresh, with sessions taken before it.
    Refresh,
    /// 1 KiB request/response latency with one connection, and with `idle` at once.
    Latency1,
    LatencyMany,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Bulk1,
        Phase::Bulk8,
        Phase::Full,
        Phase::Resumed,
        Phase::Refresh,
        Phase::Latency1,
        Phase::LatencyMany,
    ];

    /// The name `ATTLS_PEERS_PHASES` selects it by.
    pub fn group(self) -> &'static str {
        match self {
            Phase::Bulk1 | Phase::Bulk8 => "bulk",
            Phase::Full | Phase::Resumed => "handshakes",
            Phase::Refresh => "refresh",
            Phase::Latency1 | Phase::LatencyMany => "latency",
        }
    }
}

/// Runs `f` and returns its output, the proxy's CPU seconds (user + system, in clock ticks) and the
/// wall seconds; records the raw figures under `name`, with the threads' CPU seconds in
/// nanoseconds (`threads_cpu_s`, also left in `samples.threads_cpu_s`) when no thread was lost and
/// it agrees with the ticks (a thread that started and exited in between is lost without a trace
/// but shows in the ticks).
fn timed<T>(
    rt: &Runtime,
    proxy: &mut Proxy,
    clk_tck: u64,
    samples: &mut Samples,
    name: &str,
    f: impl Future<Output = Result<T, String>>,
) -> Result<(T, f64, f64), String> {
    let pid = proxy.pid();
    let threads0 = thread_cpu_ns(pid).ok();
    let (u0, s0) = cpu_ticks(pid)?;
    let t0 = Instant::now();
    let out = rt.block_on(f)?;
    let wall = t0.elapsed().as_secs_f64();
    let (u1, s1) = cpu_ticks(pid)?;
    let threads1 = thread_cpu_ns(pid).ok();
    proxy.alive()?;
    let (user, sys) = ((u1 - u0) as f64 / clk_tck as f64, (s1 - s0) as f64 / clk_tck as f64);
    // Tick accounting is sampled per thread: up to about a tick per thread either way.
    let slack = (threads1.as_ref().map_or(0, |t| t.len()) + 2) as f64 / clk_tck as f64;
    let threads = threads0
        .zip(threads1)
        .and_then(|(a, b)| threads_delta_s(&a, &b))
        .filter(|t| (t - (user + sys)).abs() <= slack + 0.1 * (user + sys));
    samples.threads_cpu_s = threads;
    let fine = threads.map_or(String::new(), |t| format!(" ({:.3} s by thread)", t));
    eprintln!("{name}: {wall:.2} s wall, CPU {user:.2} s user + {sys:.2} s system{fine}");
    samples.phases.push(json!({"phase": name, "wall_s": wall, "user_s": user, "system_s": sys,
                                "threads_cpu_s": threads}));
    Ok((out, user + sys, wall))
}

/// VmRSS of the fresh process (after one warm-up connection), then with `p.idle` open connections.
pub fn idle_phase(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    p: &Params,
    samples: &mut Samples,
) -> Result<(), String> {
    let (addr, pid) = (proxy.addr, proxy.pid());
    rt.block_on(one_handshake(&clients.full, addr))?;
    let before = rss_kib(pid)?;
    let idle = rt.block_on(open_idle(&clients.full, addr, p.idle))?;
    let after = rss_kib(pid)?;
    proxy.alive()?;
    samples.rss_kib_base = Some(before);
    samples.rss_kib_idle = Some(after.saturating_sub(before) as f64 / p.idle as f64);
    rt.block_on(async {
        let mut set = JoinSet::new();
        for s in idle {
            set.spawn(close(s));
        }
        while set.join_next().await.is_some() {}
    });
    eprintln!("idle: {before} KiB fresh, {after} KiB with {} connections", p.idle);
    Ok(())
}

pub fn run_phase(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    p: &Params,
    clk_tck: u64,
    phase: Phase,
    samples: &mut Samples,
) -> Result<(), String> {
    match phase {
        Phase::Bulk1 => {
            let (cpu_gb, mb_s) = bulk(rt, proxy, clients, 1, p.bulk_one, clk_tck, samples)?;
            samples.cpu_s_per_gb_1.push(cpu_gb);
            samples.mb_s_1.push(mb_s);
        }
        Phase::Bulk8 => {
            let (cpu_gb, mb_s) = bulk(rt, proxy, clients, 8, p.bulk_eight, clk_tck, samples)?;
            samples.cpu_s_per_gb_8.push(cpu_gb);
            samples.mb_s_8.push(mb_s);
        }
        Phase::Full => {
            let n = p.handshakes;
            let name = format!("{n} full handshakes");
            let (kinds, cpu, wall) =
                timed(rt, proxy, clk_tck, samples, &name, handshakes(clients.full.clone(), proxy.addr, n))?;
            let full = kinds.iter().filter(|k| **k == Some(HandshakeKind::Full)).count();
            if full != n {
                return Err(format!("{} of {n} handshakes were not full ones", n - full));
            }
            samples.cpu_ms_full.push(cpu * 1000.0 / n as f64);
            samples.hs_s_full.push(n as f64 / wall);
        }
        Phase::Resumed => {
            let n = p.handshakes;
            // TLS 1.3: tickets for every worker. A connection uses one and brings two after a full
            // handshake, but OpenSSL sends one after a resumed one: a concurrent round tops the store
            // up. TLS 1.2: the client keeps one session (ticket or ID) per server and reuses it.
            rt.block_on(one_handshake(&clients.resume, proxy.addr))?;
            rt.block_on(handshakes(clients.resume.clone(), proxy.addr, 2 * WORKERS))?;
            let name = format!("{n} resumption attempts");
            let (kinds, cpu, wall) =
                timed(rt, proxy, clk_tck, samples, &name, handshakes(clients.resume.clone(), proxy.addr, n))?;
            let resumed = kinds.iter().filter(|k| **k == Some(HandshakeKind::Resumed)).count();
            if resumed * 100 < n * 99 {
                return Err(format!(
                    "only {resumed} of {n} handshakes resumed: session resumption not working"
                ));
            }
            samples.cpu_ms_resumed.push(cpu * 1000.0 / n as f64);
            samples.hs_s_resumed.push(n as f64 / wall);
            let by_thread = samples.threads_cpu_s.map(|t| t * 1000.0 / n as f64);
            samples.resumed_this_round = Some((cpu * 1000.0 / n as f64, by_thread));
        }
        Phase::Refresh => after_refresh(rt, proxy, clients, p, clk_tck, samples)?,
        Phase::Latency1 => {
            let l = latency_phase(rt, proxy, clients, clients.backend, 1, p.latency_each_1)?;
            samples.latency_1.push(l);
        }
        Phase::LatencyMany => {
            let l = latency_phase(rt, proxy, clients, clients.backend, p.idle, p.latency_each_many)?;
            samples.latency_many.push(l);
        }
    }
    Ok(())
}

/// attls: sessions for `p.handshakes` attempts taken, the agent refreshed (an unrelated change),
/// then the attempts timed; their CPU against this round's Resumed phase and the share resumed.
/// A share below 99 % is a result (an agent that drops its sessions on refresh), not an error.
fn after_refresh(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    p: &Params,
    clk_tck: u64,
    samples: &mut Samples,
) -> Result<(), String> {
    let before = samples.resumed_this_round.take();
    if proxy.attls.is_none() {
        eprintln!("resumed after refresh: - (attls only)");
        return Ok(());
    }
    let n = p.handshakes;
    let (tls, store) = rt.block_on(take_sessions(clients, proxy.addr, n))?;
    store.freeze();
    let how = refresh_agent(proxy)?;
    eprint!("{how}; ");
    let name = format!("{n} resumption attempts after a refresh");
    let (kinds, cpu, wall) = timed(rt, proxy, clk_tck, samples, &name, handshakes(tls, proxy.addr, n))?;
    let resumed = kinds.iter().filter(|k| **k == Some(HandshakeKind::Resumed)).count();
    let cpu_ms = cpu * 1000.0 / n as f64;
    let by_thread = samples.threads_cpu_s.map(|t| t * 1000.0 / n as f64);
    let (before, before_by_thread) = before.map_or((None, None), |(t, f)| (Some(t), f));
    // After over before from the finer reading when both phases have it, else from the ticks.
    let (over, source) = match (by_thread, before_by_thread) {
        (Some(a), Some(b)) if b > 0.0 => (Some(a / b), "by thread"),
        _ => (before.filter(|b| *b > 0.0).map(|b| cpu_ms / b), "ticks"),
    };
    eprintln!("{:24}{resumed} of {n} resumed after the refresh", "");
    if let Some(Value::Object(m)) = samples.phases.last_mut() {
        m.insert("resumed".into(), json!(resumed));
        m.insert("refresh".into(), json!(how));
    }
    samples.refresh_cpu_ms.push(cpu_ms);
    samples.refresh_hs_s.push(n as f64 / wall);
    samples.refresh_over_before.extend(over);
    samples.refresh_by_thread.extend(by_thread.zip(before_by_thread));
    samples.refresh_resumed += resumed;
    samples.refresh_attempts += n;
    samples.refresh_rounds.push(json!({
        "cpu_ms_per_handshake": cpu_ms, "before_cpu_ms_per_handshake": before,
        "cpu_ms_per_handshake_by_thread": by_thread, "before_cpu_ms_per_handshake_by_thread": before_by_thread,
        "after_over_before": over, "after_over_before_from": source,
        "resumed": resumed, "attempts": n, "refresh": how,
    }));
    Ok(())
}

/// `conns` connections each sending `bytes`, set up (handshake and ping) before the clock starts.
/// Returns CPU seconds per GB and wall MB/s.
fn bulk(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    conns: usize,
    bytes: u64,
    clk_tck: u64,
    samples: &mut Samples,
) -> Result<(f64, f64), String> {
    let addr = proxy.addr;
    let streams = rt.block_on(async {
        let mut streams = Vec::new();
        for _ in 0..conns {
            let mut s = connect(&clients.full, addr).await?;
            request(&mut s, 0, STEP).await?;
            streams.push(s);
        }
        Ok::<_, String>(streams)
    })?;
    let limit = STEP + Duration::from_secs(bytes * conns as u64 / 1_000_000);
    let name = format!("bulk {conns} x {bytes} bytes");
    let (streams, cpu, wall) = timed(rt, proxy, clk_tck, samples, &name, async move {
        let mut set = JoinSet::new();
        for mut s in streams {
            set.spawn(async move { request(&mut s, bytes, limit).await.map(|()| s) });
        }
        let mut done = Vec::new();
        while let Some(r) = set.join_next().await {
            done.push(r.map_err(|e| e.to_string())??);
        }
        Ok(done)
    })?;
    rt.block_on(async {
        for s in streams {
            close(s).await;
        }
    });
    let gb = (bytes * conns as u64) as f64 / 1e9;
    Ok((cpu / gb, gb * 1000.0 / wall))
}
