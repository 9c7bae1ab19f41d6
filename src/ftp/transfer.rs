//! One FTP data connection once both of its ends are connected: mapped (SecondaryMap, D8),
//! registered, secured when its transfer asks (`PROT P`) or its rule is not application-controlled,
//! checked for session reuse, then relayed strictly. The transfer's data flow (client to server for
//! an upload, server to client otherwise) must end cleanly: every byte delivered, and under TLS the
//! sender's close_notify seen. Anything else (a reset, a stream cut without close_notify, a failed
//! write) resets both sides, so the server aborts the transfer, and reports the failure, so the
//! client gets 426 instead of the server's positive reply.

use std::sync::Arc;
use std::time::SystemTime;

use rustls::HandshakeKind;
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::data::{DataCtx, DataFailure, DataState, LINGER, Transfer, Verdict, refuse};
use super::settings::SessionReuse;
use super::tls::without_tickets;
use crate::engine::accepted::reset_on_close;
use crate::engine::relay::{Flow, relay_strict};
use crate::engine::side::{NotStarted, Prefixed, Secure, Side, secure};
use crate::engine::tls::TlsEnv;
use crate::policy::matcher::{Primary, map_with_primary};
use crate::policy::table::ConnDirection;
use crate::policy::{Connection, MapType, PolicyStatus, Rule};
use crate::registry::{ConnSnapshot, ConnStatus, Entry, Registration};

/// A data connection's rule, as mapped.
struct DataMap {
    rule: Option<Arc<Rule>>,
    status: PolicyStatus,
    map_type: Option<MapType>,
}

/// Maps, registers, secures and relays one data connection.
pub(super) async fn serve(
    ctx: &DataCtx,
    client: TcpStream,
    backend: TcpStream,
    transfer: Transfer,
    verdict: Verdict,
    direction: ConnDirection,
) {
    let (Ok(local), Ok(remote)) = (client.local_addr(), client.peer_addr()) else { return };
    let m = map(ctx, direction, local, remote);
    let reg = register(ctx, &m, local, remote, &backend);
    let entry = reg.entry.clone();
    let rule_name = m.rule.as_ref().map_or("-", |r| r.name.as_str());
    info!(conn = %reg.id, rule = rule_name, status = m.status.word(), map = m.map_type.map_or("none", MapType::word), protect = transfer.protect, upload = transfer.upload, "data open");
    let client = Prefixed::new(client);
    // As z/OS: a rule that is not application-controlled protects the connection whatever PROT says.
    let side = if transfer.protect || m.status == PolicyStatus::Enabled {
        match protect(ctx, &m, client, &entry, transfer).await {
            Ok(side) => side,
            Err(Some(why)) => return refuse(ctx, verdict, Some(backend), &why),
            Err(None) => {
                // The client went away without a ClientHello (e.g. the transfer failed first).
                reset_on_close(&backend);
                return info!("data connection closed before its handshake");
            }
        }
    } else {
        Side::Clear(client)
    };
    verdict.send_replace(DataState::Moving(entry.clone()));
    relay(side, backend, &entry, transfer, &verdict).await;
    drop(reg);
}

