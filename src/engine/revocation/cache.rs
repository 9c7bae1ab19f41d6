//! The agent's cache of CRLs fetched from HTTP distribution points, keyed by URL: one cache per
//! distinct TTLSGskHttpCdpParms settings, shared by every environment with those settings and kept
//! across policy refreshes while some environment uses it. At most `HttpCdpCacheSize` CRLs are
//! kept (the one that goes stale first leaves first); a CRL larger than `HttpCdpCacheEntryMaxsize`
//! is used by the handshakes that waited for it but not kept.
//!
//! A fetch runs on a thread of its own; handshakes wanting the same URL wait on that one fetch,
//! each for at most `HttpCdpResponseTimeout` (off the runtime's worker, `block_in_place`). A failed
//! fetch is logged once, with its reason, and the URL is not tried again for
//! [`RETRY_AFTER_FAILURE`]; meanwhile the status of the certificates it covers is unknown. At most
//! [`MAX_FETCHES_IN_FLIGHT`] fetches run and [`MAX_WAITING_HANDSHAKES`] handshakes wait at once;
//! past that a handshake does not wait (unknown status).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::fetch::{self, FetchedCrl};
use super::news::RevocationNews;
use crate::messages as msg;
use crate::policy::table::HttpCdpSettings;

/// Largest response read, whatever `HttpCdpMaxResponseSize` says (0 included).
pub const MAX_RESPONSE_CEILING: usize = 16 * 1024 * 1024;
/// `HttpCdpResponseTimeout 0`: attls never waits without a bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a URL whose fetch failed (or whose CRL a handshake refused) is left alone.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Fetches under way at once, per cache.
pub const MAX_FETCHES_IN_FLIGHT: usize = 16;
/// Handshakes waiting for fetches at once, per cache.
pub const MAX_WAITING_HANDSHAKES: usize = 64;
/// Failed URLs remembered (the soonest retried leave first).
const MAX_FAILED_URLS: usize = 256;

/// A revocation cache's bounds (CRLs here, OCSP answers in `ocsp_cache`), from the settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Entries kept; 0 keeps none.
    pub keep: usize,
    /// A larger entry is used but not kept.
    pub keep_max_bytes: usize,
    /// A larger response is refused.
    pub max_response: usize,
    /// The longest a handshake waits for an answer.
    pub timeout: Duration,
}

impl Limits {
    fn of(s: &HttpCdpSettings) -> Limits {
        let sizes = (s.cache_size, s.cache_entry_max_size, s.max_response_size);
        Limits::new(sizes, MAX_RESPONSE_CEILING, s.response_timeout, DEFAULT_TIMEOUT)
    }

    /// From (cache size, entry size, response size) as written (an entry size of 0: no limit of its
    /// own; a response size of 0: `ceiling`, which also caps it), and a timeout in seconds (0:
    /// `default_timeout`).
    pub(super) fn new(
        sizes: (u32, u32, u32),
        ceiling: usize,
        timeout_secs: u32,
        default_timeout: Duration,
    ) -> Limits {
        let bytes = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        let (keep, entry, response) = sizes;
        Limits {
            keep: bytes(keep),
            keep_max_bytes: if entry == 0 { usize::MAX } else { bytes(entry) },
            max_response: match bytes(response) {
                0 => ceiling,
                n => n.min(ceiling),
            },
            timeout: match timeout_secs {
                0 => default_timeout,
                n => Duration::from_secs(u64::from(n)),
            },
        }
    }
}

/// Every live cache, by the settings it was made for.
static CACHES: Mutex<Vec<(HttpCdpSettings, Weak<CrlCache>)>> = Mutex::new(Vec::new());

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One cache of fetched CRLs.
pub struct CrlCache {
    limits: Limits,
    /// What fetched CRLs newly revoked, for the sessions of the environments using this cache.
    news: Arc<RevocationNews>,
    state: Mutex<State>,
    waiting: AtomicUsize,
}

#[derive(Default)]
struct State {
    kept: HashMap<String, Arc<FetchedCrl>>,
    /// URL → when it may be fetched again.
    failed: HashMap<String, Instant>,
    flights: HashMap<String, Arc<CrlFlight>>,
}

/// One fetch under way: its outcome, once there is one (also the OCSP cache's).
pub(super) struct Flight<T> {
    outcome: Mutex<Option<T>>,
    done: Condvar,
}

