//! Signals: SIGHUP refreshes the policy (z/OS `F PAGENT,REFRESH`); SIGTERM and SIGINT end the agent;
//! SIGUSR1 reopens the audit log (log rotation, docs/audit.md), and is only logged without one.
//! The handlers are installed by [`Signals::install`] before the agent reports that it is ready, so a
//! signal sent right after start is never lost or fatal.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{Agent, ReloadCause};
use crate::audit::AuditLog;

pub struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
    usr1: Signal,
}

impl Signals {
    pub fn install() -> Result<Signals, super::StartError> {
        let make = |k: SignalKind, signal_name: &'static str| {
            signal(k).map_err(|source| super::StartError::Signal { signal: signal_name, source })
        };
        Ok(Signals {
            hup: make(SignalKind::hangup(), "SIGHUP")?,
            term: make(SignalKind::terminate(), "SIGTERM")?,
            int: make(SignalKind::interrupt(), "SIGINT")?,
            usr1: make(SignalKind::user_defined1(), "SIGUSR1")?,
        })
    }

    /// Splits into the refresh loop (SIGHUP), the termination wait (SIGTERM, SIGINT) and the
    /// audit log's reopen loop (SIGUSR1).
    pub fn split(self) -> (Hangups, Terminations, Reopens) {
        (Hangups(self.hup), Terminations { term: self.term, int: self.int }, Reopens(self.usr1))
    }
}

pub struct Reopens(Signal);

impl Reopens {
    pub async fn reopen_on_signal(mut self, audit: Option<std::sync::Arc<AuditLog>>) {
        while self.0.recv().await.is_some() {
            match &audit {
                Some(a) => a.reopen(),
                None => tracing::info!(msgid = crate::messages::AUDIT_NONE, "SIGUSR1: no AuditLog to reopen"),
            }
        }
    }
}

pub struct Hangups(Signal);

impl Hangups {
    pub async fn refresh_on_signal(mut self, agent: Arc<Agent>) {
        while self.0.recv().await.is_some() {
            let _ = agent.reload(ReloadCause::Signal).await;
        }
    }
}

pub struct Terminations {
    term: Signal,
    int: Signal,
}

impl Terminations {
    /// Completes on SIGTERM or SIGINT.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
