//! `pagent refresh --dry-run`: the policy files loaded now, as a refresh would load them
//! ([`Generation::candidate`]), compared with the generation in force and the live connections
//! ([`crate::engine::dry_run`]). Nothing is installed and no generation number is used up.

use tracing::info;

use super::{Agent, Generation, LoadError};
use crate::engine::dry_run::{DryRun, compare};

impl Agent {
    /// What [`Agent::reload`] would change now; the error is every diagnostic, rendered.
    pub async fn dry_run(&self) -> Result<DryRun, LoadError> {
        // After any refresh under way, so the comparison is with what will be in force.
        let _one_at_a_time = self.reloading.lock().await;
        let running = self.current();
        let (config, base) = (self.config.clone(), running.clone());
        let load = move || Generation::candidate(&config, &base);
        let candidate =
            tokio::task::spawn_blocking(load).await.map_err(|e| LoadError::Internal(e.to_string()))??;
        let run = compare(&running, &candidate, &self.registry.snapshot());
        info!(
            msgid = crate::messages::DRY_RUN,
            generation = running.id,
            added = run.diff.added.len(),
            removed = run.diff.removed.len(),
            changed = run.diff.changed.len(),
            remapped = run.remapped,
            "dry run: nothing installed"
        );
        Ok(run)
    }
}
