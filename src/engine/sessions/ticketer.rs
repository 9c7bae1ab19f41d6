//! Session tickets (TLS 1.2 and TLS 1.3): sealed with AES-256-GCM under a ticket key, with the time
//! they were issued inside, so a ticket older than its lifetime (`GSK_SESSION_TICKET_SERVER_TIMEOUT`,
//! and never past `GSK_V3_SESSION_TIMEOUT`) is refused even by a key that still exists.
//!
//! Keys come from one of two places. Own keys: random, a new one every
//! `GSK_SESSION_TICKET_SERVER_KEY_REFRESH` seconds, an old one kept while tickets it sealed can
//! still be valid. Shared keys: derived from the main configuration's `TicketKeyFile` (HKDF-SHA256
//! of each file key with the environment's identity), so agents that share the file open each
//! other's tickets, and no environment opens another's.
//!
//! A ticket: key id (8 bytes), nonce (12), then sealed: the issue time (8, Unix milliseconds) and
//! the session, and the tag (16). The key id is the additional data. A ticket issued before a
//! fetched CRL newly revoked a certificate is refused too ([`crate::engine::revocation::news`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

use super::identity::EnvId;
use super::key_file::TicketKeys;
use crate::engine::revocation::NewsHandle;
use crate::engine::revocation::news::now_ms;

const ID_LEN: usize = 8;
const TIME_LEN: usize = 8;
const TAG_LEN: usize = 16;
/// Own keys kept at most (a short refresh with a long lifetime would otherwise keep many).
const MAX_OWN_KEYS: usize = 64;
/// How far in the future another agent's clock may have dated a ticket.
const CLOCK_SKEW_MS: u64 = 60_000;

/// One ticket key.
struct TicketKey {
    id: [u8; ID_LEN],
    key: LessSafeKey,
}

impl TicketKey {
    fn from_bytes(material: &[u8; 32 + ID_LEN]) -> TicketKey {
        let (key, id) = material.split_at(32);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key"));
        TicketKey { id: id.try_into().expect("8 bytes"), key }
    }
}

/// Keys derived from the file's keys, and the file version they come from.
type Derived = Mutex<Option<(u64, Arc<Vec<TicketKey>>)>>;

/// Where the keys come from.
enum Keys {
    Own { refresh: Duration, keys: Mutex<VecDeque<(Instant, Arc<TicketKey>)>> },
    Shared { file: Arc<TicketKeys>, env: EnvId, derived: Derived },
}

/// The ticketer of one environment (or of one FTP session).
pub struct Ticketer {
    lifetime: Duration,
    keys: Keys,
    rng: SystemRandom,
    /// Tickets opened but too old to resume.
    expired: AtomicU64,
    /// When the newest ticket was sealed.
    newest: Mutex<Option<Instant>>,
    /// Revocation news that ends older tickets (with `HttpCdpEnable On`).
    news: Option<NewsHandle>,
}

impl std::fmt::Debug for Ticketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = matches!(self.keys, Keys::Shared { .. });
        f.debug_struct("Ticketer").field("lifetime", &self.lifetime).field("shared", &shared).finish()
    }
}

impl Ticketer {
    /// Own keys, rotated every `refresh`.
    pub fn own(lifetime: Duration, refresh: Duration) -> Ticketer {
        let refresh = refresh.max(Duration::from_secs(1));
        Ticketer::with_keys(lifetime, Keys::Own { refresh, keys: Mutex::default() })
    }

    /// Keys of the ticket key file, for environment `env`.
    pub fn shared(lifetime: Duration, file: Arc<TicketKeys>, env: EnvId) -> Ticketer {
        Ticketer::with_keys(lifetime, Keys::Shared { file, env, derived: Mutex::default() })
    }

    fn with_keys(lifetime: Duration, keys: Keys) -> Ticketer {
        let (expired, newest) = (AtomicU64::new(0), Mutex::default());
        Ticketer { lifetime, keys, rng: SystemRandom::new(), expired, newest, news: None }
    }

    /// Refuses tickets issued before the revocation news of `news`.
    pub fn following(mut self, news: Option<NewsHandle>) -> Ticketer {
        self.news = news;
        self
    }

