//! The TN3270 helper (docs/policy-reference.md#tn3270-helper): direct or negotiated (telnet
//! START_TLS) TLS in front of an unmodified TN3270 server.
//!
//! - [`settings`]: the listener's `ConnType`, `ClientAuth` and `StartTlsWait`.
//! - [`telnet`]: telnet bytes and an incremental parser, no I/O.
//! - [`negotiate`]: the per-connection decision (direct TLS, START_TLS, clear, close), no I/O.
//! - [`serve`]: the connection's I/O: the decision, then the backend, then the relay.

use crate::engine::{Handover, Helper, Serving};

pub mod negotiate;
pub mod serve;
pub mod settings;
pub mod telnet;

/// The TN3270 helper as the engine sees it.
pub struct Tn3270;

impl Helper for Tn3270 {
    fn serve(&self, conn: Handover) -> Serving {
        Box::pin(serve::serve(conn))
    }
}
