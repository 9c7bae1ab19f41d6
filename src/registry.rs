//! Live connections: one entry per connection through attls, written by its connection task and read
//! by reports (`pagent netstat`, control `query`). No decision reads it. A connection's last
//! snapshot goes, when it ends, to whoever subscribed ([`Registry::subscribe_ended`]: metrics,
//! audit records) through a bounded queue that never blocks the connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use crate::policy::{ConnDirection, MapType, PolicyStatus, Rule};

/// Connection identifier: printed as 8 uppercase hex digits (`0000002A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

impl std::str::FromStr for ConnId {
    type Err = String;
    /// Accepts 1 to 8 hex digits, leading zeros optional (`2A`, `0000002a`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{s}` is not a ConnID (1 to 8 hex digits, e.g. 2A or 0000002A)"));
        }
        u32::from_str_radix(s, 16).map(ConnId).map_err(|e| e.to_string())
    }
}

/// TLS state of a connection (docs/policy-reference.md#status-words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConnStatus {
    #[serde(rename = "NOT_SECURE")]
    NotSecure,
    #[serde(rename = "HANDSHAKE")]
    Handshake,
    #[serde(rename = "SECURE")]
    Secure,
}

impl ConnStatus {
    pub fn word(self) -> &'static str {
        match self {
            ConnStatus::NotSecure => "NOT_SECURE",
            ConnStatus::Handshake => "HANDSHAKE",
            ConnStatus::Secure => "SECURE",
        }
    }
}

/// What a report shows of one connection at one moment.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    pub id: ConnId,
    pub listener: String,
    pub jobname: String,
    /// D7: the owner's Userid (`?` when unknown), and whether the owner was found: with `jobname`
    /// and `direction`, what the connection was mapped by (a dry run maps it again).
    pub userid: String,
    pub owner_known: bool,
    /// Inbound or outbound: the listener's direction.
    pub direction: ConnDirection,
    /// The client-facing socket: attls's local address the client reached.
    pub local: SocketAddr,
    /// The client (inbound) or the remote target (outbound).
    pub remote: SocketAddr,
    pub policy_status: PolicyStatus,
    pub conn_status: ConnStatus,
    pub map_type: Option<MapType>,
    pub primary: Option<ConnId>,
    pub rule: Option<Arc<Rule>>,
    pub generation: u64,
    /// Helper protocol of the listener: `Raw`, `Ftp`, `Tn3270`.
    pub protocol_helper: &'static str,
    /// `TLSv1.2` or `TLSv1.3` once secure.
    pub tls_version: Option<&'static str>,
    /// IANA code of the negotiated suite.
    pub cipher: Option<u16>,
    /// IANA number of the key-exchange group (TLS 1.3).
    pub key_share: Option<u16>,
    pub peer_subject: Option<String>,
    /// The peer's certificate and whether it was validated, for the control `query` and
    /// `return_certificate` and the netstat detail.
    pub peer_cert: Option<PeerCert>,
    /// The CertUserID: the user the `CertUserMap` maps the validated client certificate to (D37).
    pub cert_user: Option<String>,
    /// The backend-side socket: attls's local address (what the application's getpeername()
    /// returns, the control protocol's `app_peer`) and the application's own address.
    pub app_peer: Option<SocketAddr>,
    pub app_local: Option<SocketAddr>,
    /// How the connection went secure (`Direct`, `Negotiated`, `AUTH TLS`, `Implicit`) or why not.
    pub secured_how: Option<String>,
    /// Once secure: whether the handshake resumed an earlier TLS session.
    pub tls_resumed: Option<bool>,
    /// Once secure: whether rustls ran the connection in FIPS mode (a FIPS build, FIPS140 On).
    pub fips_mode: Option<bool>,
    /// In a server role: the notAfter of the certificate attls chose for the client in the
    /// connection's last handshake (also when that handshake failed after the choice, and on a
    /// resumed one, which sends none: the certificate a full handshake would have sent).
    pub server_cert_not_after: Option<SystemTime>,
    /// The z/OS return code of a failed handshake (docs/policy-reference.md#handshake-timer-and-return-codes).
    pub rc: Option<u32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub started: SystemTime,
}

