//! The TLS configurations of one FTP session. Its control connection and its data connections share
//! a session cache and ticket keys of their own (with the lifetimes of the rule's environment),
//! built from the rule's server configuration when the session starts, so a data connection that
//! resumes a TLS session can only have resumed one born on this control connection
//! (`SessionReuse Required`, RFC 4217 §10.2): this holds for TLS 1.2 session IDs and tickets and for
//! TLS 1.3 tickets alike. Data connections send no TLS 1.3 session tickets: nobody resumes from them,
//! and an uploading client never reads them, so at its close its kernel would answer the unread
//! ticket with a reset and drop the upload's last bytes.

use std::sync::Arc;

use rustls::ServerConfig;

use crate::engine::{EnvSessions, TlsEnv, apply_sessions};

/// Sessions one FTP session may hold: the control connection's, a few spare for a client that
/// renegotiates its data sessions.
const SESSIONS_PER_FTP_SESSION: usize = 8;

/// The configurations of one FTP session's connections.
pub struct SessionTls {
    /// The control connection: issues the session the data connections resume.
    pub control: Arc<TlsEnv>,
    /// Data connections of the control connection's rule: the same cache and ticket keys, no tickets.
    pub data: Arc<TlsEnv>,
    /// The FTP session's own session state (its lifetimes and how many sessions expired).
    pub sessions: Arc<EnvSessions>,
}

impl SessionTls {
    /// Scoped copies of `env`'s server configuration; `None` when the rule has none (Client role).
    pub fn new(env: &TlsEnv) -> Option<SessionTls> {
        let base = env.server.as_deref()?;
        let sessions = Arc::new(env.sessions.as_ref()?.scoped(SESSIONS_PER_FTP_SESSION));
        let mut control = base.clone();
        apply_sessions(&mut control, &sessions, base.send_tls13_tickets);
        let data = without_tickets(&control);
        let wrap = |c: ServerConfig, s: &Arc<EnvSessions>| {
            Arc::new(TlsEnv { server: Some(Arc::new(c)), client: None, sessions: Some(s.clone()) })
        };
        Some(SessionTls { control: wrap(control, &sessions), data: wrap(data, &sessions), sessions })
    }
}

/// A data connection's configuration: `base` without TLS 1.3 session tickets.
pub fn without_tickets(base: &ServerConfig) -> ServerConfig {
    let mut data = base.clone();
    data.send_tls13_tickets = 0;
    data
}
