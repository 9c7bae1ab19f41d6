//! File watching: a change to a policy file refreshes the policy. The parent directories are watched
//! (not the files), so editors that save by writing a new file and renaming it, and symlink swaps as
//! Kubernetes ConfigMaps do, are seen too. Events are debounced: one refresh per burst.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tracing::{debug, warn};

use super::{Agent, ReloadCause};

const SETTLE: Duration = Duration::from_millis(200);

pub async fn refresh_on_change(agent: Arc<Agent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<notify::Event>();
    let mut watcher = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let _ = tx.send(ev);
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            warn!("file watching unavailable ({e}); refresh with SIGHUP or `pagent refresh`");
            return;
        }
    };
    let files: Vec<PathBuf> = agent.config.policy_files.iter().map(|f| absolute(f)).collect();
    let dirs: HashSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(PathBuf::from)).collect();
    for d in &dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            warn!(dir = %d.display(), "cannot watch ({e}); refresh with SIGHUP or `pagent refresh`");
        }
    }
    let names: HashSet<std::ffi::OsString> =
        files.iter().filter_map(|f| f.file_name().map(|n| n.to_os_string())).collect();
    while let Some(ev) = rx.recv().await {
        if !concerns(&ev, &names) {
            continue;
        }
        // Let the burst of events of one save settle, then refresh once.
        tokio::time::sleep(SETTLE).await;
        while rx.try_recv().is_ok() {}
        debug!(paths = ?ev.paths, "policy file changed");
        let _ = agent.reload(ReloadCause::FileChange).await;
    }
}

/// An event about one of our files, or about a `..data`-style symlink swap in a watched directory.
fn concerns(ev: &notify::Event, names: &HashSet<std::ffi::OsString>) -> bool {
    if ev.kind.is_access() {
        return false;
    }
    ev.paths
        .iter()
        .any(|p| p.file_name().is_some_and(|n| names.contains(n) || n.to_string_lossy().starts_with("..")))
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}
