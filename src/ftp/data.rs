//! FTP data connections: attls's own passive listeners and active connections
//! back to the client, each paired with a connection to the backend's passive port, mapped by
//! SecondaryMap (the control connection's rule) or by their own addresses, protected when `PROT P`
//! asks (or when their rule is not application-controlled), and refused when they come from another
//! address than the control connection's client (port theft) or do not resume a TLS session born on
//! this control connection (`SessionReuse Required`, D26). Each transfer's data connection reports
//! its state to the control connection, which holds the transfer's positive reply until the data
//! has all been delivered, and answers `522` instead when the data connection was refused, `426`
//! when it broke (a reset, or a TLS stream that ended without close_notify). A broken data
//! connection resets both of its sides, so the server aborts the transfer too.
//! See docs/policy-reference.md#data-addresses-pasv-epsv-port-eprt and
//! docs/policy-reference.md#data-connections-under-tls.
//!
//! Towards the backend attls is a plain FTP client in passive mode: its data connections leave from
//! the backend control connection's own address (servers such as vsftpd check that).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tracing::{Instrument, info, info_span, warn};

use super::addr::canonical;
use super::tls::SessionTls;
use crate::config::ListenerConfig;
use crate::engine::Context;
use crate::engine::Generation;
use crate::engine::{connect_from, reset_on_close, transparent_listener};
use crate::messages as msg;
use crate::policy::Rule;
use crate::policy::table::ConnDirection;
use crate::registry::{ConnId, Entry};

/// How long a passive listener waits for the client, and an active connection for its transfer.
const DATA_WAIT: Duration = Duration::from_secs(60);
/// How long a data connection stays open once its transfer's data has all been delivered, for the
/// peer's own close (a client that waits for the final reply before closing its end).
pub(super) const LINGER: Duration = Duration::from_secs(10);

/// How long a transfer's positive reply waits for its data connection's outcome while the data
/// connection moves no byte (the handshake is bounded by HandshakeTimeout well within this).
const STALL_WAIT: Duration = Duration::from_secs(60);

/// What every data connection of one control connection shares.
pub struct DataCtx {
    /// The engine: registry and control channels.
    pub engine: Arc<Context>,
    /// The listener's `MaxConnections` places (data connections take one each).
    pub places: Arc<tokio::sync::Semaphore>,
    pub listener: Arc<ListenerConfig>,
    /// The control connection's generation: an FTP session keeps one policy (D9).
    pub generation: Arc<Generation>,
    pub control_id: ConnId,
    pub control_rule: Option<Arc<Rule>>,
    /// The session's own TLS configurations (control and data share a session cache and ticket key).
    pub session_tls: Option<SessionTls>,
    /// attls's end of the control connection, and the client's.
    pub control_local: SocketAddr,
    pub client: SocketAddr,
    /// The backend control connection: the server's address, and attls's.
    pub backend_peer: SocketAddr,
    pub backend_local: SocketAddr,
    /// D7: the control connection's Jobname and Userid (its data connections match with them).
    pub jobname: String,
    pub userid: String,
    pub owner_known: bool,
    /// TPROXY: addresses that are not this host's are bound with IP_TRANSPARENT.
    pub transparent: bool,
    /// SO_MARK of the agent's own connections (transparent listeners).
    pub mark: Option<u32>,
}

/// What the transfer command asked of its data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// PROT P: TLS on the data connection.
    pub protect: bool,
    /// STOR, STOU, APPE: the data flows from the client to the server.
    pub upload: bool,
}

/// Why a transfer's data connection failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataFailure {
    /// Refused before any data moved (no TLS, no session reuse, unreachable): the reply becomes 522.
    Refused(String),
    /// Broken while data moved (a reset, a stream cut without close_notify): the reply becomes 426.
    Aborted(String),
}

/// What a data connection tells its control connection, as it goes.
#[derive(Clone, Debug)]
pub enum DataState {
    /// Not connected or not secure yet.
    Waiting,
    /// Moving data; the entry's byte counts show progress.
    Moving(Arc<Entry>),
    /// The transfer's data has all been delivered (`Ok`), or not and why.
    Done(Result<(), DataFailure>),
}

/// The data connection's end of its report to the control connection.
pub type Verdict = watch::Sender<DataState>;

