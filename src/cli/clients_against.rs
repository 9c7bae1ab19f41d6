//! `pagent clients --against FILE`: the candidate policy a client inventory is judged against. The
//! file is a policy file in the syntax of the configured ones; keyring names in it resolve as the
//! agent resolves them (the `-c` configuration's `KeyringMap`, absolute paths, paths relative to
//! the file: docs/decisions.md D10). Each inventory rule is judged against the candidate's rule of
//! the same name, with its effective settings ([`Offer::of`]) and, when its keyring can be read,
//! the keys of its server certificates (`CertificateLabel`, or every `ServerCertificateLabel`).
//! A keyring that cannot be read (permissions, a password) is warned about once and the profile
//! is judged without the key types.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::SigningKey;

use crate::config::Config;
use crate::engine::tls::Keyrings;
use crate::inventory::verdict::Offer;
use crate::keyring;
use crate::policy::{LoadOptions, RuleTable, Settings, load_files, rustls_caps};

/// The server certificates' keys of one environment, or why they are unknown.
type Keys = Result<Vec<Arc<dyn SigningKey>>, String>;

/// A loaded candidate policy and the server keys read so far.
pub(super) struct Candidate {
    table: RuleTable,
    keyring_map: Vec<(String, PathBuf)>,
    /// Keys per environment (rules sharing settings share them), or why they are unknown.
    keys: HashMap<*const Settings, Keys>,
}

impl Candidate {
    /// Loads `file`; on errors prints every diagnostic and returns `None`.
    pub(super) fn load(file: &Path, config: Option<&Config>) -> Option<Candidate> {
        let opts = LoadOptions {
            cert_user_map: config.is_some_and(|c| c.cert_user_map.is_some()),
            ..LoadOptions::default()
        };
        let loaded = load_files(&[file.to_path_buf()], opts);
        let Some(table) = loaded.table else {
            eprint!("{}", loaded.diagnostics.render(&loaded.sources));
            eprintln!("error: the candidate policy {} is invalid", file.display());
            return None;
        };
        let keyring_map = config.map(|c| c.keyring_map.clone()).unwrap_or_default();
        Some(Candidate { table, keyring_map, keys: HashMap::new() })
    }

    /// What the candidate's rule `name` offers, or why there is none to judge against.
    pub(super) fn offer(&mut self, name: &str) -> Result<Offer, String> {
        let Some(rule) = self.table.get(name).cloned() else {
            return Err(format!("no rule {name} in the candidate"));
        };
        let mut offer = Offer::of(&rule.settings);
        if offer.refusal.is_some() {
            return Ok(offer);
        }
        let map = &self.keyring_map;
        let keys = self
            .keys
            .entry(Arc::as_ptr(&rule.settings))
            .or_insert_with(|| {
                let keys = server_keys(&rule.settings, map);
                if let Err(why) = &keys {
                    eprintln!(
                        "warning: rule {name}: {why}: TLS 1.2 suites and signature algorithms are judged without the server certificate's key type"
                    );
                }
                keys
            });
        offer.keys = keys.as_ref().ok().cloned();
        Ok(offer)
    }
}

/// The signing keys of the certificates the rule's server role presents.
fn server_keys(s: &Settings, map: &[(String, PathBuf)]) -> Keys {
    let ring = s.keyring.as_deref().ok_or("no keyring")?;
    let path = Keyrings::new(map, None).resolve(ring, s.keyring_dir.as_deref()).map_err(|e| e.to_string())?;
    let dir = s.keyring_dir.as_deref();
    let password = keyring::password_for(s.keyring_pw.as_deref(), s.keyring_stash_file.as_deref(), dir)
        .map_err(|e| format!("keyring {}: {e}", path.display()))?;
    let ring =
        keyring::load(&path, password.as_deref()).map_err(|e| format!("keyring {}: {e}", path.display()))?;
    let labels: Vec<Option<&str>> = if s.server_certs.labels.is_empty() {
        vec![s.certificate_label.as_deref()]
    } else {
        s.server_certs.labels.iter().map(|l| Some(l.as_str())).collect()
    };
    let provider = rustls_caps::provider();
    labels
        .into_iter()
        .map(|label| {
            let id = ring.identity(label).map_err(|e| format!("keyring {}: {e}", path.display()))?;
            provider
                .key_provider
                .load_private_key(id.key.clone_key())
                .map_err(|e| format!("certificate `{}`: {e}", id.label))
        })
        .collect()
}
