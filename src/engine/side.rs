//! The TLS-capable side of a connection whose protection changes while it lives (application
//! control, FTP `AUTH TLS`/`CCC`, TN3270 START_TLS): clear, then TLS as server or client, maybe clear
//! again. Bytes already taken from the socket before the switch (a held ClientHello, the rest of a
//! read buffer) are read first ([`Prefixed`]), so nothing is lost or reordered.

use std::pin::Pin;

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

impl AsyncRead for Side {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Side::Clear(c) => Pin::new(c).poll_read(cx, buf),
            Side::Server(t) => Pin::new(&mut **t).poll_read(cx, buf),
            Side::Client(t) => Pin::new(&mut **t).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Side {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Side::Clear(c) => Pin::new(c).poll_write(cx, buf),
            Side::Server(t) => Pin::new(&mut **t).poll_write(cx, buf),
            Side::Client(t) => Pin::new(&mut **t).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Side::Clear(c) => Pin::new(c).poll_flush(cx),
            Side::Server(t) => Pin::new(&mut **t).poll_flush(cx),
            Side::Client(t) => Pin::new(&mut **t).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Side::Clear(c) => Pin::new(c).poll_shutdown(cx),
            Side::Server(t) => Pin::new(&mut **t).poll_shutdown(cx),
            Side::Client(t) => Pin::new(&mut **t).poll_shutdown(cx),
        }
    }
}

impl Side {
    /// Writes and flushes (under TLS the record leaves at once).
    pub async fn send(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.write_all(buf).await?;
        self.flush().await
    }

    /// The TCP connection under the TLS layer, if any.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Side::Clear(c) => c.tcp(),
            Side::Server(t) => t.get_ref().0.tcp(),
            Side::Client(t) => t.get_ref().0.tcp(),
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

    /// Whether the peer presented a certificate the rule validated (PassThru accepts any certificate
    /// without checking it, so it never counts).
    pub fn peer_validated(&self, rule: &Rule) -> bool {
        rule.settings.client_auth_type != crate::policy::table::ClientAuthType::PassThru
            && self.peer_certified()
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
        self.send(&[]).await.map_err(|e| ("ECONNRESET", e.to_string()))
    }
}

/// What a switch to TLS needs to know.
pub struct Secure<'a> {
    pub rule: &'a Rule,
    pub tls: Option<&'a TlsEnv>,
    pub entry: &'a Entry,
    /// The name to check in the peer's certificate (Client role).
    pub server_name: Option<ServerName<'static>>,
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
                TlsAcceptor::from(srv).accept(clear).await.map(|t| Ok(Side::Server(Box::new(t))))
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
///
/// A peer may send clear bytes right behind its close_notify (an FTP client's next command after
/// CCC), possibly in the same segment; so from here on the socket is read one TLS record at a time,
/// never past the close_notify, and nothing of the clear phase is swallowed.
pub async fn unsecure<W: AsyncWrite + Unpin>(
    side: Side,
    sink: &mut W,
    entry: &Entry,
) -> std::io::Result<Side> {
    let finish = |io: Prefixed| {
        entry.update(|s| {
            s.conn_status = ConnStatus::NotSecure;
            s.tls_version = None;
            s.cipher = None;
            s.secured_how = Some("Stopped (clear after STOP)".into());
        });
        Ok(Side::Clear(io))
    };
    let wait = Duration::from_secs(10);
    let late = || std::io::Error::other("the peer did not answer close_notify");
    match side {
        Side::Clear(c) => Ok(Side::Clear(c)),
        Side::Server(t) => {
            let (mut io, mut conn) = t.into_inner();
            tokio::time::timeout(wait, close_exactly(&mut io, &mut conn, sink))
                .await
                .map_err(|_| late())??;
            finish(io)
        }
        Side::Client(t) => {
            let (mut io, mut conn) = t.into_inner();
            tokio::time::timeout(wait, close_exactly(&mut io, &mut conn, sink))
                .await
                .map_err(|_| late())??;
            finish(io)
        }
    }
}

/// The most protected data a peer may still send between our close_notify and its own.
const CLOSE_DRAIN_MAX: usize = 1 << 20;

/// Sends close_notify, then reads whole records until the peer's close_notify.
async fn close_exactly<D, W: AsyncWrite + Unpin>(
    io: &mut Prefixed,
    conn: &mut rustls::ConnectionCommon<D>,
    sink: &mut W,
) -> std::io::Result<()> {
    use std::io::Read;
    conn.send_close_notify();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    io.write_all(&out).await?;
    let mut plain = vec![0u8; 16 * 1024];
    let mut taken = 0usize;
    loop {
        // Plaintext rustls already holds comes first; Ok(0) is the peer's close_notify.
        match conn.reader().read(&mut plain) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                taken += n;
                if taken > CLOSE_DRAIN_MAX {
                    return Err(std::io::Error::other(
                        "the peer kept sending instead of answering close_notify",
                    ));
                }
                sink.write_all(&plain[..n]).await?;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let mut header = [0u8; 5];
        io.read_exact(&mut header).await?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut record = header.to_vec();
        record.resize(5 + len, 0);
        io.read_exact(&mut record[5..]).await?;
        conn.read_tls(&mut &record[..])?;
        conn.process_new_packets().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out)?;
        }
        io.write_all(&out).await?;
    }
}
