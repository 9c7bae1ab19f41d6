//! The TLS-capable side of every connection ([`Side`]): clear, or TLS as server or client, and for
//! connections whose protection changes while they live (application control, FTP `AUTH TLS`/`CCC`,
//! TN3270 START_TLS) clear again. Bytes already taken from the socket before a switch (a held
//! ClientHello, the rest of a read buffer) are read first ([`Prefixed`]), so nothing is lost or
//! reordered.

use std::pin::Pin;

use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::controls::Refusal;
use super::rekey::Rekey;
use crate::errno::Errno;
use crate::policy::Rule;

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
    // rustls hands a handshake flight over as several records: one writev, not a write each.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
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
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Side::Clear(c) => Pin::new(c).poll_write_vectored(cx, bufs),
            Side::Server(t) => Pin::new(&mut **t).poll_write_vectored(cx, bufs),
            Side::Client(t) => Pin::new(&mut **t).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Side::Clear(c) => c.is_write_vectored(),
            Side::Server(t) => t.is_write_vectored(),
            Side::Client(t) => t.is_write_vectored(),
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
    pub async fn key_update(&mut self) -> Result<(), Refusal> {
        if self.version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return Err(match self {
                Side::Clear(_) => Refusal::new(Errno::Eproto, "the connection is not secure yet (no INIT)"),
                _ => Refusal::new(
                    Errno::Eopnotsupp,
                    "new keys need TLS 1.3 (KeyUpdate); rustls does not renegotiate TLS 1.2",
                ),
            });
        }
        self.refresh_keys().map_err(|e| Refusal::new(Errno::Eproto, e.to_string()))?;
        self.send(&[]).await.map_err(|e| Refusal::new(Errno::Econnreset, e.to_string()))
    }
}

impl Rekey for Side {
    /// New traffic keys on a TLS side; a clear side has none to renew.
    fn refresh_keys(&mut self) -> Result<(), rustls::Error> {
        match self {
            Side::Server(t) => t.get_mut().1.refresh_traffic_keys(),
            Side::Client(t) => t.get_mut().1.refresh_traffic_keys(),
            Side::Clear(_) => Ok(()),
        }
    }
}
