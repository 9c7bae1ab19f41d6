//! attls: Application Transparent TLS for Linux.
//!
//! z/OS AT-TLS policies (`TTLSRule`, `TTLSGroupAction`, `TTLSEnvironmentAction`, …) read by a policy
//! agent, `pagent`, and applied by a sidecar TLS proxy in front of unmodified plaintext servers.
//!
//! # Layout
//! - [`policy`]: the policy language — parser, diagnostics, rule table, matching.
//! - [`config`]: the main configuration (`pagent.conf`): policy files, listeners, control socket.
//! - [`agent`]: a running agent — policy generations, refresh, signals, file watching, shutdown.
//! - [`audit`]: per-connection audit records (`AuditLog`), the zERT / SMF 119 counterpart.
//! - [`engine`]: per connection — accept, map, TLS, relay.
//! - [`ftp`], [`tn3270`]: the protocol helpers that play the controlling application.
//! - [`intercept`]: transparent mode's nftables rules and marks.
//! - [`keyring`]: PEM keyrings and the generated development keyring.
//! - [`certmap`]: `CertUserMap`, the client certificate's Linux user (CertUserID).
//! - [`registry`]: live connections, for reports; [`netstat`] formats them.
//! - [`metrics`]: Prometheus metrics at `MetricsListen` (`GET /metrics`).
//! - [`inventory`]: the client inventory: ClientHello profiles per rule, for `pagent clients`.
//! - [`control`]: the control socket (refresh, netstat; the SIOCTTLSCTL equivalent).
//! - [`logging`]: where the log goes (stderr, syslog); [`messages`]: the log messages' stable IDs.
//! - [`errno`]: the errno names control requests fail with, shared by engine and control socket.
//! - [`procnet`]: local TCP sockets from /proc: owners, send queues, holding processes.
//! - [`search`]: the `pagent search` report and the settings shown by `pagent check --match`.
//! - [`demo`]: the plaintext demo backend of the shipped default configuration.
//! - [`cli`]: the `pagent` command line (clap), one module per subcommand.

#![forbid(unsafe_code)]

pub mod agent;
pub mod audit;
pub mod certmap;
pub mod cli;
pub mod config;
pub mod control;
pub mod demo;
pub mod engine;
pub mod errno;
pub mod expiry;
pub mod ftp;
pub mod intercept;
pub mod inventory;
pub mod keyring;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod netstat;
pub mod policy;
pub mod procnet;
pub mod registry;
pub mod search;
pub mod tn3270;
