//! The client inventory (docs/clients.md): per rule, the distinct ClientHello profiles the agent
//! saw on its server-role handshakes ([`hello`]), with whether the client sent a certificate, how
//! many connections showed each profile, when first and last, and one client address as an
//! example. Written by the handshake, read by `pagent clients` through the control socket
//! ([`report`]); [`verdict`] says whether a profile would pass a candidate policy. No decision
//! reads it.
//!
//! Bounded: at most [`Limits::profiles_per_rule`] profiles per rule and [`Limits::rules`] rules
//! (`ClientInventory` in the main configuration; 64 and 1024 by default); a connection whose
//! profile finds no room is counted as dropped, never stored. Nothing is kept per client beyond one
//! example address per profile. The store outlives policy refreshes (rules are kept by name).

pub mod hello;
pub mod report;
pub mod verdict;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::SystemTime;

use hello::ClientHello;

/// Profiles kept per rule by default.
pub const DEFAULT_PROFILES_PER_RULE: usize = 64;
/// Rules kept by default.
pub const DEFAULT_RULES: usize = 1024;

/// How much the inventory keeps (`ClientInventory PROFILES RULES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub profiles_per_rule: usize,
    pub rules: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { profiles_per_rule: DEFAULT_PROFILES_PER_RULE, rules: DEFAULT_RULES }
    }
}

/// Whether the client sent a certificate in a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertSent {
    Sent,
    /// Asked for one (ServerWithClientAuth) and got none.
    NotSent,
    /// Not asked for (HandshakeRole Server).
    NotRequested,
    /// The handshake ended before the client's certificate (failed, timed out).
    Unknown,
}

impl CertSent {
    pub const ALL: [CertSent; 4] =
        [CertSent::Sent, CertSent::NotSent, CertSent::NotRequested, CertSent::Unknown];

    /// The word in reports (`certificate` key).
    pub fn word(self) -> &'static str {
        match self {
            CertSent::Sent => "sent",
            CertSent::NotSent => "not sent",
            CertSent::NotRequested => "not requested",
            CertSent::Unknown => "unknown",
        }
    }

    pub fn from_word(word: &str) -> Option<CertSent> {
        CertSent::ALL.into_iter().find(|c| c.word() == word)
    }
}

/// One client profile: what its ClientHello offered and whether it sent a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Profile {
    pub hello: ClientHello,
    pub certificate: CertSent,
}

/// How often and when a profile was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub connections: u64,
    pub first: SystemTime,
    pub last: SystemTime,
    /// The client address of the latest connection.
    pub example_ip: Option<IpAddr>,
    /// Order of first sight within the rule.
    order: u64,
}

/// One rule's profiles and counts.
#[derive(Debug, Default)]
struct RuleProfiles {
    profiles: HashMap<Profile, Seen>,
    next_order: u64,
    /// Connections whose profile was new when the rule already had its limit of profiles.
    dropped: u64,
    /// Handshakes whose first bytes were no ClientHello the inventory could read.
    unparsed: u64,
}

#[derive(Debug, Default)]
struct State {
    rules: HashMap<String, RuleProfiles>,
    /// Connections of rules that found the inventory at its limit of rules.
    rules_dropped: u64,
}

/// The client inventory of a running agent.
#[derive(Debug)]
pub struct Inventory {
    /// `None`: `ClientInventory Off`, nothing is read or kept.
    limits: Option<Limits>,
    state: Mutex<State>,
}

impl Default for Inventory {
    fn default() -> Inventory {
        Inventory::new(Some(Limits::default()))
    }
}

impl Inventory {
    /// An inventory with these limits; `None` keeps nothing.
    pub fn new(limits: Option<Limits>) -> Inventory {
        let limits = limits.filter(|l| l.profiles_per_rule > 0 && l.rules > 0);
        Inventory { limits, state: Mutex::new(State::default()) }
    }

    /// Whether handshakes should read their ClientHello for the inventory.
    pub fn enabled(&self) -> bool {
        self.limits.is_some()
    }

    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// Records one server-role handshake of `rule` whose ClientHello was `hello`.
    pub fn record(&self, rule: &str, hello: ClientHello, certificate: CertSent, ip: Option<IpAddr>) {
        self.with_rule(rule, |r, limits| {
            let now = SystemTime::now();
            let full = r.profiles.len() >= limits.profiles_per_rule;
            let profile = Profile { hello, certificate };
            if let Some(seen) = r.profiles.get_mut(&profile) {
                seen.connections += 1;
                seen.last = now;
                seen.example_ip = ip.or(seen.example_ip);
            } else if full {
                r.dropped += 1;
            } else {
                let order = r.next_order;
                r.next_order += 1;
                let seen = Seen { connections: 1, first: now, last: now, example_ip: ip, order };
                r.profiles.insert(profile, seen);
            }
        });
    }

    /// Records a server-role handshake of `rule` whose first bytes were no readable ClientHello.
    pub fn record_unparsed(&self, rule: &str) {
        self.with_rule(rule, |r, _| r.unparsed += 1);
    }

    /// `f` on `rule`'s entry, made if there is room; a rule without room counts in `rules_dropped`.
    fn with_rule(&self, rule: &str, f: impl FnOnce(&mut RuleProfiles, Limits)) {
        let Some(limits) = self.limits else { return };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.rules.contains_key(rule) {
            if state.rules.len() >= limits.rules {
                state.rules_dropped += 1;
                return;
            }
            state.rules.insert(rule.to_string(), RuleProfiles::default());
        }
        if let Some(r) = state.rules.get_mut(rule) {
            f(r, limits);
        }
    }

    /// What the inventory holds: every rule by name (or the one named), profiles in order of first
    /// sight.
    pub fn report(&self, only: Option<&str>) -> report::Report {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut rules: Vec<report::RuleReport> = state
            .rules
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
            .map(|(name, r)| {
                let mut profiles: Vec<(&Profile, &Seen)> = r.profiles.iter().collect();
                profiles.sort_by_key(|(_, s)| s.order);
                report::RuleReport {
                    rule: name.clone(),
                    profiles: profiles.into_iter().map(|(p, s)| report::ProfileReport::new(p, s)).collect(),
                    profiles_dropped: r.dropped,
                    unparsed: r.unparsed,
                }
            })
            .collect();
        rules.sort_by(|a, b| a.rule.cmp(&b.rule));
        report::Report { limits: self.limits, rules_dropped: state.rules_dropped, rules }
    }
}

#[cfg(test)]
mod tests;
