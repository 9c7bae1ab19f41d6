//! A policy generation: the rule table and the TLS configurations built from it, installed together
//! in one cell so a connection never sees half a refresh. Connections keep the `Arc` they took when
//! they were mapped (D9, D24a).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::sessions::{EnvId, EnvSessions, SessionPool, TicketKeys};
use super::tls::{self, Keyrings, TlsEnv};
use crate::certmap::CertUserMap;
use crate::config::Config;
use crate::policy::{LoadOptions, Rule, RuleTable, carry, load_with_carry};

/// Why a policy could not become a generation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The files have errors (or a keyring cannot be used): every diagnostic, rendered.
    #[error("{0}")]
    Invalid(String),
    /// The load itself could not run.
    #[error("policy load failed: {0}")]
    Internal(String),
}

/// A keyed certificate the generation's rules use and when its leaf expires (for the metrics; the
/// agent fills it in after the load, docs/metrics.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateExpiry {
    /// `Keyring` as the rule wrote it.
    pub keyring: String,
    pub label: String,
    pub not_after: std::time::SystemTime,
}

/// One installed (or candidate) policy: its rules, their TLS configurations and session state.
#[derive(Debug)]
pub struct Generation {
    pub id: u64,
    pub table: RuleTable,
    /// TLS configurations by settings (rules that share settings share configurations).
    tls: HashMap<usize, Arc<TlsEnv>>,
    /// Policy files this generation was read from (watched for changes).
    pub files: Vec<PathBuf>,
    /// Keyring files and directories it opened, the ticket key file and the CertUserMap (watched
    /// for changes too).
    pub keyrings: Vec<PathBuf>,
    /// The `CertUserMap`, read with this generation: its connections' CertUserIDs (D37).
    pub cert_users: Option<Arc<CertUserMap>>,
    /// The keyed certificates its rules use, by keyring and label (empty until the agent records
    /// them after the load).
    pub certificate_expiry: Vec<CertificateExpiry>,
    /// Session state by environment identity, for the next generation to keep (D36).
    sessions: HashMap<EnvId, Arc<EnvSessions>>,
    /// The `TicketKeyFile` keys, shared with every generation after this one.
    ticket_keys: Option<Arc<TicketKeys>>,
    /// Warnings of the load, rendered, for the log.
    pub warnings: String,
    /// The part of `warnings` that says the TicketKeyFile could not be read again (empty if none),
    /// logged under its own message ID.
    pub ticket_key_warning: String,
    /// The policy texts this generation was built from, in namespace order (with NOFLUSH, what is
    /// left of earlier generations' texts first: only definitions the files do not hold again).
    texts: Vec<(PathBuf, String)>,
}

impl Generation {
    pub fn tls_for(&self, rule: &Rule) -> Option<&Arc<TlsEnv>> {
        self.tls.get(&(Arc::as_ptr(&rule.settings) as usize))
    }

    /// Parses, resolves and builds TLS for the configuration's policy files. Blocking work: call it
    /// from `spawn_blocking`. The error is every diagnostic, rendered.
    pub fn load(config: &Config, id: u64, previous: Option<&Generation>) -> Result<Generation, LoadError> {
        Generation::read(config, id, previous, Use::Install)
    }

    /// What a refresh would load now, for a dry run: the same load as [`Generation::load`] (files,
    /// NOFLUSH carry, keyrings, ticket keys, CertUserMap), but nothing of `running` changes: the
    /// ticket keys in use are not replaced and no session state is shared. Never install it. Its
    /// id is `running`'s.
    pub fn candidate(config: &Config, running: &Generation) -> Result<Generation, LoadError> {
        Generation::read(config, running.id, Some(running), Use::DryRun)
    }

