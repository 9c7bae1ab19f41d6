//! One connection from accept to close, the same path for every kind: identify (the address the
//! client dialed, where to relay, whose it is: [`Accepted`]), map ([`mapping::map`]), then either
//! hand it to the helper plugged in for its protocol (FTP, TN3270), or serve it as Raw: relay in
//! clear by decision (no rule, `TTLSEnabled Off`), under application control (`APPLCNTRL`), or
//! handshake first (`ENABLED`) and only then open the backend (docs/decisions.md D24c), so a failed
//! handshake never passes a byte of plaintext on. One close line ends every connection.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::context::{Context, Handover};
use super::handshake::{DIRECT, NotStarted, Secure, Trace, secure};
use super::identify::Accepted;
use super::mapping::{self, Mapping, Request};
use super::phase::{ClearBy, Ready};
use super::rekey::Rekeying;
use super::relay::{Cut, Held, RelayStats, relay_strict, until_cut};
use super::sockets::connect;
use super::sockets::reset_on_close;
use super::stream::{Prefixed, Side};
use crate::config::{ListenerConfig, NoPolicy};
use crate::messages as msg;
use crate::policy::PolicyStatus;
use crate::policy::table::{ConnDirection, Rule};
use crate::registry::{ConnId, Entry};

/// How long a purged connection has to close in order before it is dropped.
const PURGE_GRACE: Duration = Duration::from_secs(2);

/// Serves one accepted connection; returns when it is closed (or purged at shutdown).
pub async fn serve(
    ctx: Arc<Context>,
    listener: Arc<ListenerConfig>,
    places: Arc<tokio::sync::Semaphore>,
    id: ConnId,
    stream: TcpStream,
) {
    let mut purge = ctx.purge();
    let work = async {
        let acc = Accepted::new(&listener, &stream).await?;
        if !acc.owner_known && ctx.current().table.conditions_on_owner(listener.direction) {
            // D35: never matched as somebody else, never relayed in clear by default.
            warn!(msgid = msg::REFUSED_OWNER_UNKNOWN, dialed = %acc.dialed, "refused: the connection's owner is unknown and rules condition on Jobname or Userid");
            reset_on_close(&stream);
            return Ok(());
        }
        if listener.direction == ConnDirection::Outbound {
            // Boxed, as the handshakes below: a connection's task keeps the size of its largest
            // state for its whole life, and an idle relay needs far less than a handshake.
            return Box::pin(outbound(&ctx, &listener, acc, id, stream)).await;
        }
        let m = {
            // Scoped, so the task does not keep the request for the connection's life.
            let req = request(&acc, ConnDirection::Inbound, acc.dialed, acc.client);
            let m = mapping::map(&ctx.registry, &ctx.inventory, ctx.current(), id, &req);
            log_open(&m, &req);
            m
        };
        if refused(&m, &listener, &[&stream]) {
            return Ok(());
        }
        match ctx.helper(acc.protocol) {
            Some(helper) => {
                let conn = Handover {
                    ctx: ctx.clone(),
                    listener: listener.clone(),
                    places,
                    acc,
                    mapping: m,
                    client: stream,
                };
                helper.serve(conn).await
            }
            None => inbound(&ctx, &listener, &acc, m, stream).await,
        }
    };
    tokio::select! {
        r = work => if let Err(e) = r { debug!("closed: {e}") },
        // A relay closes itself in order (close_notify, FIN); anything else still open goes now.
        _ = async {
            let _ = purge.wait_for(|p| *p).await;
            tokio::time::sleep(PURGE_GRACE).await;
        } => info!(msgid = msg::CLOSED_PURGE, "closed at shutdown (PURGE)"),
    }
}

/// What an accepted connection is mapped by.
fn request(
    acc: &Accepted,
    direction: ConnDirection,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> Request<'_> {
    Request {
        listener: &acc.listener,
        direction,
        local,
        remote,
        jobname: &acc.jobname,
        userid: &acc.userid,
        owner_known: acc.owner_known,
        helper: acc.protocol.word(),
        primary: None,
    }
}

