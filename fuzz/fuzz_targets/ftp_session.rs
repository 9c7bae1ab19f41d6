//! Fuzz target `ftp_session`: the FTP control session (`attls::ftp::session::Session`) driven by a
//! script decoded from the input with `arbitrary`: the listener's settings, then client commands
//! (the usual ones of curl, lftp and ftplib, or any bytes), backend replies (canned, or any bytes
//! through a `ReplyParser`), and the TLS events the I/O layer reports (only after the session asked
//! for them). The byte format is in docs/fuzzing.md.
//!
//! Asserts what the session promises:
//! - a transfer begins with the protection PROT set (`protect_data()`): always protected under
//!   `SecureDataConn Private`/`Safe`, never under `Never`; it follows the forwarded transfer
//!   command and says upload for STOR, STOU and APPE only;
//! - under `SecureFtp Required` nothing but FEAT, HELP, NOOP, QUIT, SYST, OPTS and LANG reaches the
//!   backend before TLS first protects the control connection (no login, no transfer, no data
//!   plan), and no USER, PASS or ACCT unless TLS protects it; under `SecureLogin Required`/`VerifyUser` no USER without a client
//!   certificate;
//! - replies reach the client in the order of its commands: a local answer comes at once when
//!   nothing is due, and otherwise waits (never at the head of the queue); at most `MAX_PENDING`
//!   replies are due, one more closes with 421, and after `Close` every input is ignored;
//! - a transfer's final reply becomes its `TransferReply`, a data plan's its `OpenPassive`,
//!   `ActiveReady` or `PlanFailed`; `plan_pending()` says whether one is due;
//! - START_TLS only with a TLS rule; a failed handshake leaves data unprotected.

#![no_main]

use std::collections::VecDeque;

use arbitrary::Unstructured;
use attls::ftp::command;
use attls::ftp::reply::Reply;
use attls::ftp::session::{MAX_PENDING, Out, Session};
use attls::ftp::settings::{SecureDataConn, SecureFtp};
use attls_fuzz::ftp_script::{Event, Script};
use libfuzzer_sys::fuzz_target;

/// What a due reply answers, as the outputs show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// A forwarded command.
    Forwarded,
    /// A forwarded transfer command (a `BeginTransfer` came with it).
    Transfer,
    /// PASV/EPSV asked of the backend for the client's data plan.
    Plan,
    /// A local answer waiting behind the others.
    Local,
}

/// The checker: the session, and what its outputs so far say is due.
struct Model {
    script_settings: attls::ftp::settings::FtpSettings,
    tls_available: bool,
    session: Session,
    due: VecDeque<Due>,
    closed: bool,
    greeted: bool,
    handshake_asked: bool,
    /// The handshake asked for follows AUTH (not the implicit one at the start).
    after_auth: bool,
    stop_asked: bool,
    client_cert: bool,
    /// TLS has protected the control connection at some point (a CCC may have ended it since).
    ever_secured: bool,
}

/// What may reach the backend before AUTH TLS under `SecureFtp Required`.
const BEFORE_AUTH: [&str; 7] = ["FEAT", "HELP", "NOOP", "QUIT", "SYST", "OPTS", "LANG"];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let script = Script::decode(&mut u);
    let mut m = Model {
        script_settings: script.init.settings.clone(),
        tls_available: script.init.tls_available,
        handshake_asked: script.init.implicit,
        after_auth: false,
        session: Session::new(script.init),
        due: VecDeque::new(),
        closed: false,
        greeted: false,
        stop_asked: false,
        client_cert: false,
        ever_secured: false,
    };
    // Implicit FTPS: protected from the first byte.
    m.ever_secured = m.session.secure();
    for event in script.events {
        let go_on = m.step(event);
        m.ever_secured |= m.session.secure();
        m.check_state();
        if !go_on {
            // The I/O layer closes the connection after a failed handshake.
            break;
        }
    }
});

