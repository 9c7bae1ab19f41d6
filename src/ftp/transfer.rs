//! One FTP data connection once both of its ends are connected: mapped (SecondaryMap, D8),
//! registered, secured when its transfer asks (`PROT P`) or its rule is not application-controlled,
//! checked for session reuse, then relayed strictly. The transfer's data flow (client to server for
//! an upload, server to client otherwise) must end cleanly: every byte delivered, and under TLS the
//! sender's close_notify seen. Anything else (a reset, a stream cut without close_notify, a failed
//! write) resets both sides, so the server aborts the transfer, and reports the failure, so the
//! client gets 426 instead of the server's positive reply.

use std::sync::Arc;

use rustls::HandshakeKind;
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::data::{DataCtx, DataFailure, DataState, LINGER, Transfer, Verdict, refuse};
use super::settings::SessionReuse;
use super::tls::without_tickets;
use crate::engine::TlsEnv;
use crate::engine::reset_on_close;
use crate::engine::{
    ClearBy, Mapping, NotStarted, Prefixed, Primary, Ready, Request, Secure, Secured, Side, secure,
};
use crate::engine::{Flow, Held, relay_strict};
use crate::messages as msg;
use crate::policy::table::ConnDirection;
use crate::policy::{MapType, PolicyStatus, Rule};
use crate::registry::Entry;

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
    // Data connections count against the listener's and the agent's MaxConnections too.
    let places = (ctx.places.clone().try_acquire_owned(), ctx.engine.connections.clone().try_acquire_owned());
    let (Ok(_listener_place), Ok(_agent_place)) = places else {
        reset_on_close(&client);
        return refuse(ctx, verdict, Some(backend), "MaxConnections reached: no data connection now");
    };
    let primary = Primary {
        id: ctx.control_id,
        rule: ctx.control_rule.as_ref(),
        local_ip: ctx.control_local.ip(),
        remote_ip: ctx.client.ip(),
    };
    let req = Request {
        listener: &ctx.listener.name,
        direction,
        local,
        remote,
        jobname: &ctx.jobname,
        owner_known: ctx.owner_known,
        userid: &ctx.userid,
        helper: "FTP-data",
        primary: Some(primary),
    };
    let id = ctx.engine.registry.next_id();
    let m = crate::engine::map(&ctx.engine.registry, &ctx.engine.inventory, ctx.generation.clone(), id, &req);
    m.note_app_side(backend.local_addr().ok(), backend.peer_addr().ok());
    let entry = m.reg.entry.clone();
    let rule_name = m.rule.as_ref().map_or("-", |r| r.name.as_str());
    if let Some(r) = &m.rule {
        // The data connection's log goes to its own rule's SyslogFacility.
        crate::logging::note_facility(r.settings.syslog_facility);
    }
    info!(msgid = msg::FTP_DATA_OPEN, conn = %id, rule = rule_name, status = m.status.word(), map = m.map_type.map_or("none", MapType::word), protect = transfer.protect, upload = transfer.upload, "data open");
    let client = Prefixed::new(client);
    // As z/OS: a rule that is not application-controlled protects the connection whatever PROT says.
    let ready = if transfer.protect || m.status == PolicyStatus::Enabled {
        match protect(ctx, &m, client, &entry, transfer).await {
            Ok(secured) => Ready::from(secured),
            Err(Some(why)) => return refuse(ctx, verdict, Some(backend), &why),
            Err(None) => {
                // The client went away without a ClientHello (e.g. the transfer failed first).
                reset_on_close(&backend);
                return info!(
                    msgid = msg::FTP_DATA_NO_HANDSHAKE,
                    "data connection closed before its handshake"
                );
            }
        }
    } else {
        Ready::Clear(client, ClearBy::Negotiated)
    };
    verdict.send_replace(DataState::Moving(entry.clone()));
    relay(ready.into_side(), backend, &entry, transfer, &verdict).await;
    drop(m);
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
        Arc::new(TlsEnv { server, client: env.client.clone(), sessions: env.sessions.clone() })
    });
    (env, false)
}

