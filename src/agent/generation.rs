//! A policy generation: the rule table and the TLS configurations built from it, installed together
//! in one cell so a connection never sees half a refresh. Connections keep the `Arc` they took when
//! they were mapped (D9, D24a).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::tls::{self, Keyrings, TlsEnv};
use crate::policy::{LoadOptions, Rule, RuleTable, load_files};

#[derive(Debug)]
pub struct Generation {
    pub id: u64,
    pub table: RuleTable,
    /// TLS configurations by settings (rules that share settings share configurations).
    tls: HashMap<usize, Arc<TlsEnv>>,
    /// Policy files this generation was read from (watched for changes).
    pub files: Vec<PathBuf>,
    /// Keyring files and directories it opened (watched for changes too).
    pub keyrings: Vec<PathBuf>,
    /// Warnings of the load, rendered, for the log.
    pub warnings: String,
}

impl Generation {
    pub fn tls_for(&self, rule: &Rule) -> Option<&Arc<TlsEnv>> {
        self.tls.get(&(Arc::as_ptr(&rule.settings) as usize))
    }

    /// Parses, resolves and builds TLS for the configuration's policy files. Blocking work: call it
    /// from `spawn_blocking`. The error is every diagnostic, rendered.
    pub fn load(config: &Config, id: u64) -> Result<Generation, String> {
        let loaded =
            load_files(&config.policy_files, LoadOptions { strict: config.strict, warn_keyrings: false });
        let rendered = loaded.diagnostics.render(&loaded.sources);
        let Some(table) = loaded.table else {
            let c = loaded.counts();
            return Err(format!("{rendered}policy invalid: {} errors, {} warnings", c.errors, c.warnings));
        };
        let mut keyrings = Keyrings::new(&config.keyring_map, config.dev_keyring.as_deref());
        let mut tls = HashMap::new();
        let mut errors = String::new();
        for rule in table.rules() {
            let key = Arc::as_ptr(&rule.settings) as usize;
            if !rule.settings.ttls_enabled || tls.contains_key(&key) {
                continue;
            }
            match tls::build(&rule.settings, &mut keyrings) {
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
            return Err(format!(
                "{rendered}{errors}policy not installed: its keyrings or TLS settings cannot be used"
            ));
        }
        Ok(Generation {
            id,
            table,
            tls,
            files: config.policy_files.clone(),
            keyrings: keyrings.opened(),
            warnings: rendered,
        })
    }
}
