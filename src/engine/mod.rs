//! The per-connection engine. Every connection takes one path ([`pipeline`]): accept
//! ([`listener`]), identify ([`identify`]), map ([`mapping`]), secure ([`handshake`], with the
//! configurations of [`tls`]), relay ([`relay`]), close. [`phase`] makes the order a matter of types;
//! [`stream`] is the TLS-capable side in either role; [`applctl`] serves application-controlled
//! connections, reached through [`controls`]; [`context`] is all the engine knows of the agent;
//! [`client_trust`] finds client-authentication trust that includes the server's own issuers;
//! [`dry_run`] tells what installing a candidate generation would change.
//!
//! The protocol helpers (FTP, TN3270) drive TLS on their connections through the items re-exported
//! here; they need nothing else of the engine's insides.

pub mod applctl;
pub mod certs;
pub mod client_hello;
pub mod client_trust;
pub mod context;
pub mod controls;
pub mod dry_run;
pub mod fips;
pub mod generation;
pub mod handshake;
pub mod identify;
pub mod listener;
pub mod mapping;
pub mod phase;
pub mod pipeline;
pub mod record;
pub mod rekey;
pub mod relay;
pub mod revocation;
pub mod sessions;
pub mod sockets;
pub mod stream;
pub mod tls;

// What the protocol helpers use of the engine, and all they use (tests/layering.rs checks it).
pub use context::{Context, Handover, Helper, Serving};
pub use generation::Generation;
pub use handshake::{DIRECT, HandshakeFailed, NotStarted, Secure, Trace, secure, unsecure};
pub use identify::Accepted;
pub use mapping::{Mapping, Primary, Request, map};
pub use phase::{ClearBy, Ready, Secured};
pub use pipeline::{finish, open_backend};
pub use record::{starts_handshake_record, too_short_for_record};
pub use relay::{Flow, Held, RelayFailure, relay, relay_strict};
pub use sessions::EnvSessions;
pub use sockets::{connect_from, is_local, reset_on_close, transparent_listener};
pub use stream::{Prefixed, Side};
pub use tls::{TlsEnv, apply_sessions};
