//! File watching: a change to a policy file or to a keyring the policy uses refreshes the policy.
//! Parent directories are watched (not the files), so editors that save by writing a new file and
//! renaming it, and symlink swaps as Kubernetes ConfigMaps do, are seen too. A change is reloaded
//! only once it has settled: no event, and the same size, modification time and inode for every
//! changed file and every policy file, across one `SETTLE`. A file still changing after
//! `SETTLE_LIMIT` is not loaded (the policy in force stays; it is waited for again until it
//! settles), so a file is not read while it is being written. The watched set follows the
//! installed generation. Under `WatchFiles Off` the watcher is not installed at all.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, warn};

use super::{Agent, Generation, ReloadCause};
use crate::messages as msg;

/// How long a change must stay still before it is loaded (and how often it is looked at).
const SETTLE: Duration = Duration::from_millis(200);
/// How long one wait for a change to settle lasts before the agent says so and waits again.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// What to watch for one generation.
#[derive(Default)]
struct Targets {
    dirs: HashSet<PathBuf>,
    /// File names (in any watched directory) whose change matters.
    names: HashSet<std::ffi::OsString>,
    /// Keyring directories: any change below them matters.
    trees: Vec<PathBuf>,
    /// Policy files and keyring files: looked at until a change settles.
    files: Vec<PathBuf>,
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
            t.files.push(f);
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
    /// Paths of a change that had not settled at the last `SETTLE_LIMIT`: waited for again.
    unsettled: Option<BTreeSet<PathBuf>>,
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
                warn!(
                    msgid = msg::WATCH_UNAVAILABLE,
                    "file watching unavailable ({e}); refresh with SIGHUP or `pagent refresh`"
                );
                return None;
            }
        };
        let mut targets = Targets::default();
        rewatch(&mut watcher, &mut targets, &agent.current());
        Some(FileWatch { watcher, events, targets, unsettled: None })
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
                    debug!(paths = ?ev.paths, "policy or keyring changed");
                    let again = self.unsettled.is_some();
                    let mut paths = self.unsettled.take().unwrap_or_default();
                    paths.extend(ev.paths);
                    self.reload_once_settled(&agent, paths, again).await;
                }
                () = std::future::ready(()), if self.unsettled.is_some() => {
                    let paths = self.unsettled.take().unwrap_or_default();
                    self.reload_once_settled(&agent, paths, true).await;
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

    /// Reloads once `paths` (and the policy files) have settled; if they are still changing after
    /// `SETTLE_LIMIT`, loads nothing, says so (once: not `again`), and leaves them to be waited
    /// for again.
    async fn reload_once_settled(&mut self, agent: &Agent, mut paths: BTreeSet<PathBuf>, again: bool) {
        paths.extend(self.targets.files.iter().cloned());
        let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
        let mut seen = observe(&paths);
        loop {
            tokio::time::sleep(SETTLE).await;
            let mut quiet = true;
            while let Ok(ev) = self.events.try_recv() {
                if self.targets.concerns(&ev) {
                    quiet = false;
                    paths.extend(ev.paths);
                }
            }
            let now = observe(&paths);
            if quiet && now == seen {
                let _ = agent.reload(ReloadCause::FileChange).await;
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let changing: Vec<_> = now.iter().filter(|l| !seen.contains(l)).map(|l| &l.0).collect();
                if again {
                    debug!(?changing, "policy files still changing: not reloaded yet");
                } else {
                    warn!(
                        msgid = msg::FILES_UNSETTLED,
                        ?changing,
                        "policy files still changing after {SETTLE_LIMIT:?}: not reloaded yet (the \
                         policy in force stays); reloaded once they settle"
                    );
                }
                self.unsettled = Some(paths);
                return;
            }
            seen = now;
        }
    }
}

/// What a path looks like now: size, modification time and inode of what it points to (`None` if
/// absent). Two equal looks a `SETTLE` apart, with no event between, mean the change is over.
type Look = (PathBuf, Option<(u64, Option<SystemTime>, u64)>);

fn observe(paths: &BTreeSet<PathBuf>) -> Vec<Look> {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .map(|p| (p.clone(), std::fs::metadata(p).ok().map(|m| (m.len(), m.modified().ok(), m.ino()))))
        .collect()
}

fn rewatch(watcher: &mut RecommendedWatcher, targets: &mut Targets, g: &Generation) {
    let next = Targets::of(g);
    for d in targets.dirs.difference(&next.dirs) {
        let _ = watcher.unwatch(d);
    }
    for d in next.dirs.difference(&targets.dirs) {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            warn!(msgid = msg::WATCH_DIR_FAILED, dir = %d.display(), "cannot watch ({e}); refresh with SIGHUP or `pagent refresh`");
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
