//! The FTP control connection as attls sees it, without I/O: client commands in, backend replies in,
//! [`Out`] actions for the I/O layer (docs/policy-reference.md#ftp-command-sequence-and-replies,
//! docs/policy-reference.md#data-addresses-pasv-epsv-port-eprt; RFC 959, 2228, 2428, 4217).
//!
//! attls plays the TLS-aware server: AUTH, PBSZ, PROT and CCC are answered here and never forwarded;
//! PASV, EPSV, PORT and EPRT become a passive request to the backend, whose data address the I/O
//! layer connects to while it serves the client's side itself. Replies reach the client in the order
//! of its commands: a local answer waits behind the replies still due from the backend.

use std::net::{IpAddr, SocketAddr};

pub use super::{BackendData, Out, SessionInit};

use super::addr;
use super::command::{self, Command};
use super::reply::{self, Expect, Reply, ReplyQueue};
use super::settings::{Ccc, FtpSettings, SecureFtp, SecureLogin};

/// Commands forwarded (or answered behind forwarded ones) whose replies are still due; one more
/// closes the session with `421`.
pub const MAX_PENDING: usize = 64;

/// The control connection's protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Clear; AUTH may start TLS.
    AwaitingAuthTls,
    /// `234` sent, handshake not finished.
    Handshaking,
    /// TLS protects the control connection.
    Protected,
    /// CCC accepted; close_notify not finished.
    Stopping,
    /// Clear after CCC: no AUTH, PBSZ or PROT.
    ClearAfterCcc,
}

const NEED_PROT_P: &str = "Data connection cannot be opened with this PROT setting: PROT P";
const NEED_AUTH: &str = "Log in with AUTH TLS first: this server requires FTPS (SecureFtp Required)";

/// Served before AUTH TLS under `SecureFtp Required`: the security commands (answered here) and
/// commands that neither log in nor touch files.
const BEFORE_AUTH: &[&str] = &[
    "AUTH", "PBSZ", "PROT", "CCC", "ADAT", "MIC", "CONF", "ENC", "FEAT", "HELP", "NOOP", "QUIT", "SYST",
    "OPTS", "LANG",
];

/// A refused command: the reply code and why, in plain words.
type Refused = (u16, String);

fn no(code: u16, why: impl Into<String>) -> Refused {
    (code, why.into())
}

/// One FTP control session.
#[derive(Debug)]
pub struct Session {
    settings: FtpSettings,
    tls_available: bool,
    client_ip: IpAddr,
    control_v6: bool,
    backend_v6: bool,
    phase: Phase,
    client_cert: bool,
    cert_user_map: bool,
    /// The CertUserID of the client certificate, or why there is none.
    cert_user: Result<String, String>,
    pbsz: bool,
    prot_private: bool,
    epsv_all: bool,
    greeted: bool,
    closed: bool,
    pending: ReplyQueue,
}

impl Session {
    /// A session at its start: clear, or protected from the first byte if implicit (D25), where
    /// PBSZ counts as done and data protection starts Private (unless `SecureDataConn Never`).
    pub fn new(init: SessionInit) -> Self {
        let private = init.implicit && init.settings.secure_data.allows_protection();
        Session {
            phase: if init.implicit { Phase::Protected } else { Phase::AwaitingAuthTls },
            pbsz: init.implicit,
            prot_private: private,
            settings: init.settings,
            tls_available: init.tls_available,
            client_ip: addr::canonical(init.client_ip),
            control_v6: init.control_v6,
            backend_v6: init.backend_v6,
            client_cert: false,
            cert_user_map: init.cert_user_map,
            cert_user: Err("no client certificate".into()),
            epsv_all: false,
            greeted: false,
            closed: false,
            pending: ReplyQueue::default(),
        }
    }

    /// One client line (CR LF included).
    pub fn on_command(&mut self, line: &[u8]) -> Vec<Out> {
        if self.closed {
            return Vec::new();
        }
        let result = match command::parse(line) {
            Ok(cmd) => self.command(&cmd),
            Err(e) => Err(no(e.code(), e.to_string())),
        };
        result.unwrap_or_else(|(code, why)| self.answer(code, &why))
    }

    /// Added: a client line longer than [`command::MAX_LINE`] was discarded unread (the I/O layer
    /// need not buffer it); answered `500` in turn.
    pub fn on_overlong_line(&mut self) -> Vec<Out> {
        if self.closed {
            return Vec::new();
        }
        self.answer(500, &command::CommandError::TooLong.to_string())
    }

