//! Application-controlled connections (ApplicationControlled On, `APPLCNTRL`): relayed in clear until
//! the controlling application asks, through the control socket, to start TLS (`init`) and later to
//! return to clear (`stop`). The switch is exact in the application's byte stream: with `written`,
//! after exactly that many application bytes; without it, after what attls has already received.
//!
//! The TLS-capable side is the client for an inbound listener and the remote server for an outbound
//! one; the application is the other end.
//!
//! ClientHello hold (docs/decisions.md D29): in the clear phase, peer bytes that begin a TLS
//! handshake record are kept from the application until `init` arrives (they start the handshake)
//! or `ClientHelloHold` passes (then they are delivered as data).
//!
//! `init` with `allow_hstimeout` (z/OS ALLOW_HSTIMEOUT): the handshake starts only if the peer's first
//! bytes are a ClientHello within HandshakeTimeout; silence or other bytes leave the connection up in
//! clear, and the reply says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::controls::{Control, Done, Refusal, Reply};
use super::handshake::{NotStarted, Secure, secure, unsecure};
use super::stream::{Prefixed, Side};
use super::tls::TlsEnv;
use crate::errno::Errno;
use crate::policy::Rule;
use crate::policy::table::Role;
use crate::registry::Entry;

/// A switch waiting for the application's byte count to reach its `written`.
enum Switch {
    Init { allow_hstimeout: bool, reply: Reply },
    Stop { reply: Reply },
}

/// Whether `bytes` start a TLS handshake record (`16 03 01`…`16 03 04`).
pub fn starts_handshake_record(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 && (1..=4).contains(&bytes[2])
}

/// The fixed parts of one application-controlled connection.
pub(super) struct AppCtl {
    pub entry: Arc<Entry>,
    pub rule: Arc<Rule>,
    pub tls: Option<Arc<TlsEnv>>,
    /// D29 hold.
    pub hold: Duration,
    /// Client role: the name checked in the peer's certificate (D21).
    pub server_name: Option<ServerName<'static>>,
    /// Inbound: the peer is the listener's client (its bytes count as `bytes_in`).
    pub inbound: bool,
}

impl AppCtl {
    fn counters(&self) -> (&AtomicU64, &AtomicU64) {
        if self.inbound {
            (&self.entry.bytes_in, &self.entry.bytes_out)
        } else {
            (&self.entry.bytes_out, &self.entry.bytes_in)
        }
    }

    fn done(&self, note: Option<String>) -> Result<Done, Refusal> {
        Ok(Done { conn_status: self.entry.snapshot().conn_status, note })
    }

    /// Starts the handshake now (the peer's held bytes first).
    async fn start(&self, side: Side, held: &mut Vec<u8>, reply: Reply) -> std::io::Result<Side> {
        let Side::Clear(mut clear) = side else {
            let _ = reply.send(Err(Refusal::new(Errno::Ealready, "TLS is already on")));
            return Ok(side);
        };
        clear.unread(&std::mem::take(held));
        let how = "Init";
        let s = Secure {
            rule: &self.rule,
            tls: self.tls.as_deref(),
            entry: &self.entry,
            server_name: self.server_name.clone(),
            how,
            quiet: false,
        };
        match secure(clear, s).await {
            Ok(Ok(secured)) => {
                let _ = reply.send(self.done(None));
                Ok(secured.into_side())
            }
            Ok(Err(NotStarted(clear, errno, message))) => {
                let _ = reply.send(Err(Refusal::new(errno, message)));
                Ok(Side::Clear(clear))
            }
            Err(e) => {
                let _ = reply.send(Err(Refusal::new(
                    Errno::Econnreset,
                    format!("the handshake failed: {}", e.source),
                )));
                Err(e.into())
            }
        }
    }
}