fn map(
    ctx: &DataCtx,
    direction: ConnDirection,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> DataMap {
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
    DataMap { rule, status, map_type }
}

fn register(
    ctx: &DataCtx,
    m: &DataMap,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
    backend: &TcpStream,
) -> Registration {
    let id = ctx.agent.registry.next_id();
    ctx.agent.registry.register(ConnSnapshot {
        id,
        listener: ctx.listener.name.clone(),
        jobname: ctx.jobname.clone(),
        local,
        remote,
        policy_status: m.status,
        conn_status: ConnStatus::NotSecure,
        map_type: m.map_type,
        primary: (m.map_type == Some(MapType::Secondary)).then_some(ctx.control_id),
        rule: m.rule.clone(),
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
    })
}

/// The TLS configuration of a data connection: the FTP session's own (its control connection's
/// rule), else its rule's without tickets (it cannot resume the control connection's session).
fn data_tls(ctx: &DataCtx, rule: &Arc<Rule>, upload: bool) -> (Option<Arc<TlsEnv>>, bool) {
    let control_rule = ctx.control_rule.as_ref().is_some_and(|c| Arc::ptr_eq(c, rule));
    if let (true, Some(session)) = (control_rule, &ctx.session_tls) {
        let env = if upload { &session.data } else { &session.control };
        return (Some(env.clone()), true);
    }
    let env = ctx.generation.tls_for(rule).map(|env| {
        let server = env.server.as_deref().map(|s| Arc::new(without_tickets(s)));
        Arc::new(TlsEnv { server, client: env.client.clone() })
    });
    (env, false)
}

/// The handshake and the session-reuse check. `Err(Some(why))`: refuse with 522; `Err(None)`: the
/// client left before its ClientHello.
async fn protect(
    ctx: &DataCtx,
    m: &DataMap,
    client: Prefixed,
    entry: &Entry,
    transfer: Transfer,
) -> Result<Side, Option<String>> {
    let Some(rule) =
        m.rule.as_ref().filter(|_| matches!(m.status, PolicyStatus::Enabled | PolicyStatus::ApplCntrl))
    else {
        return Err(Some("PROT P needs TLS, but no TLS rule applies to the data connection".into()));
    };
    let (tls, session_scoped) = data_tls(ctx, rule, transfer.upload);
    let s = Secure { rule, tls: tls.as_deref(), entry, server_name: None, how: "FTP data" };
    let side = match secure(client, s).await {
        Ok(Ok(side)) => side,
        Ok(Err(NotStarted(_, _, why))) => return Err(Some(format!("TLS is not available: {why}"))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(None),
        Err(e) => return Err(Some(format!("TLS negotiation failed on the data connection: {e}"))),
    };
    if let Side::Server(t) = &side {
        // Only a session born on this control connection can be resumed with its own configuration.
        let resumed = session_scoped && t.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        if ctx.listener.ftp.session_reuse == SessionReuse::Required && !resumed {
            return Err(Some(
                "TLS session reuse required: the data connection must resume the control connection's TLS session"
                    .into(),
            ));
        }
    }
    Ok(side)
}

/// Relays strictly and reports: `Done(Ok)` as soon as the transfer's data flow has ended cleanly,
/// `Done(Err(Aborted))` when the relay broke first (both sides are then reset).
async fn relay(
    mut side: Side,
    mut backend: TcpStream,
    entry: &Arc<Entry>,
    transfer: Transfer,
    verdict: &Verdict,
) {
    let data_flow = if transfer.upload { Flow::ToServer } else { Flow::ToClient };
    let ended = |flow: Flow| {
        if flow == data_flow {
            verdict.send_replace(DataState::Done(Ok(())));
        }
    };
    let mut done = verdict.subscribe();
    let linger = async {
        let _ = done.wait_for(|s| matches!(s, DataState::Done(_))).await;
        tokio::time::sleep(LINGER).await;
    };
    let counts = (&entry.bytes_in, &entry.bytes_out);
    let result = tokio::select! {
        r = relay_strict(&mut side, &mut backend, counts, &ended) => Some(r),
        () = linger => None,
    };
    let snap = entry.snapshot();
    let (bytes_in, bytes_out) = (snap.bytes_in, snap.bytes_out);
    let complete = matches!(*verdict.borrow(), DataState::Done(Ok(())));
    match result {
        Some(Ok(_)) => info!(bytes_in, bytes_out, "data close"),
        None => info!(
            bytes_in,
            bytes_out,
            "data close: the peer kept the connection open {}s after the transfer",
            LINGER.as_secs()
        ),
        Some(Err(f)) if complete => info!(bytes_in, bytes_out, "data close after the complete transfer: {f}"),
        Some(Err(f)) => {
            warn!(bytes_in, bytes_out, "data connection aborted, both sides reset: {f}");
            reset_on_close(side.tcp());
            reset_on_close(&backend);
            verdict
                .send_replace(DataState::Done(Err(DataFailure::Aborted(format!("Transfer aborted: {f}")))));
        }
    }
}
