//! Phase `faults`: one Raw listener per fault (TLS toward the client, no helper, `ConnectTimeout 1`,
//! `IdleTimeout 4`), each in front of a faulty backend of `faulty.rs`, and a sink for the client's
//! own faults. Each case checks how the client and (where it sees the connection) the backend saw
//! the end, that it came within the configured timeouts, that the agent's log names the fault,
//! and, for the paused reader, that the agent's RSS stayed bounded while `bulk_mib` MiB went
//! through. The leak check follows all cases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::SockRef;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;

use crate::Ctx;
use crate::faulty::{self, BACKEND_WAIT, Reports, Seen};
use crate::probe::Probe;
use crate::report::Row;
use crate::support::agent::{AgentProc, AgentSetup, policy};
use crate::tls::{End, Tls, connect, connector, pattern, read_to_end};

const CONNECT_TIMEOUT: u64 = 1;
const IDLE_TIMEOUT: u64 = 4;
/// Slack on a configured timeout (the idle check runs every IdleTimeout / 4).
const SLACK: Duration = Duration::from_secs(2);
const STEP: Duration = Duration::from_secs(10);
const MIB: u64 = 1 << 20;
/// The paused reader stops for this long after every quarter of the bulk transfer.
const PAUSE: Duration = Duration::from_millis(1500);
/// The agent's RSS may grow this much while the bulk transfer waits on the paused reader.
const RSS_BOUND_KIB: u64 = 32 * 1024;

/// The backends, one per listener.
struct Backends {
    reset: Reports,
    pause: Reports,
    stall: Reports,
    stall_go: Arc<Notify>,
    sink: Reports,
    refused: std::net::SocketAddr,
    slow: std::net::SocketAddr,
    _slow_held: (tokio::net::TcpListener, Vec<std::net::TcpStream>),
}

/// What the client saw: how its reading ended and when (from the handshake), what it wrote.
struct ClientSaw {
    end: End,
    at: Duration,
    sent: u64,
    write_error: Option<String>,
}

pub fn run(ctx: &Ctx) -> Row {
    let mut row = Row::new("faults");
    let bulk = ctx.counts.bulk_mib * MIB;
    let mut b = ctx.rt.block_on(async {
        let stall_go = Arc::new(Notify::new());
        let (slow, held) = faulty::full_queue().await;
        Backends {
            reset: faulty::resetter(MIB).await,
            pause: faulty::pauser(7, bulk / 4, PAUSE).await,
            stall: faulty::staller(stall_go.clone()).await,
            stall_go,
            sink: faulty::sink().await,
            refused: faulty::refused(),
            slow,
            _slow_held: held,
        }
    });
    let setup = AgentSetup::new("soak-faults");
    let pki = setup.pki("pki");
    let timeouts = [format!("ConnectTimeout {CONNECT_TIMEOUT}"), format!("IdleTimeout {IDLE_TIMEOUT}")];
    let lines: Vec<&str> = timeouts.iter().map(String::as_str).collect();
    let agent = setup
        .listener_with("FDOWN", b.refused, "Inbound", &lines)
        .listener_with("FRESET", b.reset.addr, "Inbound", &lines)
        .listener_with("FPAUSE", b.pause.addr, "Inbound", &lines)
        .listener_with("FSTALL", b.stall.addr, "Inbound", &lines)
        .listener_with("FSLOW", b.slow, "Inbound", &lines)
        .listener_with("FSINK", b.sink.addr, "Inbound", &lines)
        .policy(&policy::server_rule("soak~faults", "F*", &pki.server_ring, &[], None))
        .start();
    let tls = connector(&pki.ca, false).expect("client configuration");
    let probe = Probe::new(agent.pid(), agent.socket());
    // A clean transfer first: the baseline then has what the agent opens once.
    let mut cases = Cases { ctx, agent: &agent, tls: &tls, probe: &probe, row: &mut row, done: Vec::new() };
    cases.clean(&mut b.sink);
    let before = probe.check_leaks(cases.row, probe.read());
    cases.refused();
    cases.backend_reset(&mut b.reset);
    cases.paused_reader(&mut b.pause, bulk);
    cases.stalled_reader(&mut b.stall, &b.stall_go, bulk);
    cases.slow_accept();
    cases.client_reset(&mut b.sink);
    cases.client_truncates(&mut b.sink);
    cases.clean(&mut b.sink);
    let done = std::mem::take(&mut cases.done);
    row.done = format!("{} cases: {}", done.len(), done.join(", "));
    let after = probe.check_leaks(&mut row, before);
    row.notes.push(format!(
        "agent descriptors {} → {}, threads {} → {}",
        before.fds, after.fds, before.threads, after.threads
    ));
    row
}

