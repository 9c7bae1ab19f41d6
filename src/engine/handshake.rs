//! The one TLS handshake every connection goes through, whatever plugs it in (a Raw listener at
//! accept, application control's `init`, FTP `AUTH TLS` and data connections, TN3270 START_TLS):
//! the rule's role, bounded by HandshakeTimeout (docs/decisions.md D24b), the outcome recorded for
//! netstat, the rule's Trace detail (D20) and, on failure, the z/OS return code in the log and a TCP
//! reset (docs/policy-reference.md#handshake-timer-and-return-codes). A finished handshake's client
//! certificate is looked up in the `CertUserMap` (its CertUserID; ClientAuthType SAFCheck refuses
//! one without a user, return code 5002, D37). In a server role the notAfter of the certificate the
//! chooser gave the client is recorded too ([`super::certs::presenting`]). Also the way back to
//! clear (`STOP`, `CCC`) and what a finished handshake negotiated.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, info, warn};

use super::client_hello;
use super::phase::Secured;
use super::sockets::{close_normally, reset_on_close};
use super::stream::{Prefixed, Side};
use super::tls::TlsEnv;
use crate::certmap::{CertUserMap, Lookup};
use crate::errno::Errno;
use crate::inventory::{CertSent, Inventory};
use crate::messages as msg;
use crate::policy::Rule;
use crate::policy::table::Role;
use crate::registry::{ConnStatus, Entry};

/// What a switch to TLS needs to know.
pub struct Secure<'a> {
    pub rule: &'a Rule,
    pub tls: Option<&'a TlsEnv>,
    pub entry: &'a Entry,
    /// The name to check in the peer's certificate (Client role).
    pub server_name: Option<ServerName<'static>>,
    /// How the connection went secure, for netstat (`Direct`, `Init`, `AUTH TLS`, `START_TLS`…).
    pub how: &'static str,
    /// The secure line only with Trace info (a Raw connection secured at accept: its open and
    /// close lines tell the story); helpers' switches are always logged.
    pub quiet: bool,
    /// The generation's `CertUserMap`: the client certificate's CertUserID, required under
    /// ClientAuthType SAFCheck (D37).
    pub cert_users: Option<&'a CertUserMap>,
    /// Where server-role handshakes record the client's ClientHello profile (docs/clients.md).
    pub inventory: &'a Inventory,
}

/// Why a switch to TLS could not even start (the connection is still clear).
pub struct NotStarted(pub Prefixed, pub Errno, pub String);

/// A handshake that failed: the connection was reset and is lost.
#[derive(Debug, thiserror::Error)]
#[error("handshake failed (rc {rc}): {source}")]
pub struct HandshakeFailed {
    /// The z/OS return code.
    pub rc: u32,
    #[source]
    pub source: std::io::Error,
}

impl HandshakeFailed {
    /// The peer went away before its first handshake byte (not a failure worth a warning).
    pub fn peer_left(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::UnexpectedEof
    }
}

impl From<HandshakeFailed> for std::io::Error {
    fn from(e: HandshakeFailed) -> std::io::Error {
        std::io::Error::new(e.source.kind(), e)
    }
}

