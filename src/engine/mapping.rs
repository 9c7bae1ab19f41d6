//! Mapping, the same for every connection: the rule the generation's table picks for the
//! connection's addresses, direction, Jobname and Userid, or, for a connection opened on behalf of a
//! live primary (an FTP data connection), SecondaryMap's choice between its own rule and its
//! primary's (docs/decisions.md D8); then the policy status, the TLS configuration, and the one
//! registry entry the connection keeps until it closes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use super::generation::Generation;
use super::tls::TlsEnv;
use crate::inventory::Inventory;
use crate::policy::matcher::map_with_primary;
use crate::policy::table::ConnDirection;
use crate::policy::{Connection, MapType, PolicyStatus, Rule};
use crate::registry::{ConnId, ConnSnapshot, ConnStatus, Registration, Registry};

/// What a connection is mapped by.
pub struct Request<'a> {
    pub listener: &'a str,
    pub direction: ConnDirection,
    /// attls's address the client reached (inbound) or its own end (outbound).
    pub local: SocketAddr,
    /// The client (inbound) or the remote target (outbound).
    pub remote: SocketAddr,
    /// Owner (D7): rules with Jobname or Userid conditions match on these.
    pub jobname: &'a str,
    pub userid: &'a str,
    /// `false`: the owner is unknown, and no rule with a Jobname or Userid condition matches.
    pub owner_known: bool,
    /// netstat's helper column: `Raw`, `Ftp`, `Tn3270`, `FTP-data`.
    pub helper: &'static str,
    /// A connection opened for a live primary (SecondaryMap).
    pub primary: Option<Primary<'a>>,
}

/// The live primary connection a secondary one may take its rule from.
pub struct Primary<'a> {
    pub id: ConnId,
    pub rule: Option<&'a Arc<Rule>>,
    /// The primary's own addresses: only a connection between the same two hosts is its secondary.
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
}

/// A mapped connection: its rule for life (D9), and its registry entry.
pub struct Mapping {
    pub rule: Option<Arc<Rule>>,
    pub status: PolicyStatus,
    pub map_type: Option<MapType>,
    pub tls: Option<Arc<TlsEnv>>,
    pub reg: Registration,
    /// The generation the rule came from (an FTP session maps its data connections in it too).
    pub generation: Arc<Generation>,
    /// Where its server-role handshakes record the client's ClientHello (docs/clients.md).
    pub inventory: Arc<Inventory>,
}

/// Maps `req` with `generation` and registers it as connection `id`; its handshakes record their
/// clients in `inventory`.
pub fn map(
    registry: &Arc<Registry>,
    inventory: &Arc<Inventory>,
    generation: Arc<Generation>,
    id: ConnId,
    req: &Request<'_>,
) -> Mapping {
    let conn = Connection {
        direction: req.direction,
        local: req.local,
        remote: req.remote,
        jobname: req.owner_known.then_some(req.jobname),
        userid: req.owner_known.then_some(req.userid),
    };
    let own = generation.table.lookup(&conn);
    let (rule, map_type) = match &req.primary {
        None => (own.cloned(), own.map(|_| MapType::Primary)),
        Some(p) => {
            let primary = p.rule.map(|rule| crate::policy::matcher::Primary {
                rule,
                local_ip: p.local_ip,
                remote_ip: p.remote_ip,
            });
            let (_, map_type) = map_with_primary(own.map(|r| &**r), primary, req.local.ip(), req.remote.ip());
            let rule = if map_type == Some(MapType::Secondary) { p.rule.cloned() } else { own.cloned() };
            (rule, map_type)
        }
    };
    let status = rule.as_ref().map_or(PolicyStatus::NoPolicy, |r| r.settings.status());
    let tls = rule.as_ref().and_then(|r| generation.tls_for(r).cloned());
    let secondary_of = req.primary.as_ref().filter(|_| map_type == Some(MapType::Secondary)).map(|p| p.id);
    let reg = registry.register(ConnSnapshot {
        id,
        listener: req.listener.to_string(),
        jobname: req.jobname.to_string(),
        userid: req.userid.to_string(),
        owner_known: req.owner_known,
        direction: req.direction,
        local: req.local,
        remote: req.remote,
        policy_status: status,
        conn_status: ConnStatus::NotSecure,
        map_type,
        primary: secondary_of,
        rule: rule.clone(),
        generation: generation.id,
        protocol_helper: req.helper,
        tls_version: None,
        cipher: None,
        key_share: None,
        peer_subject: None,
        peer_cert: None,
        cert_user: None,
        app_peer: None,
        app_local: None,
        secured_how: None,
        tls_resumed: None,
        fips_mode: None,
        server_cert_not_after: None,
        rc: None,
        bytes_in: 0,
        bytes_out: 0,
        started: SystemTime::now(),
    });
    Mapping { rule, status, map_type, tls, reg, generation, inventory: inventory.clone() }
}

impl Mapping {
    /// The rule's effective Trace (D20).
    pub fn trace(&self) -> super::handshake::Trace {
        super::handshake::Trace(self.rule.as_ref().map_or(0, |r| r.settings.trace))
    }

    /// Records the backend-side socket: attls's end (what the application's getpeername() returns)
    /// and the application's own.
    pub fn note_app_side(&self, mine: Option<SocketAddr>, theirs: Option<SocketAddr>) {
        self.reg.entry.update(|s| {
            s.app_peer = mine;
            s.app_local = theirs;
        });
    }
}
