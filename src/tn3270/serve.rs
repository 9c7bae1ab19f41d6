//! One TN3270 connection's I/O (docs/policy-reference.md#tn3270-helper): the [`Negotiator`] decides
//! from the client's first bytes and its telnet answers whether TLS starts directly, after
//! START_TLS, not at all, or the connection closes; only then does the backend open (so the
//! server's own telnet negotiation runs inside TLS), and the two sides are relayed. `ClientAuth
//! SslCert` (and `SafCert`, D28) closes a connection whose client presented no validated
//! certificate. How it went is recorded for netstat.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{info, warn};

use super::negotiate::{How, Negotiator, Phase, Step};
use crate::config::ListenerConfig;
use crate::engine::accepted::Accepted;
use crate::engine::pipeline::{finish, open_backend};
use crate::engine::{Mapping, NotStarted, Prefixed, Secure, Trace, relay, secure};
use crate::policy::PolicyStatus;
use crate::policy::table::Role;

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
pub(crate) async fn serve(
    listener: Arc<ListenerConfig>,
    acc: Accepted,
    m: Mapping,
    mut client: TcpStream,
) -> std::io::Result<()> {
    let entry = m.reg.entry.clone();
    let settings = &listener.tn3270;
    let rule =
        m.rule.as_deref().filter(|_| matches!(m.status, PolicyStatus::Enabled | PolicyStatus::ApplCntrl));
    let tls_available = rule.is_some() && m.tls.as_ref().is_some_and(|t| t.server.is_some());
    let timer = rule.map_or(0, |r| r.settings.handshake_timeout);
    let hs = if timer == 0 { NEGOTIATION_DEFAULT } else { Duration::from_secs(u64::from(timer)) };
    let mut n = Negotiator::new(settings.conn_type, tls_available);
    let first_wait = Instant::now() + settings.direct_tls_wait(hs);
    let mut answer_by = Instant::now() + hs;
    // D25: a rule that is not application-controlled handshakes at accept, whatever ConnType says.
    let mut steps = if m.status == PolicyStatus::Enabled && tls_available {
        vec![Step::StartTlsNow { leftover: Vec::new() }]
    } else {
        n.on_accept()
    };
    let mut buf = [0u8; 4096];
    let then = loop {
        if let Some(then) = carry_out(&mut client, std::mem::take(&mut steps)).await? {
            break then;
        }
        let waiting_first = n.phase() == Phase::WaitFirstBytes;
        let until = if waiting_first { first_wait } else { answer_by };
        steps = match tokio::time::timeout_at(until, client.read(&mut buf)).await {
            Ok(Ok(0)) => n.on_client_eof(),
            Ok(Ok(k)) => {
                if waiting_first {
                    answer_by = Instant::now() + hs;
                }
                n.on_client_bytes(&buf[..k])
            }
            Ok(Err(e)) => return Err(e),
            Err(_) if waiting_first => {
                answer_by = Instant::now() + hs;
                n.on_wait_expired()
            }
            Err(_) => n.on_negotiation_timeout(),
        };
    };
    let how = n.how().cloned();
    match then {
        Then::Close(why) => {
            info!(conn_type = settings.conn_type.word(), "closed: {why}");
            entry.update(|s| s.secured_how = Some(format!("Refused: {why}")));
            let _ = client.shutdown().await;
            Ok(())
        }
        Then::Clear(forward) => {
            let why = match &how {
                Some(How::Clear(why)) => why.clone(),
                _ => "clear".into(),
            };
            info!(conn_type = settings.conn_type.word(), "clear: {why}");
            entry.update(|s| s.secured_how = Some(format!("Clear: {why}")));
            let mut backend = open_backend(&acc, &m).await?;
            backend.write_all(&forward).await?;
            let r = relay(client, backend, &entry.bytes_in, &entry.bytes_out).await;
            finish(r, &entry, Trace(0))
        }
        Then::Tls(leftover) => {
            let Some(rule) = rule else { return Ok(()) };
            let mut clear = Prefixed::new(client);
            clear.unread(&leftover);
            let how_word = if m.status == PolicyStatus::Enabled || how == Some(How::Direct) {
                "Direct"
            } else {
                "Negotiated"
            };
            let s = Secure {
                rule,
                tls: m.tls.as_deref(),
                entry: &entry,
                server_name: None,
                how: how_word,
                quiet: false,
            };
            let side = match secure(clear, s).await? {
                Ok(secured) => secured.into_side(),
                Err(NotStarted(_, _, why)) => return Err(std::io::Error::other(why)),
            };
            if settings.client_auth.requires_certificate() && !side.peer_validated(rule) {
                let hint = if rule.settings.handshake_role == Some(Role::ServerWithClientAuth) {
                    ""
                } else {
                    " (the rule's HandshakeRole is not ServerWithClientAuth, so no certificate is asked for)"
                };
                warn!(client_auth = settings.client_auth.word(), rule = %rule.name, "closed: no validated client certificate{hint}");
                entry.update(|s| s.secured_how = Some(format!("{how_word}; closed: no client certificate")));
                return Ok(());
            }
            let backend = open_backend(&acc, &m).await?;
            let r = relay(side, backend, &entry.bytes_in, &entry.bytes_out).await;
            finish(r, &entry, Trace(0))
        }
    }
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
