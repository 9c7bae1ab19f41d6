//! The control socket's client: one request, one reply. [`request`] is what `pagent refresh`,
//! `netstat` and `ctl` use; [`AppControl`] is the library an application links to steer its own
//! connections (the SIOCTTLSCTL equivalent), blocking and free of any async runtime.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::proto::Request;
use crate::procnet::send_queue;

/// How long to wait for a reply (a refresh of a large policy takes a while).
const REPLY_WAIT: Duration = Duration::from_secs(120);

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(
        "cannot reach the agent at {socket}: {source} (is `pagent start` running? use -c CONFIG or --socket PATH)"
    )]
    Unreachable { socket: String, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the agent did not answer in time")]
    Timeout,
    #[error("unreadable reply from the agent: {0}")]
    Unreadable(serde_json::Error),
}

pub async fn request(socket: &Path, req: &Request) -> Result<Value, RequestError> {
    let mut s =
        tokio::net::UnixStream::connect(socket).await.map_err(|source| unreachable(socket, source))?;
    let line = serde_json::to_string(req).map_err(|e| RequestError::Io(e.into()))? + "\n";
    s.write_all(line.as_bytes()).await?;
    let mut reply = String::new();
    let mut r = tokio::io::BufReader::new(s);
    tokio::time::timeout(REPLY_WAIT, r.read_line(&mut reply)).await.map_err(|_| RequestError::Timeout)??;
    serde_json::from_str(&reply).map_err(RequestError::Unreadable)
}

fn unreachable(socket: &Path, source: std::io::Error) -> RequestError {
    RequestError::Unreachable { socket: socket.display().to_string(), source }
}

/// How long a connection named by `app_peer` may take to appear in the agent.
pub const MAPPING_WAIT: Duration = Duration::from_secs(2);

/// A refused or failed request: the z/OS errno name and the agent's sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {message}")]
pub struct CtlError {
    pub errno: String,
    pub message: String,
}

/// An application's handle on the agent: each call names the connection by the application's own
/// socket (its `getpeername()` is the agent's `app_peer`).
#[derive(Debug, Clone)]
pub struct AppControl {
    socket: PathBuf,
    /// Longest wait for a reply, and for the send queue to drain before `init`/`stop`.
    pub timeout: Duration,
}

impl AppControl {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        AppControl { socket: socket.into(), timeout: Duration::from_secs(60) }
    }

    /// QUERY_ONLY: the reply's fields (`policy_status`, `conn_status`, `protocol`, `cipher`, …).
    pub fn query(&self, conn: &TcpStream) -> Result<Value, CtlError> {
        self.call(&for_conn("query", conn)?)
    }

    /// INIT_CONNECTION once everything written so far has left the socket (SIOCOUTQ 0): those bytes
    /// reach the peer in clear, later ones under TLS. Returns when the handshake is done.
    pub fn init(&self, conn: &TcpStream) -> Result<Value, CtlError> {
        self.drained(conn)?;
        self.call(&for_conn("init", conn)?)
    }

    /// INIT_CONNECTION after exactly `written` bytes of this application on the connection.
    pub fn init_after(&self, conn: &TcpStream, written: u64) -> Result<Value, CtlError> {
        let mut req = for_conn("init", conn)?;
        req.written = Some(written);
        self.call(&req)
    }

    /// STOP_CONNECTION (close_notify, then clear) once the send queue has drained.
    pub fn stop(&self, conn: &TcpStream) -> Result<Value, CtlError> {
        self.drained(conn)?;
        self.call(&for_conn("stop", conn)?)
    }

    /// STOP_CONNECTION after exactly `written` bytes of this application (those before it stay
    /// protected).
    pub fn stop_after(&self, conn: &TcpStream, written: u64) -> Result<Value, CtlError> {
        let mut req = for_conn("stop", conn)?;
        req.written = Some(written);
        self.call(&req)
    }

    /// INIT_CONNECTION with ALLOW_HSTIMEOUT: TLS if the peer's first bytes are a ClientHello within
    /// HandshakeTimeout, else the connection stays up in clear (the reply's `conn_status` says which).
    pub fn init_allow_hstimeout(&self, conn: &TcpStream) -> Result<Value, CtlError> {
        self.drained(conn)?;
        let mut req = for_conn("init", conn)?;
        req.allow_hstimeout = true;
        self.call(&req)
    }

    /// Any op on this connection, e.g. `reset_cipher` or `return_certificate`.
    pub fn op(&self, op: &str, conn: &TcpStream) -> Result<Value, CtlError> {
        self.call(&for_conn(op, conn)?)
    }

    /// One request and its reply; `ok:false` replies become the error. A connection the agent has
    /// not mapped yet (the application's connect() can return before the agent's accept) is asked
    /// for again for up to [`MAPPING_WAIT`].
    pub fn call(&self, req: &Request) -> Result<Value, CtlError> {
        let until = Instant::now() + MAPPING_WAIT;
        loop {
            match self.call_once(req) {
                Err(e) if e.errno == "ENOTCONN" && req.app_peer.is_some() && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn call_once(&self, req: &Request) -> Result<Value, CtlError> {
        let io = |e: std::io::Error| CtlError { errno: "ENOTCONN".into(), message: e.to_string() };
        let mut s = UnixStream::connect(&self.socket).map_err(|e| CtlError {
            errno: "ENOENT".into(),
            message: unreachable(&self.socket, e).to_string(),
        })?;
        s.set_read_timeout(Some(self.timeout)).map_err(io)?;
        let line = serde_json::to_string(req)
            .map_err(|e| CtlError { errno: "EINVAL".into(), message: e.to_string() })?;
        s.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
        let mut reply = String::new();
        BufReader::new(s).read_line(&mut reply).map_err(io)?;
        let v: Value = serde_json::from_str(&reply)
            .map_err(|e| CtlError { errno: "EINVAL".into(), message: format!("unreadable reply: {e}") })?;
        if v["ok"] == true {
            Ok(v)
        } else {
            Err(CtlError {
                errno: v["errno"].as_str().unwrap_or("EINVAL").into(),
                message: v["message"].as_str().unwrap_or("").into(),
            })
        }
    }

    /// Waits until the kernel has handed everything written on `conn` to the agent.
    fn drained(&self, conn: &TcpStream) -> Result<(), CtlError> {
        let io = |e: std::io::Error| CtlError { errno: "ENOTCONN".into(), message: e.to_string() };
        let (local, peer) = (conn.local_addr().map_err(io)?, conn.peer_addr().map_err(io)?);
        let until = Instant::now() + self.timeout;
        while send_queue(local, peer).unwrap_or(0) > 0 {
            if Instant::now() > until {
                return Err(CtlError {
                    errno: "EBUSY".into(),
                    message: "the socket's send queue did not drain; pass `written` instead".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

fn for_conn(op: &str, conn: &TcpStream) -> Result<Request, CtlError> {
    let io = |e: std::io::Error| CtlError { errno: "ENOTCONN".into(), message: e.to_string() };
    let mut req = Request::new(op);
    req.app_peer = Some(conn.peer_addr().map_err(io)?.to_string());
    req.app_local = Some(conn.local_addr().map_err(io)?.to_string());
    Ok(req)
}
