//! FTP data connections (ATTLS.md §9.3, §9.4): attls's own passive listeners and active connections
//! back to the client, each paired with a connection to the backend's passive port, mapped by
//! SecondaryMap (the control connection's rule) or by their own addresses, protected when `PROT P`
//! asks (or when their rule is not application-controlled), and refused when they come from another
//! address than the control connection's client (port theft) or do not resume a TLS session born on
//! this control connection (`SessionReuse Required`, D26). Each transfer's data connection sends its
//! verdict to the control connection, which holds the transfer's positive reply until then and
//! answers `522` with the reason instead when the data connection was refused.
//!
//! Towards the backend attls is a plain FTP client in passive mode: its data connections leave from
//! the backend control connection's own address (servers such as vsftpd check that).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tracing::{Instrument, info, info_span, warn};

use super::addr::canonical;
use super::settings::SessionReuse;
use crate::agent::Agent;
use crate::agent::Generation;
use crate::config::ListenerConfig;
use crate::engine::accepted::{connect_from, transparent_listener};
use crate::engine::relay::relay;
use crate::engine::side::{NotStarted, Prefixed, Secure, Side, secure};
use crate::policy::matcher::{Primary, map_with_primary};
use crate::policy::table::ConnDirection;
use crate::policy::{Connection, MapType, PolicyStatus, Rule};
use crate::registry::{ConnId, ConnSnapshot, ConnStatus};

/// How long a passive listener waits for the client, and an active connection for its transfer.
const DATA_WAIT: Duration = Duration::from_secs(60);

/// What every data connection of one control connection shares.
pub struct DataCtx {
    pub agent: Arc<Agent>,
    pub listener: Arc<ListenerConfig>,
    /// The control connection's generation: an FTP session keeps one policy (D9).
    pub generation: Arc<Generation>,
    pub control_id: ConnId,
    pub control_rule: Option<Arc<Rule>>,
    /// attls's end of the control connection, and the client's.
    pub control_local: SocketAddr,
    pub client: SocketAddr,
    /// The backend control connection: the server's address, and attls's.
    pub backend_peer: SocketAddr,
    pub backend_local: SocketAddr,
    /// Bound into every ticket of this FTP session (control and data connections).
    pub token: Arc<[u8]>,
    /// D7: the control connection's Jobname and Userid (its data connections match with them).
    pub jobname: String,
    pub userid: String,
    /// TPROXY: addresses that are not this host's are bound with IP_TRANSPARENT.
    pub transparent: bool,
    /// SO_MARK of the agent's own connections (transparent listeners).
    pub mark: Option<u32>,
}

/// A data connection's verdict: accepted, or refused and why.
pub type Verdict = oneshot::Sender<Result<(), String>>;

/// A passive listener waiting for the client; dropping it closes the listener.
pub struct Passive {
    pub port: u16,
    go: oneshot::Sender<(bool, Verdict)>,
}

impl Passive {
    /// The transfer command was sent: relay it, protected or not.
    pub fn begin(self, protect: bool, verdict: Verdict) {
        let _ = self.go.send((protect, verdict));
    }
}

/// Rotates through the `PassivePorts` pool so consecutive transfers do not reuse a port in TIME_WAIT.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// Binds a passive listener on the control connection's local address and starts waiting.
pub async fn open_passive(ctx: &Arc<DataCtx>, backend_port: u16) -> std::io::Result<Passive> {
    let ip = ctx.control_local.ip();
    let bind = |port: u16| {
        let at = SocketAddr::new(ip, port);
        async move { if ctx.transparent { transparent_listener(at) } else { TcpListener::bind(at).await } }
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
    let span = info_span!("ftp-data", control = %ctx.control_id, port);
    tokio::spawn(async move { passive(ctx, sock, backend_port, wait).await }.instrument(span));
    Ok(Passive { port, go })
}

async fn passive(
    ctx: Arc<DataCtx>,
    sock: TcpListener,
    backend_port: u16,
    mut go: oneshot::Receiver<(bool, Verdict)>,
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
            warn!(from = %peer, client = %ctx.client, "data connection from another address refused (port theft)");
        }
    };
    let accepted = tokio::time::timeout(DATA_WAIT, accepted);
    tokio::pin!(accepted);
    let mut protect: Option<(bool, Verdict)> = None;
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
        Ok(Err(e)) => return warn!("passive data connection failed: {e}"),
        Err(_) => return info!("no data connection within {}s; passive port closed", DATA_WAIT.as_secs()),
    };
    let (protect, verdict) = match protect {
        Some(p) => p,
        None => match tokio::time::timeout(DATA_WAIT, go).await {
            Ok(Ok(p)) => p,
            _ => return,
        },
    };
    serve(&ctx, client, backend, protect, verdict, ConnDirection::Inbound).await;
}

