//! Application-controlled connections (ApplicationControlled On, `APPLCNTRL`): relayed in clear until
//! the controlling application asks, through the control socket, to start TLS (`init`) and later to
//! return to clear (`stop`). The switch is exact in the application's byte stream: with `written`,
//! after exactly that many application bytes; without it, after what attls has already received.
//!
//! ClientHello hold (ATTLS.md D29): in the clear phase, client bytes that begin a TLS handshake
//! record are kept from the application until `init` arrives (they start the handshake) or
//! `ClientHelloHold` passes (then they are delivered as data).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use super::tls::TlsEnv;
use crate::policy::Rule;
use crate::policy::table::Role;
use crate::registry::{ConnStatus, Entry};

/// The failure of a control request: a z/OS errno name and a message.
pub type Refusal = (&'static str, String);

/// A request from the control socket to the connection's task.
#[derive(Debug)]
pub enum Control {
    /// Start TLS after `written` application bytes (or now); replies when the handshake is done.
    Init { written: Option<u64>, reply: oneshot::Sender<Result<(), Refusal>> },
    /// close_notify, then carry on in clear.
    Stop { reply: oneshot::Sender<Result<(), Refusal>> },
    /// New traffic keys both ways (TLS 1.3 KeyUpdate, update requested).
    ResetCipher { reply: oneshot::Sender<Result<(), Refusal>> },
}

/// The client side: held bytes first, then the socket.
pub struct Prefixed {
    held: Vec<u8>,
    pos: usize,
    io: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos < self.held.len() {
            let n = (self.held.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.held[start..start + n]);
            self.pos += n;
            if self.pos == self.held.len() {
                self.held = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

enum Client {
    Clear(Prefixed),
    Tls(Box<tokio_rustls::server::TlsStream<Prefixed>>),
}

impl Client {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Client::Clear(c) => c.read(buf).await,
            Client::Tls(t) => t.read(buf).await,
        }
    }
    async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Client::Clear(c) => c.write_all(buf).await,
            Client::Tls(t) => {
                t.write_all(buf).await?;
                t.flush().await
            }
        }
    }
}

/// Whether `bytes` start a TLS handshake record (`16 03 01`…`16 03 04`).
pub fn starts_handshake_record(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 && (1..=4).contains(&bytes[2])
}

