//! The soak's own peers in this process: the rustls client (TLS 1.3 only, the test CA, server name
//! `localhost`, session resumption on or off), a plaintext echo backend, how a connection ended
//! as either side saw it, and the byte pattern connections send and check.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

pub type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// An echo connection silent for this long is closed (no phase holds one that long).
const ECHO_IDLE: Duration = Duration::from_secs(120);

/// The rustls client: TLS 1.3 only, trusting `ca`; `resume` keeps and offers session tickets.
pub fn connector(ca: &Path, resume: bool) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(TlsConnector::from(Arc::new(config)))
}

/// TCP connect and TLS handshake, bounded by `bound`.
pub async fn connect(tls: &TlsConnector, addr: SocketAddr, bound: Duration) -> Result<Tls, String> {
    let work = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        tls.connect(name, tcp).await.map_err(|e| format!("handshake: {e}"))
    };
    tokio::time::timeout(bound, work).await.unwrap_or_else(|_| Err(format!("no handshake within {bound:?}")))
}

/// How a connection ended, as one side saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// TLS: close_notify, then end of stream; plain TCP: a FIN.
    Clean,
    /// TLS only: end of stream without close_notify.
    Truncated,
    /// A TCP reset.
    Reset,
    /// Another error.
    Other(String),
    /// Still open when the wait ended.
    Open,
}

impl End {
    pub fn of(r: &io::Result<usize>) -> Option<End> {
        match r {
            Ok(0) => Some(End::Clean),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Some(End::Truncated),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Some(End::Reset),
            Err(e) => Some(End::Other(e.to_string())),
        }
    }

    /// A reset, or a TLS stream cut without close_notify: what a fault deserves.
    pub fn abortive(&self) -> bool {
        matches!(self, End::Reset | End::Truncated)
    }
}

/// Reads and discards until the stream ends or `bound` passes; how it ended and the bytes read.
pub async fn read_to_end<R: tokio::io::AsyncRead + Unpin>(r: &mut R, bound: Duration) -> (End, u64) {
    let deadline = tokio::time::Instant::now() + bound;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Err(_) => return (End::Open, total),
            Ok(r) => match End::of(&r) {
                Some(end) => return (end, total),
                None => total += r.map_or(0, |n| n as u64),
            },
        }
    }
}

/// A plaintext echo server on 127.0.0.1: every byte back; end of input is passed back as a FIN.
pub async fn start_echo() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(echo(s));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    Ok(addr)
}

async fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match tokio::time::timeout(ECHO_IDLE, s.read(&mut buf)).await {
            Ok(Ok(0)) => {
                let _ = s.shutdown().await;
                return;
            }
            Err(_) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A deterministic byte pattern: byte `i` of stream `seed`. Cheap to make and to check anywhere
/// in the stream.
pub fn pattern(seed: u64, offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let x = (offset + i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
        *b = (x >> 29) as u8;
    }
}

/// The offset of the first byte of `got` that differs from the pattern, if any.
pub fn pattern_mismatch(seed: u64, offset: u64, got: &[u8]) -> Option<u64> {
    let mut want = vec![0u8; got.len()];
    pattern(seed, offset, &mut want);
    got.iter().zip(&want).position(|(a, b)| a != b).map(|i| offset + i as u64)
}