/// D32: a connection no rule matches, on a listener that says `NoPolicy Refuse` (the default for a
/// sidecar listener), is reset before anything is relayed.
fn refused(m: &Mapping, listener: &ListenerConfig, sockets: &[&TcpStream]) -> bool {
    if m.status != PolicyStatus::NoPolicy || listener.no_policy != NoPolicy::Refuse {
        return false;
    }
    warn!(msgid = msg::REFUSED_NO_POLICY, listener = %listener.name, "refused: no rule applies to the connection (NoPolicy Refuse)");
    for s in sockets {
        reset_on_close(s);
    }
    true
}

/// The mapping's open line (and, with Trace info, which actions it resolved to). From here on the
/// connection's log goes to its rule's SyslogFacility.
fn log_open(m: &Mapping, req: &Request<'_>) {
    let rule = m.rule.as_ref().map_or("-", |r| r.name.as_str());
    if let Some(r) = &m.rule {
        crate::logging::note_facility(r.settings.syslog_facility);
    }
    let (local, remote) = (req.local, req.remote);
    info!(msgid = msg::OPEN, rule, status = m.status.word(), local = %local, remote = %remote, generation = m.generation.id, "open");
    if let Some(r) = m.rule.as_ref().filter(|_| m.trace().info()) {
        info!(
            msgid = msg::MAPPED,
            group = %r.group_action,
            environment = r.environment_action.as_deref().unwrap_or("-"),
            connection = r.connection_action.as_deref().unwrap_or("-"),
            priority = ?r.priority,
            "mapped"
        );
    }
}

/// Opens the connection to the backend (the other side) and records its ends in the registry.
pub async fn open_backend(acc: &Accepted, m: &Mapping) -> std::io::Result<TcpStream> {
    let backend = connect_backend(acc, m.trace()).await.inspect_err(
        |e| warn!(msgid = msg::BACKEND_FAILED, backend = %acc.backend.addr, "backend connection failed: {e}"),
    )?;
    m.note_app_side(backend.local_addr().ok(), backend.peer_addr().ok());
    Ok(backend)
}

async fn connect_backend(acc: &Accepted, trace: Trace) -> std::io::Result<TcpStream> {
    let s = connect(&acc.backend).await?;
    let _ = s.set_nodelay(true);
    if trace.debug() {
        info!(msgid = msg::BACKEND_CONNECTED, backend = %acc.backend.addr, local = ?s.local_addr().ok(), "backend connected");
    }
    Ok(s)
}

/// The TLS-capable side, made ready: secured by the one handshake, or clear by the policy's
/// decision (not for `APPLCNTRL`, which its own loop serves).
async fn ready(
    m: &Mapping,
    side: TcpStream,
    server_name: Option<ServerName<'static>>,
) -> std::io::Result<Ready> {
    let clear = Prefixed::new(side);
    let rule = match (m.status, &m.rule) {
        (PolicyStatus::Enabled, Some(rule)) => rule,
        (PolicyStatus::NotEnabled, _) => return Ok(Ready::Clear(clear, ClearBy::Disabled)),
        _ => return Ok(Ready::Clear(clear, ClearBy::NoPolicy)),
    };
    let s = Secure {
        rule,
        tls: m.tls.as_deref(),
        entry: &m.reg.entry,
        server_name,
        how: DIRECT,
        quiet: true,
        cert_users: m.generation.cert_users.as_deref(),
        inventory: &m.inventory,
    };
    match secure(clear, s).await? {
        Ok(secured) => Ok(secured.into()),
        Err(NotStarted(_, _, why)) => Err(std::io::Error::other(why)),
    }
}

async fn inbound(
    ctx: &Arc<Context>,
    listener: &ListenerConfig,
    acc: &Accepted,
    m: Mapping,
    client: TcpStream,
) -> std::io::Result<()> {
    if let (PolicyStatus::ApplCntrl, Some(rule)) = (m.status, m.rule.clone()) {
        let backend = open_backend(acc, &m).await.inspect_err(|_| reset_on_close(&client))?;
        let app = AppSides { peer: client, app: backend, inbound: true };
        // Boxed: its loop is larger than a relay, and every connection's task would carry its size.
        return Box::pin(application_controlled(ctx, listener, acc, &m, &rule, app)).await;
    }
    // Boxed: the handshake's state is freed once it is done, not kept in the task (see `serve`).
    let ready = Box::pin(ready(&m, client, None)).await?;
    // D24c: the backend opens only once the client's side is ready. A backend that cannot be
    // reached resets the client, as a backend that resets later does (D33).
    let mut backend = open_backend(acc, &m).await.inspect_err(|_| reset_on_close(ready.tcp()))?;
    let (mut side, idle) = (ready.into_side(), listener.limits.idle_timeout);
    let relayed = relay_ready(ctx, &mut side, &mut backend, &m, Ends::TlsIsClient, idle).await;
    finish(relayed, &m.reg.entry, m.trace())
}

