//! The agent's cache of OCSP answers, keyed by (issuer key hash, serial): one cache per distinct
//! TTLSGskOcspParms settings, shared by every environment with those settings and kept across
//! refreshes while some environment uses it. At most `OcspCliCacheSize` answers are kept (the one
//! that goes stale first leaves first), each until its nextUpdate; a response larger than
//! `OcspCliCacheEntryMaxsize` is used by the handshakes that waited for it but not kept.
//!
//! A query runs on a thread of its own; handshakes asking about the same certificate wait on that
//! one query, each for at most `OcspResponseTimeout` (off the runtime's worker). A failed query is
//! logged once with its reason and not repeated for [`RETRY_AFTER_FAILURE`]. A `revoked` answer
//! for a certificate that was not known revoked is revocation news ([`super::news`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::cache::{Flight, lock, off_the_runtime};
use super::news::RevocationNews;
use super::ocsp_fetch::{self, Asking, Known, Outcome, Query};
use super::ocsp_response::CertStatus;
use crate::messages as msg;
use crate::policy::table::OcspSettings;

/// Largest response read, whatever `OcspMaxResponseSize` says (0 included).
pub const MAX_RESPONSE_CEILING: usize = 1024 * 1024;
/// `OcspResponseTimeout 0`: attls never waits without a bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a certificate whose query failed is not asked about again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Queries under way at once, per cache.
pub const MAX_QUERIES_IN_FLIGHT: usize = 16;
/// Handshakes waiting for queries at once, per cache.
pub const MAX_WAITING_HANDSHAKES: usize = 64;
/// Failed certificates remembered.
const MAX_FAILED: usize = 256;

/// (SHA-1 of the issuer's key, serial).
type Key = (Vec<u8>, Vec<u8>);

#[derive(Debug, Clone, Copy)]
struct Limits {
    keep: usize,
    keep_max_bytes: usize,
    timeout: Duration,
    asking: Asking,
}

impl Limits {
    fn of(s: &OcspSettings) -> Limits {
        let sizes = (s.cache_size, s.cache_entry_max_size, s.max_response_size);
        let b = super::cache::Limits::new(sizes, MAX_RESPONSE_CEILING, s.response_timeout, DEFAULT_TIMEOUT);
        Limits {
            keep: b.keep,
            keep_max_bytes: b.keep_max_bytes,
            timeout: b.timeout,
            asking: Asking {
                max_response: b.max_response,
                nonce_size: s.nonce_gen_enable.then_some(s.nonce_size),
                nonce_required: s.nonce_gen_enable && s.nonce_check_enable,
            },
        }
    }
}

/// Every live cache, by the settings it was made for.
static CACHES: Mutex<Vec<(OcspSettings, Weak<OcspCache>)>> = Mutex::new(Vec::new());

/// One cache of OCSP answers.
pub struct OcspCache {
    limits: Limits,
    news: Arc<RevocationNews>,
    state: Mutex<State>,
    waiting: AtomicUsize,
}

#[derive(Default)]
struct State {
    kept: HashMap<Key, Arc<Known>>,
    failed: HashMap<Key, Instant>,
    flights: HashMap<Key, Arc<Flight<Outcome>>>,
}

impl std::fmt::Debug for OcspCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspCache").field("limits", &self.limits).finish_non_exhaustive()
    }
}

fn key_of(q: &Query) -> Key {
    (q.id.key_hash.clone(), q.id.serial.clone())
}

impl OcspCache {
    /// The cache for `settings`, shared with every environment that has the same ones.
    pub fn shared(settings: &OcspSettings) -> Arc<OcspCache> {
        let mut caches = lock(&CACHES);
        caches.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(cache) = caches.iter().find(|(s, _)| s == settings).and_then(|(_, w)| w.upgrade()) {
            return cache;
        }
        let cache = Arc::new(OcspCache {
            limits: Limits::of(settings),
            news: Arc::default(),
            state: Mutex::new(State::default()),
            waiting: AtomicUsize::new(0),
        });
        caches.push((settings.clone(), Arc::downgrade(&cache)));
        cache
    }

    pub fn news(&self) -> Arc<RevocationNews> {
        self.news.clone()
    }

