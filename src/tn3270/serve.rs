//! One TN3270 connection's I/O (docs/policy-reference.md#tn3270-helper): the [`Negotiator`] decides
//! from the client's first bytes and its telnet answers whether TLS starts directly, after
//! START_TLS, not at all, or the connection closes; only then does the backend open (so the
//! server's own telnet negotiation runs inside TLS), and the two sides are relayed. `ClientAuth
//! SslCert` (and `SafCert`) closes a connection whose client presented no validated certificate;
//! with a `CertUserMap`, `SafCert` also closes one whose certificate maps to no user (D37; without
//! a map SafCert is SslCert, D28). How it went is recorded for netstat.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{info, warn};

use super::negotiate::{How, Negotiator, Phase, Step};
use super::settings::ClientAuth;
use crate::config::ListenerConfig;
use crate::engine::Accepted;
use crate::engine::{ClearBy, Handover, Mapping, NotStarted, Prefixed, Ready, Secure, Trace, relay, secure};
use crate::engine::{finish, open_backend};
use crate::messages as msg;
use crate::policy::table::Role;
use crate::policy::{PolicyStatus, Rule};

/// How long a client has to answer `IAC DO START_TLS` and send its FOLLOWS, when the rule's
/// HandshakeTimeout is 0 (no limit is no answer for a negotiation).
const NEGOTIATION_DEFAULT: Duration = Duration::from_secs(10);

/// What the negotiation decided.
enum Then {
    Tls(Vec<u8>),
    Clear(Vec<u8>),
    Close(String),
}

/// Serves an accepted TN3270 connection, mapped; returns when it is closed.
pub(crate) async fn serve(conn: Handover) -> std::io::Result<()> {
    let Handover { listener, acc, mapping: m, mut client, .. } = conn;
    let settings = &listener.tn3270;
    let rule =
        m.rule.as_deref().filter(|_| matches!(m.status, PolicyStatus::Enabled | PolicyStatus::ApplCntrl));
    let tls_available = rule.is_some() && m.tls.as_ref().is_some_and(|t| t.server.is_some());
    if let Some(r) = rule.filter(|_| !tls_available) {
        // A TLS rule that cannot serve a client here (HandshakeRole Client): refused, never clear.
        let why =
            format!("rule {} asks for TLS but cannot serve a TN3270 client (HandshakeRole Client)", r.name);
        warn!(msgid = msg::TN3270_CANNOT_SERVE, "closed: {why}");
        m.reg.entry.update(|s| s.secured_how = Some(format!("Refused: {why}")));
        crate::engine::reset_on_close(&client);
        return Ok(());
    }
    let mut n = Negotiator::new(settings.conn_type, tls_available);
    // D25: a rule that is not application-controlled handshakes at accept, whatever ConnType says.
    let steps = if m.status == PolicyStatus::Enabled && tls_available {
        vec![Step::StartTlsNow { leftover: Vec::new() }]
    } else {
        n.on_accept()
    };
    let timer = rule.map_or(0, |r| r.settings.handshake_timeout);
    let hs = if timer == 0 { NEGOTIATION_DEFAULT } else { Duration::from_secs(u64::from(timer)) };
    let then = negotiate(&mut client, &mut n, steps, settings.direct_tls_wait(hs), hs).await?;
    let entry = &m.reg.entry;
    let how = n.how().cloned();
    match then {
        Then::Close(why) => {
            info!(msgid = msg::TN3270_CLOSED, conn_type = settings.conn_type.word(), "closed: {why}");
            entry.update(|s| s.secured_how = Some(format!("Refused: {why}")));
            let _ = client.shutdown().await;
            Ok(())
        }
        Then::Clear(forward) => {
            let why = match &how {
                Some(How::Clear(why)) => why.clone(),
                _ => "clear".into(),
            };
            info!(msgid = msg::TN3270_CLEAR, conn_type = settings.conn_type.word(), "clear: {why}");
            entry.update(|s| s.secured_how = Some(format!("Clear: {why}")));
            let mut backend = open_backend(&acc, &m).await?;
            backend.write_all(&forward).await?;
            let ready = Ready::Clear(Prefixed::new(client), ClearBy::Negotiated);
            let r = relay(ready.into_side(), backend, &entry.bytes_in, &entry.bytes_out).await;
            finish(r, entry, Trace(0))
        }
        Then::Tls(leftover) => {
            let Some(rule) = rule else { return Ok(()) };
            let direct = m.status == PolicyStatus::Enabled || how == Some(How::Direct);
            secure_and_relay(&listener, &acc, &m, rule, client, leftover, direct).await
        }
    }
}