    fn read(
        config: &Config,
        id: u64,
        previous: Option<&Generation>,
        purpose: Use,
    ) -> Result<Generation, LoadError> {
        let carried = carried(config, previous);
        let opts = LoadOptions {
            strict: config.strict,
            warn_keyrings: false,
            carried: 0,
            cert_user_map: config.cert_user_map.is_some(),
        };
        let loaded = load_with_carry(&carried, &config.policy_files, opts);
        let all: Vec<(PathBuf, String)> =
            loaded.sources.files().map(|(_, f)| (f.path.clone(), f.text.clone())).collect();
        // Only what the files do not define again is carried on: the carry stays bounded.
        let (old, current) = all.split_at(carried.len());
        let texts = if old.is_empty() {
            current.to_vec()
        } else {
            [carry::reduce(old, current), current.to_vec()].concat()
        };
        let rendered = loaded.diagnostics.render(&loaded.sources);
        let Some(table) = loaded.table else {
            let c = loaded.counts();
            let summary = format!("policy invalid: {} errors, {} warnings", c.errors, c.warnings);
            return Err(LoadError::Invalid(format!("{rendered}{summary}")));
        };
        let (cert_users, map_warnings) = cert_users(config)?;
        let mut keyrings = Keyrings::new(&config.keyring_map, config.dev_keyring.as_deref());
        let (ticket_keys, key_warning) = ticket_keys(config, previous, purpose)?;
        let previous_sessions = match purpose {
            Use::Install => previous.map(|p| p.sessions.clone()).unwrap_or_default(),
            Use::DryRun => HashMap::new(),
        };
        let mut pool = SessionPool::new(previous_sessions, ticket_keys.clone());
        let mut tls = HashMap::new();
        let mut errors = String::new();
        for rule in table.rules() {
            let key = Arc::as_ptr(&rule.settings) as usize;
            if !rule.settings.ttls_enabled || tls.contains_key(&key) {
                continue;
            }
            match tls::build(&rule.settings, &mut keyrings, &mut pool) {
                Ok(env) => {
                    tls.insert(key, Arc::new(env));
                }
                Err(e) => {
                    let d = tls::keyring_diagnostic(&rule.name, &rule.settings, &e, &loaded.sources);
                    if !errors.contains(&d) {
                        errors.push_str(&d);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(LoadError::Invalid(format!(
                "{rendered}{errors}policy not installed: its keyrings or TLS settings cannot be used"
            )));
        }
        let sysplex = super::sessions::sysplex_warning(&table, config.ticket_key_file.as_deref());
        let mut watched = keyrings.opened();
        watched.extend(config.ticket_key_file.clone());
        watched.extend(config.cert_user_map.clone());
        Ok(Generation {
            id,
            table,
            tls,
            files: config.policy_files.clone(),
            keyrings: watched,
            cert_users,
            certificate_expiry: Vec::new(),
            sessions: pool.into_used(),
            ticket_keys,
            warnings: rendered + &key_warning + &sysplex.unwrap_or_default() + &map_warnings,
            ticket_key_warning: key_warning,
            texts,
        })
    }
}

/// Whether a load is to be installed or only compared (a dry run changes nothing in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Install,
    DryRun,
}

/// The `TicketKeyFile` keys: read at the first load (an error stops it); read again at every
/// later one, where an error keeps the keys in use and becomes a warning. A dry run only reads the
/// file: the keys in use stay as they are.
fn ticket_keys(
    config: &Config,
    previous: Option<&Generation>,
    purpose: Use,
) -> Result<(Option<Arc<TicketKeys>>, String), LoadError> {
    let Some(path) = &config.ticket_key_file else { return Ok((None, String::new())) };
    match previous.and_then(|p| p.ticket_keys.clone()).filter(|k| &k.path == path) {
        Some(keys) => {
            let read = match purpose {
                Use::Install => keys.reload().map(|_| ()),
                Use::DryRun => super::sessions::key_file::read(path).map(|_| ()),
            };
            let warning = match read {
                Ok(()) => String::new(),
                Err(e) => format!("warning: {e}; the ticket keys read before stay in use\n"),
            };
            Ok((Some(keys), warning))
        }
        None => match TicketKeys::load(path) {
            Ok(keys) => Ok((Some(Arc::new(keys)), String::new())),
            Err(e) => Err(LoadError::Invalid(format!("error: {e}\npolicy not installed: no ticket keys"))),
        },
    }
}

/// The `CertUserMap`, read again for every generation; an invalid one fails the load (at start
/// the agent stops, at a refresh the generation in force stays), with every error rendered.
fn cert_users(config: &Config) -> Result<(Option<Arc<CertUserMap>>, String), LoadError> {
    let Some(path) = &config.cert_user_map else { return Ok((None, String::new())) };
    match CertUserMap::load(path) {
        Ok((map, warnings)) => Ok((Some(Arc::new(map)), warnings)),
        Err(e) => Err(LoadError::Invalid(format!("{e}policy not installed: the CertUserMap cannot be used"))),
    }
}

/// NOFLUSH (D9): the previous generation's texts, read before the files so objects deleted from
/// them stay; a text identical to a file's current one adds nothing and is left out.
fn carried(config: &Config, previous: Option<&Generation>) -> Vec<(PathBuf, String)> {
    match previous {
        Some(p) if !config.flush => {
            let current: Vec<(PathBuf, String)> = config
                .policy_files
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok().map(|t| (f.clone(), t)))
                .collect();
            p.texts.iter().filter(|t| !current.contains(t)).cloned().collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
