//! `cargo bench --bench intercept` (run it with `scripts/bench-intercept`): what a new intercepted
//! connection costs the agent when thousands are live. Transparent mode finds the Jobname of the
//! server a connection was intercepted to (docs/transparent.md); that lookup must not grow with
//! the connections open on the host.
//!
//! The run re-executes itself under `unshare --net` (a network namespace of its own, gone when it
//! ends; root needed), brings its loopback up, widens its ephemeral port range to 1024-65535 (the
//! live connections hold two ports each towards one address), and starts there: a plaintext echo server
//! (`server.rs`, a process named `benchsrv`) on 127.0.0.1:8443; a pagent with one Inbound
//! `Transparent Redirect` listener and one rule for port 8443 with `Jobname benchsrv`; the rules of
//! `pagent setup-intercept --local` (nat output: this host's clients to a local port go to the
//! agent). Clients (rustls, the agent's generated CA, full handshakes) dial 127.0.0.1:8443.
//!
//! Per phase (`ATTLS_INTERCEPT_LIVE`, default `0,8000`: live intercepted connections, each after a
//! round trip, kept open, added to those of the phase before): `ATTLS_INTERCEPT_NEW` (default 300)
//! new connections one after another (connect, handshake, 1 KiB echoed, close), their median and
//! p99 latency, and the agent's CPU time per new connection (utime + stime of /proc/PID/stat over
//! them). Targets: with the most live connections, CPU per new connection within 1.5x and median
//! latency within 2x of the phase with none.
//!
//! `ATTLS_INTERCEPT_PAGENT=/path/to/pagent` measures another pagent build (e.g. main's, to
//! compare); the nft rules always come from this build's `setup-intercept --local`.
//! `ATTLS_INTERCEPT_LOG_LEVEL` is pagent's `--log-level` (default `info`). Output: a markdown
//! table on stdout, `target/intercept.json`; progress on stderr. A missed target is a FAIL line,
//! never a failed run. Every loop is bounded; all traffic stays in the namespace.

mod agent;
mod measure;
#[allow(dead_code, reason = "shared with the limits tool; this one needs its client")]
#[path = "../limits/net.rs"]
mod net;
#[allow(dead_code, reason = "shared with the soak and limits tools; this one needs part of it")]
#[path = "../procfs.rs"]
mod procfs;
#[allow(dead_code, reason = "shared with the other load tools; this one needs part of it")]
#[path = "../readings.rs"]
mod readings;
mod server;

use std::net::SocketAddr;
use std::process::Command;

use serde_json::json;

use measure::Figures;

/// Set in the re-executed run, inside its namespace.
const IN_NETNS: &str = "ATTLS_INTERCEPT_IN_NETNS";
/// The server's port, the one intercepted.
const SERVER_PORT: u16 = 8443;

fn main() {
    if let Ok(port) = std::env::var(server::ROLE) {
        server::run(&port);
    }
    if std::env::var_os(IN_NETNS).is_none() {
        std::process::exit(in_own_namespace());
    }
    if let Err(e) = run() {
        eprintln!("bench intercept: {e}");
        std::process::exit(1);
    }
}

/// Runs this program again in a network namespace of its own; its exit code.
fn in_own_namespace() -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench intercept: {e}");
            return 1;
        }
    };
    let status = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_NETNS, "1")
        .status();
    match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("bench intercept: cannot run `unshare --net` (root and util-linux needed): {e}");
            1
        }
    }
}

