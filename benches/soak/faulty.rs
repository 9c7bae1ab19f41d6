//! The faulty plaintext backends of phase `faults`, in this process, on 127.0.0.1: a port nobody
//! listens on, a server that resets after some bytes, one that pauses its reading, one that never
//! reads until told, one whose accept queue is full, and a sink. Those that see the connection to
//! its end report how it ended ([`Seen`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, mpsc};

use crate::tls::{End, pattern_mismatch, read_to_end};

/// How long a backend waits for the end of a connection before it reports `End::Open`.
pub const BACKEND_WAIT: Duration = Duration::from_secs(30);

/// What a backend saw of one connection.
#[derive(Debug)]
pub struct Seen {
    pub end: End,
    pub bytes: u64,
    /// The stream offset of the first byte that was not the client's pattern.
    pub mismatch: Option<u64>,
}

/// A backend's address and what it saw, connection by connection.
pub struct Reports {
    pub addr: SocketAddr,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl Reports {
    /// The next connection's report, waiting up to `bound`.
    pub async fn next(&mut self, bound: Duration) -> Option<Seen> {
        tokio::time::timeout(bound, self.seen.recv()).await.ok().flatten()
    }
}

/// Accepts on a fresh listener and runs `serve` for each connection, sending what it reports.
async fn serve_each<F, Fut>(serve: F) -> Reports
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Seen>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a backend");
    let addr = listener.local_addr().expect("backend address");
    let (tx, seen) = mpsc::unbounded_channel();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (serve, tx) = (serve.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(report) = serve(s).await {
                    let _ = tx.send(report);
                }
            });
        }
    });
    Reports { addr, seen }
}

/// An address with nothing listening (bound, then closed): connections are refused.
pub fn refused() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address")
}

/// Reads `after` bytes, then closes with a reset (SO_LINGER 0).
pub async fn resetter(after: u64) -> Reports {
    serve_each(move |mut s| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        while got < after {
            match tokio::time::timeout(BACKEND_WAIT, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got += n as u64,
                _ => break,
            }
        }
        let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
        None
    })
    .await
}

/// Reads and checks the client's pattern (`seed`), stopping for `pause` after every `every` bytes.
pub async fn pauser(seed: u64, every: u64, pause: Duration) -> Reports {
    serve_each(move |mut s| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let (mut got, mut mismatch, mut next_pause) = (0u64, None, every);
        let deadline = tokio::time::Instant::now() + BACKEND_WAIT * 4;
        let end = loop {
            let r = match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => break End::Open,
            };
            if let Some(end) = End::of(&r) {
                break end;
            }
            let n = r.unwrap_or(0);
            if mismatch.is_none() {
                mismatch = pattern_mismatch(seed, got, &buf[..n]);
            }
            got += n as u64;
            if got >= next_pause {
                next_pause += every;
                tokio::time::sleep(pause).await;
            }
        };
        Some(Seen { end, bytes: got, mismatch })
    })
    .await
}

/// Reads nothing until `go` is notified, then reads to the end.
pub async fn staller(go: Arc<Notify>) -> Reports {
    serve_each(move |mut s| {
        let go = go.clone();
        async move {
            if tokio::time::timeout(BACKEND_WAIT, go.notified()).await.is_err() {
                return Some(Seen { end: End::Open, bytes: 0, mismatch: None });
            }
            let (end, bytes) = read_to_end(&mut s, BACKEND_WAIT).await;
            Some(Seen { end, bytes, mismatch: None })
        }
    })
    .await
}

/// Reads to the end.
pub async fn sink() -> Reports {
    serve_each(|mut s| async move {
        let (end, bytes) = read_to_end(&mut s, BACKEND_WAIT).await;
        Some(Seen { end, bytes, mismatch: None })
    })
    .await
}

/// A listener (backlog 1) that never accepts, its queue filled by connections made here: a
/// connection to it waits for a SYN-ACK that does not come. Keep the returned parts alive.
pub async fn full_queue() -> (SocketAddr, (tokio::net::TcpListener, Vec<std::net::TcpStream>)) {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.1:0".parse().expect("address")).expect("bind");
    let listener = sock.listen(1).expect("listen");
    let addr = listener.local_addr().expect("address");
    let mut held = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            // The queue is full: SYNs are dropped from now on.
            Err(_) => break,
        }
    }
    (addr, (listener, held))
}
