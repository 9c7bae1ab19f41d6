//! The TN3270 helper (docs/policy-reference.md#tn3270-helper): direct or negotiated (telnet
//! START_TLS) TLS in front of an unmodified TN3270 server.
//!
//! - [`settings`]: the listener's `ConnType`, `ClientAuth` and `StartTlsWait`.
//! - [`telnet`]: telnet bytes and an incremental parser, no I/O.
//! - [`negotiate`]: the per-connection decision (direct TLS, START_TLS, clear, close), no I/O.
//! - [`serve`]: the connection's I/O: the decision, then the backend, then the relay.

pub mod negotiate;
pub mod serve;
pub mod settings;
pub mod telnet;
