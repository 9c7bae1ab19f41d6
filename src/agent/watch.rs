//! File watching: a change to a policy file or to a keyring the policy uses refreshes the policy.
//! Parent directories are watched (not the files), so editors that save by writing a new file and
//! renaming it, and symlink swaps as Kubernetes ConfigMaps do, are seen too. Events are debounced:
//! one refresh per burst. The watched set follows the installed generation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, warn};

use super::{Agent, Generation, ReloadCause};

const SETTLE: Duration = Duration::from_millis(200);

/// What to watch for one generation.
#[derive(Default)]
struct Targets {
    dirs: HashSet<PathBuf>,
    /// File names (in any watched directory) whose change matters.
    names: HashSet<std::ffi::OsString>,
    /// Keyring directories: any change below them matters.
    trees: Vec<PathBuf>,
}

impl Targets {
    fn of(g: &Generation) -> Targets {
        let mut t = Targets::default();
        for f in g.files.iter().chain(g.keyrings.iter().filter(|k| !k.is_dir())) {
            let f = absolute(f);
            if let (Some(dir), Some(name)) = (f.parent(), f.file_name()) {
                t.dirs.insert(dir.to_path_buf());
                t.names.insert(name.to_os_string());
            }
        }
        for k in g.keyrings.iter().filter(|k| k.is_dir()) {
            let k = absolute(k);
            t.dirs.insert(k.clone());
            t.trees.push(k);
        }
        t
    }

    fn concerns(&self, ev: &notify::Event) -> bool {
        if ev.kind.is_access() {
            return false;
        }
        ev.paths.iter().any(|p| {
            p.file_name().is_some_and(|n| self.names.contains(n) || n.to_string_lossy().starts_with(".."))
                || self.trees.iter().any(|t| p.starts_with(t))
        })
    }
}

/// The watcher, installed and watching the current generation's files.
pub struct FileWatch {
    watcher: RecommendedWatcher,
    events: tokio::sync::mpsc::UnboundedReceiver<notify::Event>,
    targets: Targets,
}

impl FileWatch {
    /// `None` (with a warning) where the platform cannot watch files.
    pub fn install(agent: &Agent) -> Option<FileWatch> {
        let (tx, events) = tokio::sync::mpsc::unbounded_channel::<notify::Event>();
        let mut watcher = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let _ = tx.send(ev);
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                warn!("file watching unavailable ({e}); refresh with SIGHUP or `pagent refresh`");
                return None;
            }
        };
        let mut targets = Targets::default();
        rewatch(&mut watcher, &mut targets, &agent.current());
        Some(FileWatch { watcher, events, targets })
    }

    pub async fn refresh_on_change(mut self, agent: Arc<Agent>) {
        let mut generations = agent.subscribe();
        loop {
            tokio::select! {
                ev = self.events.recv() => {
                    let Some(ev) = ev else { return };
                    if !self.targets.concerns(&ev) {
                        continue;
                    }
                    // Let the burst of events of one save settle, then refresh once.
                    tokio::time::sleep(SETTLE).await;
                    while self.events.try_recv().is_ok() {}
                    debug!(paths = ?ev.paths, "policy or keyring changed");
                    let _ = agent.reload(ReloadCause::FileChange).await;
                }
                changed = generations.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let g = generations.borrow_and_update().clone();
                    rewatch(&mut self.watcher, &mut self.targets, &g);
                }
            }
        }
    }
}

fn rewatch(watcher: &mut RecommendedWatcher, targets: &mut Targets, g: &Generation) {
    let next = Targets::of(g);
    for d in targets.dirs.difference(&next.dirs) {
        let _ = watcher.unwatch(d);
    }
    for d in next.dirs.difference(&targets.dirs) {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            warn!(dir = %d.display(), "cannot watch ({e}); refresh with SIGHUP or `pagent refresh`");
        }
    }
    *targets = next;
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}
