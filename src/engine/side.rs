//! The TLS-capable side of a connection whose protection changes while it lives (application
//! control, FTP `AUTH TLS`/`CCC`, TN3270 START_TLS): clear, then TLS as server or client, maybe clear
//! again. Bytes already taken from the socket before the switch (a held ClientHello, the rest of a
//! read buffer) are read first ([`Prefixed`]), so nothing is lost or reordered.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

use super::tls::TlsEnv;
use crate::policy::Rule;
use crate::policy::table::Role;
use crate::registry::{ConnStatus, Entry};

/// A TCP stream with bytes already read from it put back in front.
pub struct Prefixed {
    held: Vec<u8>,
    pos: usize,
    io: TcpStream,
}

impl Prefixed {
    pub fn new(io: TcpStream) -> Self {
        Prefixed { held: Vec::new(), pos: 0, io }
    }

    /// Puts `bytes` back so they are read before anything else.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut held = bytes.to_vec();
        held.extend_from_slice(&self.held[self.pos..]);
        self.held = held;
        self.pos = 0;
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.io
    }
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

/// One side of the connection, clear or under TLS in either role.
pub enum Side {
    Clear(Prefixed),
    Server(Box<tokio_rustls::server::TlsStream<Prefixed>>),
    Client(Box<tokio_rustls::client::TlsStream<Prefixed>>),
}

impl Side {
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Side::Clear(c) => c.read(buf).await,
            Side::Server(t) => t.read(buf).await,
            Side::Client(t) => t.read(buf).await,
        }
    }

    /// Writes and flushes (under TLS the record leaves at once).
    pub async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Side::Clear(c) => c.write_all(buf).await,
            Side::Server(t) => {
                t.write_all(buf).await?;
                t.flush().await
            }
            Side::Client(t) => {
                t.write_all(buf).await?;
                t.flush().await
            }
        }
    }

    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Side::Clear(c) => c.shutdown().await,
            Side::Server(t) => t.shutdown().await,
            Side::Client(t) => t.shutdown().await,
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self, Side::Clear(_))
    }

    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        match self {
            Side::Clear(_) => None,
            Side::Server(t) => t.get_ref().1.protocol_version(),
            Side::Client(t) => t.get_ref().1.protocol_version(),
        }
    }

    /// Whether the peer presented a certificate that the verifier accepted.
    pub fn peer_certified(&self) -> bool {
        match self {
            Side::Clear(_) => false,
            Side::Server(t) => t.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()),
            Side::Client(t) => t.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()),
        }
    }

    /// TLS 1.3 KeyUpdate (update requested: both directions get new keys), flushed.
    pub async fn key_update(&mut self) -> Result<(), (&'static str, String)> {
        if self.version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return Err(match self {
                Side::Clear(_) => ("EPROTO", "the connection is not secure yet (no INIT)".into()),
                _ => (
                    "EOPNOTSUPP",
                    "new keys need TLS 1.3 (KeyUpdate); rustls does not renegotiate TLS 1.2".into(),
                ),
            });
        }
        let r = match self {
            Side::Server(t) => t.get_mut().1.refresh_traffic_keys(),
            Side::Client(t) => t.get_mut().1.refresh_traffic_keys(),
            Side::Clear(_) => Ok(()),
        };
        r.map_err(|e| ("EPROTO", e.to_string()))?;
        self.write_all(&[]).await.map_err(|e| ("ECONNRESET", e.to_string()))
    }
}

/// What a switch to TLS needs to know.
pub struct Secure<'a> {
    pub rule: &'a Rule,
    pub tls: Option<&'a TlsEnv>,
    pub entry: &'a Entry,
    /// The name to check in the peer's certificate (Client role).
    pub server_name: Option<ServerName<'static>>,
    /// Bound into the session's tickets (server role): FTP data connections prove with it that they
    /// resume a session born on their control connection.
    pub resumption: Option<Arc<[u8]>>,
    /// How the connection went secure, for netstat (`Init`, `AUTH TLS`, `START_TLS`…).
    pub how: &'static str,
}