/// The handshake and the session-reuse check. `Err(Some(why))`: refuse with 522; `Err(None)`: the
/// client left before its ClientHello.
async fn protect(
    ctx: &DataCtx,
    m: &Mapping,
    client: Prefixed,
    entry: &Entry,
    transfer: Transfer,
) -> Result<Secured, Option<String>> {
    let Some(rule) =
        m.rule.as_ref().filter(|_| matches!(m.status, PolicyStatus::Enabled | PolicyStatus::ApplCntrl))
    else {
        return Err(Some("PROT P needs TLS, but no TLS rule applies to the data connection".into()));
    };
    let (tls, session_scoped) = data_tls(ctx, rule, transfer.upload);
    let scoped = ctx.session_tls.as_ref().filter(|_| session_scoped).map(|t| t.sessions.clone());
    // Before the handshake, which may issue new tickets.
    let (expired_before, all_expired) =
        scoped.as_ref().map_or((0, false), |s| (s.expired(), s.all_expired()));
    let s = Secure {
        rule,
        tls: tls.as_deref(),
        entry,
        server_name: None,
        how: "FTP data",
        quiet: false,
        cert_users: m.generation.cert_users.as_deref(),
        inventory: &m.inventory,
    };
    let secured = match secure(client, s).await {
        Ok(Ok(secured)) => secured,
        Ok(Err(NotStarted(_, _, why))) => return Err(Some(format!("TLS is not available: {why}"))),
        Err(e) if e.peer_left() => return Err(None),
        Err(e) => return Err(Some(format!("TLS negotiation failed on the data connection: {}", e.source))),
    };
    if let Side::Server(t) = secured.side() {
        // Only a session born on this control connection can be resumed with its own configuration.
        let resumed = session_scoped && t.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        if ctx.listener.ftp.session_reuse == SessionReuse::Required && !resumed {
            let expired = scoped.as_ref().filter(|s| s.expired() > expired_before || all_expired);
            return Err(Some(match expired {
                Some(s) => format!(
                    "TLS session reuse required, but the control connection's TLS session has expired (GSK_V3_SESSION_TIMEOUT {} s, GSK_SESSION_TICKET_SERVER_TIMEOUT {} s): log in again",
                    s.lifetimes.session.as_secs(),
                    s.lifetimes.ticket.as_secs()
                ),
                None => "TLS session reuse required: the data connection must resume the control connection's TLS session".into(),
            }));
        }
    }
    Ok(secured)
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
    // Not consulted: the transfer's own bounds reset a data connection that stops moving.
    let held = Held::default();
    let result = tokio::select! {
        r = relay_strict(&mut side, &mut backend, counts, &held, &ended) => Some(r),
        () = linger => None,
    };
    let snap = entry.snapshot();
    let (bytes_in, bytes_out) = (snap.bytes_in, snap.bytes_out);
    let complete = matches!(*verdict.borrow(), DataState::Done(Ok(())));
    match result {
        Some(Ok(_)) => info!(msgid = msg::FTP_DATA_CLOSE, bytes_in, bytes_out, "data close"),
        None => info!(
            msgid = msg::FTP_DATA_CLOSE,
            bytes_in,
            bytes_out,
            "data close: the peer kept the connection open {}s after the transfer",
            LINGER.as_secs()
        ),
        Some(Err(f)) if complete => info!(
            msgid = msg::FTP_DATA_CLOSE,
            bytes_in, bytes_out, "data close after the complete transfer: {f}"
        ),
        Some(Err(f)) => {
            warn!(
                msgid = msg::FTP_DATA_ABORTED,
                bytes_in, bytes_out, "data connection aborted, both sides reset: {f}"
            );
            reset_on_close(side.tcp());
            reset_on_close(&backend);
            verdict
                .send_replace(DataState::Done(Err(DataFailure::Aborted(format!("Transfer aborted: {f}")))));
        }
    }
}
