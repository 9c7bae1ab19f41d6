//! The other ends of an agent's connections: plaintext backends written here (echo, HTTP), the
//! openssl and curl command-line clients, `openssl s_server`, and a rustls client.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::eventually;

/// What a backend connection does.
#[derive(Clone)]
enum Mode {
    /// Echo every byte; with a limit, close after echoing that many.
    Echo(Option<usize>),
    /// Read a request head, answer `200` with this body, close.
    Http(String),
    /// Read to end of input, then answer `got N bytes` and close (needs a half-close).
    CountAfterEof,
    /// Read and discard, never answer.
    Sink,
}

/// A plaintext server on 127.0.0.1:0 with a thread per connection; counts what it accepted and
/// received. Stopped on drop (connection threads end when their peer closes, or after 60 s idle).
pub struct Backend {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Stats {
    accepted: AtomicUsize,
    bytes: AtomicU64,
    /// The first bytes received over all connections (up to 64 KiB).
    head: Mutex<Vec<u8>>,
}

impl Backend {
    pub fn echo() -> Backend {
        Backend::start(Mode::Echo(None))
    }

    /// Echoes, then closes the connection after `limit` bytes.
    pub fn echo_then_close(limit: usize) -> Backend {
        Backend::start(Mode::Echo(Some(limit)))
    }

    /// Answers every request with `200 OK` and `body`.
    pub fn http(body: &str) -> Backend {
        Backend::start(Mode::Http(body.into()))
    }

    /// Answers `got N bytes\n` once the client has half-closed.
    pub fn count_after_eof() -> Backend {
        Backend::start(Mode::CountAfterEof)
    }

    /// Accepts and reads, never writes (a TLS server that never answers a ClientHello).
    pub fn sink() -> Backend {
        Backend::start(Mode::Sink)
    }

