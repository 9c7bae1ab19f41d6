//! The server's TLS session cache (TLS 1.2 session IDs, and TLS 1.3 resumption without tickets):
//! at most `capacity` sessions, the oldest dropped first, and none older than the session lifetime
//! (`GSK_V3_SESSION_TIMEOUT`) is ever handed back; a lifetime of 0 caches nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::server::StoresServerSessions;

use crate::engine::revocation::NewsHandle;
use crate::engine::revocation::news::now_ms;

/// A bounded, age-limited session store.
#[derive(Debug)]
pub struct SessionCache {
    capacity: usize,
    lifetime: Duration,
    entries: Mutex<Entries>,
    /// Sessions asked for but found too old (for the FTP 522 that says why).
    expired: AtomicU64,
    /// When the newest session was stored.
    newest: Mutex<Option<Instant>>,
    /// Revocation news that ends older sessions (with `HttpCdpEnable On`).
    news: Option<NewsHandle>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Session by id: when it was stored (monotonic, and Unix milliseconds for the news), and it.
    by_id: HashMap<Vec<u8>, (Instant, u64, Vec<u8>)>,
    /// Insertion order, for dropping the oldest (may name ids already taken).
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl SessionCache {
    pub fn new(capacity: usize, lifetime: Duration) -> SessionCache {
        let capacity = capacity.max(1);
        SessionCache {
            capacity,
            lifetime,
            entries: Mutex::default(),
            expired: AtomicU64::new(0),
            newest: Mutex::default(),
            news: None,
        }
    }

    /// Refuses sessions stored before the revocation news of `news`.
    pub fn following(mut self, news: Option<NewsHandle>) -> SessionCache {
        self.news = news;
        self
    }

    /// When the newest session was stored.
    pub fn newest(&self) -> Option<Instant> {
        *self.newest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many lookups found a session too old to resume.
    pub fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    fn lookup(&self, key: &[u8], take: bool) -> Option<Vec<u8>> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (born, born_ms, _) = e.by_id.get(key)?;
        if self.news.as_ref().is_some_and(|n| *born_ms < n.since_ms()) {
            e.by_id.remove(key);
            return None;
        }
        if born.elapsed() > self.lifetime {
            e.by_id.remove(key);
            self.expired.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if take {
            e.by_id.remove(key).map(|(_, _, v)| v)
        } else {
            e.by_id.get(key).map(|(_, _, v)| v.clone())
        }
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if !self.can_cache() {
            return false;
        }
        let now = Instant::now();
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Entries whose order slot is stale (taken, or replaced) are skipped when dropping.
        while e.by_id.len() >= self.capacity || e.order.len() >= 2 * self.capacity {
            let Some((born, old)) = e.order.pop_front() else { break };
            if e.by_id.get(&old).is_some_and(|(b, _, _)| *b == born) {
                e.by_id.remove(&old);
            }
        }
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        e.order.push_back((now, key.clone()));
        e.by_id.insert(key, (now, now_ms(), value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, false)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, true)
    }

    /// No caching under a lifetime of 0 (`GSK_V3_SESSION_TIMEOUT 0`).
    fn can_cache(&self) -> bool {
        !self.lifetime.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_oldest_first() {
        let c = SessionCache::new(3, Duration::from_secs(60));
        for i in 0..5u8 {
            assert!(c.put(vec![i], vec![i; 4]));
        }
        assert_eq!(c.get(&[0]), None);
        assert_eq!(c.get(&[1]), None);
        assert_eq!(c.get(&[4]), Some(vec![4; 4]));
        assert_eq!(c.take(&[3]), Some(vec![3; 4]));
        assert_eq!(c.get(&[3]), None, "taken");
        for i in 10..100u8 {
            c.put(vec![i], vec![]);
            c.take(&[i]);
        }
        let e = c.entries.lock().unwrap();
        assert!(e.order.len() <= 6 && e.by_id.len() <= 3, "{} {}", e.order.len(), e.by_id.len());
    }

    #[test]
    fn too_old_is_not_handed_back() {
        let c = SessionCache::new(8, Duration::from_millis(50));
        c.put(b"id".to_vec(), b"session".to_vec());
        assert_eq!(c.get(b"id").as_deref(), Some(&b"session"[..]));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(c.get(b"id"), None);
        assert_eq!(c.expired(), 1);
    }
}