/// Why a switch to TLS could not even start (the connection is still clear).
pub struct NotStarted(pub Prefixed, pub &'static str, pub String);

/// The handshake in the rule's role, bounded by HandshakeTimeout; records the outcome. `Ok(Err(..))`:
/// the policy offers no TLS for this role and the connection is still clear. `Err`: the handshake
/// failed and the connection is lost.
pub async fn secure(clear: Prefixed, s: Secure<'_>) -> std::io::Result<Result<Side, NotStarted>> {
    let role = s.rule.settings.handshake_role;
    let server = s.tls.and_then(|t| t.server.clone());
    let client = s.tls.and_then(|t| t.client.clone());
    s.entry.update(|e| e.conn_status = ConnStatus::Handshake);
    let attempt = async {
        match (role, server, client, s.server_name.clone()) {
            (Some(Role::Client), _, Some(c), Some(name)) => {
                TlsConnector::from(c).connect(name, clear).await.map(|t| Ok(Side::Client(Box::new(t))))
            }
            (Some(Role::Server | Role::ServerWithClientAuth), Some(srv), _, _) => {
                let data = s.resumption.clone();
                TlsAcceptor::from(srv)
                    .accept_with(clear, move |c| {
                        if let Some(d) = data.as_deref() {
                            c.set_resumption_data(d);
                        }
                    })
                    .await
                    .map(|t| Ok(Side::Server(Box::new(t))))
            }
            _ => Ok(Err(NotStarted(
                clear,
                "EOPNOTSUPP",
                format!("rule {} has no TLS configuration for its HandshakeRole", s.rule.name),
            ))),
        }
    };
    let limit = s.rule.settings.handshake_timeout;
    let result = if limit == 0 {
        attempt.await
    } else {
        tokio::time::timeout(Duration::from_secs(u64::from(limit)), attempt).await.unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timer expired"))
        })
    };
    match &result {
        Ok(Ok(side)) => {
            let (version, cipher, group, peer, cert) = match side {
                Side::Server(t) => super::conn::describe(t.get_ref().1),
                Side::Client(t) => super::conn::describe(t.get_ref().1),
                Side::Clear(_) => (None, None, None, None, None),
            };
            s.entry.update(|e| {
                e.conn_status = ConnStatus::Secure;
                e.tls_version = version;
                e.cipher = cipher;
                e.key_share = group;
                e.peer_subject = peer;
                e.peer_cert = cert;
                e.secured_how = Some(s.how.into());
            });
            let cipher_code = cipher.map(crate::policy::ciphers::hex4).unwrap_or_default();
            info!(version = version.unwrap_or("?"), cipher = cipher_code, how = s.how, "secure");
        }
        Ok(Err(_)) => s.entry.update(|e| e.conn_status = ConnStatus::NotSecure),
        Err(e) => {
            warn!(rule = %s.rule.name, how = s.how, "handshake failed: {e}");
            s.entry.update(|e| e.conn_status = ConnStatus::NotSecure);
        }
    }
    result
}

/// Back to clear: close_notify, then the peer's (data it sent before it still belongs to the protected
/// phase and goes to `sink`), bounded by 10 s. The TCP connection carries on.
pub async fn unsecure<W: AsyncWrite + Unpin>(
    side: Side,
    sink: &mut W,
    entry: &Entry,
) -> std::io::Result<Side> {
    async fn drain<T: AsyncRead + AsyncWrite + Unpin, W: AsyncWrite + Unpin>(
        t: &mut T,
        sink: &mut W,
    ) -> std::io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        let wait = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match t.read(&mut buf).await? {
                    0 => return Ok(()),
                    n => sink.write_all(&buf[..n]).await?,
                }
            }
        });
        wait.await.unwrap_or_else(|_| Err(std::io::Error::other("the peer did not answer close_notify")))
    }
    let io = match side {
        Side::Clear(c) => return Ok(Side::Clear(c)),
        Side::Server(mut t) => {
            t.get_mut().1.send_close_notify();
            t.flush().await?;
            drain(&mut *t, sink).await?;
            t.into_inner().0
        }
        Side::Client(mut t) => {
            t.get_mut().1.send_close_notify();
            t.flush().await?;
            drain(&mut *t, sink).await?;
            t.into_inner().0
        }
    };
    entry.update(|s| {
        s.conn_status = ConnStatus::NotSecure;
        s.tls_version = None;
        s.cipher = None;
        s.secured_how = Some("Stopped (clear after STOP)".into());
    });
    Ok(Side::Clear(io))
}
