//! A synchronous START_TLS front for harness tests: attls's I/O-free [`Negotiator`] driven over a
//! blocking socket, rustls for the handshake, and the TN3270E test server's session behind it, all in
//! one thread per connection. It proves the core against real clients (s3270, `openssl s_client
//! -starttls telnet`) before the tokio connection task exists, and is a worked example for it.
//!
//! Per connection: `on_accept`; reads with the `StartTlsWait` as read timeout (a timeout is
//! `on_wait_expired`, later the negotiation deadline); each step is carried out in order.
//! `StartTlsNow` runs the rustls handshake with the leftover bytes read first; `Clear` serves the
//! session in clear with the forwarded bytes read first; `Close` drops the socket.

use std::io::{Cursor, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attls::tn3270::negotiate::{How, Negotiator, Phase, Step};
use attls::tn3270::settings::ConnType;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::server::{Session, lock, serve_stream};
use crate::support::agent::{Pki, eventually};

/// What happened to one connection.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Every step the negotiator returned, in order.
    pub steps: Vec<Step>,
    pub how: Option<How>,
    /// The TLS handshake completed.
    pub tls_done: bool,
    /// The TN3270E session behind the front, once served.
    pub session: Option<Session>,
    /// The connection is over.
    pub done: bool,
}

/// A listener on 127.0.0.1:0 applying one ConnType; the acceptor thread ends with the process.
pub struct Front {
    addr: SocketAddr,
    outcomes: Arc<Mutex<Vec<Arc<Mutex<Outcome>>>>>,
}

impl Front {
    /// `tls`: the server configuration of the TLS rule, `None` = no TLS rule applies.
    pub fn start(conn_type: ConnType, tls: Option<Arc<ServerConfig>>, wait: Duration) -> Front {
        let sock = TcpListener::bind("127.0.0.1:0").expect("bind front");
        let addr = sock.local_addr().expect("front addr");
        let outcomes: Arc<Mutex<Vec<Arc<Mutex<Outcome>>>>> = Arc::default();
        let all = outcomes.clone();
        std::thread::spawn(move || {
            for conn in sock.incoming() {
                let Ok(conn) = conn else { continue };
                let out = Arc::new(Mutex::new(Outcome::default()));
                lock(&all).push(out.clone());
                let tls = tls.clone();
                std::thread::spawn(move || run(conn, conn_type, tls, wait, &out));
            }
        });
        Front { addr, outcomes }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The `n`-th connection's outcome once it ended (its session too, if it had one).
    pub fn outcome(&self, n: usize, timeout: Duration) -> Option<Outcome> {
        let get = || lock(&self.outcomes).get(n).map(|o| lock(o).clone());
        eventually(timeout, || get().is_some_and(|o| o.done)).then(get).flatten()
    }
}

/// A rustls server configuration from the test PKI's localhost certificate.
pub fn server_config(pki: &Pki) -> Arc<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_pem)
        .and_then(|i| i.collect())
        .unwrap_or_else(|e| panic!("{}: {e}", pki.server_pem.display()));
    let key = PrivateKeyDer::from_pem_file(&pki.server_key)
        .unwrap_or_else(|e| panic!("{}: {e}", pki.server_key.display()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    Arc::new(config)
}

/// A socket whose first reads come from bytes already read.
struct Prefixed {
    head: Cursor<Vec<u8>>,
    tcp: TcpStream,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.head.read(buf)? {
            0 => self.tcp.read(buf),
            n => Ok(n),
        }
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

enum Then {
    Tls(Vec<u8>),
    Clear(Vec<u8>),
    Close,
}

fn run(tcp: TcpStream, ct: ConnType, tls: Option<Arc<ServerConfig>>, wait: Duration, out: &Mutex<Outcome>) {
    serve_conn(tcp, ct, tls, wait, out);
    lock(out).done = true;
}

fn serve_conn(
    mut tcp: TcpStream,
    ct: ConnType,
    tls: Option<Arc<ServerConfig>>,
    wait: Duration,
    out: &Mutex<Outcome>,
) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(wait));
    let mut n = Negotiator::new(ct, tls.is_some());
    let mut steps = n.on_accept();
    let mut buf = [0u8; 4096];
    let then = 'negotiate: loop {
        for step in std::mem::take(&mut steps) {
            lock(out).steps.push(step.clone());
            match step {
                Step::Send(bytes) => {
                    if tcp.write_all(&bytes).is_err() {
                        break 'negotiate Then::Close;
                    }
                }
                Step::StartTlsNow { leftover } => break 'negotiate Then::Tls(leftover),
                Step::Clear { forward } => break 'negotiate Then::Clear(forward),
                Step::Close { .. } => break 'negotiate Then::Close,
            }
        }
        let waiting = n.phase() == Phase::WaitFirstBytes;
        steps = match tcp.read(&mut buf) {
            Ok(0) => n.on_client_eof(),
            Ok(k) => n.on_client_bytes(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) && waiting => {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                n.on_wait_expired()
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                n.on_negotiation_timeout()
            }
            Err(_) => n.on_client_eof(),
        };
    };
    lock(out).how = n.how().cloned();
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    let session = Mutex::new(Session::default());
    match (then, tls) {
        (Then::Tls(leftover), Some(config)) => {
            let Ok(conn) = ServerConnection::new(config) else { return };
            let mut s = StreamOwned::new(conn, Prefixed { head: Cursor::new(leftover), tcp });
            while s.conn.is_handshaking() {
                if s.conn.complete_io(&mut s.sock).is_err() {
                    return;
                }
            }
            lock(out).tls_done = true;
            serve_stream(s, &session);
        }
        (Then::Clear(forward), _) => serve_stream(Prefixed { head: Cursor::new(forward), tcp }, &session),
        _ => return,
    }
    lock(out).session = Some(lock(&session).clone());
}