/// The certificate a peer presented in the handshake.
#[derive(Debug, Clone)]
pub struct PeerCert {
    /// The leaf, DER.
    pub der: Arc<Vec<u8>>,
    /// Whether the verifier validated it against the keyring's CAs: a client certificate under
    /// ClientAuthType Full, Required or SAFCheck, a server's certificate in the Client role. False
    /// under PassThru, which accepts any certificate unvalidated.
    pub validated: bool,
}

impl ConnSnapshot {
    /// Whether the peer's certificate was validated; `None` when the peer presented none.
    pub fn peer_validated(&self) -> Option<bool> {
        self.peer_cert.as_ref().map(|c| c.validated)
    }
}

/// The changing part of a live entry, updated by its connection task.
#[derive(Debug)]
pub struct Entry {
    snapshot: Mutex<ConnSnapshot>,
    /// Bytes from the client, and to the client (one atomic add per read on the relay path).
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl Entry {
    /// Changes the entry (state transitions; not on the relay path).
    pub fn update(&self, f: impl FnOnce(&mut ConnSnapshot)) {
        let mut s = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }
    pub fn snapshot(&self) -> ConnSnapshot {
        let mut s = self.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        s.bytes_out = self.bytes_out.load(Ordering::Relaxed);
        s
    }
}

/// A connection that ended: its last snapshot (byte counts final) and when it ended.
#[derive(Debug, Clone)]
pub struct Ended {
    pub snapshot: ConnSnapshot,
    pub at: SystemTime,
}

/// A subscriber's queue of ended connections; a full queue drops the record and counts it.
#[derive(Debug)]
struct EndedQueue {
    sender: tokio::sync::mpsc::Sender<Ended>,
    dropped: Arc<AtomicU64>,
}

/// Every live connection of one agent.
#[derive(Debug, Default)]
pub struct Registry {
    next: AtomicU32,
    live: Mutex<BTreeMap<ConnId, Arc<Entry>>>,
    ended: Mutex<Vec<EndedQueue>>,
}

/// What a subscriber of ended connections receives, and how many records its full queue dropped.
#[derive(Debug)]
pub struct EndedFeed {
    pub records: tokio::sync::mpsc::Receiver<Ended>,
    pub dropped: Arc<AtomicU64>,
}

/// What [`Registry::live_totals`] counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LiveTotals {
    /// Live connections by listener name.
    pub per_listener: BTreeMap<String, u64>,
    /// Bytes from clients, and to clients, of the live connections.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Removes the entry when the connection task ends, however it ends.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    pub id: ConnId,
    pub entry: Arc<Entry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        let queues = self.registry.ended.lock().unwrap_or_else(|e| e.into_inner());
        if queues.is_empty() {
            return;
        }
        let ended = Ended { snapshot: self.entry.snapshot(), at: SystemTime::now() };
        for q in queues.iter() {
            if q.sender.try_send(ended.clone()).is_err() {
                q.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Registry {
    /// A fresh ConnID: never 0, and never one a live connection holds (the counter wraps at 2^32,
    /// and a long-lived connection must not share its ID with a new one).
    pub fn next_id(&self) -> ConnId {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        // One of any `live.len() + 2` consecutive candidates is free, so this ends.
        loop {
            let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1));
            if id.0 != 0 && !live.contains_key(&id) {
                return id;
            }
        }
    }

    /// Adds a connection; it stays listed until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, snapshot: ConnSnapshot) -> Registration {
        let id = snapshot.id;
        let entry = Arc::new(Entry {
            snapshot: Mutex::new(snapshot),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        });
        self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(id, entry.clone());
        Registration { registry: self.clone(), id, entry }
    }