    /// The status of `query`'s certificate: kept, or asked (waiting at most the response timeout).
    pub fn status(self: &Arc<Self>, query: &Query) -> Outcome {
        let key = key_of(query);
        let now = Instant::now();
        let flight = {
            let mut state = lock(&self.state);
            if let Some(known) = state.kept.get(&key).filter(|k| now < k.fresh_until) {
                return Ok(known.clone());
            }
            if state.failed.get(&key).is_some_and(|&retry| now < retry) && !state.flights.contains_key(&key) {
                return Err("a query about it failed lately".into());
            }
            self.join_or_start(&mut state, key, query)?
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_HANDSHAKES {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err("too many handshakes already wait for OCSP responders".into());
        }
        let deadline = now + self.limits.timeout;
        let outcome = off_the_runtime(|| flight.wait_until(deadline));
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        outcome.unwrap_or_else(|| Err("no answer within OcspResponseTimeout".into()))
    }

    /// A new answer for `query` whatever is kept (the stapler's refresh), waited for.
    pub fn refresh(self: &Arc<Self>, query: &Query) -> Outcome {
        let flight = self.join_or_start(&mut lock(&self.state), key_of(query), query)?;
        flight
            .wait_until(Instant::now() + self.limits.timeout)
            .unwrap_or_else(|| Err("no answer within OcspResponseTimeout".into()))
    }

    fn join_or_start(
        self: &Arc<Self>,
        state: &mut State,
        key: Key,
        query: &Query,
    ) -> Result<Arc<Flight<Outcome>>, String> {
        if let Some(flight) = state.flights.get(&key) {
            return Ok(flight.clone());
        }
        if state.flights.len() >= MAX_QUERIES_IN_FLIGHT {
            return Err("too many OCSP queries under way".into());
        }
        let flight: Arc<Flight<Outcome>> = Arc::default();
        let (cache, for_thread, query_owned) = (Arc::clone(self), flight.clone(), query.clone());
        let deadline = Instant::now() + self.limits.timeout;
        let spawned = std::thread::Builder::new().name("attls-ocsp".into()).spawn(move || {
            let outcome = ocsp_fetch::ask(&query_owned, &cache.limits.asking, deadline);
            cache.settle(&query_owned, &for_thread, outcome);
        });
        if let Err(e) = spawned {
            return Err(format!("cannot start a thread: {e}"));
        }
        state.flights.insert(key, flight.clone());
        Ok(flight)
    }

    /// Records the outcome of `query`'s flight and wakes its waiters.
    fn settle(&self, query: &Query, flight: &Arc<Flight<Outcome>>, outcome: Result<Known, String>) {
        let key = key_of(query);
        let outcome: Outcome = match outcome {
            Ok(known) => {
                let revoked = known.status == CertStatus::Revoked;
                let serials = if revoked { vec![query.id.serial.clone()] } else { Vec::new() };
                let point = format!("ocsp:{}:{}", hex(&query.id.key_hash), hex(&query.id.serial));
                if self.news.record(&point, serials) {
                    info!(msgid = msg::OCSP_NEWLY_REVOKES, url = %known.url, serial = %hex(&query.id.serial), "an OCSP responder revokes a certificate not known revoked before: sessions issued until now will not resume");
                }
                Ok(Arc::new(known))
            }
            Err(reason) => {
                warn!(
                    msgid = msg::OCSP_UNKNOWN,
                    serial = %hex(&query.id.serial),
                    "OCSP status unknown: {reason} (next query in {}s)",
                    RETRY_AFTER_FAILURE.as_secs()
                );
                Err(reason)
            }
        };
        {
            let mut state = lock(&self.state);
            if state.flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                state.flights.remove(&key);
            }
            match &outcome {
                Ok(known) => {
                    state.failed.remove(&key);
                    if self.limits.keep > 0 && known.response.len() <= self.limits.keep_max_bytes {
                        self.keep(&mut state, key, known.clone());
                    }
                }
                Err(_) => failed(&mut state, key),
            }
        }
        flight.finish(outcome);
    }

    fn keep(&self, state: &mut State, key: Key, known: Arc<Known>) {
        let now = Instant::now();
        state.kept.remove(&key);
        if state.kept.len() >= self.limits.keep {
            state.kept.retain(|_, k| now < k.fresh_until);
        }
        while state.kept.len() >= self.limits.keep {
            let Some(first) = state.kept.iter().min_by_key(|(_, k)| k.fresh_until).map(|(k, _)| k.clone())
            else {
                break;
            };
            state.kept.remove(&first);
        }
        state.kept.insert(key, known);
    }
}

fn failed(state: &mut State, key: Key) {
    let now = Instant::now();
    if state.failed.len() >= MAX_FAILED {
        state.failed.retain(|_, retry| now < *retry);
    }
    while state.failed.len() >= MAX_FAILED {
        let Some(first) = state.failed.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) else { break };
        state.failed.remove(&first);
    }
    state.failed.insert(key, now + RETRY_AFTER_FAILURE);
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
