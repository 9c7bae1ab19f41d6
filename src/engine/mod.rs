//! The per-connection engine: accept ([`listener`]), map and secure ([`conn`], [`tls`]), relay
//! ([`relay`]); connections whose protection changes while they live ([`side`], [`applctl`]).

pub mod accepted;
pub mod applctl;
pub mod conn;
pub mod listener;
pub mod rekey;
pub mod relay;
pub mod side;
pub mod tls;
