//! One connection from accept to close: map the rule with the generation current now (D24a), then
//! relay in clear (no rule, `TTLSEnabled Off`, or application-controlled and not yet asked), or
//! handshake first (`ENABLED`) and only then open the backend (D24c), so a failed handshake never
//! passes a byte of plaintext on. The handshake is bounded by HandshakeTimeout (D24b).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, info, warn};

use super::accepted::Accepted;
use super::rekey::Rekeying;
use super::relay::relay;
use super::tls::TlsEnv;
use crate::agent::Agent;
use crate::config::{ListenerConfig, Protocol};
use crate::policy::table::{ConnDirection, Role, Rule};
use crate::policy::{Connection, MapType, PolicyStatus};
use crate::registry::{ConnId, ConnSnapshot, ConnStatus, Entry, Registration};

/// Serves one accepted connection; returns when it is closed (or purged at shutdown).
pub async fn serve(agent: Arc<Agent>, listener: Arc<ListenerConfig>, id: ConnId, stream: TcpStream) {
    let mut purge = agent.purge.subscribe();
    let work = async {
        let acc = Accepted::new(&listener, &stream).await?;
        match (listener.direction, acc.protocol) {
            (ConnDirection::Inbound, Protocol::Ftp) => {
                let m = map(&agent, &acc, id, ConnDirection::Inbound, acc.dialed, acc.client);
                crate::ftp::control::serve(&agent, &listener, &acc, m, stream).await
            }
            (ConnDirection::Inbound, Protocol::Tn3270) => {
                let m = map(&agent, &acc, id, ConnDirection::Inbound, acc.dialed, acc.client);
                crate::tn3270::serve::serve(&listener, &acc, m, stream).await
            }
            (ConnDirection::Inbound, _) => inbound(&agent, &listener, &acc, id, stream).await,
            (ConnDirection::Outbound, _) => outbound(&agent, &listener, &acc, id, stream).await,
        }
    };
    tokio::select! {
        r = work => if let Err(e) = r { debug!("closed: {e}") },
        _ = purge.wait_for(|p| *p) => info!("closed at shutdown (PURGE)"),
    }
}

/// The mapped state of a connection, kept for its whole life (D9).
pub(crate) struct Mapped {
    pub rule: Option<Arc<Rule>>,
    pub status: PolicyStatus,
    pub tls: Option<Arc<TlsEnv>>,
    pub reg: Registration,
    /// The generation the rule came from (an FTP session maps its data connections in it too).
    pub generation: Arc<crate::agent::Generation>,
}

fn map(
    agent: &Agent,
    acc: &Accepted,
    id: ConnId,
    direction: ConnDirection,
    local: SocketAddr,
    remote: SocketAddr,
) -> Mapped {
    let generation = agent.current();
    let conn =
        Connection { direction, local, remote, jobname: Some(&acc.jobname), userid: Some(&acc.userid) };
    let rule = generation.table.lookup(&conn).cloned();
    let status = rule.as_ref().map_or(PolicyStatus::NoPolicy, |r| r.settings.status());
    let tls = rule.as_ref().and_then(|r| generation.tls_for(r).cloned());
    let reg = agent.registry.register(ConnSnapshot {
        id,
        listener: acc.listener.clone(),
        jobname: acc.jobname.clone(),
        local,
        remote,
        policy_status: status,
        conn_status: ConnStatus::NotSecure,
        map_type: rule.as_ref().map(|_| MapType::Primary),
        primary: None,
        rule: rule.clone(),
        generation: generation.id,
        protocol_helper: acc.protocol.word(),
        tls_version: None,
        cipher: None,
        key_share: None,
        peer_subject: None,
        peer_cert: None,
        app_peer: None,
        app_local: None,
        secured_how: None,
        bytes_in: 0,
        bytes_out: 0,
        started: SystemTime::now(),
    });
    let rule_name = rule.as_ref().map_or("-", |r| r.name.as_str());
    info!(rule = rule_name, status = status.word(), local = %local, remote = %remote, generation = generation.id, "open");
    if let Some(r) = rule.as_ref().filter(|r| Trace(r.settings.trace).info()) {
        info!(
            group = %r.group_action,
            environment = r.environment_action.as_deref().unwrap_or("-"),
            connection = r.connection_action.as_deref().unwrap_or("-"),
            priority = ?r.priority,
            "mapped"
        );
    }
    Mapped { rule, status, tls, reg, generation }
}