/// A report channel for one transfer.
pub fn verdict() -> (Verdict, watch::Receiver<DataState>) {
    watch::channel(DataState::Waiting)
}

/// A transfer's outcome, once its data connection says: complete, refused, or broken. A data
/// connection that ends without saying (it never came, or its task ended) or that moves no byte for
/// [`STALL_WAIT`] counts as broken: the client never gets a positive reply for data that did not
/// all arrive.
pub async fn outcome(report: &mut watch::Receiver<DataState>) -> Result<(), DataFailure> {
    let aborted = |why: String| Err(DataFailure::Aborted(format!("Transfer aborted: {why}")));
    let mut moved = None;
    loop {
        let done = report.wait_for(|s| matches!(s, DataState::Done(_)));
        let finished = match tokio::time::timeout(STALL_WAIT, done).await {
            Ok(Ok(state)) => Some((*state).clone()),
            Ok(Err(_)) => return aborted("the data connection ended unfinished".into()),
            Err(_) => None,
        };
        if let Some(DataState::Done(result)) = finished {
            return result;
        }
        let now = match &*report.borrow() {
            DataState::Moving(e) => Some(e.bytes_in.load(Relaxed) + e.bytes_out.load(Relaxed)),
            _ => None,
        };
        if now.is_none() || now == moved {
            return aborted(format!("the data connection stalled for {}s", STALL_WAIT.as_secs()));
        }
        moved = now;
    }
}

/// A passive listener waiting for the client; dropping it closes the listener.
pub struct Passive {
    pub port: u16,
    go: oneshot::Sender<(Transfer, Verdict)>,
}

impl Passive {
    /// The transfer command was sent: relay it, protected or not.
    pub fn begin(self, transfer: Transfer, verdict: Verdict) {
        let _ = self.go.send((transfer, verdict));
    }
}

/// Rotates through the `PassivePorts` pool so consecutive transfers do not reuse a port in TIME_WAIT.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// Binds a passive listener on the control connection's local address and starts waiting.
pub async fn open_passive(ctx: &Arc<DataCtx>, backend_port: u16) -> std::io::Result<Passive> {
    let ip = ctx.control_local.ip();
    let bind = |port: u16| {
        let at = SocketAddr::new(ip, port);
        let backlog = ctx.listener.limits.backlog;
        async move {
            if ctx.transparent { transparent_listener(at, backlog) } else { TcpListener::bind(at).await }
        }
    };
    let sock = match ctx.listener.ftp.passive_ports {
        None => bind(0).await?,
        Some((lo, hi)) => {
            let span = u32::from(hi - lo) + 1;
            let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % span;
            let mut found = None;
            for i in 0..span {
                let port = lo + ((start + i) % span) as u16;
                if let Ok(s) = bind(port).await {
                    found = Some(s);
                    break;
                }
            }
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::AddrInUse, format!("no free port in {lo}-{hi}"))
            })?
        }
    };
    let port = sock.local_addr()?.port();
    let (go, wait) = oneshot::channel();
    let ctx = ctx.clone();
    let span = info_span!("ftp-data", control = %ctx.control_id, port, facility = tracing::field::Empty);
    tokio::spawn(async move { passive(ctx, sock, backend_port, wait).await }.instrument(span));
    Ok(Passive { port, go })
}

