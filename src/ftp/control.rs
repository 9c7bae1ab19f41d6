//! The FTP control connection's I/O: client command lines and backend replies go through the
//! [`Session`] state machine, whose actions this module carries out: writes, the switch to TLS on
//! `AUTH TLS` (and back on `CCC`), passive listeners and active connections ([`super::data`]), and
//! the `522` for a refused data connection. Implicit FTPS (D25) arrives here already secure.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{info, warn};

use super::addr::{self, BackendData};
use super::command::MAX_LINE;
use super::data::{
    DataCtx, DataFailure, DataState, Passive, Transfer, Verdict, open_passive, outcome, start_active, verdict,
};
use super::reply::{ReplyParser, line};
use super::session::{Out, Session, SessionInit};
use super::tls::SessionTls;
use crate::engine::Handover;
use crate::engine::TlsEnv;
use crate::engine::open_backend;
use crate::engine::{NotStarted, Prefixed, Secure, Secured, Side, secure, unsecure};
use crate::messages as msg;
use crate::policy::{PolicyStatus, Rule};
use crate::registry::Entry;

/// What the control connection needs besides its two streams.
pub struct ControlCtx {
    pub data: Arc<DataCtx>,
    pub entry: Arc<Entry>,
    pub rule: Option<Arc<Rule>>,
    pub tls: Option<Arc<TlsEnv>>,
    /// The CertUserID of an implicit handshake (`Err`: why there is none).
    pub cert_user: Result<String, String>,
}

/// The data plan of the next transfer: set by PASV/EPSV or PORT/EPRT, used by the transfer command.
enum Plan {
    Passive(Passive),
    Active { backend_port: u16, client: SocketAddr },
}

struct Conn {
    ctx: ControlCtx,
    session: Session,
    /// `None` only while a switch to or from TLS has it.
    client: Option<Side>,
    backend: TcpStream,
    plan: Option<Plan>,
    /// Transfer commands forwarded before their PASV/PORT replies came back (pipelining), in order.
    early: VecDeque<(Transfer, Verdict)>,
    /// The reports of the transfers whose final replies are still to come, in order.
    verdicts: VecDeque<watch::Receiver<DataState>>,
    /// Client bytes read but not yet parsed into lines.
    pending: Vec<u8>,
    /// Dropping bytes of an over-long line until its end.
    skipping: bool,
}

/// Serves one FTP control connection until either side closes. `client` is clear (explicit FTPS) or
/// already secure (implicit, D25).
pub async fn run(ctx: ControlCtx, client: Side, backend: TcpStream) -> std::io::Result<()> {
    let tls_available = ctx.tls.as_ref().is_some_and(|t| t.server.is_some());
    let implicit = client.is_tls();
    let backend_v6 = backend.peer_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    let init = SessionInit {
        settings: ctx.data.listener.ftp.clone(),
        tls_available,
        implicit,
        client_ip: ctx.data.client.ip(),
        control_v6: addr::canonical(ctx.data.control_local.ip()).is_ipv6(),
        backend_v6,
        cert_user_map: ctx.data.generation.cert_users.is_some(),
    };
    let mut session = Session::new(init);
    if implicit {
        let validated = ctx.rule.as_deref().is_some_and(|r| client.peer_validated(r));
        session.tls_started(validated);
        session.set_cert_user(ctx.cert_user.clone());
    }
    let mut c = Conn {
        ctx,
        session,
        client: Some(client),
        backend,
        plan: None,
        early: VecDeque::new(),
        verdicts: VecDeque::new(),
        pending: Vec::new(),
        skipping: false,
    };
    let mut cbuf = vec![0u8; 8 * 1024];
    let mut bbuf = vec![0u8; 8 * 1024];
    let mut replies = ReplyParser::new();
    loop {
        tokio::select! {
            n = c.backend.read(&mut bbuf) => {
                let n = n?;
                if n == 0 {
                    // The server ended the session (after QUIT or its own 421).
                    if let Some(client) = c.client.as_mut() {
                        let _ = client.shutdown().await;
                    }
                    return Ok(());
                }
                replies.push(&bbuf[..n]);
                loop {
                    let reply = match replies.next_reply() {
                        Ok(Some(r)) => r,
                        Ok(None) => break,
                        Err(e) => {
                            warn!(msgid = msg::FTP_UNREADABLE_REPLY, "unreadable reply from the FTP server: {e}");
                            let bye = line(421, "Service not available: the server's reply was unreadable");
                            c.send_client(bye.as_bytes()).await?;
                            return Ok(());
                        }
                    };
                    let outs = c.session.on_reply(&reply);
                    if !c.execute(outs).await? {
                        return Ok(());
                    }
                }
                // A deferred CCC may have left the client's next commands in `pending`.
                if !c.pending.is_empty() && !c.lines().await? {
                    return Ok(());
                }
            }
            n = read_side(&mut c.client, &mut cbuf) => {
                let n = n?;
                if n == 0 {
                    let _ = c.backend.shutdown().await;
                    return drain(&mut c.backend).await;
                }
                c.pending.extend_from_slice(&cbuf[..n]);
                if !c.lines().await? {
                    return Ok(());
                }
            }
        }
    }
}

