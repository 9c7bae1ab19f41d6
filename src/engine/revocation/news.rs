//! Revocation news: when a fetched CRL names a certificate that the CRL fetched before from the
//! same distribution point did not (or the first CRL of a point names any), every resumable session
//! issued before that moment is refused. A resumed handshake checks no certificate, so without this
//! a client whose certificate a newly fetched CRL revokes could keep resuming its old session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Distribution points whose revoked serials are remembered (the oldest forgotten first).
const MAX_POINTS: usize = 256;

/// When revocations last became known, and what each point has revoked so far.
#[derive(Debug, Default)]
pub struct RevocationNews {
    /// Unix milliseconds; 0 = never.
    since_ms: AtomicU64,
    known: Mutex<HashMap<String, Vec<Vec<u8>>>>,
}

impl RevocationNews {
    /// Sessions issued before this (Unix milliseconds) may not be resumed.
    pub fn since_ms(&self) -> u64 {
        self.since_ms.load(Ordering::Relaxed)
    }

    /// Records the serials `url`'s CRL revokes; true (and news from now on) when one is new.
    pub fn record(&self, url: &str, mut revoked: Vec<Vec<u8>>) -> bool {
        revoked.sort_unstable();
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = match known.get(url) {
            Some(before) => revoked.iter().any(|s| before.binary_search(s).is_err()),
            None => !revoked.is_empty(),
        };
        if known.len() >= MAX_POINTS && !known.contains_key(url) {
            // Forgetting a point only makes its next CRL count as news: safe.
            if let Some(any) = known.keys().next().cloned() {
                known.remove(&any);
            }
        }
        known.insert(url.to_string(), revoked);
        if fresh {
            self.since_ms.store(now_ms(), Ordering::Relaxed);
        }
        fresh
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newly_revoked_serial_is_news() {
        let news = RevocationNews::default();
        assert_eq!(news.since_ms(), 0);
        assert!(!news.record("http://a/", vec![]), "an empty first CRL");
        assert!(news.record("http://a/", vec![vec![1]]), "a first revocation");
        let first = news.since_ms();
        assert!(first > 0);
        assert!(!news.record("http://a/", vec![vec![1]]), "the same list again");
        assert!(!news.record("http://a/", vec![]), "an unrevocation is no news");
        assert!(news.record("http://b/", vec![vec![9]]), "another point");
        assert!(news.since_ms() >= first);
    }
}
