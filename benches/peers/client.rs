//! The rustls client (the scenario's one protocol version and cipher suite, X25519, the test CA),
//! the same for every proxy: connect, request, close, and the loops built on them: `WORKERS`
//! concurrent handshake loops and a batch of idle connections. Every step is bounded (`STEP`
//! unless told).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::{ClientSessionStore, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, HandshakeKind, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::scenario::Scenario;
use crate::{CHUNK, STEP, WORKERS};

/// The rustls client: one protocol version and one cipher suite (the scenario's), X25519, the
/// test CA.
pub struct Clients {
    /// Resumption disabled: every handshake is a full one.
    pub full: TlsConnector,
    /// Sessions kept and offered (rustls's in-memory store): TLS 1.3 tickets; in TLS 1.2 the
    /// server's session ticket, else its session ID.
    pub resume: TlsConnector,
    /// The configuration of `resume`, for a client with a session store of its own.
    resume_config: Arc<ClientConfig>,
    /// The plaintext backend itself, for the latency phase's direct baseline.
    pub backend: SocketAddr,
}

impl Clients {
    pub fn new(ca: &Path, scenario: Scenario, backend: SocketAddr) -> Clients {
        use rustls::crypto::ring::cipher_suite;
        let (suite, version) = match scenario {
            Scenario::Tls13Ecdsa => (cipher_suite::TLS13_AES_128_GCM_SHA256, &rustls::version::TLS13),
            Scenario::Tls12Rsa => {
                (cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, &rustls::version::TLS12)
            }
        };
        let provider = CryptoProvider {
            cipher_suites: vec![suite],
            kx_groups: vec![rustls::crypto::ring::kx_group::X25519],
            ..rustls::crypto::ring::default_provider()
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).expect("ca.pem") {
            roots.add(cert.expect("CA certificate")).expect("CA certificate");
        }
        let build = |resume: bool| {
            let mut c = ClientConfig::builder_with_provider(Arc::new(provider.clone()))
                .with_protocol_versions(&[version])
                .expect("protocol version and cipher suite agree")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            if !resume {
                c.resumption = Resumption::disabled();
            }
            Arc::new(c)
        };
        let resume_config = build(true);
        Clients { full: build(false).into(), resume: resume_config.clone().into(), resume_config, backend }
    }

    /// The resuming client with `store` instead of its own in-memory store.
    pub fn with_store(&self, store: Arc<dyn ClientSessionStore>) -> TlsConnector {
        let mut c = (*self.resume_config).clone();
        c.resumption = Resumption::store(store);
        TlsConnector::from(Arc::new(c))
    }
}

pub type Tls = TlsStream<TcpStream>;

async fn bounded<T>(
    what: &str,
    limit: Duration,
    f: impl Future<Output = io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {limit:?}")),
    }
}

/// TCP connect and TLS handshake.
pub async fn connect(tls: &TlsConnector, addr: SocketAddr) -> Result<Tls, String> {
    bounded("connect", STEP, async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tls.connect(ServerName::try_from("localhost").expect("name"), tcp).await
    })
    .await
}

/// Sends the header and `n` bytes, then waits for the backend's ack.
pub async fn request(s: &mut Tls, n: u64, limit: Duration) -> Result<(), String> {
    static DATA: [u8; CHUNK] = [0x5a; CHUNK];
    bounded("request", limit, async {
        s.write_all(&n.to_be_bytes()).await?;
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK as u64) as usize;
            s.write_all(&DATA[..k]).await?;
            left -= k as u64;
        }
        s.flush().await?;
        let mut ack = [0u8; 8];
        s.read_exact(&mut ack).await?;
        if u64::from_be_bytes(ack) == n { Ok(()) } else { Err(io::Error::other("wrong ack")) }
    })
    .await
}

/// close_notify, FIN, drop.
pub async fn close(mut s: Tls) {
    let _ = tokio::time::timeout(STEP, s.shutdown()).await;
}

/// One handshake connection: connect, ping, close; returns how the handshake went.
pub async fn one_handshake(tls: &TlsConnector, addr: SocketAddr) -> Result<Option<HandshakeKind>, String> {
    let mut s = connect(tls, addr).await?;
    request(&mut s, 0, STEP).await?;
    let kind = s.get_ref().1.handshake_kind();
    close(s).await;
    Ok(kind)
}

/// `n` connections in `WORKERS` concurrent loops; the handshake kind of each.
pub async fn handshakes(
    tls: TlsConnector,
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<Option<HandshakeKind>>, String> {
    let mut set = JoinSet::new();
    for w in 0..WORKERS {
        let count = n / WORKERS + usize::from(w < n % WORKERS);
        let tls = tls.clone();
        set.spawn(async move {
            let mut kinds = Vec::with_capacity(count);
            for _ in 0..count {
                kinds.push(one_handshake(&tls, addr).await?);
            }
            Ok::<_, String>(kinds)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        all.extend(r.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// `n` connections that finished the handshake and one ping, left open (16 set up at a time).
pub async fn open_idle(tls: &TlsConnector, addr: SocketAddr, n: usize) -> Result<Vec<Tls>, String> {
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (tls, gate) = (tls.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let mut s = connect(&tls, addr).await?;
            request(&mut s, 0, STEP).await?;
            Ok::<_, String>(s)
        });
    }
    let mut open = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        open.push(r.map_err(|e| e.to_string())??);
    }
    Ok(open)
}