/// The handshake in the rule's role, bounded by HandshakeTimeout; records the outcome. `Ok(Err(..))`:
/// the policy offers no TLS for this role and the connection is still clear. `Err`: the handshake
/// failed, was logged with its return code, and the connection was reset.
pub async fn secure(clear: Prefixed, s: Secure<'_>) -> Result<Result<Secured, NotStarted>, HandshakeFailed> {
    let trace = Trace(s.rule.settings.trace);
    let limit = s.rule.settings.handshake_timeout;
    if trace.debug() {
        let role = s.rule.settings.handshake_role.map_or("-", Role::word);
        info!(msgid = msg::HANDSHAKE_STARTED, role, timeout = limit, how = s.how, "handshake started");
    }
    s.entry.update(|e| e.conn_status = ConnStatus::Handshake);
    // Until the handshake succeeds, closing the socket resets it: a failed or timed-out handshake
    // drops its stream (once logged), and the peer sees a reset, not a FIN.
    reset_on_close(clear.tcp());
    let hello = client_hello::Slot::default();
    let attempt = handshake(clear, &s, &hello);
    tokio::pin!(attempt);
    let result = if limit == 0 {
        (&mut attempt).await
    } else {
        let limit = Duration::from_secs(u64::from(limit));
        tokio::time::timeout(limit, &mut attempt).await.unwrap_or_else(|_| {
            Err((std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timer expired"), None))
        })
    };
    let role = s.rule.settings.handshake_role;
    let certificate = match &result {
        Ok(Ok(side)) => client_hello::certificate(role, Ok(side)),
        // Not started: nothing was read.
        Ok(Err(_)) => CertSent::Unknown,
        Err((e, _)) => client_hello::certificate(role, Err(e)),
    };
    client_hello::record(s.inventory, &s.rule.name, &hello, certificate);
    match result {
        Ok(Ok(side)) => finished(side, &s, trace).map(Ok),
        Ok(Err(not_started)) => {
            close_normally(not_started.0.tcp());
            s.entry.update(|e| e.conn_status = ConnStatus::NotSecure);
            Ok(Err(not_started))
        }
        Err((source, stream)) => {
            let rc = return_code(&source);
            s.entry.update(|e| {
                e.conn_status = ConnStatus::NotSecure;
                e.rc = Some(rc);
            });
            if source.kind() != std::io::ErrorKind::UnexpectedEof && trace.errors() {
                warn!(msgid = msg::HANDSHAKE_FAILED, rc, rule = %s.rule.name, how = s.how, "handshake failed: {source}");
            } else {
                debug!(rc, rule = %s.rule.name, how = s.how, "handshake failed: {source}");
            }
            // Logged first: only now (and, after a timeout, when the pinned attempt goes with this
            // frame) does the peer see the reset.
            drop(stream);
            Err(HandshakeFailed { rc, source })
        }
    }
}

/// A finished handshake: its CertUserID looked up, then recorded; under ClientAuthType SAFCheck
/// with a `CertUserMap`, a client certificate without a user is refused with return code 5002
/// (z/OS: no user ID for the certificate) and the connection reset, as a failed handshake is.
fn finished(side: Side, s: &Secure<'_>, trace: Trace) -> Result<Secured, HandshakeFailed> {
    use crate::policy::table::ClientAuthType;
    let lookup = cert_lookup(&side, s);
    let user = lookup.as_ref().and_then(Lookup::user).map(String::from);
    let settings = &s.rule.settings;
    let user_required = settings.handshake_role == Some(Role::ServerWithClientAuth)
        && settings.client_auth_type == ClientAuthType::SafCheck;
    if user_required && user.is_none() && s.cert_users.is_some() {
        let why = crate::certmap::why_no_user(lookup.as_ref());
        let rc = 5002;
        s.entry.update(|e| {
            e.conn_status = ConnStatus::NotSecure;
            e.rc = Some(rc);
        });
        if trace.errors() {
            warn!(msgid = msg::HANDSHAKE_NO_USER, rc, rule = %s.rule.name, how = s.how, "handshake refused: no user ID for the certificate: {why}");
        } else {
            debug!(rc, rule = %s.rule.name, how = s.how, "handshake refused: no user ID for the certificate: {why}");
        }
        // Still reset on close: the client sees a reset, and nothing reached the backend.
        drop(side);
        let source = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("no user ID for the client certificate (ClientAuthType SAFCheck): {why}"),
        );
        return Err(HandshakeFailed { rc, source });
    }
    close_normally(side.tcp());
    record(&side, s, trace, user.as_deref());
    Ok(Secured::new(side, lookup))
}

/// What the `CertUserMap` says of the validated client certificate (server roles; not under
/// PassThru, whose certificate is not validated); `None` without a map or such a certificate.
fn cert_lookup(side: &Side, s: &Secure<'_>) -> Option<Lookup> {
    let map = s.cert_users?;
    let Side::Server(t) = side else { return None };
    if !side.peer_validated(s.rule) {
        return None;
    }
    let leaf = t.get_ref().1.peer_certificates()?.first()?;
    Some(map.lookup(leaf.as_ref()))
}

/// A failed attempt gives back its stream (when it still has it), so it closes after the log line.
type Attempt = Result<Result<Side, NotStarted>, (std::io::Error, Option<Prefixed>)>;

async fn handshake(mut clear: Prefixed, s: &Secure<'_>, hello: &client_hello::Slot) -> Attempt {
    let role = s.rule.settings.handshake_role;
    let server = s.tls.and_then(|t| t.server.clone());
    let client = s.tls.and_then(|t| t.client.clone());
    match (role, server, client, s.server_name.clone()) {
        (Some(Role::Client), _, Some(c), Some(name)) => {
            match TlsConnector::from(c).connect(name, clear).into_fallible().await {
                Ok(t) => Ok(Ok(Side::Client(Box::new(t)))),
                Err((e, io)) => Err((e, Some(io))),
            }
        }
        (Some(Role::Server | Role::ServerWithClientAuth), Some(srv), _, _) => {
            if s.inventory.enabled()
                && let Err(e) = client_hello::read_ahead(&mut clear, hello).await
            {
                return Err((e, Some(clear)));
            }
            let accept = TlsAcceptor::from(srv).accept(clear).into_fallible();
            let (accepted, presented) = super::certs::presenting(accept).await;
            // Recorded whether or not the handshake then succeeds: the client may refuse it.
            if presented.is_some() {
                s.entry.update(|e| e.server_cert_not_after = presented);
            }
            match accepted {
                Ok(t) => Ok(Ok(Side::Server(Box::new(t)))),
                Err((e, io)) => Err((e, Some(io))),
            }
        }
        _ => Ok(Err(NotStarted(
            clear,
            Errno::Eopnotsupp,
            format!("rule {} has no TLS configuration for its HandshakeRole", s.rule.name),
        ))),
    }
}

/// Records a finished handshake in the registry and the log. A peer certificate counts as
/// validated when the verifier checked it: always in the Client role, and in the server roles unless
/// ClientAuthType is PassThru (which accepts it unvalidated).
fn record(side: &Side, s: &Secure<'_>, trace: Trace, cert_user: Option<&str>) {
    use crate::policy::table::ClientAuthType;
    use crate::registry::PeerCert;
    use rustls::HandshakeKind::Resumed;
    let ((version, cipher, group, peer, cert), validated, resumed, fips) = match side {
        Side::Server(t) => {
            let c = t.get_ref().1;
            let validated = s.rule.settings.client_auth_type != ClientAuthType::PassThru;
            (describe(c), validated, c.handshake_kind() == Some(Resumed), c.fips())
        }
        Side::Client(t) => {
            let c = t.get_ref().1;
            (describe(c), true, c.handshake_kind() == Some(Resumed), c.fips())
        }
        Side::Clear(_) => ((None, None, None, None, None), false, false, false),
    };
    s.entry.update(|e| {
        e.conn_status = ConnStatus::Secure;
        e.tls_version = version;
        e.cipher = cipher;
        e.key_share = group;
        e.peer_subject = peer.clone();
        e.peer_cert = cert.map(|der| PeerCert { der, validated });
        e.cert_user = cert_user.map(String::from);
        e.secured_how = Some(s.how.into());
        e.tls_resumed = Some(resumed);
        e.fips_mode = Some(fips);
    });
    let handshake = if resumed { "resumed" } else { "full" };
    let cipher = cipher.map(crate::policy::ciphers::hex4).unwrap_or_default();
    let (version, peer) = (version.unwrap_or("?"), peer.as_deref().unwrap_or("-"));
    // `cert_user=alice`, only with a CertUserID.
    let cert_user = cert_user.map(tracing::field::display);
    if trace.info() || !s.quiet {
        info!(msgid = msg::SECURE, version, cipher, handshake, how = s.how, peer, cert_user, "secure");
    } else {
        debug!(version, cipher, handshake, how = s.how, peer, cert_user, "secure");
    }
}

/// `how` of a connection secured at accept.
pub const DIRECT: &str = "Direct";

/// A rule's effective Trace (D20): detail it adds, for its connections, on top of the agent's own
/// open and close lines (which are logged whatever the rule says).
#[derive(Debug, Clone, Copy)]
pub struct Trace(pub u8);

impl Trace {
    /// 1, 2: errors (handshake failures).
    pub fn errors(self) -> bool {
        self.0 & 3 != 0
    }
    /// 4: information (mapping, handshake done).
    pub fn info(self) -> bool {
        self.0 & 4 != 0
    }
    /// 8: events (handshake started, backend connected).
    pub fn debug(self) -> bool {
        self.0 & 8 != 0
    }
    /// 16 and up: flow (bytes per direction; never payload).
    pub fn flow(self) -> bool {
        self.0 >= 16
    }
}

/// The z/OS return code of a failed handshake, for the log line.
fn return_code(e: &std::io::Error) -> u32 {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return 5004;
    }
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => 5001,
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)) => 431,
        Some(rustls::Error::InvalidMessage(_)) => 5003,
        Some(rustls::Error::PeerIncompatible(_)) => 402,
        _ => 5003,
    }
}