/// The cases, run one after the other against one agent.
struct Cases<'a> {
    ctx: &'a Ctx,
    agent: &'a AgentProc,
    tls: &'a TlsConnector,
    probe: &'a Probe,
    row: &'a mut Row,
    done: Vec<String>,
}

impl Cases<'_> {
    /// Runs `f` and checks that the log gained a line with `needle`.
    fn logged<T>(&mut self, case: &str, needle: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let count = |a: &AgentProc| a.log_text().matches(needle).count();
        let before = count(self.agent);
        let out = f(self);
        let agent = self.agent;
        let seen = crate::support::agent::eventually(Duration::from_secs(3), || count(agent) > before);
        self.row.expect(seen, || format!("{case}: the agent log has no new `{needle}`"));
        out
    }

    fn check_client(
        &mut self,
        case: &str,
        saw: &Result<ClientSaw, String>,
        want: fn(&End) -> bool,
        within: Duration,
    ) {
        match saw {
            Err(e) => self.row.fail(format!("{case}: {e}")),
            Ok(s) => {
                self.row.notes.push(format!(
                    "{case}: the client saw {:?} after {} ms",
                    s.end,
                    s.at.as_millis()
                ));
                let wrote =
                    s.write_error.as_deref().map_or(String::new(), |e| format!(" (its writing: {e})"));
                self.row.expect(want(&s.end), || format!("{case}: the client saw {:?}{wrote}", s.end));
                self.row.expect(s.at <= within, || {
                    format!("{case}: the client saw the end after {:?} (bound {within:?})", s.at)
                });
            }
        }
    }

    fn check_backend(&mut self, case: &str, seen: Option<Seen>, want: fn(&End) -> bool) -> Option<Seen> {
        match seen {
            None => self.row.fail(format!("{case}: the backend reported nothing within {BACKEND_WAIT:?}")),
            Some(s) => {
                self.row.notes.push(format!("{case}: the backend saw {:?} after {} bytes", s.end, s.bytes));
                self.row.expect(want(&s.end), || {
                    format!("{case}: the backend saw {:?} after {} bytes", s.end, s.bytes)
                });
                return Some(s);
            }
        }
        None
    }

    /// Clean: 4 MiB to the sink, close_notify; the sink sees all and a FIN, the client close_notify.
    fn clean(&mut self, sink: &mut Reports) {
        let (saw, seen) = self.ctx.rt.block_on(async {
            let saw = push(self.tls, self.agent.addr("FSINK"), 4 * MIB, true, STEP).await;
            (saw, sink.next(BACKEND_WAIT).await)
        });
        self.check_client("clean close", &saw, |e| *e == End::Clean, STEP);
        if let Some(s) = self.check_backend("clean close", seen, |e| *e == End::Clean) {
            self.row.expect(s.bytes == 4 * MIB, || {
                format!("clean close: the sink got {} of {} bytes", s.bytes, 4 * MIB)
            });
        }
        self.done.push("clean close (4 MiB)".into());
    }

    /// Backend down: the client, handshaken, is cut at once.
    fn refused(&mut self) {
        let saw = self.logged("backend refused", "backend connection failed", |c| {
            c.ctx.rt.block_on(push(c.tls, c.agent.addr("FDOWN"), 0, false, STEP))
        });
        self.check_client("backend refused", &saw, |e| *e == End::Reset, SLACK);
        self.done.push("backend refused".into());
    }

    /// The backend resets after 1 MiB of 16 MiB: the client sees a reset too.
    fn backend_reset(&mut self, reset: &mut Reports) {
        let saw = self.logged("backend reset", "the server failed", |c| {
            c.ctx.rt.block_on(push(c.tls, c.agent.addr("FRESET"), 16 * MIB, true, STEP))
        });
        let _ = reset;
        self.check_client("backend reset mid-transfer", &saw, End::abortive, SLACK);
        self.done.push("backend reset after 1 MiB".into());
    }

    /// `bulk` bytes to a backend that pauses its reading 4 times: all arrive, RSS stays bounded.
    fn paused_reader(&mut self, pause: &mut Reports, bulk: u64) {
        let start_rss = self.probe.read().rss_kib;
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(start_rss)));
        let sampler = {
            let (probe, stop, peak) = (self.probe.clone(), stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(probe.read().rss_kib, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let bound = Duration::from_secs(120);
        let (saw, seen) = self.ctx.rt.block_on(async {
            let saw = push(self.tls, self.agent.addr("FPAUSE"), bulk, true, bound).await;
            (saw, pause.next(BACKEND_WAIT).await)
        });
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        let grew = peak.load(Ordering::Relaxed).saturating_sub(start_rss);
        self.check_client("paused reader", &saw, |e| *e == End::Clean, bound);
        if let Some(s) = self.check_backend("paused reader", seen, |e| *e == End::Clean) {
            self.row
                .expect(s.bytes == bulk, || format!("paused reader: {} of {bulk} bytes arrived", s.bytes));
            self.row.mismatches += bulk.saturating_sub(s.bytes);
            if let Some(at) = s.mismatch {
                self.row.mismatches += 1;
                self.row.problems.push(format!("paused reader: wrong byte at offset {at}"));
            }
        }
        self.row.expect(grew <= RSS_BOUND_KIB, || {
            format!("paused reader: agent RSS grew {grew} KiB (bound {RSS_BOUND_KIB})")
        });
        let secs = saw.as_ref().map_or(0.0, |s| s.at.as_secs_f64());
        self.row
            .notes
            .push(format!("paused reader: {} MiB in {secs:.1} s, agent RSS peak +{grew} KiB", bulk / MIB));
        self.done.push(format!("paused reader ({} MiB)", bulk / MIB));
    }

    /// A backend that never reads: cut at IdleTimeout; the backend, which got part of the upload,
    /// must not see a clean end, and neither must the client.
    fn stalled_reader(&mut self, stall: &mut Reports, go: &Notify, bulk: u64) {
        let bound = Duration::from_secs(IDLE_TIMEOUT) + SLACK;
        let saw = self.logged("stalled reader", "IdleTimeout", |c| {
            c.ctx.rt.block_on(push(c.tls, c.agent.addr("FSTALL"), bulk, true, bound + SLACK))
        });
        go.notify_waiters();
        go.notify_one();
        let seen = self.ctx.rt.block_on(stall.next(BACKEND_WAIT));
        self.check_client("stalled reader", &saw, End::abortive, bound);
        if let Some(s) = self.check_backend("stalled reader", seen, |e| *e == End::Reset) {
            let sent = saw.as_ref().map_or(0, |c| c.sent);
            self.row.notes.push(format!(
                "stalled reader: client wrote {sent} bytes, backend read {} before the end",
                s.bytes
            ));
        }
        self.done.push("stalled reader (IdleTimeout)".into());
    }

    /// A backend whose accept queue is full: ConnectTimeout ends the wait.
    fn slow_accept(&mut self) {
        let saw = self.logged("slow accept", "ConnectTimeout", |c| {
            c.ctx.rt.block_on(push(c.tls, c.agent.addr("FSLOW"), 0, false, STEP))
        });
        let bound = Duration::from_secs(CONNECT_TIMEOUT) + SLACK;
        self.check_client("backend slow to accept", &saw, |e| *e == End::Reset, bound);
        self.done.push("backend slow to accept (ConnectTimeout)".into());
    }

    /// The client resets after 2 MiB: the backend sees a reset.
    fn client_reset(&mut self, sink: &mut Reports) {
        let seen = self.logged("client reset", "reading from the client failed", |c| {
            c.ctx.rt.block_on(async {
                cut(c.tls, c.agent.addr("FSINK"), 2 * MIB, Cut::Reset).await?;
                Ok::<_, String>(sink.next(BACKEND_WAIT).await)
            })
        });
        match seen {
            Err(e) => self.row.fail(format!("client reset: {e}")),
            Ok(seen) => drop(self.check_backend("client reset mid-transfer", seen, |e| *e == End::Reset)),
        }
        self.done.push("client reset after 2 MiB".into());
    }

    /// The client ends with a FIN and no close_notify after 2 MiB: the backend sees a reset.
    fn client_truncates(&mut self, sink: &mut Reports) {
        let seen = self.logged("client truncates", "truncated", |c| {
            c.ctx.rt.block_on(async {
                cut(c.tls, c.agent.addr("FSINK"), 2 * MIB, Cut::Fin).await?;
                Ok::<_, String>(sink.next(BACKEND_WAIT).await)
            })
        });
        match seen {
            Err(e) => self.row.fail(format!("client truncates: {e}")),
            Ok(seen) => {
                drop(self.check_backend("client FIN without close_notify", seen, |e| *e == End::Reset))
            }
        }
        self.done.push("client FIN without close_notify".into());
    }
}

/// Connects, writes `send` pattern bytes (then close_notify if `close`) while reading; what the
/// client saw. `bound` limits the reading.
async fn push(
    tls: &TlsConnector,
    addr: std::net::SocketAddr,
    send: u64,
    close: bool,
    bound: Duration,
) -> Result<ClientSaw, String> {
    let s = connect(tls, addr, STEP).await?;
    let t0 = Instant::now();
    let (mut r, mut w) = tokio::io::split(s);
    let mut writer = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0u64;
        while off < send {
            let n = (send - off).min(buf.len() as u64) as usize;
            pattern(7, off, &mut buf[..n]);
            if let Err(e) = w.write_all(&buf[..n]).await {
                return (off, Some(e.to_string()));
            }
            off += n as u64;
        }
        if close && let Err(e) = w.shutdown().await {
            return (off, Some(e.to_string()));
        }
        (off, None)
    });
    let (end, _) = read_to_end(&mut r, bound).await;
    let at = t0.elapsed();
    let (sent, write_error) = match tokio::time::timeout(SLACK, &mut writer).await {
        Ok(Ok(v)) => v,
        _ => {
            writer.abort();
            (0, Some("still writing".into()))
        }
    };
    Ok(ClientSaw { end, at, sent, write_error })
}

/// How the client ends a connection on purpose.
#[derive(Clone, Copy)]
enum Cut {
    /// SO_LINGER 0, then close: a TCP reset.
    Reset,
    /// A FIN without close_notify.
    Fin,
}

/// Connects, writes `send` bytes, then ends the connection the way `how` says.
async fn cut(tls: &TlsConnector, addr: std::net::SocketAddr, send: u64, how: Cut) -> Result<(), String> {
    let mut s: Tls = connect(tls, addr, STEP).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    while off < send {
        let n = (send - off).min(buf.len() as u64) as usize;
        pattern(7, off, &mut buf[..n]);
        s.write_all(&buf[..n]).await.map_err(|e| format!("write: {e}"))?;
        off += n as u64;
    }
    s.flush().await.map_err(|e| format!("flush: {e}"))?;
    // Let the agent relay what was written before the cut.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tcp = s.get_mut().0;
    match how {
        Cut::Reset => {
            let _ = SockRef::from(&*tcp).set_linger(Some(Duration::ZERO));
        }
        Cut::Fin => {
            let _ = tcp.shutdown().await;
            // Wait for the agent's answer before closing.
            let _ = read_to_end(tcp, STEP).await;
        }
    }
    Ok(())
}
