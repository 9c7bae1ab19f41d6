//! The FTP helper (docs/policy-reference.md#ftp-helper): attls plays the AT-TLS-aware FTP server in
//! front of an unmodified plaintext FTP server.
//!
//! The protocol core is free of I/O: [`command`] parses client lines, [`reply`] backend replies,
//! [`addr`] the data-address syntax, [`feat`] the FEAT rewrite, and [`session`] is the control
//! connection's state machine that turns both into [`Out`] actions for the I/O layer. [`settings`]
//! holds the listener's FTP.DATA-like settings. The I/O layer is [`control`] (the control
//! connection: the session's actions, AUTH TLS and CCC) and [`data`] (passive and active data
//! connections, SecondaryMap, session reuse). The session's public types live here and are
//! re-exported by [`session`].

use crate::engine::{Handover, Helper, Serving};
use std::net::{IpAddr, SocketAddr};

pub use addr::BackendData;
use settings::FtpSettings;

pub mod addr;
pub mod command;
pub mod control;
pub mod data;
pub mod feat;
pub mod reply;
pub mod session;
pub mod settings;
pub mod tls;
pub mod transfer;

/// What a [`session::Session`] is created with.
#[derive(Clone, Debug)]
pub struct SessionInit {
    /// The listener's settings.
    pub settings: FtpSettings,
    /// A rule with TLS (server role) applies: AUTH can be accepted.
    pub tls_available: bool,
    /// D25: TLS from the first byte; data protection starts Private (Clear under
    /// `SecureDataConn Never`).
    pub implicit: bool,
    /// The control connection's client.
    pub client_ip: IpAddr,
    /// The control connection is IPv6.
    pub control_v6: bool,
    /// The backend control connection is IPv6 (attls asks it EPSV, else PASV).
    pub backend_v6: bool,
    /// A `CertUserMap` is in force: `SecureLogin VerifyUser` checks USER against it (D37).
    pub cert_user_map: bool,
}

/// An action for the I/O layer; a call's actions are carried out in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Send these bytes to the client on the control connection (current protection).
    ToClient(String),
    /// Send this command line (with `\r\n`) to the backend.
    ToBackend(String),
    /// Added: as `ToBackend`, for a forwarded line that is not UTF-8 (a Latin-1 file name, an
    /// escaped `0xFF`): the exact bytes, `\r\n` included.
    ToBackendRaw(Vec<u8>),
    /// After the preceding `ToClient` (234) is written in clear: TLS handshake as server. Bytes the
    /// client sent after the AUTH line belong to the handshake.
    StartTls,
    /// After the preceding `ToClient` (200 for CCC) is written under TLS: close_notify, carry on clear.
    StopTls,
    /// The backend accepted PASV/EPSV: open attls's own passive listener and write `227`
    /// ([`addr::format_227`]) or, if `extended`, `229` ([`addr::format_229`]) to the client.
    OpenPassive { backend: BackendData, extended: bool },
    /// The backend is in passive mode for a client PORT/EPRT; the `200` follows as `ToClient`.
    ActiveReady { backend: BackendData, client: SocketAddr },
    /// A transfer command was forwarded: start the data connection (TLS if `protect`; the data flows
    /// from the client if `upload`). With pipelined commands it may come before the
    /// `OpenPassive`/`ActiveReady` of the PASV/PORT sent before it
    /// ([`session::Session::plan_pending`] says whether one is on its way).
    BeginTransfer { protect: bool, upload: bool },
    /// The backend refused (or garbled) a PASV/EPSV for the client's PASV/EPSV/PORT/EPRT: no data plan
    /// comes from it; a transfer waiting for one is dropped.
    PlanFailed,
    /// The final reply of a transfer. A positive one waits for the data connection's outcome: the I/O
    /// layer writes `reply` once the data has all been delivered, `522` with the reason if it
    /// refused the data connection (no TLS, no session reuse), `426` if the data connection broke
    /// (a reset, a TLS stream cut without close_notify). Transfers and their replies pair up in order.
    TransferReply { reply: String, positive: bool },
    /// Added: close the control connection after writing the preceding `ToClient`; the session
    /// ignores all later input.
    Close,
}

/// The FTP helper as the engine sees it.
pub struct Ftp;

impl Helper for Ftp {
    fn serve(&self, conn: Handover) -> Serving {
        Box::pin(control::serve(conn))
    }
}