    fn start(mode: Mode) -> Backend {
        let sock = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = sock.local_addr().expect("backend addr");
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (stats.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            for conn in sock.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                st.accepted.fetch_add(1, Ordering::SeqCst);
                let (st, mode) = (st.clone(), mode.clone());
                std::thread::spawn(move || serve(conn, &mode, &st));
            }
        });
        Backend { addr, stats, stop, acceptor: Some(acceptor) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    /// Bytes received so far, over all connections.
    pub fn bytes(&self) -> u64 {
        self.stats.bytes.load(Ordering::SeqCst)
    }

    /// The first bytes received (up to 64 KiB).
    pub fn head(&self) -> Vec<u8> {
        self.stats.head.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn record(st: &Stats, data: &[u8]) {
    st.bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
    let mut head = st.head.lock().unwrap_or_else(|e| e.into_inner());
    let room = (64 * 1024usize).saturating_sub(head.len());
    head.extend_from_slice(&data[..data.len().min(room)]);
}

fn serve(mut conn: TcpStream, mode: &Mode, st: &Stats) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = conn.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    match mode {
        Mode::Echo(limit) => {
            let mut done = 0usize;
            loop {
                let n = match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                record(st, &buf[..n]);
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
                done += n;
                if limit.is_some_and(|l| done >= l) {
                    break;
                }
            }
            let _ = conn.shutdown(Shutdown::Both);
        }
        Mode::CountAfterEof | Mode::Sink => {
            let mut total = 0usize;
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        record(st, &buf[..n]);
                        total += n;
                    }
                    Err(_) => return,
                }
            }
            if matches!(mode, Mode::CountAfterEof) {
                let _ = conn.write_all(format!("got {total} bytes\n").as_bytes());
            }
            let _ = conn.shutdown(Shutdown::Both);
        }
        Mode::Http(body) => {
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
                let n = match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                record(st, &buf[..n]);
                req.extend_from_slice(&buf[..n]);
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
            let _ = conn.shutdown(Shutdown::Write);
            // Drain until the peer closes so the close is orderly.
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), `seed` ≠ 0.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A child process whose stdout and stderr are collected as they arrive; killed on drop.
pub struct Spawned {
    pub child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    what: String,
}

impl Spawned {
    pub fn spawn(mut cmd: Command) -> Spawned {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let (out, err) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let mut readers = Vec::new();
        let collect = |mut r: Box<dyn Read + Send>, into: Arc<Mutex<Vec<u8>>>| {
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    into.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buf[..n]);
                }
            })
        };
        readers.push(collect(Box::new(child.stdout.take().expect("stdout")), out.clone()));
        readers.push(collect(Box::new(child.stderr.take().expect("stderr")), err.clone()));
        let stdin = child.stdin.take();
        Spawned { child, stdin, out, err, readers, what }
    }

    /// Writes `data` to stdin from a thread (so a large write cannot deadlock with the child's
    /// output), then closes stdin; the thread is joined by [`Spawned::wait`].
    pub fn feed_and_close(&mut self, data: Vec<u8>) {
        let mut stdin = self.stdin.take().expect("stdin still open");
        self.readers.push(std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        }));
    }

    /// Writes a few bytes to stdin and keeps it open.
    pub fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(data).expect("write to the child's stdin");
        stdin.flush().expect("flush the child's stdin");
    }

    /// Closes stdin (end of input for the child).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits up to `timeout` for the child to exit (panics otherwise) and for its output.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {timeout:?}\n--- stdout ({} bytes)\n--- stderr\n{}",
                    self.what,
                    self.stdout().len(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        status
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_client -connect ADDR -servername localhost -CAfile CA -brief EXTRA...`.
pub fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Spawned {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), "-servername", "localhost", "-CAfile"])
        .arg(ca)
        .arg("-brief")
        .args(extra);
    Spawned::spawn(cmd)
}

/// `openssl s_server -accept 127.0.0.1:PORT -cert CERT -key KEY -rev` on a free port (retried if
/// another process takes the port first), ready when it has printed `ACCEPT`.
pub fn s_server_rev(cert: &Path, key: &Path) -> (Spawned, u16) {
    s_server_rev_with(cert, key, &[])
}

/// [`s_server_rev`] with more options (`-tls1_2`, …).
pub fn s_server_rev_with(cert: &Path, key: &Path, extra: &[&str]) -> (Spawned, u16) {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
            .arg(cert)
            .arg("-key")
            .arg(key)
            .arg("-rev")
            .args(extra);
        let mut server = Spawned::spawn(cmd);
        let ready = eventually(Duration::from_secs(10), || {
            String::from_utf8_lossy(&server.stdout()).contains("ACCEPT")
                || server.child.try_wait().ok().flatten().is_some()
        });
        if ready && String::from_utf8_lossy(&server.stdout()).contains("ACCEPT") {
            return (server, port);
        }
        let _ = server.child.kill();
    }
    panic!("openssl s_server could not listen on a free port in 5 tries");
}

/// A rustls client configuration trusting the CA certificates in `ca` (a PEM file or directory).
pub fn client_config(ca: &Path) -> Arc<ClientConfig> {
    let roots = attls::keyring::load(ca, None)
        .and_then(|k| k.root_store())
        .unwrap_or_else(|e| panic!("client trust: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` and completes a TLS handshake for `localhost` (10 s read timeout).
pub fn tls_connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<TlsStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// The negotiated cipher suite's IANA code as 4 uppercase hex digits (`1302`).
pub fn suite_code(s: &TlsStream) -> String {
    let suite = s.conn.negotiated_cipher_suite().expect("handshake done");
    format!("{:04X}", u16::from(suite.suite()))
}

/// Writes `data` and reads the same number of bytes back.
pub fn round_trip<S: Read + Write>(s: &mut S, data: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(data)?;
    s.flush()?;
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back)?;
    Ok(back)
}

/// A plain TCP connection (5 s read timeout).
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until end of stream, an error or the socket's read timeout; returns what arrived and how
/// it ended (`Ok(())` = EOF).
pub fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}
