//! Resumable TLS sessions, kept per environment rather than per policy generation: a refresh that
//! leaves an environment's identity ([`identity::EnvId`]: keyring contents and the TLS settings a
//! resumed session depends on) unchanged hands the new generation the same session cache, ticket
//! keys and client session store, so sessions taken before the refresh resume after it. The
//! lifetimes of `TTLSGskAdvancedParms` are applied here: `GSK_V3_SESSION_TIMEOUT` bounds every
//! resumable session, `GSK_SESSION_TICKET_SERVER_TIMEOUT` a ticket, `…_KEY_REFRESH` the rotation of
//! the agent's own ticket keys. With `TicketKeyFile`, ticket keys come from that file instead and
//! agents sharing it resume each other's sessions (docs/fleet.md; docs/decisions.md, D36).

pub mod cache;
pub mod client;
pub mod identity;
pub mod key_file;
pub mod ticketer;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rustls::ClientConfig;
use std::time::Duration;

use super::revocation::{NewsHandle, news_for};
use crate::keyring::Keyring;
use crate::policy::RuleTable;
use crate::policy::table::{SessionSettings, Settings};
pub use cache::SessionCache;
pub use client::ClientSessions;
pub use identity::EnvId;
pub use key_file::{TicketKeyError, TicketKeys};
pub use ticketer::Ticketer;

/// The lifetimes of one environment's sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// `GSK_V3_SESSION_TIMEOUT`: any resumable session.
    pub session: Duration,
    /// `GSK_SESSION_TICKET_SERVER_TIMEOUT`, never past `session`.
    pub ticket: Duration,
    /// `GSK_SESSION_TICKET_SERVER_KEY_REFRESH`: own ticket keys.
    pub key_refresh: Duration,
}

impl Lifetimes {
    pub fn of(s: &SessionSettings) -> Lifetimes {
        let secs = |n: u32| Duration::from_secs(u64::from(n));
        Lifetimes {
            session: secs(s.session_timeout),
            ticket: secs(s.ticket_server_timeout.min(s.session_timeout)),
            key_refresh: secs(s.ticket_server_key_refresh),
        }
    }
}

/// The session state of one environment, shared by every generation in which it is unchanged.
#[derive(Debug)]
pub struct EnvSessions {
    pub id: EnvId,
    pub lifetimes: Lifetimes,
    /// Server role: TLS 1.2 session IDs (and TLS 1.3 without tickets).
    pub cache: Arc<SessionCache>,
    /// Server role: tickets, when `GSK_SESSION_TICKET_SERVER_ENABLE` is On.
    pub ticketer: Option<Arc<Ticketer>>,
    /// Client role: sessions offered to servers.
    pub client: Arc<ClientSessions>,
    /// Client role: the configuration its sessions were made with. rustls resumes a session only
    /// with the same verifier and client certificate resolver, so an unchanged environment keeps it.
    pub client_config: OnceLock<Arc<ClientConfig>>,
    /// Revocation news of fetched CRLs: sessions issued before it are not resumed.
    news: Option<NewsHandle>,
}

impl EnvSessions {
    pub fn new(
        id: EnvId,
        s: &SessionSettings,
        keys: Option<&Arc<TicketKeys>>,
        news: Option<NewsHandle>,
    ) -> EnvSessions {
        let lifetimes = Lifetimes::of(s);
        let size = s.sid_cache_size.max(1) as usize;
        // GSK_V3_SESSION_TIMEOUT 0: nothing resumes (no cache, no tickets).
        let ticketer = (s.ticket_server_enable && !lifetimes.ticket.is_zero()).then(|| {
            Arc::new(
                match keys {
                    Some(k) => Ticketer::shared(lifetimes.ticket, k.clone(), id),
                    None => Ticketer::own(lifetimes.ticket, lifetimes.key_refresh),
                }
                .following(news.clone()),
            )
        });
        EnvSessions {
            id,
            lifetimes,
            cache: Arc::new(SessionCache::new(size, lifetimes.session).following(news.clone())),
            ticketer,
            client: Arc::new(ClientSessions::new(size, lifetimes.session).following(news.clone())),
            client_config: OnceLock::new(),
            news,
        }
    }

    /// State of the same lifetimes for one FTP session: a cache of `capacity` and own ticket keys,
    /// so only sessions born on its control connection resume on its data connections.
    pub fn scoped(&self, capacity: usize) -> EnvSessions {
        let l = self.lifetimes;
        EnvSessions {
            id: self.id,
            lifetimes: l,
            cache: Arc::new(SessionCache::new(capacity, l.session).following(self.news.clone())),
            ticketer: self
                .ticketer
                .as_ref()
                .map(|_| Arc::new(Ticketer::own(l.ticket, l.key_refresh).following(self.news.clone()))),
            client: Arc::new(ClientSessions::new(capacity, l.session).following(self.news.clone())),
            client_config: OnceLock::new(),
            news: self.news.clone(),
        }
    }

    /// Sessions and tickets refused so far because they were too old.
    pub fn expired(&self) -> u64 {
        self.cache.expired() + self.ticketer.as_ref().map_or(0, |t| t.expired())
    }

    /// Whether every session this state issued is past the session lifetime (a client that knows
    /// the lifetime no longer offers them; `false` when none was issued).
    pub fn all_expired(&self) -> bool {
        let newest = self.cache.newest().max(self.ticketer.as_ref().and_then(|t| t.newest()));
        newest.is_some_and(|at| at.elapsed() > self.lifetimes.ticket.min(self.lifetimes.session))
    }
}

/// The warning for a policy that asks for sysplex-wide sessions (`GSK_SYSPLEX_SIDCACHE On`) when
/// the main configuration has no `TicketKeyFile`: nothing is shared between agents then.
pub fn sysplex_warning(table: &RuleTable, ticket_key_file: Option<&std::path::Path>) -> Option<String> {
    if ticket_key_file.is_some() {
        return None;
    }
    let rule = table.rules().iter().find(|r| {
        r.settings
            .other
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("GSK_SYSPLEX_SIDCACHE") && v.eq_ignore_ascii_case("On"))
    })?;
    Some(format!(
        "warning: TTLSRule {}: GSK_SYSPLEX_SIDCACHE On, but the main configuration has no TicketKeyFile: no session is shared with other agents (docs/fleet.md)\n",
        rule.name
    ))
}

/// Session state while a generation is built: what the previous generation had, by identity, and
/// what this one uses.
#[derive(Default)]
pub struct SessionPool {
    previous: HashMap<EnvId, Arc<EnvSessions>>,
    keys: Option<Arc<TicketKeys>>,
    used: HashMap<EnvId, Arc<EnvSessions>>,
}

impl SessionPool {
    pub fn new(previous: HashMap<EnvId, Arc<EnvSessions>>, keys: Option<Arc<TicketKeys>>) -> SessionPool {
        SessionPool { previous, keys, used: HashMap::new() }
    }

    /// The state for an environment: the one in use under its identity, else a new one.
    pub fn for_env(&mut self, s: &Settings, keyring: &Keyring) -> Arc<EnvSessions> {
        let id = EnvId::of(s, keyring);
        if let Some(e) = self.used.get(&id) {
            return e.clone();
        }
        let e =
            self.previous.get(&id).cloned().unwrap_or_else(|| {
                Arc::new(EnvSessions::new(id, &s.session, self.keys.as_ref(), news_for(s)))
            });
        self.used.insert(id, e.clone());
        e
    }

    /// The state this generation uses (for the next one to find).
    pub fn into_used(self) -> HashMap<EnvId, Arc<EnvSessions>> {
        self.used
    }
}