async fn read_side(side: &mut Option<Side>, buf: &mut [u8]) -> std::io::Result<usize> {
    match side {
        Some(s) => s.read(buf).await,
        None => Err(lost()),
    }
}

fn lost() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "the client connection was lost in a TLS switch")
}

impl Conn {
    async fn send_client(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.client.as_mut() {
            Some(s) => s.send(bytes).await,
            None => Err(lost()),
        }
    }

    /// Feeds every complete client line to the session; false when the connection must close.
    async fn lines(&mut self) -> std::io::Result<bool> {
        loop {
            let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
                if self.pending.len() > MAX_LINE {
                    self.pending.clear();
                    if !self.skipping {
                        self.skipping = true;
                        let outs = self.session.on_overlong_line();
                        if !self.execute(outs).await? {
                            return Ok(false);
                        }
                    }
                }
                return Ok(true);
            };
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            let outs = self.session.on_command(&line);
            if !self.execute(outs).await? {
                return Ok(false);
            }
        }
    }

    /// Carries out the session's actions in order; false when the connection must close.
    async fn execute(&mut self, outs: Vec<Out>) -> std::io::Result<bool> {
        for out in outs {
            match out {
                Out::ToClient(text) => self.send_client(text.as_bytes()).await?,
                Out::ToBackend(text) => self.backend.write_all(text.as_bytes()).await?,
                Out::ToBackendRaw(bytes) => self.backend.write_all(&bytes).await?,
                Out::StartTls => {
                    if !self.start_tls().await? {
                        return Ok(false);
                    }
                }
                Out::StopTls => self.stop_tls().await?,
                Out::OpenPassive { backend, extended } => self.open_passive(backend, extended).await?,
                Out::ActiveReady { backend, client } => {
                    let backend_port = self.backend_port(backend);
                    self.plan = Some(Plan::Active { backend_port, client });
                    if let Some((transfer, verdict)) = self.early.pop_front() {
                        self.begin(transfer, verdict);
                    }
                }
                // The transfer waiting for that plan gets none: its reply (425) passes as it is.
                Out::PlanFailed => drop(self.early.pop_front()),
                Out::BeginTransfer { protect, upload } => {
                    let (tx, rx) = verdict();
                    self.verdicts.push_back(rx);
                    self.begin(Transfer { protect, upload }, tx);
                }
                Out::TransferReply { reply, positive } => {
                    let text = match self.verdicts.pop_front() {
                        Some(mut v) if positive => match outcome(&mut v).await {
                            Ok(()) => reply,
                            Err(DataFailure::Refused(why)) => line(522, &why),
                            Err(DataFailure::Aborted(why)) => line(426, &why),
                        },
                        _ => reply,
                    };
                    self.send_client(text.as_bytes()).await?;
                }
                Out::Close => return Ok(false),
            }
        }
        Ok(true)
    }

    fn backend_port(&self, b: BackendData) -> u16 {
        // The address in a 227 is often wrong behind NAT; the backend's own address is not.
        match b {
            BackendData::Addr(a) => a.port(),
            BackendData::Port(p) => p,
        }
    }

    async fn open_passive(&mut self, backend: BackendData, extended: bool) -> std::io::Result<()> {
        let backend_port = self.backend_port(backend);
        // A new PASV replaces an unused listener (dropping it closes it).
        self.plan = None;
        match open_passive(&self.ctx.data, backend_port).await {
            Ok(p) => {
                let reply = if extended {
                    addr::format_229(p.port)
                } else {
                    let ip = self
                        .ctx
                        .data
                        .listener
                        .ftp
                        .passive_address
                        .unwrap_or(self.ctx.data.control_local.ip());
                    match addr::canonical(ip) {
                        std::net::IpAddr::V4(v4) => addr::format_227(std::net::SocketAddrV4::new(v4, p.port)),
                        std::net::IpAddr::V6(_) => line(425, "PASV carries only IPv4 addresses: use EPSV"),
                    }
                };
                self.send_client(reply.as_bytes()).await?;
                self.plan = Some(Plan::Passive(p));
                if let Some((transfer, verdict)) = self.early.pop_front() {
                    self.begin(transfer, verdict);
                }
            }
            Err(e) => {
                warn!(msgid = msg::FTP_PASSIVE_LISTENER, "passive listener: {e}");
                self.send_client(line(425, &format!("Can't open passive connection: {e}")).as_bytes())
                    .await?;
            }
        }
        Ok(())
    }

    fn begin(&mut self, transfer: Transfer, verdict: Verdict) {
        match self.plan.take() {
            Some(Plan::Passive(p)) => p.begin(transfer, verdict),
            Some(Plan::Active { backend_port, client }) => {
                start_active(&self.ctx.data, backend_port, client, transfer, verdict)
            }
            // The PASV/PORT reply is still on its way.
            None if self.session.plan_pending() => self.early.push_back((transfer, verdict)),
            // No data plan at all: the server answers 425; nothing to start.
            None => drop(verdict),
        }
    }

    /// AUTH TLS: the handshake as server; the bytes after the AUTH line belong to it.
    async fn start_tls(&mut self) -> std::io::Result<bool> {
        let Some(rule) = self.ctx.rule.clone() else {
            self.session.tls_failed();
            return Ok(false);
        };
        let leftover = std::mem::take(&mut self.pending);
        let Some(Side::Clear(mut clear)) = self.client.take() else {
            return Err(lost());
        };
        clear.unread(&leftover);
        let s = Secure {
            rule: &rule,
            tls: self.ctx.tls.as_deref(),
            entry: &self.ctx.entry,
            server_name: None,
            how: "AUTH TLS",
            quiet: false,
            cert_users: self.ctx.data.generation.cert_users.as_deref(),
            inventory: &self.ctx.data.engine.inventory,
        };
        match secure(clear, s).await {
            Ok(Ok(secured)) => {
                let user = cert_user(&secured);
                let side = secured.into_side();
                self.session.tls_started(side.peer_validated(&rule));
                self.session.set_cert_user(user);
                self.client = Some(side);
                Ok(true)
            }
            Ok(Err(NotStarted(clear, _, why))) => {
                warn!(msgid = msg::FTP_AUTH_TLS_REFUSED, "AUTH TLS: {why}");
                self.session.tls_failed();
                self.client = Some(Side::Clear(clear));
                Ok(false)
            }
            Err(e) => {
                self.session.tls_failed();
                Err(e.into())
            }
        }
    }

    /// CCC: close_notify both ways; what the client sent before its close_notify is still commands.
    async fn stop_tls(&mut self) -> std::io::Result<()> {
        let client = self.client.take().ok_or_else(lost)?;
        let mut sink: Vec<u8> = Vec::new();
        self.client = Some(unsecure(client, &mut sink, &self.ctx.entry).await?);
        self.ctx.entry.update(|s| s.secured_how = Some("Clear after CCC".into()));
        self.session.tls_stopped();
        info!(msgid = msg::FTP_CCC, "control connection clear after CCC");
        self.pending.extend_from_slice(&sink);
        Ok(())
    }
}