async fn passive(
    ctx: Arc<DataCtx>,
    sock: TcpListener,
    backend_port: u16,
    mut go: oneshot::Receiver<(Transfer, Verdict)>,
) {
    let actx = ctx.clone();
    let accepted = async move {
        let ctx = actx;
        loop {
            let (s, peer) = sock.accept().await?;
            // (the listener closes when this future ends: one data connection per PASV)
            if canonical(peer.ip()) == canonical(ctx.client.ip()) {
                // The backend's passive port is connected at once: servers answer 150 only once
                // their data connection is there, and clients start TLS only after the 150.
                let backend = connect_backend(&ctx, backend_port).await?;
                return Ok::<_, std::io::Error>((s, backend));
            }
            // Closed at once; the client's own connection may still come.
            warn!(msgid = msg::FTP_PORT_THEFT, from = %peer, client = %ctx.client, "data connection from another address refused (port theft)");
        }
    };
    let accepted = tokio::time::timeout(DATA_WAIT, accepted);
    tokio::pin!(accepted);
    let mut protect: Option<(Transfer, Verdict)> = None;
    let pair = loop {
        tokio::select! {
            r = &mut accepted => break r,
            g = &mut go, if protect.is_none() => match g {
                Ok(p) => protect = Some(p),
                Err(_) => return, // PASV replaced, or the control connection ended
            },
            // The transfer ended without its data connection (e.g. 550): nothing left to wait for.
            () = verdict_dropped(&mut protect) => return,
        }
    };
    let (client, backend) = match pair {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return warn!(msgid = msg::FTP_PASSIVE_FAILED, "passive data connection failed: {e}"),
        Err(_) => {
            return info!(
                msgid = msg::FTP_PASSIVE_TIMEOUT,
                "no data connection within {}s; passive port closed",
                DATA_WAIT.as_secs()
            );
        }
    };
    let (transfer, verdict) = match protect {
        Some(p) => p,
        None => match tokio::time::timeout(DATA_WAIT, go).await {
            Ok(Ok(p)) => p,
            _ => return,
        },
    };
    super::transfer::serve(&ctx, client, backend, transfer, verdict, ConnDirection::Inbound).await;
}

async fn verdict_dropped(p: &mut Option<(Transfer, Verdict)>) {
    match p {
        Some((_, v)) => v.closed().await,
        None => std::future::pending().await,
    }
}

/// Active mode: connects to the client's PORT/EPRT address from the control connection's local IP
/// (from control port − 1 when it can be bound, D23) and to the backend's passive port.
pub fn start_active(
    ctx: &Arc<DataCtx>,
    backend_port: u16,
    client: SocketAddr,
    transfer: Transfer,
    verdict: Verdict,
) {
    let ctx = ctx.clone();
    let span =
        info_span!("ftp-data", control = %ctx.control_id, active = %client, facility = tracing::field::Empty);
    tokio::spawn(
        async move {
            // The client first: if it cannot be reached the server never gets a data connection.
            let work = async {
                let (ip, port) = (ctx.control_local.ip(), ctx.control_local.port().wrapping_sub(1));
                let to_client = connect_from_port(ip, port, client, ctx.transparent, None).await?;
                let backend = connect_backend(&ctx, backend_port).await?;
                Ok::<_, std::io::Error>((to_client, backend))
            };
            match tokio::time::timeout(DATA_WAIT, work).await {
                Ok(Ok((c, b))) => {
                    super::transfer::serve(&ctx, c, b, transfer, verdict, ConnDirection::Outbound).await
                }
                Ok(Err(e)) => {
                    refuse(&ctx, verdict, None, &format!("Cannot open the data connection to {client}: {e}"))
                }
                Err(_) => refuse(&ctx, verdict, None, &format!("The data connection to {client} timed out")),
            }
        }
        .instrument(span),
    );
}

/// From `ip`:`port` (D23), else from `ip` and any port when that one cannot be bound.
async fn connect_from_port(
    ip: IpAddr,
    port: u16,
    to: SocketAddr,
    transparent: bool,
    mark: Option<u32>,
) -> std::io::Result<TcpStream> {
    match connect_from(to, Some(SocketAddr::new(ip, port)), transparent, mark).await {
        Ok(s) => Ok(s),
        Err(_) if port != 0 => connect_from(to, Some(SocketAddr::new(ip, 0)), transparent, mark).await,
        Err(e) => Err(e),
    }
}

async fn connect_backend(ctx: &DataCtx, port: u16) -> std::io::Result<TcpStream> {
    let to = SocketAddr::new(ctx.backend_peer.ip(), port);
    let s = connect_from_port(ctx.backend_local.ip(), 0, to, ctx.transparent, ctx.mark).await?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Refuses a transfer's data connection: the backend's data connection (if any) is reset, so the
/// server reports a failed transfer instead of storing an empty file, and the control connection
/// answers 522 with `why`.
pub(super) fn refuse(ctx: &DataCtx, verdict: Verdict, backend: Option<TcpStream>, why: &str) {
    warn!(msgid = msg::FTP_DATA_REFUSED, control = %ctx.control_id, "data connection refused: {why}");
    if let Some(b) = backend {
        reset_on_close(&b);
    }
    verdict.send_replace(DataState::Done(Err(DataFailure::Refused(why.to_string()))));
}
