//! Per-connection audit records (`AuditLog PATH` in the main configuration; docs/audit.md): the
//! counterpart of z/OS zERT's SMF type 119 records. Every connection that ends reaches a task of
//! its own through the registry's bounded queue of ended connections
//! ([`crate::registry::Registry::subscribe_ended`], which never blocks a connection: a full queue
//! drops and counts). The task turns each into one line of JSON ([`record`]) and writes whatever
//! is queued as one batch on the blocking pool ([`file`]), so the file is written as soon as the
//! queue is empty and a slow disk never slows a connection. Dropped records and write errors are
//! logged (at most every [`WARN_EVERY`]); a failed write is tried again with the next batch or
//! tick. [`AuditLog::reopen`] (SIGUSR1) opens the path again for log rotation.

mod file;
pub mod record;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::messages as msg;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::registry::{Ended, EndedFeed, Registry};
pub use file::MAX_PENDING_BYTES;
use file::{AuditFile, WriteError};

/// Ended connections that may wait for the writer; more are dropped and counted.
pub const QUEUE_RECORDS: usize = 8192;

/// The most records taken from the queue for one write.
const BATCH_RECORDS: usize = 1024;

/// How often the writer wakes without a record: a failed write is retried, drops are reported.
const TICK: Duration = Duration::from_secs(1);

/// The least time between two warnings about drops, or two about the file.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// A running audit writer.
#[derive(Debug)]
pub struct AuditLog {
    reopen: Arc<Notify>,
    stop: Arc<Notify>,
    finished: watch::Receiver<bool>,
}

impl AuditLog {
    /// Opens `path` (appending; created with mode 0640) and starts writing a record for every
    /// connection of `registry` that ends from now on. Must run inside the agent's runtime.
    pub fn start(path: &Path, registry: &Registry) -> std::io::Result<AuditLog> {
        let file = AuditFile::open(path)?;
        let feed = registry.subscribe_ended(QUEUE_RECORDS);
        let (reopen, stop) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (done, finished) = watch::channel(false);
        let writer = Writer {
            feed,
            file: Some(file),
            reopen: reopen.clone(),
            stop: stop.clone(),
            drops: Reported::default(),
            file_errors: Reported::default(),
            failing: false,
            lost: 0,
        };
        tokio::spawn(async move {
            writer.run().await;
            done.send_replace(true);
        });
        info!(msgid = msg::AUDIT_OPEN, path = %path.display(), "audit log open");
        Ok(AuditLog { reopen, stop, finished })
    }

    /// Opens the path again (after a rotation moved the file); records go to the new file.
    pub fn reopen(&self) {
        self.reopen.notify_one();
    }

    /// Writes what is queued and stops the writer, waiting at most `within`.
    pub async fn finish(&self, within: Duration) {
        self.stop.notify_one();
        let mut finished = self.finished.clone();
        let _ = tokio::time::timeout(within, finished.wait_for(|done| *done)).await;
    }
}

/// When a kind of trouble was last logged, and how much of it came since.
#[derive(Debug, Default)]
struct Reported {
    last: Option<Instant>,
    /// Drops: the counter's value at the last warning.
    seen: u64,
}

impl Reported {
    /// Whether a warning may go out now (the first, or [`WARN_EVERY`] after the last).
    fn due(&mut self) -> bool {
        let due = self.last.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            self.last = Some(Instant::now());
        }
        due
    }
}

/// The writer task's state.
struct Writer {
    feed: EndedFeed,
    /// `None` only if the blocking pool lost it (the runtime is shutting down).
    file: Option<AuditFile>,
    reopen: Arc<Notify>,
    stop: Arc<Notify>,
    drops: Reported,
    file_errors: Reported,
    /// The last write failed.
    failing: bool,
    /// Records refused because [`MAX_PENDING_BYTES`] were waiting for a failing file.
    lost: u64,
}

impl Writer {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut last = false;
            tokio::select! {
                got = self.feed.records.recv() => match got {
                    Some(ended) => self.take(&ended),
                    None => last = true,
                },
                () = self.reopen.notified() => {
                    info!(msgid = msg::AUDIT_REOPEN, "reopening the audit log");
                    self.file.iter_mut().for_each(AuditFile::want_reopen);
                }
                _ = tick.tick() => {}
                () = self.stop.notified() => last = true,
            }
            self.take_queued(if last { QUEUE_RECORDS } else { BATCH_RECORDS });
            self.write().await;
            self.report_drops(last);
            if last || self.file.is_none() {
                return;
            }
        }
    }

    /// Formats one record into the file's batch (or counts it lost).
    fn take(&mut self, ended: &Ended) {
        let Some(file) = self.file.as_mut() else { return };
        if !file.push(&record::line(ended)) {
            self.lost += 1;
        }
    }

    /// Takes up to `most` more records already queued.
    fn take_queued(&mut self, most: usize) {
        for _ in 0..most {
            match self.feed.records.try_recv() {
                Ok(ended) => self.take(&ended),
                Err(_) => return,
            }
        }
    }

    /// Writes the batch on the blocking pool; logs a failure (rate-limited) and a recovery.
    async fn write(&mut self) {
        if !self.file.as_ref().is_some_and(AuditFile::has_work) {
            return;
        }
        let Some(mut file) = self.file.take() else { return };
        let written = tokio::task::spawn_blocking(move || {
            let result = file.write_pending();
            (file, result)
        })
        .await;
        let Ok((file, result)) = written else {
            error!(
                msgid = msg::AUDIT_WRITER_LOST,
                "audit log: the writer lost its file; no more records are written"
            );
            return;
        };
        match result {
            Ok(()) if std::mem::take(&mut self.failing) => {
                info!(msgid = msg::AUDIT_RECOVERED, path = %file.path().display(), "audit log written again");
            }
            Ok(()) => {}
            Err(e) => {
                self.failing = true;
                if self.file_errors.due() {
                    let reopening = matches!(e, WriteError::Reopen(_));
                    error!(msgid = msg::AUDIT_WRITE_FAILED, path = %file.path().display(), reopening, "audit log: {e}");
                }
            }
        }
        self.file = Some(file);
    }

    /// Warns about records the queue dropped or the bound refused, at most every [`WARN_EVERY`]
    /// (or now, when `last`).
    fn report_drops(&mut self, last: bool) {
        let total = self.feed.dropped.load(Ordering::Relaxed) + self.lost;
        let new = total - self.drops.seen;
        if new == 0 || !(last || self.drops.due()) {
            return;
        }
        self.drops.seen = total;
        warn!(
            msgid = msg::AUDIT_DROPPED,
            dropped = new,
            total,
            "audit log: {new} connection records dropped (the writer fell behind or the file could not be written)"
        );
    }
}

#[cfg(test)]
mod tests;
