//! Phase `restart`: an agent on fixed ports (two TLS listeners, a `DemoBackend`) and a fixed
//! control socket, with `HELD` TLS connections open and moving data, is killed with SIGKILL and
//! started again at once with the same configuration, `restarts` times. Measured each time: from
//! the new process's start to its `listening` lines and to its first answer to netstat over the
//! control socket. It must come up within `UP_BOUND` without EADDRINUSE or a stale-socket error
//! (the old socket file is left behind by the kill), serve a TLS round trip, and the killed
//! agent's clients must see their connections end.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::Ctx;
use crate::probe::request;
use crate::report::{Row, secs};
use crate::support::agent::{Pki, TempDir, policy};
use crate::tls::{Tls, connect, connector, read_to_end, start_echo};

const LISTENERS: [&str; 2] = ["RST1", "RST2"];
/// Connections held open (and echoing) when the agent is killed.
const HELD: usize = 20;
const UP_BOUND: Duration = Duration::from_secs(5);
const STEP: Duration = Duration::from_secs(10);

/// One `pagent start` of the phase's configuration; killed and reaped on drop.
struct Started {
    child: Child,
    /// From spawn to every `listening` line.
    listening: Duration,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(ctx: &Ctx) -> Row {
    let mut row = Row::new("restart");
    let dir = TempDir::new("soak-restart");
    let pki = Pki::write(dir.path(), "pki");
    let echo = ctx.rt.block_on(start_echo()).expect("echo backend");
    let ports = [free_port(), free_port(), free_port()];
    let conf = write_config(dir.path(), &pki, echo, ports);
    let socket = dir.path().join("run/ctl.sock");
    let tls = connector(&pki.ca, false).expect("client configuration");
    let addrs: Vec<SocketAddr> = ports.iter().map(|p| SocketAddr::from(([127, 0, 0, 1], *p))).collect();
    let mut agent = match start(&conf, &dir.path().join("log-0.txt")) {
        Ok(a) => Some(a),
        Err(e) => {
            row.fail(format!("first start: {e}"));
            return row;
        }
    };
    let (mut up, mut answered) = (Vec::new(), Vec::new());
    for round in 1..=ctx.counts.restarts {
        let held = ctx.rt.block_on(hold(&tls, &addrs, HELD));
        let held = match held {
            Ok(h) => h,
            Err(e) => {
                row.fail(format!("round {round}: connections before the kill: {e}"));
                Vec::new()
            }
        };
        // SIGKILL, reaped: the socket file stays, the ports are free again.
        drop(agent.take());
        let ended = ctx.rt.block_on(ended(held));
        row.expect(ended == 0, || {
            format!("round {round}: {ended} held connections did not end after the kill")
        });
        let t0 = Instant::now();
        let log = dir.path().join(format!("log-{round}.txt"));
        let restarted = match start(&conf, &log) {
            Ok(a) => agent.insert(a),
            Err(e) => {
                row.fail(format!("round {round}: restart: {e}"));
                break;
            }
        };
        let listening = restarted.listening;
        up.push(listening);
        match ctx.rt.block_on(first_answer(&socket, t0)) {
            Ok(d) => answered.push(d),
            Err(e) => row.fail(format!("round {round}: {e}")),
        }
        row.expect(listening <= UP_BOUND, || format!("round {round}: listening after {listening:?}"));
        let trip = ctx.rt.block_on(round_trip(&tls, addrs[round % 2]));
        row.expect(trip.is_ok(), || format!("round {round}: round trip after the restart: {trip:?}"));
    }
    drop(agent);
    let worst = |v: &[Duration]| v.iter().max().map_or("-".into(), |d| secs(*d));
    row.done = format!(
        "{} kill -9 and restarts on the same ports and control socket, {HELD} live connections each time; \
         listening after ≤ {}, netstat answered after ≤ {}",
        up.len(),
        worst(&up),
        worst(&answered)
    );
    row.notes.push(format!(
        "listening after: {}; netstat after: {}",
        up.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(", "),
        answered.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(", ")
    ));
    row
}

/// A port free on 127.0.0.1 now (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address").port()
}

