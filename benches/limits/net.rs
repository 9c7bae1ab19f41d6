//! The plaintext echo backend every listener relays to (a tokio server on 127.0.0.1 in this
//! process) and the rustls client: full handshakes only (resumption off), the agent's generated CA,
//! server name `localhost`; a round trip is connect, handshake, 1 KiB written and read back.

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
use tokio_rustls::client::TlsStream;

/// The bytes a round trip sends and expects back.
pub const ECHO_BYTES: usize = 1024;

pub type Tls = TlsStream<TcpStream>;

/// Echoes every byte back until the peer closes or stays silent for `ECHO_IDLE`; accepts for as
/// long as the runtime lives. A failed accept (descriptors out) waits 10 ms.
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

/// An echo connection silent for this long is closed (the longest scenario holds one for less).
const ECHO_IDLE: Duration = Duration::from_secs(180);

async fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = [0u8; 2048];
    loop {
        match tokio::time::timeout(ECHO_IDLE, s.read(&mut buf)).await {
            Err(_) | Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The rustls client trusting `ca` (the agent's generated CA).
pub fn connector(ca: &Path) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Connect, handshake, 1 KiB echoed; the connection is returned open. Bounded by `limit`.
pub async fn round_trip(tls: &TlsConnector, addr: SocketAddr, limit: Duration) -> Result<Tls, String> {
    let work = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut s = tls.connect(name, tcp).await.map_err(|e| format!("handshake: {e}"))?;
        let data = [0xa5u8; ECHO_BYTES];
        s.write_all(&data).await.map_err(|e| format!("write: {e}"))?;
        s.flush().await.map_err(|e| format!("write: {e}"))?;
        let mut back = [0u8; ECHO_BYTES];
        s.read_exact(&mut back).await.map_err(|e| format!("echo: {e}"))?;
        if back != data {
            return Err("echo: other bytes came back".to_string());
        }
        Ok(s)
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no round trip within {limit:?}")),
    }
}

/// close_notify and FIN, bounded.
pub async fn close(mut s: Tls) {
    let _ = tokio::time::timeout(Duration::from_secs(2), s.shutdown()).await;
}

/// A round trip on a fresh connection, then close.
pub async fn round_trip_closed(tls: &TlsConnector, addr: SocketAddr, limit: Duration) -> Result<(), String> {
    close(round_trip(tls, addr, limit).await?).await;
    Ok(())
}
