//! Signals: SIGHUP refreshes the policy (z/OS `F PAGENT,REFRESH`); SIGTERM and SIGINT end the agent.

use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tracing::warn;

use super::{Agent, ReloadCause};

pub async fn refresh_on_signal(agent: Arc<Agent>) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!("cannot install the SIGHUP handler; refresh with `pagent refresh`");
        return;
    };
    while hup.recv().await.is_some() {
        let _ = agent.reload(ReloadCause::Signal).await;
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn terminate() {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
