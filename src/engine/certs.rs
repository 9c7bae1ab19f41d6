//! The certificate a server role presents. One certificate (`CertificateLabel`, or the keyring's
//! only one), or up to 8 candidates (`ServerCertificateLabel`) of which the client gets the first
//! it can verify: its signature algorithms and, for TLS 1.2, its cipher suites decide (an RSA and
//! an ECDSA certificate side by side: a client that accepts only RSA gets the RSA one). With
//! `ServerHandshakeSNI` Optional or Required, a server name the client sends that is listed in
//! `ServerHandshakeSNIList` (`NAME/LABEL`, names matched without regard to case) picks that
//! label's certificate; under Required a client that sends no name is refused, and under
//! `ServerHandshakeSNIMatch Required` so is one whose name is not listed. With
//! `OcspServerStapling On` each candidate is presented with its stapled OCSP response
//! ([`super::revocation::staple`]).
//!
//! Which candidate a handshake got is told to the connection that ran it through a task-local slot
//! ([`presenting`]): rustls asks the chooser from inside the handshake future's poll, on that
//! connection's task, so the slot needs no lookup by connection.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::warn;

use super::revocation::staple::Staple;
use super::tls::TlsSetupError;
use crate::keyring::Keyring;
use crate::messages as msg;
use crate::policy::table::{Settings, SniMode};

/// At most this many `ServerCertificateLabel` values (as z/OS).
pub const MAX_SERVER_LABELS: usize = 8;

/// One certificate with its key, by label.
#[derive(Debug)]
struct Candidate {
    label: String,
    key: Arc<CertifiedKey>,
    /// `OcspServerStapling On`: the key with its current OCSP response.
    staple: Option<Arc<Staple>>,
    /// The leaf's notAfter (`None` if it does not parse).
    not_after: Option<SystemTime>,
}

impl Candidate {
    /// The key to present (stapled when there is a fresh response).
    fn presented(&self) -> Arc<CertifiedKey> {
        self.staple.as_ref().map_or_else(|| self.key.clone(), |s| s.current())
    }
}

/// The server's certificate choice for one environment.
#[derive(Debug)]
pub struct ServerCertChooser {
    /// Candidates without SNI (or when SNI picks nothing), in policy order.
    default: Vec<Arc<Candidate>>,
    /// Lower-case server name and the candidate it picks.
    by_name: Vec<(String, Arc<Candidate>)>,
    sni: SniMode,
    sni_match: SniMode,
    suites: Vec<SupportedCipherSuite>,
}

impl ServerCertChooser {
    pub fn new(s: &Settings, keyring: &Keyring, provider: &CryptoProvider) -> Result<Self, TlsSetupError> {
        let c = &s.server_certs;
        if c.labels.len() > MAX_SERVER_LABELS {
            return Err(TlsSetupError::ServerLabels(c.labels.len()));
        }
        let mut loaded: Vec<Arc<Candidate>> = Vec::new();
        let mut load = |label: Option<&str>| -> Result<Arc<Candidate>, TlsSetupError> {
            let id = keyring.identity(label)?;
            if let Some(found) = loaded.iter().find(|k| k.label == id.label) {
                return Ok(found.clone());
            }
            let key =
                CertifiedKey::from_der(id.chain.clone(), id.key.clone_key(), provider).map_err(|error| {
                    TlsSetupError::Certificate {
                        label: id.label.clone(),
                        source_file: id.source.display().to_string(),
                        error,
                    }
                })?;
            let key = Arc::new(key);
            let staple = s
                .ocsp
                .server_stapling
                .then(|| Staple::start(&id.label, key.clone(), &keyring.trust, &s.ocsp));
            let not_after = id.chain.first().and_then(|leaf| not_after(leaf.as_ref()));
            let candidate = Arc::new(Candidate { label: id.label.clone(), key, staple, not_after });
            loaded.push(candidate.clone());
            Ok(candidate)
        };
        let default = if c.labels.is_empty() {
            vec![load(s.certificate_label.as_deref())?]
        } else {
            c.labels.iter().map(|l| load(Some(l))).collect::<Result<_, _>>()?
        };
        let mut by_name = Vec::new();
        for entry in &c.sni_list {
            let (name, label) = entry
                .split_once('/')
                .map(|(n, l)| (n.trim(), l.trim()))
                .filter(|(n, l)| !n.is_empty() && !l.is_empty())
                .ok_or_else(|| TlsSetupError::SniList(entry.clone()))?;
            by_name.push((name.to_ascii_lowercase(), load(Some(label))?));
        }
        let suites = provider.cipher_suites.clone();
        Ok(ServerCertChooser { default, by_name, sni: c.sni, sni_match: c.sni_match, suites })
    }