    fn command(&mut self, cmd: &Command) -> Result<Vec<Out>, Refused> {
        if self.phase == Phase::Handshaking {
            return Err(no(503, "TLS negotiation in progress"));
        }
        if self.needs_auth_first(&cmd.verb) {
            return Err(no(530, NEED_AUTH));
        }
        let arg = cmd.arg.trim();
        match cmd.verb.as_str() {
            "AUTH" => self.auth(arg),
            "PBSZ" => self.pbsz(),
            "PROT" => self.prot(arg),
            "CCC" => self.ccc(),
            "ADAT" => Err(no(503, "ADAT is for Kerberos (GSSAPI) only: use AUTH TLS")),
            "MIC" | "CONF" | "ENC" => Err(no(537, "Command protection not supported: TLS protects commands")),
            "USER" | "PASS" | "ACCT" => self.login(cmd),
            "FEAT" => Ok(self.forward(cmd, Expect::Feat)),
            "PASV" => self.passive(None),
            "EPSV" => self.passive(Some(arg)),
            "PORT" => self.port(addr::parse_port(arg).map(SocketAddr::V4), false),
            "EPRT" => self.port(addr::parse_eprt(arg), true),
            "LPSV" | "LPRT" => Err(no(502, "LPSV and LPRT are not implemented: use EPSV or EPRT")),
            "REIN" => Err(no(502, "REIN is not implemented: it would drop the security state")),
            v if command::is_transfer(v) => self.transfer(cmd),
            _ => Ok(self.forward(cmd, Expect::Plain)),
        }
    }

    /// Under `SecureFtp Required`, before TLS first protects the control connection, only the
    /// commands of [`BEFORE_AUTH`] are served: a backend that serves files without a login must not
    /// send them in clear. After CCC the login happened under TLS; only a new login is refused.
    fn needs_auth_first(&self, verb: &str) -> bool {
        self.settings.secure_ftp == SecureFtp::Required
            && self.phase == Phase::AwaitingAuthTls
            && !BEFORE_AUTH.contains(&verb)
    }

    fn auth(&mut self, mechanism: &str) -> Result<Vec<Out>, Refused> {
        match self.phase {
            Phase::Protected => return Err(no(503, "Already protected by TLS: AUTH once only")),
            Phase::Stopping | Phase::ClearAfterCcc => return Err(no(503, "AUTH is not accepted after CCC")),
            Phase::AwaitingAuthTls | Phase::Handshaking => {}
        }
        let m = mechanism.to_ascii_uppercase();
        if m.is_empty() {
            return Err(no(501, "AUTH needs a mechanism: AUTH TLS"));
        }
        if !matches!(m.as_str(), "TLS" | "TLS-C" | "SSL" | "TLS-P") {
            return Err(no(504, "AUTH mechanism not supported: use AUTH TLS"));
        }
        if !self.tls_available {
            return Err(no(534, "AUTH TLS refused: no TLS policy applies to this connection"));
        }
        self.phase = Phase::Handshaking;
        if matches!(m.as_str(), "SSL" | "TLS-P") && self.settings.secure_data.allows_protection() {
            // The drafts before RFC 4217 protected data from AUTH SSL / TLS-P on, without PBSZ.
            self.pbsz = true;
            self.prot_private = true;
        }
        let text = reply::line(234, &format!("AUTH {m} accepted: start the TLS handshake"));
        Ok(self.defer(vec![Out::ToClient(text), Out::StartTls]))
    }

    /// Refuses PBSZ and PROT unless TLS protects the control connection.
    fn security_phase(&self, verb: &str) -> Result<(), Refused> {
        match self.phase {
            Phase::Protected => Ok(()),
            Phase::Stopping | Phase::ClearAfterCcc => {
                Err(no(503, format!("{verb} is not accepted after CCC")))
            }
            Phase::AwaitingAuthTls | Phase::Handshaking => {
                Err(no(503, format!("{verb} needs AUTH TLS first")))
            }
        }
    }

    fn pbsz(&mut self) -> Result<Vec<Out>, Refused> {
        self.security_phase("PBSZ")?;
        self.pbsz = true;
        Ok(self.answer(200, "PBSZ=0"))
    }

    fn prot(&mut self, level: &str) -> Result<Vec<Out>, Refused> {
        self.security_phase("PROT")?;
        if !self.pbsz {
            return Err(no(503, "PROT needs PBSZ first"));
        }
        let data = self.settings.secure_data;
        let private = match level.to_ascii_uppercase().as_str() {
            "C" if data.requires_protection() => {
                return Err(no(
                    536,
                    format!("PROT C refused: data must be protected (SecureDataConn {data})"),
                ));
            }
            "P" if !data.allows_protection() => {
                return Err(no(536, "PROT P refused: data is never protected (SecureDataConn Never)"));
            }
            "C" => false,
            "P" => true,
            "S" | "E" => return Err(no(536, "PROT level not supported with TLS: use PROT C or PROT P")),
            _ => return Err(no(504, "PROT level unknown: use PROT C or PROT P")),
        };
        self.prot_private = private;
        Ok(self.answer(200, if private { "PROT now Private" } else { "PROT now Clear" }))
    }