async fn verdict_dropped(p: &mut Option<(bool, Verdict)>) {
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
    protect: bool,
    verdict: Verdict,
) {
    let ctx = ctx.clone();
    let span = info_span!("ftp-data", control = %ctx.control_id, active = %client);
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
                Ok(Ok((c, b))) => serve(&ctx, c, b, protect, verdict, ConnDirection::Outbound).await,
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

/// Maps, registers, secures and relays one data connection.
async fn serve(
    ctx: &DataCtx,
    client: TcpStream,
    backend: TcpStream,
    protect: bool,
    verdict: Verdict,
    direction: ConnDirection,
) {
    let (Ok(local), Ok(remote)) = (client.local_addr(), client.peer_addr()) else { return };
    let listener = &ctx.listener;
    let conn =
        Connection { direction, local, remote, jobname: Some(&ctx.jobname), userid: Some(&ctx.userid) };
    let own = ctx.generation.table.lookup(&conn);
    let primary = ctx.control_rule.as_deref().map(|rule| Primary {
        rule,
        local_ip: ctx.control_local.ip(),
        remote_ip: ctx.client.ip(),
    });
    let (_, map_type) = map_with_primary(own.map(|r| &**r), primary, local.ip(), remote.ip());
    let rule = if map_type == Some(MapType::Secondary) { ctx.control_rule.clone() } else { own.cloned() };
    let status = rule.as_ref().map_or(PolicyStatus::NoPolicy, |r| r.settings.status());
    let tls = rule.as_ref().and_then(|r| ctx.generation.tls_for(r).cloned());
    let id = ctx.agent.registry.next_id();
    let reg = ctx.agent.registry.register(ConnSnapshot {
        id,
        listener: listener.name.clone(),
        jobname: ctx.jobname.clone(),
        local,
        remote,
        policy_status: status,
        conn_status: ConnStatus::NotSecure,
        map_type,
        primary: (map_type == Some(MapType::Secondary)).then_some(ctx.control_id),
        rule: rule.clone(),
        generation: ctx.generation.id,
        protocol_helper: "FTP-data",
        tls_version: None,
        cipher: None,
        key_share: None,
        peer_subject: None,
        peer_cert: None,
        app_peer: backend.local_addr().ok(),
        app_local: backend.peer_addr().ok(),
        secured_how: None,
        bytes_in: 0,
        bytes_out: 0,
        started: SystemTime::now(),
    });
    let entry = reg.entry.clone();
    let rule_name = rule.as_ref().map_or("-", |r| r.name.as_str());
    info!(conn = %id, rule = rule_name, status = status.word(), map = map_type.map_or("none", MapType::word), protect, "data open");
    // As z/OS: a rule that is not application-controlled protects the connection whatever PROT says.
    let wants_tls = protect || status == PolicyStatus::Enabled;
    let client = Prefixed::new(client);
    let side = if !wants_tls {
        Side::Clear(client)
    } else {
        let (Some(rule), true) =
            (rule.as_deref(), matches!(status, PolicyStatus::Enabled | PolicyStatus::ApplCntrl))
        else {
            return refuse(
                ctx,
                verdict,
                Some(backend),
                "PROT P needs TLS, but no TLS rule applies to the data connection",
            );
        };
        let s = Secure {
            rule,
            tls: tls.as_deref(),
            entry: &entry,
            server_name: None,
            resumption: Some(ctx.token.clone()),
            how: "FTP data",
        };
        match secure(client, s).await {
            Ok(Ok(side)) => side,
            Ok(Err(NotStarted(_, _, why))) => {
                return refuse(ctx, verdict, Some(backend), &format!("TLS is not available: {why}"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // The client went away without a ClientHello (e.g. the transfer failed first).
                reset(backend);
                return info!("data connection closed before its handshake");
            }
            Err(e) => {
                return refuse(
                    ctx,
                    verdict,
                    Some(backend),
                    &format!("TLS negotiation failed on the data connection: {e}"),
                );
            }
        }
    };
    if let Side::Server(t) = &side {
        let resumed = t.get_ref().1.received_resumption_data() == Some(&ctx.token[..]);
        if listener.ftp.session_reuse == SessionReuse::Required && !resumed {
            return refuse(
                ctx,
                verdict,
                Some(backend),
                "TLS session reuse required: the data connection must resume the control connection's TLS session",
            );
        }
    }
    let _ = verdict.send(Ok(()));
    let (bin, bout) = (&entry.bytes_in, &entry.bytes_out);
    let r = relay(side, backend, bin, bout).await;
    match r {
        Ok(stats) => info!(bytes_in = stats.from_client, bytes_out = stats.to_client, "data close"),
        Err(e) => info!("data close: {e}"),
    }
}

/// Refuses a transfer's data connection: the backend's data connection (if any) is reset, so the
/// server reports a failed transfer instead of storing an empty file, and the control connection
/// answers 522 with `why`.
fn refuse(ctx: &DataCtx, verdict: Verdict, backend: Option<TcpStream>, why: &str) {
    warn!(control = %ctx.control_id, "data connection refused: {why}");
    if let Some(b) = backend {
        reset(b);
    }
    let _ = verdict.send(Err(why.to_string()));
}

/// Closes with a TCP reset (SO_LINGER 0) rather than a FIN that would look like a complete transfer.
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
}