/// Which end of the relay is the TLS-capable side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// Inbound: the client speaks TLS, the backend is the plaintext server.
    TlsIsClient,
    /// Outbound: the local client is plaintext, the remote server speaks TLS.
    TlsIsServer,
}

/// Completes when live connections must close (shutdown under PURGE).
async fn purged(ctx: &Context) {
    let mut purge = ctx.purge();
    let _ = purge.wait_for(|p| *p).await;
}

/// Relays strictly (docs/decisions.md D33): a TLS stream that ends without close_notify, a reset or
/// a failed write on either side resets both sides, so neither peer takes a cut stream for a
/// complete one; the close line says `truncated` (or what broke) with the byte counts. The ends
/// are borrowed, so the connection's task stores them once.
async fn relay_ready(
    ctx: &Context,
    side: &mut Side,
    other: &mut TcpStream,
    m: &Mapping,
    ends: Ends,
    idle: Option<Duration>,
) -> std::io::Result<RelayStats> {
    let counts = (&m.reg.entry.bytes_in, &m.reg.entry.bytes_out);
    let rekey = m.rule.as_deref().and_then(rekey_every).filter(|_| side.is_tls());
    let ended = |_| ();
    let held = Held::default();
    // Each relay is pinned here and lent to `until_cut`, so the task stores it once.
    let relayed = match (rekey, ends) {
        (Some(every), Ends::TlsIsClient) => {
            let side = Rekeying::new(&mut *side, every);
            let work = pin!(relay_strict(side, &mut *other, counts, &held, &ended));
            until_cut(work, counts, idle, purged(ctx)).await
        }
        (Some(every), Ends::TlsIsServer) => {
            let side = Rekeying::new(&mut *side, every);
            let work = pin!(relay_strict(&mut *other, side, counts, &held, &ended));
            until_cut(work, counts, idle, purged(ctx)).await
        }
        (None, Ends::TlsIsClient) => {
            let work = pin!(relay_strict(&mut *side, &mut *other, counts, &held, &ended));
            until_cut(work, counts, idle, purged(ctx)).await
        }
        (None, Ends::TlsIsServer) => {
            let work = pin!(relay_strict(&mut *other, &mut *side, counts, &held, &ended));
            until_cut(work, counts, idle, purged(ctx)).await
        }
    };
    let r = match relayed {
        Ok(r) => r,
        Err(cut) => {
            let why = match cut {
                Cut::Idle => format!("idle for {}s (IdleTimeout)", idle.map_or(0, |d| d.as_secs())),
                Cut::Stopped => "closed at shutdown (PURGE)".to_string(),
            };
            if held.any() {
                // A peer stopped reading: bytes read from the other were never delivered, and a
                // FIN after the part that was would pass a cut stream off as complete (D33).
                reset_on_close(side.tcp());
                reset_on_close(other);
                let why =
                    format!("{why} with bytes not delivered (a peer stopped reading): both sides reset");
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why));
            }
            // Nothing in flight: an orderly end on both sides (close_notify, FIN).
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut *side).await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut *other).await;
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why));
        }
    };
    r.map_err(|failure| {
        reset_on_close(side.tcp());
        reset_on_close(other);
        std::io::Error::other(failure)
    })
}

