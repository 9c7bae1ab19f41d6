//! The systemd notify protocol (sd_notify(3)), spoken by the agent itself when it is started with
//! `NOTIFY_SOCKET` (a `Type=notify` unit: `dist/systemd/pagent.service`): `READY=1` once every
//! listener, the demo backend and the control socket are bound; `RELOADING=1` with
//! `MONOTONIC_USEC` before each refresh and `READY=1` after it, installed or not; `STOPPING=1` at
//! shutdown; `WATCHDOG=1` every half `WATCHDOG_USEC` (unless `WATCHDOG_PID` names another
//! process); `STATUS=` with the generation in force and the live connections. Without
//! `NOTIFY_SOCKET` every call does nothing. Sending is best effort: a datagram that cannot be sent
//! is logged at debug level and the agent carries on.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tracing::debug;

/// Where notifications go, if anywhere.
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The socket `NOTIFY_SOCKET` names (a path, or `@name` in the abstract namespace).
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else { return Notifier::default() };
        let name = name.to_string_lossy().into_owned();
        let addr = match name.strip_prefix('@') {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
            None => SocketAddr::from_pathname(&name),
        };
        match (UnixDatagram::unbound(), addr) {
            (Ok(socket), Ok(addr)) => Notifier { target: Some((socket, addr)) },
            (Err(e), _) | (_, Err(e)) => {
                debug!(socket = %name, "NOTIFY_SOCKET unusable: {e}");
                Notifier::default()
            }
        }
    }

    /// Sends one notification (`KEY=value` lines).
    pub fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(message.as_bytes(), addr)
        {
            debug!("systemd notification not sent: {e}");
        }
    }

    /// `READY=1` with the status line.
    pub fn ready(&self, generation: u64, live: usize) {
        self.send(&format!("READY=1\nSTATUS={}", status(generation, live)));
    }

    /// `RELOADING=1` with the monotonic clock, as systemd wants it before a reload.
    pub fn reloading(&self) {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let usec = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000
            + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000;
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=refreshing the policy"));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=shutting down");
    }

    /// How often to send `WATCHDOG=1` (half the `WATCHDOG_USEC` systemd asks for), if it asks this
    /// process.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.target.as_ref()?;
        let pid = std::env::var("WATCHDOG_PID").ok();
        if pid.is_some_and(|p| p.trim() != std::process::id().to_string()) {
            return None;
        }
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }
}

/// The `STATUS=` text.
pub fn status(generation: u64, live: usize) -> String {
    format!("policy generation {generation}, {live} live connections")
}