fn run() -> Result<(), String> {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let up = Command::new("ip").args(["link", "set", "lo", "up"]).status().map_err(|e| format!("ip: {e}"))?;
    if !up.success() {
        return Err("cannot bring the namespace's loopback up".into());
    }
    // Every live connection holds two ephemeral ports towards 127.0.0.1:8443 (the client's socket
    // and the agent's to the server): past half of the default range, connect() walks every port
    // of its preferred parity (__inet_check_established), whatever the agent does. The range is
    // this namespace's own.
    std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535")
        .map_err(|e| format!("ip_local_port_range: {e}"))?;
    let live_counts: Vec<usize> = std::env::var("ATTLS_INTERCEPT_LIVE")
        .unwrap_or_else(|_| "0,8000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let new = std::env::var("ATTLS_INTERCEPT_NEW").ok().and_then(|s| s.parse().ok()).unwrap_or(300usize);
    let log_level = std::env::var("ATTLS_INTERCEPT_LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let work = std::env::temp_dir().join(format!("attls-intercept-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let result = phases(&work, &live_counts, new, &log_level, nofile);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn phases(
    work: &std::path::Path,
    counts: &[usize],
    new: usize,
    level: &str,
    nofile: u64,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut srv = server::spawn(SERVER_PORT)?;
    let agent = agent::Agent::start(work, SERVER_PORT, level)?;
    let tls = net::connector(&agent.ca)?;
    let addr: SocketAddr = ([127, 0, 0, 1], SERVER_PORT).into();
    // The path works: TLS on the server's port, the rule matched by the server's Jobname.
    rt.block_on(net::round_trip_closed(&tls, addr, std::time::Duration::from_secs(30)))
        .map_err(|e| format!("no TLS through the interception: {e}\n{}", agent.log_tail()))?;
    if agent.log_count(&format!("rule=\"web~{SERVER_PORT}\"")) == 0 && level != "warn" && level != "error" {
        return Err(format!("the rule did not match the server's Jobname\n{}", agent.log_tail()));
    }
    println!("{}", header(&agent, nofile, new));
    let clk = readings::clk_tck();
    let mut held = Vec::new();
    let mut figures = Vec::new();
    for &live in counts {
        eprintln!("== {live} live");
        let failed = measure::hold(&rt, &tls, addr, &mut held, live);
        if held.len() < live {
            eprintln!("  only {} live ({failed} failed)\n{}", held.len(), agent.log_tail());
        }
        let f = measure::time_new(&rt, &tls, addr, agent.pid(), held.len(), new, clk);
        eprintln!("  {f:?}");
        figures.push(f);
    }
    report(&agent, &figures);
    drop(held);
    drop(agent);
    drop(srv.stdin.take());
    let _ = srv.kill();
    let _ = srv.wait();
    Ok(())
}

fn header(agent: &agent::Agent, nofile: u64, new: usize) -> String {
    let first = |cmd: &str, args: &[&str]| {
        readings::command_output(cmd, args).and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
    };
    format!(
        "# attls: a new intercepted connection's cost against live ones\n{}; {} cores; open-file limit {nofile}\n\
         pagent: {} ({})\n{new} new TLS connections per phase, one after another; server Jobname {}",
        first("uname", &["-srm"]).unwrap_or_default(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        agent.binary.display(),
        first(&agent.binary.display().to_string(), &["--version"]).unwrap_or_default(),
        server::COMM,
    )
}

fn report(agent: &agent::Agent, figures: &[Figures]) {
    println!("\n| live | new (failed) | agent CPU per new connection | median | p99 | wall |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for f in figures {
        println!(
            "| {} | {} ({}) | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} s |",
            f.live, f.new, f.failed, f.cpu_ms, f.median_ms, f.p99_ms, f.wall_s
        );
    }
    let mut checks = Vec::new();
    let ends = figures.first().zip(figures.last()).filter(|(b, t)| t.live > b.live);
    if let Some((base, top)) = ends {
        let cpu = top.cpu_ms / base.cpu_ms.max(f64::MIN_POSITIVE);
        let median = top.median_ms / base.median_ms.max(f64::MIN_POSITIVE);
        for (what, ratio, target) in [("CPU per new connection", cpu, 1.5), ("median latency", median, 2.0)] {
            let verdict = if ratio <= target { "PASS" } else { "FAIL" };
            println!(
                "{verdict}: {what} with {} live is {ratio:.2}x the figure with {} (target <= {target}x)",
                top.live, base.live
            );
            checks.push(json!({"what": what, "ratio": ratio, "target": target, "pass": ratio <= target}));
        }
    }
    let rows: Vec<_> = figures
        .iter()
        .map(|f| {
            json!({"live": f.live, "new": f.new, "failed": f.failed, "cpu_ms_per_new": f.cpu_ms,
                   "median_ms": f.median_ms, "p99_ms": f.p99_ms, "wall_s": f.wall_s})
        })
        .collect();
    readings::write_json(
        "intercept.json",
        &json!({"pagent": agent.binary.display().to_string(), "phases": rows, "checks": checks}),
    );
}