/// Relays an application-controlled connection until either side closes.
pub async fn run(
    client: TcpStream,
    mut backend: TcpStream,
    mut control: mpsc::Receiver<Control>,
    entry: Arc<Entry>,
    rule: Arc<Rule>,
    tls: Option<Arc<TlsEnv>>,
    hold: Duration,
) -> std::io::Result<()> {
    let mut client = Client::Clear(Prefixed { held: Vec::new(), pos: 0, io: client });
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut bbuf = vec![0u8; 16 * 1024];
    // Client bytes kept from the application (D29), and when they must be let go.
    let mut held: Vec<u8> = Vec::new();
    let mut hold_until: Option<tokio::time::Instant> = None;
    // Application bytes relayed so far, and a pending INIT waiting for `written`.
    let mut app_sent: u64 = 0;
    let mut pending: Option<(u64, oneshot::Sender<Result<(), Refusal>>)> = None;
    loop {
        let holding = hold_until.is_some();
        tokio::select! {
            n = client.read(&mut cbuf), if !holding => {
                let n = n?;
                if n == 0 {
                    let _ = backend.shutdown().await;
                    return drain_backend(&mut backend, &mut client, &entry).await;
                }
                entry.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                if matches!(client, Client::Clear(_)) && starts_handshake_record(&cbuf[..n]) {
                    held.extend_from_slice(&cbuf[..n]);
                    hold_until = Some(tokio::time::Instant::now() + hold);
                    continue;
                }
                backend.write_all(&cbuf[..n]).await?;
            }
            () = sleep_until(hold_until) => {
                // No INIT in time: the bytes were data after all.
                backend.write_all(&held).await?;
                held.clear();
                hold_until = None;
            }
            n = backend.read(&mut bbuf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                let mut data = &bbuf[..n];
                if let Some((limit, _)) = &pending {
                    let clear = (limit - app_sent).min(n as u64) as usize;
                    client.write_all(&data[..clear]).await?;
                    app_sent += clear as u64;
                    entry.bytes_out.fetch_add(clear as u64, Ordering::Relaxed);
                    data = &data[clear..];
                    if app_sent == *limit {
                        let (_, reply) = pending.take().expect("pending checked");
                        client = start_tls(client, &mut held, &mut hold_until, &rule, tls.as_deref(), &entry, reply).await?;
                    }
                }
                if !data.is_empty() {
                    client.write_all(data).await?;
                    app_sent += data.len() as u64;
                    entry.bytes_out.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            req = control.recv() => {
                let Some(req) = req else { continue };
                match req {
                    Control::Init { written, reply } => {
                        if matches!(client, Client::Tls(_)) || pending.is_some() {
                            let _ = reply.send(Err(("EALREADY", "TLS is already on or starting".into())));
                            continue;
                        }
                        match written {
                            Some(w) if w < app_sent => {
                                let _ = reply.send(Err(("EPROTO", format!("{app_sent} application bytes were already relayed in clear, more than written={w}"))));
                            }
                            Some(w) if w > app_sent => pending = Some((w, reply)),
                            _ => client = start_tls(client, &mut held, &mut hold_until, &rule, tls.as_deref(), &entry, reply).await?,
                        }
                    }
                    Control::ResetCipher { reply } => match &mut client {
                        Client::Tls(t) if t.get_ref().1.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) => {
                            let r = t.get_mut().1.refresh_traffic_keys().map_err(|e| ("EPROTO", e.to_string()));
                            t.flush().await?;
                            let _ = reply.send(r);
                        }
                        Client::Tls(_) => {
                            let _ = reply.send(Err(("EOPNOTSUPP", "new keys need TLS 1.3 (KeyUpdate); rustls does not renegotiate TLS 1.2".into())));
                        }
                        Client::Clear(_) => {
                            let _ = reply.send(Err(("EPROTO", "reset_cipher before init".into())));
                        }
                    },
                    Control::Stop { reply } => {
                        client = match client {
                            Client::Tls(t) => stop_tls(*t, &mut backend, &entry, reply).await?,
                            clear => {
                                let _ = reply.send(Err(("EALREADY", "the connection is already clear".into())));
                                clear
                            }
                        };
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// After the client closed its side: pass what the application still sends, then end.
async fn drain_backend(backend: &mut TcpStream, client: &mut Client, entry: &Entry) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = backend.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        client.write_all(&buf[..n]).await?;
        entry.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The handshake of INIT, as TLS server (the roles a controlling server application uses), bounded by
/// HandshakeTimeout. Held client bytes (the early ClientHello) start it.
async fn start_tls(
    client: Client,
    held: &mut Vec<u8>,
    hold_until: &mut Option<tokio::time::Instant>,
    rule: &Rule,
    tls: Option<&TlsEnv>,
    entry: &Entry,
    reply: oneshot::Sender<Result<(), Refusal>>,
) -> std::io::Result<Client> {
    let Client::Clear(mut clear) = client else { unreachable!("start_tls is only called in clear") };
    let server = match (rule.settings.handshake_role, tls.and_then(|t| t.server.clone())) {
        (Some(Role::Server | Role::ServerWithClientAuth), Some(s)) => s,
        _ => {
            let _ = reply.send(Err(("EOPNOTSUPP", "INIT as TLS client is not available yet".into())));
            return Ok(Client::Clear(clear));
        }
    };
    clear.held = std::mem::take(held);
    clear.pos = 0;
    *hold_until = None;
    entry.update(|s| s.conn_status = ConnStatus::Handshake);
    let limit = rule.settings.handshake_timeout;
    let attempt = TlsAcceptor::from(server).accept(clear);
    let result = if limit == 0 {
        attempt.await
    } else {
        tokio::time::timeout(Duration::from_secs(u64::from(limit)), attempt).await.unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timer expired"))
        })
    };
    match result {
        Ok(t) => {
            let (version, cipher, group, peer, cert) = super::conn::describe(t.get_ref().1);
            entry.update(|s| {
                s.conn_status = ConnStatus::Secure;
                s.tls_version = version;
                s.cipher = cipher;
                s.key_share = group;
                s.peer_subject = peer;
                s.peer_cert = cert;
                s.secured_how = Some("Init".into());
            });
            info!(version = version.unwrap_or("?"), "secure (INIT from the application)");
            let _ = reply.send(Ok(()));
            Ok(Client::Tls(Box::new(t)))
        }
        Err(e) => {
            warn!(rule = %rule.name, "handshake after INIT failed: {e}");
            entry.update(|s| s.conn_status = ConnStatus::NotSecure);
            let _ = reply.send(Err(("ECONNRESET", format!("the handshake failed: {e}"))));
            Err(e)
        }
    }
}

/// STOP: close_notify, wait for the client's, then carry on in clear on the same TCP connection.
async fn stop_tls(
    mut t: tokio_rustls::server::TlsStream<Prefixed>,
    backend: &mut TcpStream,
    entry: &Entry,
    reply: oneshot::Sender<Result<(), Refusal>>,
) -> std::io::Result<Client> {
    t.get_mut().1.send_close_notify();
    t.flush().await?;
    // Data the client sent before its close_notify still belongs to the protected phase.
    let mut buf = vec![0u8; 16 * 1024];
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match t.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => backend.write_all(&buf[..n]).await?,
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match wait {
        Ok(Ok(())) => {
            entry.update(|s| {
                s.conn_status = ConnStatus::NotSecure;
                s.tls_version = None;
                s.cipher = None;
                s.secured_how = Some("Stopped (clear after STOP)".into());
            });
            let _ = reply.send(Ok(()));
            let (io, _) = t.into_inner();
            Ok(Client::Clear(io))
        }
        _ => {
            let _ = reply.send(Err(("ECONNRESET", "the client did not answer close_notify".into())));
            Err(std::io::Error::other("no close_notify from the client after STOP"))
        }
    }
}