/// The handshake's CertUserID, or why it has none.
fn cert_user(secured: &Secured) -> Result<String, String> {
    secured.cert_user().map(String::from).ok_or_else(|| secured.why_no_cert_user())
}

/// After the client closed: let the server's last replies go (nowhere), then end.
async fn drain(backend: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let wait = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while backend.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    });
    let _ = wait.await;
    Ok(())
}

/// An accepted FTP control connection, mapped: implicit FTPS handshakes first (D25, D24c), then the
/// backend opens and the session runs.
pub(crate) async fn serve(conn: Handover) -> std::io::Result<()> {
    let Handover { ctx: engine, listener, places, acc, mapping: m, client } = conn;
    // The address the client dialed: under interception the original server's, which the 227
    // must name and the passive listeners bind.
    // After a redirect of traffic for another host (a router), the dialed address is not this
    // host's: passive listeners then bind, and the 227 names, the address the client really reached.
    let redirected_elsewhere = listener.transparent == Some(crate::config::Transparent::Redirect)
        && !crate::engine::is_local(acc.dialed.ip());
    let local = if redirected_elsewhere { client.local_addr()? } else { acc.dialed };
    let remote = acc.client;
    let entry = m.reg.entry.clone();
    let session_tls = m.tls.as_deref().and_then(SessionTls::new);
    let control_tls = session_tls.as_ref().map(|s| s.control.clone());
    let mut side = Side::Clear(Prefixed::new(client));
    let mut implicit_user = Err("no client certificate".to_string());
    if let Some(rule) = m.rule.as_deref().filter(|r| {
        listener.ftp.secure_login.requires_certificate()
            && r.settings.handshake_role != Some(crate::policy::table::Role::ServerWithClientAuth)
    }) {
        warn!(
            msgid = msg::FTP_SECURE_LOGIN_MISMATCH,
            rule = %rule.name,
            "SecureLogin {} but the rule's HandshakeRole is not ServerWithClientAuth: no client certificate is asked for, every login gets 531",
            listener.ftp.secure_login.word()
        );
    }
    if let (PolicyStatus::Enabled, Some(rule)) = (m.status, m.rule.as_deref()) {
        let Side::Clear(clear) = side else { return Err(lost()) };
        let s = Secure {
            rule,
            tls: control_tls.as_deref(),
            entry: &entry,
            server_name: None,
            how: "Implicit",
            quiet: false,
            cert_users: m.generation.cert_users.as_deref(),
            inventory: &m.inventory,
        };
        side = match secure(clear, s).await? {
            Ok(secured) => {
                implicit_user = cert_user(&secured);
                secured.into_side()
            }
            Err(NotStarted(_, _, why)) => return Err(std::io::Error::other(why)),
        };
    }
    let backend = open_backend(&acc, &m).await?;
    let (backend_local, backend_peer) = (backend.local_addr()?, backend.peer_addr()?);
    let data = Arc::new(DataCtx {
        engine,
        places,
        listener: listener.clone(),
        generation: m.generation.clone(),
        control_id: m.reg.id,
        control_rule: m.rule.clone(),
        session_tls,
        control_local: local,
        client: remote,
        backend_peer,
        backend_local,
        jobname: acc.jobname.clone(),
        userid: acc.userid.clone(),
        owner_known: acc.owner_known,
        transparent: listener.transparent == Some(crate::config::Transparent::Tproxy),
        mark: acc.backend.mark,
    });
    let ctx = ControlCtx {
        data,
        entry: entry.clone(),
        rule: m.rule.clone(),
        tls: control_tls,
        cert_user: implicit_user,
    };
    let r = run(ctx, side, backend).await;
    let snap = entry.snapshot();
    info!(msgid = msg::CLOSE, bytes_in = snap.bytes_in, bytes_out = snap.bytes_out, "close");
    drop(m);
    r
}
