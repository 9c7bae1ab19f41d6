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
use super::record::starts_handshake_record;
use super::sockets::reset_on_close;
use super::stream::{Prefixed, Side};
use super::tls::TlsEnv;
use crate::certmap::CertUserMap;
use crate::errno::Errno;
use crate::policy::Rule;
use crate::policy::table::Role;
use crate::registry::Entry;

/// A switch waiting for the application's byte count to reach its `written`.
enum Switch {
    Init { allow_hstimeout: bool, reply: Reply },
    Stop { reply: Reply },
}

/// The fixed parts of one application-controlled connection.
pub(super) struct AppCtl {
    pub entry: Arc<Entry>,
    pub rule: Arc<Rule>,
    pub tls: Option<Arc<TlsEnv>>,
    /// The mapping generation's `CertUserMap` (D37).
    pub cert_users: Option<Arc<CertUserMap>>,
    /// Where a server-role handshake records the client's ClientHello.
    pub inventory: Arc<crate::inventory::Inventory>,
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
            cert_users: self.cert_users.as_deref(),
            inventory: &self.inventory,
        };
        match secure(clear, s).await {
            Ok(Ok(secured)) => {
                let _ = reply.send(self.done(None));
                Ok(secured.into_side())
            }
            Ok(Err(NotStarted(clear, errno, message))) => {
                // The application expects TLS from here on: nothing more may pass in clear.
                reset_on_close(clear.tcp());
                let _ = reply.send(Err(Refusal::new(errno, format!("{message}; the connection is reset"))));
                Err(std::io::Error::other(message))
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

/// The changing state of an application-controlled connection, beside its TLS-capable side.
struct State {
    app: TcpStream,
    /// Peer bytes kept from the application (D29), and when they must be let go.
    held: Vec<u8>,
    hold_until: Option<Instant>,
    /// Application bytes relayed so far, and a switch waiting for `written`.
    app_sent: u64,
    pending: Option<(u64, Switch)>,
    /// INIT with allow_hstimeout waiting for the peer's first bytes.
    awaiting: Option<(Instant, Reply)>,
    /// Application bytes past the switch point of an INIT that waits for the peer's ClientHello:
    /// they go under TLS once it is on, in clear only if the timer lets the connection stay clear.
    after_mark: Vec<u8>,
}

/// Relays an application-controlled connection until either side closes.
pub(super) async fn run(
    peer: TcpStream,
    app: TcpStream,
    mut control: mpsc::Receiver<Control>,
    ctl: AppCtl,
) -> std::io::Result<()> {
    let side = Side::Clear(Prefixed::new(peer));
    let mut st = State {
        app,
        held: Vec::new(),
        hold_until: None,
        app_sent: 0,
        pending: None,
        awaiting: None,
        after_mark: Vec::new(),
    };
    let r = serve(&mut st, side, &mut control, &ctl).await;
    if r.is_err() {
        // Whatever broke, the application hears a reset, not an end of data it could trust.
        reset_on_close(&st.app);
    }
    r
}

async fn serve(
    st: &mut State,
    mut side: Side,
    control: &mut mpsc::Receiver<Control>,
    ctl: &AppCtl,
) -> std::io::Result<()> {
    let (from_peer, from_app) = ctl.counters();
    let mut pbuf = vec![0u8; 16 * 1024];
    let mut abuf = vec![0u8; 16 * 1024];
    loop {
        let holding = st.hold_until.is_some();
        let init_pending = matches!(st.pending, Some((_, Switch::Init { .. })));
        tokio::select! {
            n = side.read(&mut pbuf), if !holding => {
                let n = n?;
                if n == 0 {
                    let _ = st.app.shutdown().await;
                    return drain(&mut st.app, &mut side, from_app, control, "the peer").await;
                }
                from_peer.fetch_add(n as u64, Ordering::Relaxed);
                side = st.peer_bytes(ctl, side, &pbuf[..n]).await?;
            }
            // A held ClientHello waits for a pending INIT's `written` bytes (it starts that handshake).
            () = sleep_until(st.hold_until), if !init_pending => {
                // No INIT in time: the bytes were data after all.
                st.app.write_all(&st.held).await?;
                st.held.clear();
                st.hold_until = None;
            }
            () = sleep_until(st.awaiting.as_ref().map(|a| a.0)) => {
                if let Some((_, reply)) = st.awaiting.take() {
                    // allow_hstimeout: the connection stays clear, and so do the bytes past the mark.
                    side.send(&std::mem::take(&mut st.after_mark)).await?;
                    let _ = reply.send(ctl.done(Some("no ClientHello within HandshakeTimeout: clear".into())));
                }
            }
            // While INIT with allow_hstimeout waits for the peer, the application's bytes wait too:
            // they belong after the switch.
            n = st.app.read(&mut abuf), if st.awaiting.is_none() => {
                let n = n?;
                if n == 0 {
                    let _ = side.shutdown().await;
                    return drain(&mut side, &mut st.app, from_peer, control, "the application").await;
                }
                side = st.app_bytes(ctl, side, &abuf[..n], from_app).await?;
            }
            req = control.recv() => {
                if let Some(req) = req {
                    side = st.request(ctl, side, req, from_app).await?;
                }
            }
        }
    }
}

impl State {
    /// Peer bytes: a ClientHello is held (or starts an awaited INIT), anything else goes on.
    async fn peer_bytes(&mut self, ctl: &AppCtl, side: Side, data: &[u8]) -> std::io::Result<Side> {
        if !side.is_tls() && starts_handshake_record(data) {
            self.held.extend_from_slice(data);
            return match self.awaiting.take() {
                Some((_, reply)) => {
                    let mut side = ctl.start(side, &mut self.held, reply).await?;
                    // The bytes past the mark, under TLS now.
                    side.send(&std::mem::take(&mut self.after_mark)).await?;
                    Ok(side)
                }
                None => {
                    self.hold_until = Some(Instant::now() + ctl.hold);
                    Ok(side)
                }
            };
        }
        let mut side = side;
        if let Some((_, reply)) = self.awaiting.take() {
            // allow_hstimeout: no ClientHello, so the connection (and the bytes past the mark) stay clear.
            side.send(&std::mem::take(&mut self.after_mark)).await?;
            let _ = reply.send(ctl.done(Some("the peer's first bytes were not a ClientHello: clear".into())));
        }
        self.app.write_all(data).await?;
        Ok(side)
    }

    /// Application bytes: those before a pending switch's mark, the switch, then the rest.
    async fn app_bytes(
        &mut self,
        ctl: &AppCtl,
        mut side: Side,
        mut data: &[u8],
        counter: &AtomicU64,
    ) -> std::io::Result<Side> {
        if let Some((limit, _)) = &self.pending {
            let before = (limit - self.app_sent).min(data.len() as u64) as usize;
            side.send(&data[..before]).await?;
            self.app_sent += before as u64;
            counter.fetch_add(before as u64, Ordering::Relaxed);
            data = &data[before..];
            if self.app_sent == *limit {
                let (_, switch) = self.pending.take().expect("pending checked");
                side = self.execute(ctl, side, switch).await?;
            }
        }
        if self.awaiting.is_some() {
            // The switch waits for the peer's ClientHello: nothing past the mark leaves yet.
            self.app_sent += data.len() as u64;
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            self.after_mark.extend_from_slice(data);
            return Ok(side);
        }
        if !data.is_empty() {
            side.send(data).await?;
            self.app_sent += data.len() as u64;
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        Ok(side)
    }

    /// A control request: refused, scheduled after `written`, or carried out now.
    async fn request(
        &mut self,
        ctl: &AppCtl,
        mut side: Side,
        req: Control,
        counter: &AtomicU64,
    ) -> std::io::Result<Side> {
        let busy = self.pending.is_some() || self.awaiting.is_some();
        let no = |reply: Reply, errno, why: &str| {
            let _ = reply.send(Err(Refusal::new(errno, why)));
        };
        let settings = &ctl.rule.settings;
        let (written, switch) = match req {
            Control::Init { reply, .. } if side.is_tls() || busy => {
                no(reply, Errno::Ealready, "TLS is already on or starting");
                return Ok(side);
            }
            Control::Init { allow_hstimeout: true, reply, .. }
                if settings.handshake_role == Some(Role::Client) || settings.handshake_timeout == 0 =>
            {
                no(
                    reply,
                    Errno::Eproto,
                    "allow_hstimeout needs a Server role and a HandshakeTimeout other than 0",
                );
                return Ok(side);
            }
            Control::Init { written, allow_hstimeout, reply } => {
                (written, Switch::Init { allow_hstimeout, reply })
            }
            Control::Stop { reply, .. } if !side.is_tls() => {
                no(reply, Errno::Ealready, "the connection is already clear");
                return Ok(side);
            }
            Control::Stop { reply, .. } if busy => {
                no(reply, Errno::Ealready, "a STOP is already pending");
                return Ok(side);
            }
            Control::Stop { written, reply } => (written, Switch::Stop { reply }),
            Control::ResetCipher { reply } => {
                let _ = reply.send(side.key_update().await.and_then(|()| ctl.done(None)));
                return Ok(side);
            }
        };
        match schedule(written, self.app_sent, switch) {
            Due::Later(at, switch) => self.pending = Some((at, switch)),
            Due::Now(switch) => {
                if written.is_none() {
                    self.app_sent += relay_ready(&mut self.app, &mut side, counter).await?;
                }
                side = self.execute(ctl, side, switch).await?;
            }
            Due::TooLate(switch, refusal) => refuse(switch, refusal),
        }
        Ok(side)
    }

    /// Carries out a switch that is due.
    async fn execute(&mut self, ctl: &AppCtl, side: Side, switch: Switch) -> std::io::Result<Side> {
        match switch {
            Switch::Init { allow_hstimeout: true, reply } if self.held.is_empty() => {
                let wait = Duration::from_secs(u64::from(ctl.rule.settings.handshake_timeout));
                self.awaiting = Some((Instant::now() + wait, reply));
                Ok(side)
            }
            Switch::Init { reply, .. } => {
                self.hold_until = None;
                ctl.start(side, &mut self.held, reply).await
            }
            Switch::Stop { reply } => match unsecure(side, &mut self.app, &ctl.entry).await {
                Ok(side) => {
                    let _ = reply.send(ctl.done(None));
                    Ok(side)
                }
                Err(e) => {
                    let why = format!("the peer did not answer close_notify: {e}");
                    let _ = reply.send(Err(Refusal::new(Errno::Econnreset, why)));
                    Err(e)
                }
            },
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