impl<T> Default for Flight<T> {
    fn default() -> Self {
        Flight { outcome: Mutex::new(None), done: Condvar::new() }
    }
}

impl<T: Clone> Flight<T> {
    pub(super) fn finish(&self, outcome: T) {
        *lock(&self.outcome) = Some(outcome);
        self.done.notify_all();
    }

    /// The outcome, once there is one; `None` when `deadline` comes first.
    pub(super) fn wait_until(&self, deadline: Instant) -> Option<T> {
        let mut outcome = lock(&self.outcome);
        loop {
            if let Some(done) = &*outcome {
                return Some(done.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            outcome = match self.done.wait_timeout(outcome, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// A CRL fetch's outcome: the CRL, or none (the fetch failed).
type CrlFlight = Flight<Option<Arc<FetchedCrl>>>;

/// What a cache holds for the URLs of one certificate.
pub struct Found {
    pub crls: Vec<Arc<FetchedCrl>>,
    /// Neither kept nor recently failed: to be fetched.
    pub missing: Vec<String>,
}

impl std::fmt::Debug for CrlCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlCache").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl CrlCache {
    /// The cache for `settings`, shared with every environment that has the same ones.
    pub fn shared(settings: &HttpCdpSettings) -> Arc<CrlCache> {
        let mut caches = lock(&CACHES);
        caches.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(cache) = caches.iter().find(|(s, _)| s == settings).and_then(|(_, w)| w.upgrade()) {
            return cache;
        }
        let cache = Arc::new(CrlCache {
            limits: Limits::of(settings),
            news: Arc::default(),
            state: Mutex::new(State::default()),
            waiting: AtomicUsize::new(0),
        });
        caches.push((*settings, Arc::downgrade(&cache)));
        cache
    }

    /// The revocation news of this cache's CRLs.
    pub fn news(&self) -> Arc<RevocationNews> {
        self.news.clone()
    }

    /// The fresh CRLs kept for `urls`, and the URLs to fetch.
    pub fn lookup(&self, urls: &[String]) -> Found {
        let now = Instant::now();
        let state = lock(&self.state);
        let mut found = Found { crls: Vec::new(), missing: Vec::new() };
        for url in urls {
            match state.kept.get(url) {
                Some(crl) if crl.is_fresh(now) => found.crls.push(crl.clone()),
                _ if state.failed.get(url).is_some_and(|&retry| now < retry) => {}
                _ => found.missing.push(url.clone()),
            }
        }
        found
    }

    /// Fetches `urls` (joining fetches under way) and waits for them, at most the response timeout.
    pub fn fetch(self: &Arc<Self>, urls: &[String]) -> Vec<Arc<FetchedCrl>> {
        let deadline = Instant::now() + self.limits.timeout;
        let flights: Vec<Arc<CrlFlight>> = {
            let mut state = lock(&self.state);
            urls.iter().filter_map(|url| self.join_or_start(&mut state, url, deadline)).collect()
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_HANDSHAKES {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return flights.iter().filter_map(|f| f.wait_until(Instant::now()).flatten()).collect();
        }
        let crls =
            off_the_runtime(|| flights.iter().filter_map(|f| f.wait_until(deadline).flatten()).collect());
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        crls
    }

    /// The fetch of `url` under way, a new one, or one already done (kept meanwhile); `None` when
    /// no fetch can start now.
    fn join_or_start(
        self: &Arc<Self>,
        state: &mut State,
        url: &str,
        deadline: Instant,
    ) -> Option<Arc<CrlFlight>> {
        if let Some(flight) = state.flights.get(url) {
            return Some(flight.clone());
        }
        let now = Instant::now();
        if let Some(crl) = state.kept.get(url).filter(|c| c.is_fresh(now)) {
            let flight = Arc::new(CrlFlight::default());
            flight.finish(Some(crl.clone()));
            return Some(flight);
        }
        if state.failed.get(url).is_some_and(|&retry| now < retry)
            || state.flights.len() >= MAX_FETCHES_IN_FLIGHT
        {
            return None;
        }
        let flight = Arc::new(CrlFlight::default());
        let (cache, for_thread, url_owned) = (Arc::clone(self), flight.clone(), url.to_string());
        let spawned = std::thread::Builder::new().name("attls-crl-fetch".into()).spawn(move || {
            let outcome = fetch::fetch(&url_owned, cache.limits.max_response, deadline);
            cache.settle(&url_owned, &for_thread, outcome);
        });
        if let Err(e) = spawned {
            warn!(
                msgid = msg::CRL_THREAD_FAILED,
                url, "CRL distribution point not fetched: cannot start a thread: {e}"
            );
            failed(state, url);
            return None;
        }
        state.flights.insert(url.to_string(), flight.clone());
        Some(flight)
    }

    /// Records the outcome of the fetch `flight` of `url` and wakes its waiters.
    fn settle(&self, url: &str, flight: &Arc<CrlFlight>, outcome: Result<FetchedCrl, String>) {
        let crl = match outcome {
            Ok(crl) => {
                if self.news.record(url, crl.revoked.clone()) {
                    info!(
                        msgid = msg::CRL_NEWLY_REVOKES,
                        url,
                        "a fetched CRL revokes a certificate it did not before: sessions issued until now will not resume"
                    );
                }
                let crl = Arc::new(crl);
                let size = crl.der.as_ref().len();
                let kept = self.limits.keep > 0 && size <= self.limits.keep_max_bytes;
                info!(msgid = msg::CRL_FETCHED, url, size, kept, "CRL fetched from a distribution point");
                Some(crl)
            }
            Err(reason) => {
                warn!(
                    msgid = msg::CRL_NOT_FETCHED,
                    url,
                    "CRL distribution point not used: {reason}; revocation status unknown for the certificates it covers (next try in {}s)",
                    RETRY_AFTER_FAILURE.as_secs()
                );
                None
            }
        };
        {
            let mut state = lock(&self.state);
            if state.flights.get(url).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                state.flights.remove(url);
            }
            match &crl {
                Some(c) if self.limits.keep > 0 && c.der.as_ref().len() <= self.limits.keep_max_bytes => {
                    state.failed.remove(url);
                    self.keep(&mut state, c.clone());
                }
                Some(_) => {
                    state.failed.remove(url);
                }
                None => failed(&mut state, url),
            }
        }
        flight.finish(crl);
    }

    fn keep(&self, state: &mut State, crl: Arc<FetchedCrl>) {
        let now = Instant::now();
        state.kept.remove(&crl.url);
        if state.kept.len() >= self.limits.keep {
            state.kept.retain(|_, c| c.is_fresh(now));
        }
        while state.kept.len() >= self.limits.keep {
            let Some(first) = state.kept.values().min_by_key(|c| c.fresh_until).map(|c| c.url.clone()) else {
                break;
            };
            state.kept.remove(&first);
        }
        state.kept.insert(crl.url.clone(), crl);
    }

    /// A handshake found `crl` unusable (`reason`): logged once, dropped, and its URL left alone.
    pub fn reject(&self, crl: &FetchedCrl, reason: &str) {
        if crl.rejected.swap(true, Ordering::AcqRel) {
            return;
        }
        warn!(
            msgid = msg::CRL_NOT_USED,
            url = %crl.url,
            "CRL from a distribution point not used: {reason}; revocation status unknown for the certificates it covers (next try in {}s)",
            RETRY_AFTER_FAILURE.as_secs()
        );
        let mut state = lock(&self.state);
        if state.kept.get(&crl.url).is_some_and(|k| k.generation == crl.generation) {
            state.kept.remove(&crl.url);
        }
        failed(&mut state, &crl.url);
    }
}

fn failed(state: &mut State, url: &str) {
    let now = Instant::now();
    if state.failed.len() >= MAX_FAILED_URLS {
        state.failed.retain(|_, retry| now < *retry);
    }
    while state.failed.len() >= MAX_FAILED_URLS {
        let Some(first) = state.failed.iter().min_by_key(|(_, t)| **t).map(|(u, _)| u.clone()) else { break };
        state.failed.remove(&first);
    }
    state.failed.insert(url.to_string(), now + RETRY_AFTER_FAILURE);
}

/// Runs a bounded blocking wait without holding up the runtime's other tasks: on a multi-thread
/// runtime's worker the worker is handed over first (`block_in_place`); elsewhere it just waits.
pub(super) fn off_the_runtime<T>(wait: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}