/// Policy and main configuration: listeners on `ports[0..2]`, the demo backend on `ports[2]`.
fn write_config(dir: &Path, pki: &Pki, echo: SocketAddr, ports: [u16; 3]) -> PathBuf {
    let pol = dir.join("policy.pol");
    fs::write(&pol, policy::server_rule("soak~restart", "RST*", &pki.server_ring, &[], None))
        .expect("policy");
    let mut text = format!(
        "TTLSConfig {}\nControlSocket {}\nRefreshInterval 0\nDemoBackend 127.0.0.1:{}\n",
        pol.display(),
        dir.join("run/ctl.sock").display(),
        ports[2]
    );
    for (name, port) in LISTENERS.iter().zip(ports) {
        text.push_str(&format!(
            "Listener {name}\n{{\n  Listen 127.0.0.1:{port}\n  Backend {echo}\n  Direction Inbound\n}}\n"
        ));
    }
    let conf = dir.join("pagent.conf");
    fs::write(&conf, text).expect("configuration");
    conf
}

/// Starts the agent and waits (up to `UP_BOUND` × 4) for every listener's `listening` line.
fn start(conf: &Path, log: &Path) -> Result<Started, String> {
    let t0 = Instant::now();
    let stderr = fs::File::create(log).map_err(|e| e.to_string())?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["start", "-c"])
        .arg(conf)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut started = Started { child, listening: Duration::ZERO };
    let mut missing: Vec<&str> = LISTENERS.to_vec();
    while !missing.is_empty() {
        let left = (UP_BOUND * 4).saturating_sub(t0.elapsed());
        let line = rx.recv_timeout(left).map_err(|_| {
            let status = started.child.try_wait().ok().flatten();
            format!(
                "no `listening` lines for {missing:?} ({status:?}): {}",
                fs::read_to_string(log).unwrap_or_default()
            )
        })?;
        missing.retain(|m| !line.starts_with(&format!("listening {m} ")));
    }
    started.listening = t0.elapsed();
    Ok(started)
}

/// Polls netstat until it answers; the time since `t0`.
async fn first_answer(socket: &Path, t0: Instant) -> Result<Duration, String> {
    let mut last = String::new();
    while t0.elapsed() < UP_BOUND * 2 {
        match request(socket, "netstat").await {
            Ok(v) if v["ok"] == true => return Ok(t0.elapsed()),
            Ok(v) => last = v.to_string(),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("netstat did not answer within {:?}: {last}", UP_BOUND * 2))
}

/// `n` connections over `addrs`, each after one 1 KiB round trip, with 64 KiB written and unread;
/// before them, `n` exchanges with the demo backend (`addrs[2]`), which closes first and so leaves
/// its port's connections in TIME_WAIT on the agent's side.
async fn hold(tls: &TlsConnector, addrs: &[SocketAddr], n: usize) -> Result<Vec<Tls>, String> {
    for _ in 0..n {
        let mut s = tokio::net::TcpStream::connect(addrs[2]).await.map_err(|e| format!("demo: {e}"))?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.map_err(|e| format!("demo: {e}"))?;
        let (end, n) = read_to_end(&mut s, STEP).await;
        if end != crate::tls::End::Clean || n == 0 {
            return Err(format!("demo: {end:?} after {n} bytes"));
        }
    }
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = round_trip(tls, addrs[i % 2]).await?;
        s.write_all(&[0x42; 64 * 1024]).await.map_err(|e| format!("write: {e}"))?;
        held.push(s);
    }
    Ok(held)
}

/// How many of the killed agent's connections did not end within `STEP`.
async fn ended(held: Vec<Tls>) -> usize {
    let mut open = 0;
    for mut s in held {
        let (end, _) = read_to_end(&mut s, STEP).await;
        open += usize::from(end == crate::tls::End::Open);
    }
    open
}

/// Connect, handshake, 1 KiB echoed.
async fn round_trip(tls: &TlsConnector, addr: SocketAddr) -> Result<Tls, String> {
    let mut s = connect(tls, addr, STEP).await?;
    let work = async {
        s.write_all(&[0xa5; 1024]).await?;
        s.flush().await?;
        let mut back = [0u8; 1024];
        s.read_exact(&mut back).await?;
        Ok::<_, std::io::Error>(back == [0xa5; 1024])
    };
    match tokio::time::timeout(STEP, work).await {
        Ok(Ok(true)) => Ok(s),
        Ok(Ok(false)) => Err("echo: other bytes came back".into()),
        Ok(Err(e)) => Err(format!("echo: {e}")),
        Err(_) => Err("echo: no answer".into()),
    }
}