/// What a finished handshake negotiated: version, suite, group, peer subject and certificate.
pub type Described = (Option<&'static str>, Option<u16>, Option<u16>, Option<String>, Option<Arc<Vec<u8>>>);

/// What a finished handshake negotiated.
pub fn describe<D>(conn: &rustls::ConnectionCommon<D>) -> Described {
    let version = conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "TLS",
    });
    let cipher = conn.negotiated_cipher_suite().map(|c| u16::from(c.suite()));
    let group = conn.negotiated_key_exchange_group().map(|g| u16::from(g.name()));
    let leaf = conn.peer_certificates().and_then(|c| c.first());
    let peer = leaf.and_then(|der| {
        x509_parser::parse_x509_certificate(der.as_ref()).ok().map(|(_, cert)| cert.subject().to_string())
    });
    (version, cipher, group, peer, leaf.map(|d| Arc::new(d.as_ref().to_vec())))
}

/// Back to clear: close_notify, then the peer's (data it sent before it still belongs to the protected
/// phase and goes to `sink`), bounded by 10 s. The TCP connection carries on.
///
/// A peer may send clear bytes right behind its close_notify (an FTP client's next command after
/// CCC), possibly in the same segment; so from here on the socket is read one TLS record at a time,
/// never past the close_notify, and nothing of the clear phase is swallowed.
pub async fn unsecure<W: AsyncWrite + Unpin>(
    side: Side,
    sink: &mut W,
    entry: &Entry,
) -> std::io::Result<Side> {
    let finish = |io: Prefixed| {
        entry.update(|s| {
            s.conn_status = ConnStatus::NotSecure;
            s.tls_version = None;
            s.cipher = None;
            s.secured_how = Some("Stopped (clear after STOP)".into());
        });
        Ok(Side::Clear(io))
    };
    let wait = Duration::from_secs(10);
    let late = || std::io::Error::other("the peer did not answer close_notify");
    match side {
        Side::Clear(c) => Ok(Side::Clear(c)),
        Side::Server(t) => {
            let (mut io, mut conn) = t.into_inner();
            tokio::time::timeout(wait, close_exactly(&mut io, &mut conn, sink))
                .await
                .map_err(|_| late())??;
            finish(io)
        }
        Side::Client(t) => {
            let (mut io, mut conn) = t.into_inner();
            tokio::time::timeout(wait, close_exactly(&mut io, &mut conn, sink))
                .await
                .map_err(|_| late())??;
            finish(io)
        }
    }
}

