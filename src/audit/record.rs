//! One audit record: an ended connection's final snapshot as one JSON object on one line, with the
//! keys and values docs/audit.md lists (the contract), in that order.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::netstat::{group_name, rfc3339, socket_addr_text};
use crate::policy::ciphers;
use crate::registry::{ConnSnapshot, Ended};

/// The record of `ended` as one line of JSON, newline included.
pub fn line(ended: &Ended) -> String {
    let mut text = record(ended).to_string();
    text.push('\n');
    text
}

/// The record of `ended` (docs/audit.md#fields).
pub fn record(ended: &Ended) -> Value {
    let c = &ended.snapshot;
    let duration_ms = ended.at.duration_since(c.started).map_or(0, |d| d.as_millis());
    json!({
        "conn": c.id.to_string(),
        "rule": c.rule.as_ref().map(|r| r.name.as_str()),
        "listener": c.listener,
        "local": socket_addr_text(&c.local),
        "remote": socket_addr_text(&c.remote),
        "status": c.conn_status.word(),
        "protocol": c.tls_version,
        "cipher": c.cipher.map(cipher_name),
        "key_share": c.key_share.map(key_share_name),
        "resumed": c.tls_resumed,
        "fips_mode": c.fips_mode,
        "peer_subject": c.peer_subject,
        "peer_not_after": peer_not_after(c).map(rfc3339),
        "server_cert_not_after": c.server_cert_not_after.map(rfc3339),
        "cert_userid": c.cert_user,
        "bytes_in": c.bytes_in,
        "bytes_out": c.bytes_out,
        "duration_ms": u64::try_from(duration_ms).unwrap_or(u64::MAX),
        "rc": c.rc.unwrap_or(0),
        "time": rfc3339(ended.at),
        "generation": c.generation,
        "jobname": c.jobname,
        "helper": c.protocol_helper,
        "secured_how": c.secured_how,
    })
}

/// The IANA name netstat prints after the code (`TLS_AES_256_GCM_SHA384`); a suite attls does not
/// name prints as its code (`C0FF`).
fn cipher_name(code: u16) -> String {
    ciphers::name_of(code).map_or_else(|| ciphers::short_code(code), String::from)
}

/// The group's name (`X25519`); one attls does not name prints as z/OS numbers it (`0042`).
fn key_share_name(group: u16) -> String {
    group_name(group).map_or_else(|| format!("{group:04}"), String::from)
}

/// The notAfter of the leaf the peer presented, if it parses.
fn peer_not_after(c: &ConnSnapshot) -> Option<SystemTime> {
    let der = &c.peer_cert.as_ref()?.der;
    crate::expiry::CertificateDates::of_der(der).map(|d| d.not_after)
}

#[cfg(test)]
mod tests;
