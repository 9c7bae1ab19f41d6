//! The client role's store of TLS sessions (TLS 1.2 sessions and TLS 1.3 tickets, by server name):
//! at most `capacity` servers, the least recently stored dropped first, a few tickets per server,
//! and nothing older than the session lifetime (`GSK_V3_SESSION_TIMEOUT`) is offered to a server.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

use crate::engine::revocation::NewsHandle;
use crate::engine::revocation::news::now_ms;

/// TLS 1.3 tickets kept per server (servers send a few per handshake).
const TICKETS_PER_SERVER: usize = 8;

/// When a session was stored: monotonic for its age, Unix milliseconds for revocation news.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    at: Instant,
    ms: u64,
}

impl Stamp {
    fn now() -> Stamp {
        Stamp { at: Instant::now(), ms: now_ms() }
    }
}

/// A bounded, age-limited client session store.
#[derive(Debug)]
pub struct ClientSessions {
    capacity: usize,
    lifetime: Duration,
    servers: Mutex<Servers>,
    /// Revocation news that ends older sessions (with `HttpCdpEnable On`).
    news: Option<NewsHandle>,
}

#[derive(Debug, Default)]
struct Servers {
    by_name: HashMap<ServerName<'static>, Server>,
    /// Names, least recently stored first.
    order: VecDeque<ServerName<'static>>,
}

#[derive(Debug, Default)]
struct Server {
    kx_hint: Option<NamedGroup>,
    tls12: Option<(Stamp, Tls12ClientSessionValue)>,
    tls13: VecDeque<(Stamp, Tls13ClientSessionValue)>,
}

impl ClientSessions {
    pub fn new(capacity: usize, lifetime: Duration) -> ClientSessions {
        ClientSessions { capacity: capacity.max(1), lifetime, servers: Mutex::default(), news: None }
    }

    /// Offers no session stored before the revocation news of `news`.
    pub fn following(mut self, news: Option<NewsHandle>) -> ClientSessions {
        self.news = news;
        self
    }

    fn edit<R>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Server) -> R) -> Option<R> {
        let mut s = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let name = name.to_owned();
        s.by_name.get_mut(&name).map(f)
    }

    /// Edits `name`'s entry, making it the most recently stored (and dropping the least recent
    /// server when the store is full).
    fn store(&self, name: ServerName<'static>, f: impl FnOnce(&mut Server)) {
        let mut s = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        if !s.by_name.contains_key(&name) {
            while s.by_name.len() >= self.capacity {
                let Some(old) = s.order.pop_front() else { break };
                s.by_name.remove(&old);
            }
        } else {
            s.order.retain(|n| n != &name);
        }
        s.order.push_back(name.clone());
        f(s.by_name.entry(name).or_default());
    }

    fn fresh(&self, stored: &Stamp) -> bool {
        !self.lifetime.is_zero()
            && stored.at.elapsed() <= self.lifetime
            && self.news.as_ref().is_none_or(|n| stored.ms >= n.since_ms())
    }
}

impl ClientSessionStore for ClientSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.store(server_name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.edit(server_name, |s| s.kx_hint).flatten()
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.store(server_name, |s| s.tls12 = Some((Stamp::now(), value)));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.edit(server_name, |s| match &s.tls12 {
            Some((at, v)) if self.fresh(at) => Some(v.clone()),
            _ => {
                s.tls12 = None;
                None
            }
        })
        .flatten()
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.edit(server_name, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.store(server_name, |s| {
            if s.tls13.len() >= TICKETS_PER_SERVER {
                s.tls13.pop_front();
            }
            s.tls13.push_back((Stamp::now(), value));
        });
    }

    fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.edit(server_name, |s| {
            while let Some((at, v)) = s.tls13.pop_back() {
                if self.fresh(&at) {
                    return Some(v);
                }
            }
            None
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> ServerName<'static> {
        ServerName::try_from(n.to_string()).unwrap()
    }

    #[test]
    fn least_recent_server_dropped() {
        let c = ClientSessions::new(2, Duration::from_secs(60));
        c.set_kx_hint(name("a"), NamedGroup::X25519);
        c.set_kx_hint(name("b"), NamedGroup::secp256r1);
        c.set_kx_hint(name("a"), NamedGroup::X25519);
        c.set_kx_hint(name("c"), NamedGroup::secp384r1);
        assert_eq!(c.kx_hint(&name("b")), None, "b was the least recent");
        assert_eq!(c.kx_hint(&name("a")), Some(NamedGroup::X25519));
        assert_eq!(c.kx_hint(&name("c")), Some(NamedGroup::secp384r1));
    }
}