/// The most protected data a peer may still send between our close_notify and its own.
const CLOSE_DRAIN_MAX: usize = 1 << 20;

/// Sends close_notify, then reads whole records until the peer's close_notify.
async fn close_exactly<D, W: AsyncWrite + Unpin>(
    io: &mut Prefixed,
    conn: &mut rustls::ConnectionCommon<D>,
    sink: &mut W,
) -> std::io::Result<()> {
    use std::io::Read;
    conn.send_close_notify();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    io.write_all(&out).await?;
    let mut plain = vec![0u8; 16 * 1024];
    let mut taken = 0usize;
    loop {
        // Plaintext rustls already holds comes first; Ok(0) is the peer's close_notify.
        match conn.reader().read(&mut plain) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                taken += n;
                if taken > CLOSE_DRAIN_MAX {
                    return Err(std::io::Error::other(
                        "the peer kept sending instead of answering close_notify",
                    ));
                }
                sink.write_all(&plain[..n]).await?;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let mut header = [0u8; 5];
        io.read_exact(&mut header).await?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut record = header.to_vec();
        record.resize(5 + len, 0);
        io.read_exact(&mut record[5..]).await?;
        conn.read_tls(&mut &record[..])?;
        conn.process_new_packets().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out)?;
        }
        io.write_all(&out).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::Trace;

    #[test]
    fn trace_bits_add_detail_as_d20_says() {
        let t = |n: u8| {
            let t = Trace(n);
            (t.errors(), t.info(), t.debug(), t.flow())
        };
        assert_eq!(t(0), (false, false, false, false));
        assert_eq!(t(2), (true, false, false, false), "the default: errors only");
        assert_eq!(t(6), (true, true, false, false));
        assert_eq!(t(8), (false, false, true, false));
        assert_eq!(t(16), (false, false, false, true));
        assert_eq!(t(255), (true, true, true, true));
    }
}