    fn ccc(&mut self) -> Result<Vec<Out>, Refused> {
        if self.phase != Phase::Protected {
            return Err(no(533, "CCC needs a TLS-protected control connection"));
        }
        if self.settings.ccc == Ccc::Refused {
            return Err(no(534, "CCC refused by policy (Ccc Refused)"));
        }
        self.phase = Phase::Stopping;
        let text = reply::line(200, "CCC accepted: the control connection continues in clear");
        Ok(self.defer(vec![Out::ToClient(text), Out::StopTls]))
    }

    fn login(&mut self, cmd: &Command) -> Result<Vec<Out>, Refused> {
        let secure = self.phase == Phase::Protected;
        if self.settings.secure_ftp == SecureFtp::Required && !secure {
            return Err(no(530, NEED_AUTH));
        }
        let login = self.settings.secure_login;
        if cmd.verb == "USER" && secure && login.requires_certificate() && !self.client_cert {
            let why = format!("Log in refused: a client certificate is required (SecureLogin {login})");
            return Err(no(531, why));
        }
        if cmd.verb == "USER" && secure && login == SecureLogin::VerifyUser && self.cert_user_map {
            self.verify_user(&cmd.arg)?;
        }
        Ok(self.forward(cmd, Expect::Plain))
    }

    /// `SecureLogin VerifyUser` with a CertUserMap (D37, z/OS VERIFYUSER): USER must name the user
    /// the client certificate maps to, exactly; else 530, and the command goes nowhere.
    fn verify_user(&self, user: &str) -> Result<(), Refused> {
        match &self.cert_user {
            Ok(mapped) if mapped == user => Ok(()),
            Ok(_) => {
                tracing::warn!(msgid = crate::messages::FTP_LOGIN_OTHER_USER, user = ?user, "login refused: the client certificate maps to another user (SecureLogin VerifyUser)");
                Err(no(
                    530,
                    "Log in refused: the client certificate does not map to this user (SecureLogin VerifyUser)",
                ))
            }
            Err(why) => {
                tracing::warn!(msgid = crate::messages::FTP_LOGIN_NO_USER, rc = 5002, user = ?user, "login refused: no user ID for the certificate: {why}");
                Err(no(
                    530,
                    "Log in refused: the client certificate maps to no user ID (SecureLogin VerifyUser)",
                ))
            }
        }
    }