async fn connect_backend(acc: &Accepted, trace: Trace) -> std::io::Result<TcpStream> {
    let s = super::accepted::connect(&acc.backend).await?;
    let _ = s.set_nodelay(true);
    if trace.debug() {
        info!(backend = %acc.backend.addr, local = ?s.local_addr().ok(), "backend connected");
    }
    Ok(s)
}

impl Mapped {
    fn trace(&self) -> Trace {
        Trace(self.rule.as_ref().map_or(0, |r| r.settings.trace))
    }
}

async fn inbound(
    agent: &Agent,
    listener: &ListenerConfig,
    acc: &Accepted,
    id: ConnId,
    client: TcpStream,
) -> std::io::Result<()> {
    // The address the client dialed: under interception the original destination.
    let (local, remote) = (acc.dialed, acc.client);
    let m = map(agent, acc, id, ConnDirection::Inbound, local, remote);
    let entry = m.reg.entry.clone();
    if m.status == PolicyStatus::ApplCntrl
        && let Some(rule) = &m.rule
    {
        let backend = connect_backend(acc, m.trace()).await?;
        note_backend(&entry, &backend);
        return application_controlled(client, backend, listener, acc, &m, rule, true).await;
    }
    if m.status != PolicyStatus::Enabled {
        let backend = connect_backend(acc, m.trace()).await?;
        note_backend(&entry, &backend);
        return finish(relay(client, backend, &entry.bytes_in, &entry.bytes_out).await, &entry, m.trace());
    }
    let (rule, tls) = enabled(&m)?;
    let secured = handshake(client, rule, tls, acc, &entry).await?;
    // D24c: the backend opens only after the handshake succeeded.
    let backend = connect_backend(acc, m.trace()).await?;
    note_backend(&entry, &backend);
    let (bin, bout) = (&entry.bytes_in, &entry.bytes_out);
    let r = match (secured, rekey_every(rule)) {
        (Secured::Server(s), None) => relay(s, backend, bin, bout).await,
        (Secured::Client(s), None) => relay(s, backend, bin, bout).await,
        (Secured::Server(s), Some(t)) => relay(Rekeying::new(s, t), backend, bin, bout).await,
        (Secured::Client(s), Some(t)) => relay(Rekeying::new(s, t), backend, bin, bout).await,
    };
    finish(r, &entry, m.trace())
}

async fn outbound(
    agent: &Agent,
    listener: &ListenerConfig,
    acc: &Accepted,
    id: ConnId,
    client: TcpStream,
) -> std::io::Result<()> {
    let backend = connect_backend(acc, Trace(0)).await?;
    // D24a: an outbound connection maps once attls's local address is known.
    let (local, remote) = (backend.local_addr()?, backend.peer_addr()?);
    let m = map(agent, acc, id, ConnDirection::Outbound, local, remote);
    let entry = m.reg.entry.clone();
    if m.status == PolicyStatus::ApplCntrl
        && let Some(rule) = &m.rule
    {
        // The local client is the controlling application; the remote server is the TLS peer.
        entry.update(|s| {
            s.app_peer = client.local_addr().ok();
            s.app_local = client.peer_addr().ok();
        });
        return application_controlled(backend, client, listener, acc, &m, rule, false).await;
    }
    if m.status != PolicyStatus::Enabled {
        return finish(relay(client, backend, &entry.bytes_in, &entry.bytes_out).await, &entry, m.trace());
    }
    let (rule, tls) = enabled(&m)?;
    let (bin, bout) = (&entry.bytes_in, &entry.bytes_out);
    let r = match (handshake(backend, rule, tls, acc, &entry).await?, rekey_every(rule)) {
        (Secured::Server(s), None) => relay(client, s, bin, bout).await,
        (Secured::Client(s), None) => relay(client, s, bin, bout).await,
        (Secured::Server(s), Some(t)) => relay(client, Rekeying::new(s, t), bin, bout).await,
        (Secured::Client(s), Some(t)) => relay(client, Rekeying::new(s, t), bin, bout).await,
    };
    finish(r, &entry, m.trace())
}

