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
mod fail_closed;
mod ftp;
mod ftp_abort;
mod ftp_integrity;
mod ftp_peers;
mod layering;
mod limits;
mod netns_peers;
mod policy_files;
mod properties;
mod reference_docs;
mod samples;
mod support;
mod tn3270;
mod tn3270_peers;
mod transparent;