    /// When the newest ticket was sealed.
    pub fn newest(&self) -> Option<Instant> {
        *self.newest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many tickets were refused as too old.
    pub fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// The key that seals new tickets.
    fn sealing_key(&self) -> Option<Arc<TicketKey>> {
        match &self.keys {
            Keys::Own { refresh, keys } => {
                let mut keys = keys.lock().unwrap_or_else(|p| p.into_inner());
                if keys.front().is_none_or(|(born, _)| born.elapsed() >= *refresh) {
                    let mut material = [0u8; 32 + ID_LEN];
                    self.rng.fill(&mut material).ok()?;
                    keys.push_front((Instant::now(), Arc::new(TicketKey::from_bytes(&material))));
                }
                self.forget_old(&mut keys);
                keys.front().map(|(_, k)| k.clone())
            }
            Keys::Shared { .. } => None,
        }
    }

    /// Drops own keys retired longer ago than a ticket lives (key `i` retired when `i - 1` was born).
    fn forget_old(&self, keys: &mut VecDeque<(Instant, Arc<TicketKey>)>) {
        let keep = (1..keys.len()).find(|&i| keys[i - 1].0.elapsed() > self.lifetime).unwrap_or(keys.len());
        keys.truncate(keep.min(MAX_OWN_KEYS));
    }

    /// The shared keys, derived again when the file's keys changed.
    fn shared_keys(file: &TicketKeys, env: &EnvId, derived: &Derived) -> Arc<Vec<TicketKey>> {
        let set = file.current();
        let mut d = derived.lock().unwrap_or_else(|p| p.into_inner());
        match &*d {
            Some((version, keys)) if *version == set.version => keys.clone(),
            _ => {
                let keys = Arc::new(set.keys.iter().map(|k| derive(k, env)).collect::<Vec<_>>());
                *d = Some((set.version, keys.clone()));
                keys
            }
        }
    }

    fn seal_with(&self, key: &TicketKey, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut sealed = Vec::with_capacity(ID_LEN + NONCE_LEN + TIME_LEN + plain.len() + TAG_LEN);
        sealed.extend_from_slice(&key.id);
        sealed.extend_from_slice(&nonce);
        let mut body = Vec::with_capacity(TIME_LEN + plain.len() + TAG_LEN);
        body.extend_from_slice(&now_ms().to_be_bytes());
        body.extend_from_slice(plain);
        let nonce = Nonce::assume_unique_for_key(nonce);
        key.key.seal_in_place_append_tag(nonce, Aad::from(key.id), &mut body).ok()?;
        sealed.extend_from_slice(&body);
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Some(sealed)
    }

    fn open_with(&self, key: &TicketKey, ticket: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::try_assume_unique_for_key(&ticket[ID_LEN..ID_LEN + NONCE_LEN]).ok()?;
        let mut body = ticket[ID_LEN + NONCE_LEN..].to_vec();
        let plain = key.key.open_in_place(nonce, Aad::from(key.id), &mut body).ok()?;
        let issued = u64::from_be_bytes(plain[..TIME_LEN].try_into().ok()?);
        let now = now_ms();
        if issued > now + CLOCK_SKEW_MS || self.news.as_ref().is_some_and(|n| issued < n.since_ms()) {
            return None;
        }
        if u128::from(now.saturating_sub(issued)) > self.lifetime.as_millis() {
            self.expired.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(plain[TIME_LEN..].to_vec())
    }
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.lifetime.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        match &self.keys {
            Keys::Own { .. } => self.seal_with(&*self.sealing_key()?, plain),
            Keys::Shared { file, env, derived } => {
                self.seal_with(Self::shared_keys(file, env, derived).first()?, plain)
            }
        }
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() < ID_LEN + NONCE_LEN + TIME_LEN + TAG_LEN {
            return None;
        }
        let id = &ticket[..ID_LEN];
        match &self.keys {
            Keys::Own { keys, .. } => {
                let key = keys
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .find(|(_, k)| k.id == id)?
                    .1
                    .clone();
                self.open_with(&key, ticket)
            }
            Keys::Shared { file, env, derived } => {
                let keys = Self::shared_keys(file, env, derived);
                self.open_with(keys.iter().find(|k| k.id == id)?, ticket)
            }
        }
    }
}

/// HKDF output of a given length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The environment's key (and key id) from one file key.
fn derive(file_key: &[u8; 32], env: &EnvId) -> TicketKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"attls ticket key v1").extract(file_key);
    let mut material = [0u8; 32 + ID_LEN];
    let info = [&env.0[..]];
    prk.expand(&info, Len(material.len()))
        .and_then(|okm| okm.fill(&mut material))
        .expect("40 bytes is within HKDF-SHA256's limit");
    TicketKey::from_bytes(&material)
}

#[cfg(test)]
mod tests;