/// An APPLCNTRL connection: `peer` is the TLS-capable side, `app` the controlling application's.
async fn application_controlled(
    peer: TcpStream,
    app: TcpStream,
    listener: &ListenerConfig,
    acc: &Accepted,
    m: &Mapped,
    rule: &Arc<Rule>,
    inbound: bool,
) -> std::io::Result<()> {
    let entry = &m.reg.entry;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let _ = entry.control.set(tx);
    let ctl = super::applctl::AppCtl {
        entry: entry.clone(),
        rule: rule.clone(),
        tls: m.tls.clone(),
        hold: listener.client_hello_hold,
        server_name: server_name(rule, acc).ok(),
        inbound,
    };
    let r = super::applctl::run(peer, app, rx, ctl).await;
    let snap = entry.snapshot();
    info!(bytes_in = snap.bytes_in, bytes_out = snap.bytes_out, "close");
    r
}

/// ResetCipherTimer (minutes; 0 = never).
fn rekey_every(rule: &Rule) -> Option<Duration> {
    let minutes = rule.settings.reset_cipher_timer;
    (minutes > 0).then(|| Duration::from_secs(60 * u64::from(minutes)))
}

/// Inbound: the backend connection is the application's; remember both of its ends.
fn note_backend(entry: &Entry, backend: &TcpStream) {
    let (mine, theirs) = (backend.local_addr().ok(), backend.peer_addr().ok());
    entry.update(|s| {
        s.app_peer = mine;
        s.app_local = theirs;
    });
}

fn enabled(m: &Mapped) -> std::io::Result<(&Arc<Rule>, &Arc<TlsEnv>)> {
    match (&m.rule, &m.tls) {
        (Some(r), Some(t)) => Ok((r, t)),
        _ => Err(std::io::Error::other("TLS enabled but no TLS configuration was built for the rule")),
    }
}

fn finish(r: std::io::Result<super::relay::RelayStats>, entry: &Entry, trace: Trace) -> std::io::Result<()> {
    let snap = entry.snapshot();
    match r {
        Ok(stats) => {
            if trace.flow() {
                info!(
                    client_to_server = stats.from_client,
                    server_to_client = stats.to_client,
                    "flow: both directions ended"
                );
            }
            info!(bytes_in = stats.from_client, bytes_out = stats.to_client, "close");
            Ok(())
        }
        Err(e) => {
            info!(bytes_in = snap.bytes_in, bytes_out = snap.bytes_out, "close: {e}");
            Err(e)
        }
    }
}

enum Secured<S> {
    Server(tokio_rustls::server::TlsStream<S>),
    Client(tokio_rustls::client::TlsStream<S>),
}

