//! The per-connection `query` op (z/OS SIOCTTLSCTL QUERY_ONLY): a connection named by ConnID or by
//! the application's view of it (`app_peer`), answered to root or to the uid owning the
//! application's end of it.

use serde_json::{Map, Value, json};
use tokio::net::unix::UCred;

use super::Handle;
use super::proto::{Errno, Request, err, ok};
use crate::policy::{PolicyStatus, ciphers};
use crate::procnet::socket_uid;
use crate::registry::{ConnId, ConnSnapshot};

/// Finds the connection a request names, and checks the requester may see it.
pub fn find(agent: &Handle, cred: Option<UCred>, req: &Request) -> Result<ConnSnapshot, Value> {
    let conns = agent.registry.snapshot();
    let found = match (&req.conn, &req.app_peer) {
        (Some(id), _) => {
            let id: ConnId = id.parse().map_err(|e: String| err(Errno::Einval, e))?;
            conns.into_iter().find(|c| c.id == id)
        }
        (None, Some(peer)) => {
            let addr = |text: &str, key: &str| {
                text.parse::<std::net::SocketAddr>().map_err(|_| {
                    err(Errno::Einval, format!("{key} `{text}` is not IP:PORT (IPv6 as [addr]:port)"))
                })
            };
            let peer = addr(peer, "app_peer")?;
            let local = req.app_local.as_deref().map(|l| addr(l, "app_local")).transpose()?;
            let same = |a: Option<std::net::SocketAddr>, b: std::net::SocketAddr| {
                a.is_some_and(|a| a.ip().to_canonical() == b.ip().to_canonical() && a.port() == b.port())
            };
            let mut matching = conns
                .into_iter()
                .filter(|c| same(c.app_peer, peer) && local.is_none_or(|l| same(c.app_local, l)));
            let first = matching.next();
            if first.is_some() && matching.next().is_some() {
                return Err(err(
                    Errno::Einval,
                    format!("several connections have app_peer {peer}: add \"app_local\" (getsockname())"),
                ));
            }
            first
        }
        (None, None) => return Err(err(Errno::Einval, "name the connection with \"conn\" or \"app_peer\"")),
    };
    let c = found.ok_or_else(|| err(Errno::Enotconn, "no live connection by that name"))?;
    let uid = cred.map(|c| c.uid());
    let owner = match (c.app_local, c.app_peer) {
        (Some(local), Some(peer)) => socket_uid(local, peer),
        _ => None,
    };
    if uid == Some(0) || (uid.is_some() && uid == owner) {
        Ok(c)
    } else {
        Err(err(Errno::Eperm, format!("connection {} belongs to another user", c.id)))
    }
}

pub fn query(agent: &Handle, cred: Option<UCred>, req: &Request) -> Value {
    let c = match find(agent, cred, req) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let cipher = c.cipher.map(|code| match ciphers::name_of(code) {
        Some(name) => format!("{} {name}", ciphers::hex4(code)),
        None => ciphers::hex4(code),
    });
    let mut m = Map::new();
    m.insert("policy_status".into(), json!(c.policy_status.word()));
    m.insert("conn_status".into(), json!(c.conn_status.word()));
    m.insert("protocol".into(), json!(c.tls_version));
    m.insert("cipher".into(), json!(cipher));
    m.insert("rule".into(), json!(c.rule.as_ref().map(|r| r.name.as_str())));
    m.insert("conn".into(), json!(c.id.to_string()));
    m.insert("map_type".into(), json!(c.map_type.map_or("none", |t| t.word())));
    m.insert("primary_conn".into(), json!(c.primary.map(|p| p.to_string())));
    m.insert("client_addr".into(), json!(c.remote.to_string()));
    peer_fields(&mut m, &c);
    ok(m)
}

/// RETURN_CERTIFICATE: the peer's certificate (DER, base64), for any connection with a policy.
pub fn return_certificate(agent: &Handle, cred: Option<UCred>, req: &Request) -> Value {
    let c = match find(agent, cred, req) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if matches!(c.policy_status, PolicyStatus::NoPolicy | PolicyStatus::NotEnabled) {
        return err(
            Errno::Eopnotsupp,
            format!("connection {} has no TLS policy ({})", c.id, c.policy_status.word()),
        );
    }
    let mut m = Map::new();
    m.insert("conn".into(), json!(c.id.to_string()));
    peer_fields(&mut m, &c);
    ok(m)
}