    /// Whether the client can verify a signature by `key` in a suite both sides have.
    fn usable(&self, key: &CertifiedKey, hello: &ClientHello<'_>) -> bool {
        if key.key.choose_scheme(hello.signature_schemes()).is_none() {
            return false;
        }
        let algorithm = key.key.algorithm();
        hello.cipher_suites().iter().any(|offered| {
            self.suites
                .iter()
                .any(|ours| ours.suite() == *offered && ours.usable_for_signature_algorithm(algorithm))
        })
    }

    /// The candidates for this client's server name; `None` refuses the handshake.
    fn pool(&self, name: Option<&str>) -> Option<Vec<&Arc<Candidate>>> {
        if self.sni == SniMode::Off {
            return Some(self.default.iter().collect());
        }
        let Some(name) = name else {
            if self.sni == SniMode::Required {
                warn!(
                    msgid = msg::REFUSED_NO_SNI,
                    "refused: the client sent no server name (ServerHandshakeSNI Required)"
                );
                return None;
            }
            return Some(self.default.iter().collect());
        };
        let listed: Vec<&Arc<Candidate>> =
            self.by_name.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| c).collect();
        if !listed.is_empty() {
            return Some(listed);
        }
        if self.sni_match == SniMode::Required {
            warn!(
                msgid = msg::REFUSED_SNI_NOT_LISTED,
                server_name = name,
                "refused: the server name is not in ServerHandshakeSNIList (ServerHandshakeSNIMatch Required)"
            );
            return None;
        }
        Some(self.default.iter().collect())
    }
}

impl ResolvesServerCert for ServerCertChooser {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let pool = self.pool(hello.server_name())?;
        // The first the client can use; else the first, and the handshake fails as it would with one.
        let chosen = pool.iter().find(|c| self.usable(&c.key, &hello)).or(pool.first())?;
        // Outside [`presenting`] (no slot) nobody asked.
        let _ = CHOSEN_NOT_AFTER.try_with(|slot| slot.set(chosen.not_after));
        Some(chosen.presented())
    }
}

tokio::task_local! {
    /// The notAfter of the candidate the chooser last gave the handshake running on this task.
    static CHOSEN_NOT_AFTER: Cell<Option<SystemTime>>;
}

/// Runs a server-side handshake `f` and says which certificate the chooser gave it: the notAfter
/// of its leaf, `None` when it chose none (the handshake failed before, or the configuration has
/// another resolver). rustls asks the chooser for every ClientHello, a resuming one included.
pub async fn presenting<F: Future>(f: F) -> (F::Output, Option<SystemTime>) {
    let scoped = CHOSEN_NOT_AFTER.scope(Cell::new(None), f);
    tokio::pin!(scoped);
    let out = (&mut scoped).await;
    let chosen = scoped.as_mut().take_value().and_then(Cell::into_inner);
    (out, chosen)
}

/// The notAfter of a DER certificate, if it parses.
fn not_after(der: &[u8]) -> Option<SystemTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let secs = cert.validity().not_after.timestamp();
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) }
}

#[cfg(test)]
mod tests;