impl Model {
    /// Feeds one event; false when the I/O layer would close the connection.
    fn step(&mut self, event: Event) -> bool {
        match event {
            Event::Command(line) => {
                let outs = self.session.on_command(&line);
                self.command(Some(&line), &outs);
            }
            Event::Overlong => {
                let outs = self.session.on_overlong_line();
                self.command(None, &outs);
            }
            Event::Reply(reply) => {
                let outs = self.session.on_reply(&reply);
                self.reply(&reply, &outs);
            }
            Event::TlsStarted(cert) if self.handshake_asked => {
                self.handshake_asked = false;
                self.client_cert = cert;
                self.session.tls_started(cert);
            }
            Event::TlsFailed if self.handshake_asked => {
                self.handshake_asked = false;
                self.session.tls_failed();
                if self.after_auth {
                    assert!(!self.session.protect_data(), "PROT P survived a failed handshake");
                    assert!(!self.session.secure());
                }
                return false;
            }
            Event::TlsStopped if self.stop_asked => {
                self.stop_asked = false;
                self.session.tls_stopped();
            }
            Event::TlsStarted(_) | Event::TlsFailed | Event::TlsStopped => {}
        }
        true
    }

    /// The outputs of one client line (`None`: an overlong line).
    fn command(&mut self, line: Option<&[u8]>, outs: &[Out]) {
        if self.closed {
            assert!(outs.is_empty(), "input after Close: {outs:?}");
            return;
        }
        self.scan(outs);
        let was_due = !self.due.is_empty();
        let forwarded = outs.iter().position(|o| matches!(o, Out::ToBackend(_) | Out::ToBackendRaw(_)));
        if outs.contains(&Out::Close) {
            assert_eq!(self.due.len(), MAX_PENDING, "closed before the queue was full");
            assert!(matches!(&outs[0], Out::ToClient(t) if t.starts_with("421 ")), "{outs:?}");
            self.closed = true;
            self.due.clear();
        } else if let Some(i) = forwarded {
            self.before_auth(line);
            let begin = outs.iter().position(|o| matches!(o, Out::BeginTransfer { .. }));
            let kind = match (&outs[i], begin) {
                (_, Some(b)) => {
                    assert_eq!(b, i + 1, "BeginTransfer does not follow its command: {outs:?}");
                    self.transfer(line, &outs[b]);
                    Due::Transfer
                }
                (Out::ToBackend(t), None) if t == "PASV\r\n" || t == "EPSV\r\n" => Due::Plan,
                _ => {
                    self.forwarded(line);
                    Due::Forwarded
                }
            };
            assert_eq!(outs.len(), i + 1 + usize::from(kind == Due::Transfer), "{outs:?}");
            self.due.push_back(kind);
        } else if outs.is_empty() {
            assert!(was_due, "a local answer vanished with nothing due");
            self.due.push_back(Due::Local);
        } else {
            assert!(!was_due, "a local answer overtook the replies due: {outs:?}");
        }
    }

    /// Under `SecureFtp Required`, a command forwarded before TLS ever protected the control
    /// connection is one of [`BEFORE_AUTH`].
    fn before_auth(&self, line: Option<&[u8]>) {
        if self.script_settings.secure_ftp != SecureFtp::Required || self.ever_secured {
            return;
        }
        let cmd = command::parse(line.unwrap_or_default()).expect("a forwarded line parses");
        assert!(BEFORE_AUTH.contains(&cmd.verb.as_str()), "{} reached the backend before AUTH TLS", cmd.verb);
    }

