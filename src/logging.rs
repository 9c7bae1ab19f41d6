//! Where the agent's log goes (`Log` in the main configuration): standard error, as text or JSON
//! lines (the default; journald captures it under systemd), or the local syslog socket
//! ([`syslog::SyslogLayer`]). Every line an operator may act on carries its ID
//! ([`crate::messages`]) as the `msgid` field.
//!
//! `Log Syslog` with no syslog socket at start is not a start error: the log goes to standard
//! error with a warning (ATL0012W), so an agent whose syslog daemon is late or absent still serves
//! and still logs somewhere (under systemd stderr reaches the journal).

mod frame;
mod sink;
mod syslog;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use frame::{Facility, Framing, MAX_DATAGRAM, TAG};
pub use sink::{QUEUE, SEND_WAIT};
pub use syslog::SyslogLayer;

use crate::config::LogTarget;
use crate::messages;

/// The syslog socket used unless [`SOCKET_ENV`] names another.
pub const DEFAULT_SOCKET: &str = "/dev/log";

/// Environment variable naming another syslog socket than `/dev/log`: for tests, and for a
/// syslog daemon listening elsewhere (e.g. a chroot's or container's socket).
pub const SOCKET_ENV: &str = "ATTLS_SYSLOG_SOCKET";

/// The syslog socket: [`SOCKET_ENV`] if set and not empty, else `/dev/log`.
pub fn socket_path() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| DEFAULT_SOCKET.into(), PathBuf::from)
}

/// Installs the process's log subscriber: `target` from the main configuration, `json` for JSON
/// lines on stderr, `level` unless RUST_LOG says otherwise. True when the log goes to syslog. A
/// second call changes nothing.
pub fn init(target: LogTarget, json: bool, level: &str) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let framing = match target {
        LogTarget::Stderr => {
            stderr(filter, json);
            return false;
        }
        LogTarget::Syslog => Framing::Rfc3164,
        LogTarget::SyslogRfc5424 => Framing::Rfc5424,
    };
    let path = socket_path();
    match SyslogLayer::open(&path, framing) {
        Ok(layer) => {
            let sink = layer.sink();
            let installed = tracing_subscriber::registry().with(filter).with(layer).try_init().is_ok();
            if installed {
                let _ = SYSLOG.set(sink);
            }
            installed
        }
        Err(e) => {
            stderr(filter, json);
            tracing::warn!(
                msgid = messages::SYSLOG_UNAVAILABLE,
                socket = %path.display(),
                "Log Syslog: the syslog socket cannot be reached ({e}); the log goes to standard error"
            );
            false
        }
    }
}

/// The syslog sink in use, if any (for [`flush`]).
static SYSLOG: OnceLock<Arc<sink::Sink>> = OnceLock::new();

/// Waits up to `wait` for the log lines queued for syslog to be sent: before the process exits.
pub fn flush(wait: Duration) {
    if let Some(sink) = SYSLOG.get() {
        sink.flush(wait);
    }
}

/// Text or JSON lines on standard error.
fn stderr(filter: EnvFilter, json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Records `facility` (a rule's `SyslogFacility`: `Daemon` or `Auth`) on the current span, whose
/// later events then go to that syslog facility. The span must declare a `facility` field
/// (`facility = tracing::field::Empty`); otherwise this does nothing.
pub fn note_facility(facility: &str) {
    tracing::Span::current().record("facility", facility);
}