async fn outbound(
    ctx: &Arc<Context>,
    listener: &ListenerConfig,
    acc: Accepted,
    id: ConnId,
    client: TcpStream,
) -> std::io::Result<()> {
    let backend = connect_backend(&acc, Trace(0))
        .await
        .inspect_err(|e| warn!(msgid = msg::BACKEND_FAILED, backend = %acc.backend.addr, "backend connection failed: {e}"))
        .inspect_err(|_| reset_on_close(&client))?;
    // D24a: an outbound connection maps once attls's local address is known.
    let req = request(&acc, ConnDirection::Outbound, backend.local_addr()?, backend.peer_addr()?);
    let m = mapping::map(&ctx.registry, &ctx.inventory, ctx.current(), id, &req);
    log_open(&m, &req);
    if refused(&m, listener, &[&client, &backend]) {
        return Ok(());
    }
    if let (PolicyStatus::ApplCntrl, Some(rule)) = (m.status, m.rule.clone()) {
        // The local client is the controlling application; the remote server is the TLS peer.
        m.note_app_side(client.local_addr().ok(), client.peer_addr().ok());
        let app = AppSides { peer: backend, app: client, inbound: false };
        return Box::pin(application_controlled(ctx, listener, &acc, &m, &rule, app)).await;
    }
    let name = m.rule.as_deref().map(|r| server_name(r, &acc)).transpose()?;
    let mut side = Box::pin(ready(&m, backend, name)).await?.into_side();
    let (mut client, idle) = (client, listener.limits.idle_timeout);
    let relayed = relay_ready(ctx, &mut side, &mut client, &m, Ends::TlsIsServer, idle).await;
    finish(relayed, &m.reg.entry, m.trace())
}

/// An application-controlled connection's two ends: the TLS-capable peer and the application.
struct AppSides {
    peer: TcpStream,
    app: TcpStream,
    /// Inbound: the peer is the listener's client.
    inbound: bool,
}

async fn application_controlled(
    ctx: &Arc<Context>,
    listener: &ListenerConfig,
    acc: &Accepted,
    m: &Mapping,
    rule: &Arc<Rule>,
    sides: AppSides,
) -> std::io::Result<()> {
    let (_open, requests) = ctx.controls.open(m.reg.id);
    let ctl = super::applctl::AppCtl {
        entry: m.reg.entry.clone(),
        rule: rule.clone(),
        tls: m.tls.clone(),
        cert_users: m.generation.cert_users.clone(),
        inventory: m.inventory.clone(),
        hold: listener.client_hello_hold,
        server_name: server_name(rule, acc).ok(),
        inbound: sides.inbound,
    };
    let r = super::applctl::run(sides.peer, sides.app, requests, ctl).await;
    let snap = m.reg.entry.snapshot();
    info!(msgid = msg::CLOSE, bytes_in = snap.bytes_in, bytes_out = snap.bytes_out, "close");
    r
}

/// ResetCipherTimer (minutes; 0 = never).
fn rekey_every(rule: &Rule) -> Option<Duration> {
    let minutes = rule.settings.reset_cipher_timer;
    (minutes > 0).then(|| Duration::from_secs(60 * u64::from(minutes)))
}

/// The close line, the same for every outcome of a relay.
pub fn finish(r: std::io::Result<RelayStats>, entry: &Entry, trace: Trace) -> std::io::Result<()> {
    match r {
        Ok(stats) => {
            if trace.flow() {
                info!(
                    msgid = msg::FLOW,
                    client_to_server = stats.from_client,
                    server_to_client = stats.to_client,
                    "flow: both directions ended"
                );
            }
            info!(msgid = msg::CLOSE, bytes_in = stats.from_client, bytes_out = stats.to_client, "close");
            Ok(())
        }
        Err(e) => {
            let snap = entry.snapshot();
            info!(msgid = msg::CLOSE, bytes_in = snap.bytes_in, bytes_out = snap.bytes_out, "close: {e}");
            Err(e)
        }
    }
}

/// D21: HostReferenceIdDNS, else the first ClientHandshakeSNIList name, else the Backend host.
fn server_name(rule: &Rule, acc: &Accepted) -> std::io::Result<ServerName<'static>> {
    let s = &rule.settings;
    let name = s
        .host_reference_id_dns
        .first()
        .or_else(|| s.client_handshake_sni_list.first())
        .cloned()
        .unwrap_or_else(|| acc.backend.host.clone());
    ServerName::try_from(name.clone()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("`{name}` is not a valid server name"))
    })
}