    /// PASV (`arg` `None`) or EPSV.
    fn passive(&mut self, arg: Option<&str>) -> Result<Vec<Out>, Refused> {
        let own = if self.control_v6 { "2" } else { "1" };
        match arg {
            None if self.control_v6 => {
                return Err(no(522, "PASV is IPv4 only: use EPSV on an IPv6 connection"));
            }
            None if self.epsv_all => return Err(no(503, "PASV is not accepted after EPSV ALL: use EPSV")),
            Some(a) if a.eq_ignore_ascii_case("ALL") => {
                self.epsv_all = true;
                return Ok(self.answer(200, "EPSV ALL ok"));
            }
            Some(a) if !a.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(no(501, "EPSV argument must be 1, 2 or ALL"));
            }
            Some(a) if !a.is_empty() && a != own => {
                return Err(no(522, format!("Network protocol not supported, use ({own})")));
            }
            None | Some(_) => {}
        }
        Ok(self.backend_passive(Expect::Passive { extended: arg.is_some() }))
    }

    fn port(&mut self, target: Option<SocketAddr>, extended: bool) -> Result<Vec<Out>, Refused> {
        let verb = if extended { "EPRT" } else { "PORT" };
        if self.epsv_all {
            return Err(no(503, format!("{verb} is not accepted after EPSV ALL: use EPSV")));
        }
        let Some(target) = target else {
            let form = if extended { "|1|a.b.c.d|port| or |2|ipv6|port|" } else { "h1,h2,h3,h4,p1,p2" };
            return Err(no(501, format!("Syntax error in {verb} argument: expected {form}")));
        };
        let ip = addr::canonical(target.ip());
        if ip != self.client_ip {
            let client = self.client_ip;
            let why =
                format!("{verb} refused: {ip} is not the client's address {client} (FTP bounce, port theft)");
            return Err(no(501, why));
        }
        let client = SocketAddr::new(ip, target.port());
        Ok(self.backend_passive(Expect::Active { client, extended }))
    }

    fn transfer(&mut self, cmd: &Command) -> Result<Vec<Out>, Refused> {
        let data = self.settings.secure_data;
        if data.requires_protection() && !self.prot_private {
            let why = format!("{NEED_PROT_P} is required (SecureDataConn {data})");
            return Err(no(521, why));
        }
        let mut out = self.forward(cmd, Expect::Transfer);
        if !self.closed {
            let upload = command::is_upload(&cmd.verb);
            out.push(Out::BeginTransfer { protect: self.prot_private, upload });
        }
        Ok(out)
    }

    /// Asks the backend for a passive data address (EPSV to an IPv6 backend, else PASV).
    fn backend_passive(&mut self, expect: Expect) -> Vec<Out> {
        let line = if self.backend_v6 { "EPSV\r\n" } else { "PASV\r\n" };
        self.send(expect, Out::ToBackend(line.to_owned()))
    }

    /// Forwards the client's command as it sent it (telnet-encoded again).
    fn forward(&mut self, cmd: &Command, expect: Expect) -> Vec<Out> {
        let out = match String::from_utf8(cmd.wire()) {
            Ok(text) => Out::ToBackend(text),
            Err(e) => Out::ToBackendRaw(e.into_bytes()),
        };
        self.send(expect, out)
    }

    fn send(&mut self, expect: Expect, out: Out) -> Vec<Out> {
        self.queue(expect, vec![out])
    }

    /// A local one-line answer, in turn.
    fn answer(&mut self, code: u16, text: &str) -> Vec<Out> {
        self.defer(vec![Out::ToClient(reply::line(code, text))])
    }

    /// Local actions: now if no reply is due, else after the replies due.
    fn defer(&mut self, outs: Vec<Out>) -> Vec<Out> {
        if self.pending.is_empty() { outs } else { self.queue(Expect::Local(outs), Vec::new()) }
    }

    /// Queues `expect` and returns `now`; beyond [`MAX_PENDING`], `421` and close instead.
    fn queue(&mut self, expect: Expect, now: Vec<Out>) -> Vec<Out> {
        if self.pending.len() < MAX_PENDING {
            self.pending.push(expect);
            return now;
        }
        self.closed = true;
        self.pending.clear();
        let text = reply::line(421, "Too many commands waiting for replies: closing the control connection");
        vec![Out::ToClient(text), Out::Close]
    }

    /// One complete backend reply.
    pub fn on_reply(&mut self, reply: &Reply) -> Vec<Out> {
        if self.closed {
            return Vec::new();
        }
        let greeting = !self.greeted && reply.code == 220;
        self.greeted |= !reply.is_preliminary();
        if reply.is_preliminary() || greeting || reply.code == 421 {
            // 1xx: more to come; the greeting and 421 (closing) answer no command.
            return vec![Out::ToClient(reply.text.clone())];
        }
        self.pending.finish(reply, self.tls_available)
    }

    /// TLS handshake finished after AUTH (in implicit mode: call once after `new`, to record the
    /// certificate). `client_cert`: a validated client certificate was presented.
    pub fn tls_started(&mut self, client_cert: bool) {
        if matches!(self.phase, Phase::Handshaking | Phase::Protected) {
            self.phase = Phase::Protected;
            self.client_cert = client_cert;
        }
    }

    /// The CertUserID of the handshake's client certificate (`Err`: why there is none); call
    /// after [`Session::tls_started`].
    pub fn set_cert_user(&mut self, user: Result<String, String>) {
        self.cert_user = user;
    }

    /// TLS handshake after AUTH failed. The session is clear again, but the I/O layer should close
    /// the connection: the client's stream is in an unknown state.
    pub fn tls_failed(&mut self) {
        if self.phase == Phase::Handshaking {
            self.phase = Phase::AwaitingAuthTls;
            self.pbsz = false;
            self.prot_private = false;
        }
    }

    /// close_notify after CCC done: clear from now on.
    pub fn tls_stopped(&mut self) {
        if self.phase == Phase::Stopping {
            self.phase = Phase::ClearAfterCcc;
        }
    }

    /// Whether a data plan (the reply to a PASV/EPSV/PORT/EPRT) is still to come from the backend.
    pub fn plan_pending(&self) -> bool {
        self.pending.plan_pending()
    }

    /// TLS protects the control connection.
    pub fn secure(&self) -> bool {
        self.phase == Phase::Protected
    }

    /// PROT P is in force: data connections are protected.
    pub fn protect_data(&self) -> bool {
        self.prot_private
    }

    /// The control connection's protection in words, for logs and netstat.
    pub fn status_word(&self) -> &'static str {
        match self.phase {
            Phase::AwaitingAuthTls => "clear",
            Phase::Handshaking => "TLS handshake",
            Phase::Protected => "secure",
            Phase::Stopping => "clearing (CCC)",
            Phase::ClearAfterCcc => "clear after CCC",
        }
    }
}

#[cfg(test)]
mod tests;