/// Relays an application-controlled connection until either side closes.
pub(super) async fn run(
    peer: TcpStream,
    mut app: TcpStream,
    mut control: mpsc::Receiver<Control>,
    ctl: AppCtl,
) -> std::io::Result<()> {
    let (from_peer, from_app) = ctl.counters();
    let mut side = Side::Clear(Prefixed::new(peer));
    let mut pbuf = vec![0u8; 16 * 1024];
    let mut abuf = vec![0u8; 16 * 1024];
    // Peer bytes kept from the application (D29), and when they must be let go.
    let mut held: Vec<u8> = Vec::new();
    let mut hold_until: Option<Instant> = None;
    // Application bytes relayed so far, and a switch waiting for `written`.
    let mut app_sent: u64 = 0;
    let mut pending: Option<(u64, Switch)> = None;
    // INIT with allow_hstimeout waiting for the peer's first bytes.
    let mut awaiting: Option<(Instant, Reply)> = None;
    loop {
        let holding = hold_until.is_some();
        tokio::select! {
            n = side.read(&mut pbuf), if !holding => {
                let n = n?;
                if n == 0 {
                    let _ = app.shutdown().await;
                    return drain(&mut app, &mut side, from_app, &mut control, "the peer").await;
                }
                from_peer.fetch_add(n as u64, Ordering::Relaxed);
                let data = &pbuf[..n];
                if !side.is_tls() && starts_handshake_record(data) {
                    held.extend_from_slice(data);
                    match awaiting.take() {
                        Some((_, reply)) => side = ctl.start(side, &mut held, reply).await?,
                        None => hold_until = Some(Instant::now() + ctl.hold),
                    }
                    continue;
                }
                if let Some((_, reply)) = awaiting.take() {
                    let _ = reply.send(ctl.done(Some("the peer's first bytes were not a ClientHello: clear".into())));
                }
                app.write_all(data).await?;
            }
            // A held ClientHello waits for a pending INIT's `written` bytes (it starts that handshake).
            () = sleep_until(hold_until), if !matches!(pending, Some((_, Switch::Init { .. }))) => {
                // No INIT in time: the bytes were data after all.
                app.write_all(&held).await?;
                held.clear();
                hold_until = None;
            }
            () = sleep_until(awaiting.as_ref().map(|a| a.0)) => {
                if let Some((_, reply)) = awaiting.take() {
                    let _ = reply.send(ctl.done(Some("no ClientHello within HandshakeTimeout: clear".into())));
                }
            }
            // While INIT with allow_hstimeout waits for the peer, the application's bytes wait too:
            // they belong after the switch.
            n = app.read(&mut abuf), if awaiting.is_none() => {
                let n = n?;
                if n == 0 {
                    let _ = side.shutdown().await;
                    return drain(&mut side, &mut app, from_peer, &mut control, "the application").await;
                }
                let mut data = &abuf[..n];
                if let Some((limit, _)) = &pending {
                    let before = (limit - app_sent).min(n as u64) as usize;
                    side.send(&data[..before]).await?;
                    app_sent += before as u64;
                    from_app.fetch_add(before as u64, Ordering::Relaxed);
                    data = &data[before..];
                    if app_sent == *limit {
                        let (_, switch) = pending.take().expect("pending checked");
                        side = execute(&ctl, side, switch, &mut held, &mut hold_until, &mut awaiting, &mut app).await?;
                    }
                }
                if !data.is_empty() {
                    side.send(data).await?;
                    app_sent += data.len() as u64;
                    from_app.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            req = control.recv() => {
                let Some(req) = req else { continue };
                let busy = pending.is_some() || awaiting.is_some();
                match req {
                    Control::Init { reply, .. } if side.is_tls() || busy => {
                        let _ = reply.send(Err(Refusal::new(Errno::Ealready, "TLS is already on or starting")));
                    }
                    Control::Init { allow_hstimeout: true, reply, .. }
                        if ctl.rule.settings.handshake_role == Some(Role::Client) || ctl.rule.settings.handshake_timeout == 0 =>
                    {
                        let _ = reply.send(Err(Refusal::new(Errno::Eproto, "allow_hstimeout needs a Server role and a HandshakeTimeout other than 0")));
                    }
                    Control::Init { written, allow_hstimeout, reply } => {
                        match schedule(written, app_sent, Switch::Init { allow_hstimeout, reply }) {
                            Due::Later(at, switch) => pending = Some((at, switch)),
                            Due::Now(switch) => {
                                if written.is_none() {
                                    app_sent += relay_ready(&mut app, &mut side, from_app).await?;
                                }
                                side = execute(&ctl, side, switch, &mut held, &mut hold_until, &mut awaiting, &mut app).await?;
                            }
                            Due::TooLate(switch, refusal) => refuse(switch, refusal),
                        }
                    }
                    Control::Stop { reply, .. } if !side.is_tls() => {
                        let _ = reply.send(Err(Refusal::new(Errno::Ealready, "the connection is already clear")));
                    }
                    Control::Stop { reply, .. } if busy => {
                        let _ = reply.send(Err(Refusal::new(Errno::Ealready, "a STOP is already pending")));
                    }
                    Control::Stop { written, reply } => match schedule(written, app_sent, Switch::Stop { reply }) {
                        Due::Later(at, switch) => pending = Some((at, switch)),
                        Due::Now(switch) => {
                            if written.is_none() {
                                app_sent += relay_ready(&mut app, &mut side, from_app).await?;
                            }
                            side = execute(&ctl, side, switch, &mut held, &mut hold_until, &mut awaiting, &mut app).await?;
                        }
                        Due::TooLate(switch, refusal) => refuse(switch, refusal),
                    },
                    Control::ResetCipher { reply } => {
                        let _ = reply.send(side.key_update().await.and_then(|()| ctl.done(None)));
                    }
                }
            }
        }
    }
}

/// When a switch happens, given the application's `written` count and the bytes relayed so far.
enum Due {
    Later(u64, Switch),
    Now(Switch),
    TooLate(Switch, Refusal),
}

fn schedule(written: Option<u64>, app_sent: u64, switch: Switch) -> Due {
    match written {
        Some(w) if w < app_sent => Due::TooLate(
            switch,
            Refusal::new(
                Errno::Eproto,
                format!("{app_sent} application bytes were already relayed, more than written={w}"),
            ),
        ),
        Some(w) if w > app_sent => Due::Later(w, switch),
        _ => Due::Now(switch),
    }
}

fn refuse(switch: Switch, refusal: Refusal) {
    let (Switch::Init { reply, .. } | Switch::Stop { reply }) = switch;
    let _ = reply.send(Err(refusal));
}

/// Carries out a switch that is due.
async fn execute(
    ctl: &AppCtl,
    side: Side,
    switch: Switch,
    held: &mut Vec<u8>,
    hold_until: &mut Option<Instant>,
    awaiting: &mut Option<(Instant, Reply)>,
    app: &mut TcpStream,
) -> std::io::Result<Side> {
    match switch {
        Switch::Init { allow_hstimeout: true, reply } if held.is_empty() => {
            let wait = Duration::from_secs(u64::from(ctl.rule.settings.handshake_timeout));
            *awaiting = Some((Instant::now() + wait, reply));
            Ok(side)
        }
        Switch::Init { reply, .. } => {
            *hold_until = None;
            ctl.start(side, held, reply).await
        }
        Switch::Stop { reply } => match unsecure(side, app, &ctl.entry).await {
            Ok(side) => {
                let _ = reply.send(ctl.done(None));
                Ok(side)
            }
            Err(e) => {
                let _ = reply.send(Err(Refusal::new(
                    Errno::Econnreset,
                    format!("the peer did not answer close_notify: {e}"),
                )));
                Err(e)
            }
        },
    }
}

/// Without `written`, the switch comes after what attls has received: what the application's socket
/// delivered before the request, read now without waiting, still goes in the old protection.
async fn relay_ready(app: &mut TcpStream, side: &mut Side, counter: &AtomicU64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        match app.try_read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                side.send(&buf[..n]).await?;
                counter.fetch_add(n as u64, Ordering::Relaxed);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(total),
            Err(e) => return Err(e),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// After one side closed: pass what `from` (the other) still sends to `to`, then end, answering
/// control requests meanwhile (`who` closed). `to` is shut down at the end.
async fn drain<R, W>(
    from: &mut R,
    to: &mut W,
    counter: &AtomicU64,
    control: &mut mpsc::Receiver<Control>,
    who: &str,
) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = from.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    let _ = to.shutdown().await;
                    return Ok(());
                }
                to.write_all(&buf[..n]).await?;
                to.flush().await?;
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
            Some(req) = control.recv() => half_closed(req, who),
        }
    }
}

/// A control request on a connection one side has already closed: EPIPE (z/OS: the TCP connection
/// is going away).
fn half_closed(req: Control, who: &str) {
    let (Control::Init { reply, .. } | Control::Stop { reply, .. } | Control::ResetCipher { reply }) = req;
    let _ =
        reply.send(Err(Refusal::new(Errno::Epipe, format!("{who} has closed its side of the connection"))));
}