/// Feeds the client's bytes to the negotiator until it decides: the first bytes within
/// `first_wait` (a direct ClientHello), then each answer within `answer_wait`.
async fn negotiate(
    client: &mut TcpStream,
    n: &mut Negotiator,
    mut steps: Vec<Step>,
    first_wait: Duration,
    answer_wait: Duration,
) -> std::io::Result<Then> {
    let first_wait = Instant::now() + first_wait;
    let mut answer_by = Instant::now() + answer_wait;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(then) = carry_out(client, std::mem::take(&mut steps)).await? {
            return Ok(then);
        }
        let waiting_first = n.phase() == Phase::WaitFirstBytes;
        let until = if waiting_first { first_wait } else { answer_by };
        steps = match tokio::time::timeout_at(until, client.read(&mut buf)).await {
            Ok(Ok(0)) => n.on_client_eof(),
            Ok(Ok(k)) => {
                if waiting_first {
                    answer_by = Instant::now() + answer_wait;
                }
                n.on_client_bytes(&buf[..k])
            }
            Ok(Err(e)) => return Err(e),
            Err(_) if waiting_first => {
                answer_by = Instant::now() + answer_wait;
                n.on_wait_expired()
            }
            Err(_) => n.on_negotiation_timeout(),
        };
    }
}

/// The handshake (direct or after START_TLS), the ClientAuth check, then the backend and the relay.
async fn secure_and_relay(
    listener: &ListenerConfig,
    acc: &Accepted,
    m: &Mapping,
    rule: &Rule,
    client: TcpStream,
    leftover: Vec<u8>,
    direct: bool,
) -> std::io::Result<()> {
    let settings = &listener.tn3270;
    let entry = &m.reg.entry;
    let mut clear = Prefixed::new(client);
    clear.unread(&leftover);
    let how = if direct { "Direct" } else { "Negotiated" };
    let cert_users = m.generation.cert_users.as_deref();
    let inventory = &m.inventory;
    let s = Secure {
        rule,
        tls: m.tls.as_deref(),
        entry,
        server_name: None,
        how,
        quiet: false,
        cert_users,
        inventory,
    };
    let secured = match secure(clear, s).await? {
        Ok(secured) => secured,
        Err(NotStarted(_, _, why)) => return Err(std::io::Error::other(why)),
    };
    if settings.client_auth.requires_certificate() && !secured.side().peer_validated(rule) {
        let hint = if rule.settings.handshake_role == Some(Role::ServerWithClientAuth) {
            ""
        } else {
            " (the rule's HandshakeRole is not ServerWithClientAuth, so no certificate is asked for)"
        };
        warn!(msgid = msg::TN3270_NO_CLIENT_CERT, client_auth = settings.client_auth.word(), rule = %rule.name, "closed: no validated client certificate{hint}");
        entry.update(|s| s.secured_how = Some(format!("{how}; closed: no client certificate")));
        return Ok(());
    }
    // D37: with a CertUserMap, SafCert also needs the certificate to map to a user (z/OS 5002).
    if settings.client_auth == ClientAuth::SafCert && cert_users.is_some() && secured.cert_user().is_none() {
        let why = secured.why_no_cert_user();
        warn!(msgid = msg::TN3270_NO_USER, rc = 5002, client_auth = "SafCert", rule = %rule.name, "closed: no user ID for the certificate: {why}");
        entry.update(|s| s.secured_how = Some(format!("{how}; closed: no user ID for the certificate")));
        return Ok(());
    }
    let backend = open_backend(acc, m).await?;
    let r = relay(Ready::from(secured).into_side(), backend, &entry.bytes_in, &entry.bytes_out).await;
    finish(r, entry, Trace(0))
}

/// Writes `Send` steps; returns the final decision when one comes.
async fn carry_out(client: &mut TcpStream, steps: Vec<Step>) -> std::io::Result<Option<Then>> {
    for step in steps {
        match step {
            Step::Send(bytes) => client.write_all(&bytes).await?,
            Step::StartTlsNow { leftover } => return Ok(Some(Then::Tls(leftover))),
            Step::Clear { forward } => return Ok(Some(Then::Clear(forward))),
            Step::Close { why } => return Ok(Some(Then::Close(why))),
        }
    }
    Ok(None)
}
