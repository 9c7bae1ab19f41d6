//! OCSP stapling (`OcspServerStapling On`): for each certificate a server role may present, a
//! thread of its own asks the certificate's responder (`OcspUrl`, or with `OcspAiaEnable On` the
//! AIA OCSP URI, as for checking) and keeps the answer as the certificate's stapled response,
//! sent to every client that asks with `status_request`. The first query is made when the
//! environment is built (a client that comes before the answer gets no staple); afterwards the
//! answer is fetched again halfway to its nextUpdate (between [`MIN_REFRESH`] and
//! [`MAX_REFRESH`]). A failed query is retried after [`FIRST_RETRY`], doubling up to
//! [`MAX_RETRY`]; a response past its nextUpdate is no longer stapled. The thread ends within a
//! second of the environment being dropped (a refresh that changes it, or the end of the agent).

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

use super::ocsp_cache::OcspCache;
use super::ocsp_check::OcspCheck;
use super::ocsp_fetch::Query;
use crate::messages as msg;
use crate::policy::table::OcspSettings;

/// The soonest a good answer is fetched again.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// The latest a good answer is fetched again.
pub const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// The first wait after a failed query.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between failed queries.
pub const MAX_RETRY: Duration = Duration::from_secs(300);
/// How often a sleeping stapler looks whether its environment is gone.
const WAKE: Duration = Duration::from_secs(1);

/// One certificate and its current staple.
#[derive(Debug)]
pub struct Staple {
    label: String,
    base: Arc<CertifiedKey>,
    /// The key with its response, and when that response goes stale.
    current: RwLock<(Arc<CertifiedKey>, Option<Instant>)>,
}

impl Staple {
    /// Starts stapling `key` (labelled `label`; its issuer among its chain or `trust`).
    pub fn start(
        label: &str,
        key: Arc<CertifiedKey>,
        trust: &[CertificateDer<'static>],
        s: &OcspSettings,
    ) -> Arc<Staple> {
        let staple = Arc::new(Staple {
            label: label.to_string(),
            base: key.clone(),
            current: RwLock::new((key.clone(), None)),
        });
        let check = OcspCheck::new(s, trust.to_vec(), false);
        let query = match key.cert.split_first() {
            Some((end_entity, chain)) => check.query(end_entity.as_ref(), chain),
            None => Err("no certificate".to_string()),
        };
        let query = match query {
            Ok(q) if !q.urls.is_empty() => q,
            Ok(_) => {
                return warned(
                    staple,
                    "no OCSP responder (OcspUrl, or OcspAiaEnable On and an AIA OCSP URI)",
                );
            }
            Err(reason) => return warned(staple, &reason),
        };
        let weak = Arc::downgrade(&staple);
        let spawned = std::thread::Builder::new()
            .name("attls-ocsp-staple".into())
            .spawn(move || keep_fresh(&weak, &check.cache, &query));
        if let Err(e) = spawned {
            return warned(staple, &format!("cannot start a thread: {e}"));
        }
        staple
    }

    /// The key to present: with its response while that is fresh.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        match current.1 {
            Some(stale_at) if Instant::now() < stale_at => current.0.clone(),
            _ => self.base.clone(),
        }
    }

    fn set(&self, response: Vec<u8>, stale_at: Instant) {
        let mut key = (*self.base).clone();
        key.ocsp = Some(response);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(key), Some(stale_at));
    }
}

fn warned(staple: Arc<Staple>, reason: &str) -> Arc<Staple> {
    warn!(msgid = msg::STAPLING_OFF, label = %staple.label, "OCSP stapling off for this certificate: {reason}");
    staple
}

/// The stapler's loop: query, staple, sleep, while the staple is alive.
fn keep_fresh(weak: &Weak<Staple>, cache: &Arc<OcspCache>, query: &Query) {
    let mut retry = FIRST_RETRY;
    let mut first = true;
    loop {
        let Some(staple) = weak.upgrade() else { return };
        let outcome = if first { cache.status(query) } else { cache.refresh(query) };
        first = false;
        let wait = match outcome {
            Ok(known) => {
                staple.set(known.response.clone(), known.fresh_until);
                info!(msgid = msg::STAPLED, label = %staple.label, url = %known.url, status = ?known.status, "OCSP response stapled");
                retry = FIRST_RETRY;
                (known.fresh_until.saturating_duration_since(Instant::now()) / 2)
                    .clamp(MIN_REFRESH, MAX_REFRESH)
            }
            Err(reason) => {
                warn!(msgid = msg::STAPLE_NOT_HAD, label = %staple.label, "OCSP response for stapling not had: {reason}; next try in {}s", retry.as_secs());
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                wait
            }
        };
        drop(staple);
        let until = Instant::now() + wait;
        while Instant::now() < until {
            std::thread::sleep(WAKE.min(until.saturating_duration_since(Instant::now())));
            if weak.strong_count() == 0 {
                return;
            }
        }
    }
}
