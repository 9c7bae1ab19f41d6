//! The one integration test binary: a module per area.

mod applctl;
mod applctl_library;
mod cli;
mod control;
mod corpus;
mod engine;
mod engine_lifecycle;
mod engine_outbound;
mod engine_refresh;
mod ftp;
mod ftp_peers;
mod netns_peers;
mod properties;
mod samples;
mod support;
mod tn3270;
mod tn3270_peers;
mod transparent;