/// The TLS handshake in the rule's role, bounded by HandshakeTimeout; records the outcome in the
/// registry. On failure the TCP connection is reset.
async fn handshake<S>(
    io: S,
    rule: &Rule,
    tls: &TlsEnv,
    acc: &Accepted,
    entry: &Entry,
) -> std::io::Result<Secured<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + AsRawSocket,
{
    entry.update(|s| s.conn_status = ConnStatus::Handshake);
    let limit = rule.settings.handshake_timeout;
    let trace = Trace(rule.settings.trace);
    if trace.debug() {
        info!(
            role = rule.settings.handshake_role.map_or("-", Role::word),
            timeout = limit,
            "handshake started"
        );
    }
    let sock = io.socket_ref_handle();
    let attempt = async {
        match (rule.settings.handshake_role, &tls.server, &tls.client) {
            (Some(Role::Client), _, Some(client)) => {
                let name = server_name(rule, acc)?;
                TlsConnector::from(client.clone()).connect(name, io).await.map(Secured::Client)
            }
            (_, Some(server), _) => TlsAcceptor::from(server.clone()).accept(io).await.map(Secured::Server),
            _ => Err(std::io::Error::other("no TLS configuration for the rule's HandshakeRole")),
        }
    };
    let result = if limit == 0 {
        attempt.await
    } else {
        match tokio::time::timeout(Duration::from_secs(u64::from(limit)), attempt).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timer expired")),
        }
    };
    match result {
        Ok(secured) => {
            let (version, cipher, group, peer, cert) = match &secured {
                Secured::Server(s) => describe(s.get_ref().1),
                Secured::Client(s) => describe(s.get_ref().1),
            };
            entry.update(|s| {
                s.conn_status = ConnStatus::Secure;
                s.tls_version = version;
                s.cipher = cipher;
                s.key_share = group;
                s.peer_subject = peer.clone();
                s.peer_cert = cert;
                s.secured_how = Some("Direct".into());
            });
            let cipher_code = cipher.map(crate::policy::ciphers::hex4).unwrap_or_default();
            let (version, peer) = (version.unwrap_or("?"), peer.as_deref().unwrap_or("-"));
            if trace.info() {
                info!(version, cipher = cipher_code, peer, "secure");
            } else {
                debug!(version, cipher = cipher_code, peer, "secure");
            }
            Ok(secured)
        }
        Err(e) => {
            let rc = return_code(&e);
            entry.update(|s| s.conn_status = ConnStatus::NotSecure);
            if trace.errors() {
                warn!(rc, rule = %rule.name, jobname = %acc.jobname, "handshake failed: {e}");
            } else {
                debug!(rc, rule = %rule.name, jobname = %acc.jobname, "handshake failed: {e}");
            }
            sock.reset();
            Err(e)
        }
    }
}

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

/// The z/OS return code of a failed handshake
/// (docs/policy-reference.md#handshake-timer-and-return-codes), for the log line.
fn return_code(e: &std::io::Error) -> u32 {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return 5004;
    }
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => 5001,
        Some(rustls::Error::InvalidMessage(_)) => 5003,
        Some(rustls::Error::PeerIncompatible(_)) => 402,
        _ => 5003,
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

pub(super) type Described =
    (Option<&'static str>, Option<u16>, Option<u16>, Option<String>, Option<Arc<Vec<u8>>>);

/// What a finished handshake negotiated: version, suite, group, peer subject and certificate.
pub(super) fn describe<D>(conn: &rustls::ConnectionCommon<D>) -> Described {
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

/// Resetting a TCP connection (SO_LINGER 0, then close) without owning the stream.
pub trait AsRawSocket {
    fn socket_ref_handle(&self) -> SocketHandle;
}

impl AsRawSocket for TcpStream {
    fn socket_ref_handle(&self) -> SocketHandle {
        SocketHandle(socket2::SockRef::from(self).try_clone().ok())
    }
}

/// A duplicate of the connection's socket, used to send a reset when the handshake fails.
pub struct SocketHandle(Option<socket2::Socket>);

impl SocketHandle {
    fn reset(self) {
        // The duplicate keeps the socket open after the TLS layer dropped its stream; closing it
        // with a zero linger sends a reset instead of a FIN.
        if let Some(s) = self.0 {
            let _ = s.set_linger(Some(Duration::ZERO));
        }
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
