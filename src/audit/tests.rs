//! The writer through a registry: every ended connection gives one line, a queue overflow is
//! counted and warned about, and the writer stops when asked, having written what was queued.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::*;
use crate::registry::{ConnId, ConnSnapshot};

/// A clear connection on listener WEB1 that no rule matched.
pub(super) fn snapshot(started: SystemTime) -> ConnSnapshot {
    let addr = |s: &str| s.parse::<SocketAddr>().expect("address");
    ConnSnapshot {
        jobname: "WEBJOB".into(),
        userid: "www".into(),
        local: addr("[::ffff:127.0.0.1]:8443"),
        remote: addr("[2001:db8::7]:50122"),
        generation: 4,
        bytes_in: 12,
        bytes_out: 34,
        started,
        ..ConnSnapshot::sample(ConnId(0x2A), "WEB1")
    }
}

/// What the test's log subscriber printed.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("audit file");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[tokio::test]
async fn an_overflow_is_counted_and_warned_and_the_rest_is_written() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = std::env::temp_dir().join(format!("attls-audit-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("audit.jsonl");
    let registry = Arc::new(Registry::default());
    let audit = AuditLog::start(&path, &registry).expect("start");
    // This runtime has one thread: the writer runs only when the test awaits, so the queue fills.
    let started = SystemTime::now();
    for n in 1..=QUEUE_RECORDS as u32 + 5 {
        let mut s = snapshot(started);
        s.id = ConnId(n);
        let live = registry.register(s);
        live.entry.bytes_in.store(u64::from(n), std::sync::atomic::Ordering::Relaxed);
    }
    audit.finish(Duration::from_secs(10)).await;
    let written = lines(&path);
    assert_eq!(written.len(), QUEUE_RECORDS, "the queue's worth");
    assert_eq!(written[0]["conn"], "00000001");
    assert_eq!(written[QUEUE_RECORDS - 1]["bytes_in"], QUEUE_RECORDS, "the final counts");
    let text = String::from_utf8_lossy(&log.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(text.contains("dropped=5") && text.contains("5 connection records dropped"), "{text}");
    drop(registry.register(snapshot(started)));
    tokio::task::yield_now().await;
    assert_eq!(lines(&path).len(), QUEUE_RECORDS, "nothing written after finish");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn records_are_written_when_the_queue_empties_without_finish() {
    let dir = std::env::temp_dir().join(format!("attls-audit-prompt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("audit.jsonl");
    let registry = Arc::new(Registry::default());
    let _audit = AuditLog::start(&path, &registry).expect("start");
    for n in 1..=3 {
        let mut s = snapshot(SystemTime::now());
        s.id = ConnId(n);
        drop(registry.register(s));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lines(&path).len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let conns: Vec<String> =
        lines(&path).iter().map(|r| r["conn"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(conns, ["00000001", "00000002", "00000003"]);
    let _ = std::fs::remove_dir_all(&dir);
}
