//! The per-connection engine: accept ([`listener`]), map and secure ([`conn`], [`tls`]), relay
//! ([`relay`]).

pub mod applctl;
pub mod conn;
pub mod listener;
pub mod relay;
pub mod tls;