    /// A transfer command was forwarded and `begin` starts its data connection.
    fn transfer(&self, line: Option<&[u8]>, begin: &Out) {
        let Out::BeginTransfer { protect, upload } = *begin else { unreachable!() };
        let cmd = command::parse(line.unwrap_or_default()).expect("a forwarded line parses");
        assert!(command::is_transfer(&cmd.verb), "{} began a transfer", cmd.verb);
        assert_eq!(upload, command::is_upload(&cmd.verb), "{}", cmd.verb);
        assert_eq!(protect, self.session.protect_data(), "transfer protection differs from PROT");
        let data = self.script_settings.secure_data;
        if data.requires_protection() {
            assert!(protect, "clear transfer under SecureDataConn {data}");
        }
        if data == SecureDataConn::Never {
            assert!(!protect, "protected transfer under SecureDataConn Never");
        }
    }

    /// A command other than a transfer or data plan was forwarded.
    fn forwarded(&self, line: Option<&[u8]>) {
        let cmd = command::parse(line.unwrap_or_default()).expect("a forwarded line parses");
        let secure = self.session.secure();
        if ["USER", "PASS", "ACCT"].contains(&cmd.verb.as_str()) {
            let s = &self.script_settings;
            assert!(s.secure_ftp != SecureFtp::Required || secure, "{} forwarded in clear", cmd.verb);
            if cmd.verb == "USER" && secure && s.secure_login.requires_certificate() {
                assert!(self.client_cert, "USER forwarded without a client certificate");
            }
        }
        assert!(
            !command::is_transfer(&cmd.verb) && !["AUTH", "PBSZ", "PROT", "CCC"].contains(&cmd.verb.as_str())
        );
    }

    /// The outputs of one backend reply.
    fn reply(&mut self, reply: &Reply, outs: &[Out]) {
        if self.closed {
            assert!(outs.is_empty(), "input after Close: {outs:?}");
            return;
        }
        self.scan(outs);
        let greeting = !self.greeted && reply.code == 220;
        self.greeted |= !reply.is_preliminary();
        if reply.is_preliminary() || greeting || reply.code == 421 {
            assert_eq!(outs, [Out::ToClient(reply.text.clone())]);
            return;
        }
        let first = outs.first();
        match self.due.pop_front() {
            None => assert_eq!(outs, [Out::ToClient(reply.text.clone())]),
            Some(Due::Forwarded) => assert!(matches!(first, Some(Out::ToClient(_))), "{outs:?}"),
            Some(Due::Transfer) => {
                let expect = Out::TransferReply { reply: reply.text.clone(), positive: reply.is_positive() };
                assert_eq!(first, Some(&expect));
            }
            Some(Due::Plan) => assert!(
                matches!(first, Some(Out::OpenPassive { .. } | Out::ActiveReady { .. } | Out::PlanFailed)),
                "{outs:?}"
            ),
            Some(Due::Local) => panic!("a local answer was at the head of the queue"),
        }
        while self.due.front() == Some(&Due::Local) {
            self.due.pop_front();
        }
    }

    /// START_TLS and CCC requests in any output.
    fn scan(&mut self, outs: &[Out]) {
        for (i, o) in outs.iter().enumerate() {
            match o {
                Out::StartTls => {
                    assert!(self.tls_available, "StartTls without a TLS rule");
                    assert!(i > 0 && matches!(&outs[i - 1], Out::ToClient(t) if t.starts_with("234 ")));
                    self.handshake_asked = true;
                    self.after_auth = true;
                }
                Out::StopTls => {
                    assert!(i > 0 && matches!(&outs[i - 1], Out::ToClient(t) if t.starts_with("200 ")));
                    self.stop_asked = true;
                }
                _ => {}
            }
        }
    }

    /// Invariants after every input.
    fn check_state(&self) {
        assert!(self.due.len() <= MAX_PENDING, "{} replies due", self.due.len());
        assert_ne!(self.due.front(), Some(&Due::Local), "a local answer at the head of the queue");
        assert_eq!(self.session.plan_pending(), self.due.contains(&Due::Plan), "plan_pending()");
        if self.script_settings.secure_data == SecureDataConn::Never {
            assert!(!self.session.protect_data(), "PROT P under SecureDataConn Never");
        }
    }
}