/// The peer's certificate: `peer_subject`, `peer_cert_der_b64` and `peer_validated` (whether the
/// verifier validated it; false under ClientAuthType PassThru), each null when the peer sent none;
/// and `cert_user_id`, the user the `CertUserMap` maps it to (null without one, D37).
fn peer_fields(m: &mut Map<String, Value>, c: &ConnSnapshot) {
    m.insert("peer_subject".into(), json!(c.peer_subject));
    m.insert("peer_cert_der_b64".into(), json!(c.peer_cert.as_ref().map(|p| base64(&p.der))));
    m.insert("peer_validated".into(), json!(c.peer_validated()));
    m.insert("cert_user_id".into(), json!(c.cert_user));
}

/// The ops that control a connection's TLS (INIT, STOP, RESET_*, SEND_SESSION_TICKET). As on z/OS:
/// without a TLS policy `EOPNOTSUPP`, on a connection whose policy is not application-controlled
/// `EACCES`.
pub async fn application_control(agent: &Handle, cred: Option<UCred>, req: &Request) -> Value {
    let c = match find(agent, cred, req) {
        Ok(c) => c,
        Err(e) => return e,
    };
    match c.policy_status {
        PolicyStatus::NoPolicy | PolicyStatus::NotEnabled => err(
            Errno::Eopnotsupp,
            format!("connection {} has no TLS policy ({})", c.id, c.policy_status.word()),
        ),
        PolicyStatus::Enabled => err(
            Errno::Eacces,
            format!(
                "connection {} is not application-controlled (ENABLED): only query and return_certificate",
                c.id
            ),
        ),
        PolicyStatus::ApplCntrl => steer(agent, &c, req).await,
    }
}

/// INIT, STOP and RESET_CIPHER on an application-controlled connection: handed to its task,
/// answered when done. RESET_SESSION and SEND_SESSION_TICKET have no rustls equivalent (tickets are
/// stateless and sent right after the handshake): EOPNOTSUPP, as z/OS answers an unsupported request.
async fn steer(agent: &Handle, c: &ConnSnapshot, req: &Request) -> Value {
    if req.allow_hstimeout && req.op != "init" {
        return err(Errno::Eperm, "allow_hstimeout goes with init only");
    }
    if req.written.is_some() && !matches!(req.op.as_str(), "init" | "stop") {
        return err(Errno::Eperm, "written goes with init and stop only");
    }
    let Some(conn) = agent.controls.handle(c.id) else {
        return err(Errno::Enotconn, format!("connection {} is not relaying yet", c.id));
    };
    let answer = match req.op.as_str() {
        "init" => conn.init(req.written, req.allow_hstimeout).await,
        "stop" => conn.stop(req.written).await,
        // rustls's KeyUpdate always asks the peer to update too: the write side gets new keys either way.
        "reset_cipher" | "reset_write_cipher" => conn.reset_cipher().await,
        "reset_session" => {
            return err(
                Errno::Eopnotsupp,
                "reset_session: rustls cannot revoke a session (tickets are stateless); \
                 lower TTLSGskAdvancedParms GSK_V3_SESSION_TIMEOUT instead",
            );
        }
        "send_session_ticket" => {
            return err(
                Errno::Eopnotsupp,
                "send_session_ticket: rustls sends TLS 1.3 tickets only right after the handshake",
            );
        }
        other => return err(Errno::Einval, format!("unknown op `{other}`")),
    };
    match answer {
        Ok(done) => {
            let mut m = Map::new();
            m.insert("conn".into(), json!(c.id.to_string()));
            m.insert("conn_status".into(), json!(done.conn_status.word()));
            if let Some(note) = done.note {
                m.insert("message".into(), json!(note));
            }
            ok(m)
        }
        Err(refusal) => err(refusal.errno, refusal.message),
    }
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(input.as_bytes()), want);
        }
    }
}