    pub fn get(&self, id: ConnId) -> Option<Arc<Entry>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }

    /// Every live connection, by ConnID.
    pub fn snapshot(&self) -> Vec<ConnSnapshot> {
        let entries: Vec<Arc<Entry>> =
            self.live.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        entries.iter().map(|e| e.snapshot()).collect()
    }

    /// Every connection that ends from now on, through a queue of `capacity` records: a subscriber
    /// that falls behind loses records (counted in [`EndedFeed::dropped`]), never slows a connection.
    pub fn subscribe_ended(&self, capacity: usize) -> EndedFeed {
        let (sender, records) = tokio::sync::mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let queue = EndedQueue { sender, dropped: dropped.clone() };
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).push(queue);
        EndedFeed { records, dropped }
    }

    /// The live connections per listener and the bytes they moved so far, without copying
    /// snapshots (the metrics read it at every scrape).
    pub fn live_totals(&self) -> LiveTotals {
        let entries: Vec<Arc<Entry>> =
            self.live.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut totals = LiveTotals::default();
        for e in &entries {
            let listener = e.snapshot.lock().unwrap_or_else(|e| e.into_inner()).listener.clone();
            *totals.per_listener.entry(listener).or_default() += 1;
            totals.bytes_in += e.bytes_in.load(Ordering::Relaxed);
            totals.bytes_out += e.bytes_out.load(Ordering::Relaxed);
        }
        totals
    }

    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
impl ConnSnapshot {
    /// A clear connection on `listener` that no rule matched, for unit tests to change.
    pub fn sample(id: ConnId, listener: &str) -> ConnSnapshot {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        ConnSnapshot {
            id,
            listener: listener.into(),
            jobname: listener.into(),
            userid: "u".into(),
            owner_known: true,
            direction: ConnDirection::Inbound,
            local: addr,
            remote: addr,
            policy_status: PolicyStatus::NoPolicy,
            conn_status: ConnStatus::NotSecure,
            map_type: None,
            primary: None,
            rule: None,
            generation: 1,
            protocol_helper: "Raw",
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_ids_print_as_eight_hex_digits_and_parse_short_forms() {
        assert_eq!(ConnId(42).to_string(), "0000002A");
        assert_eq!("2a".parse::<ConnId>(), Ok(ConnId(42)));
        assert_eq!("0000002A".parse::<ConnId>(), Ok(ConnId(42)));
        assert!("123456789".parse::<ConnId>().is_err());
        assert!("xyz".parse::<ConnId>().is_err());
    }

    fn snapshot(id: ConnId) -> ConnSnapshot {
        ConnSnapshot::sample(id, "L")
    }

    #[test]
    fn conn_ids_wrap_past_0_and_skip_live_ones() {
        let registry = Arc::new(Registry::default());
        let live: Vec<Registration> =
            [u32::MAX, 1, 2].into_iter().map(|n| registry.register(snapshot(ConnId(n)))).collect();
        registry.next.store(u32::MAX - 1, Ordering::Relaxed);
        assert_eq!(registry.next_id(), ConnId(3), "u32::MAX, 0, 1 and 2 are live or reserved");
        assert_eq!(registry.next_id(), ConnId(4));
        drop(live);
        registry.next.store(u32::MAX - 1, Ordering::Relaxed);
        assert_eq!(registry.next_id(), ConnId(u32::MAX), "free again once its connection ended");
        assert_eq!(registry.next_id(), ConnId(1), "0 is never a ConnID");
    }

    #[test]
    fn ended_connections_reach_subscribers_with_final_counts_and_a_full_queue_drops() {
        let registry = Arc::new(Registry::default());
        let mut feed = registry.subscribe_ended(1);
        let first = registry.register(snapshot(ConnId(7)));
        first.entry.bytes_in.store(100, Ordering::Relaxed);
        first.entry.update(|s| s.rc = Some(5004));
        drop(first);
        drop(registry.register(snapshot(ConnId(8))));
        let got = feed.records.try_recv().expect("the first connection's record");
        assert_eq!((got.snapshot.id, got.snapshot.bytes_in, got.snapshot.rc), (ConnId(7), 100, Some(5004)));
        assert!(feed.records.try_recv().is_err(), "the queue held one record");
        assert_eq!(feed.dropped.load(Ordering::Relaxed), 1);
    }
}
