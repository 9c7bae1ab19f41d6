//! attls: Application Transparent TLS for Linux.
//!
//! z/OS AT-TLS policies (`TTLSRule`, `TTLSGroupAction`, `TTLSEnvironmentAction`, …) read by a policy
//! agent, `pagent`, and applied by a sidecar TLS proxy in front of unmodified plaintext servers.
//!
//! # Layout
//! - [`policy`]: the policy language — parser, diagnostics, rule table, matching.
//! - [`search`]: the `pagent search` report and the settings shown by `pagent check --match`.
//! - [`cli`]: the `pagent` command line (clap), one module per subcommand.

#![forbid(unsafe_code)]

pub mod cli;
pub mod policy;
pub mod search;
