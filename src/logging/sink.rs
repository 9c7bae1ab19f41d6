//! The way to the syslog socket: a bounded queue ([`QUEUE`] datagrams) and one thread of its own
//! that sends them in order, waiting at most [`SEND_WAIT`] for a socket whose reader is behind. The
//! agent's threads only put datagrams in the queue and never wait: a datagram that finds the queue
//! full, or that the socket does not take in time (or at all: the daemon is gone), is dropped and
//! counted, and the count goes out as a notice of its own after the next datagram the socket takes.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, channel, sync_channel};
use std::time::{Duration, Instant};

/// Datagrams waiting for the socket; more are dropped (and counted).
pub const QUEUE: usize = 1024;

/// How long the writer waits for the socket to take one datagram before it drops it.
pub const SEND_WAIT: Duration = Duration::from_secs(1);

/// What the writer thread is handed.
enum Item {
    Datagram(Vec<u8>),
    /// Answered once every datagram queued before it has been sent (or dropped).
    Flush(std::sync::mpsc::Sender<()>),
}

/// The notice sent after datagrams were dropped, given their count.
pub type DroppedNotice = Box<dyn Fn(u64) -> Vec<u8> + Send>;

pub struct Sink {
    queue: SyncSender<Item>,
    dropped: Arc<AtomicU64>,
}

impl Sink {
    /// A sink for the socket at `path`, which must have a reader bound now.
    pub fn open(path: &Path, notice: DroppedNotice) -> std::io::Result<Sink> {
        // Connecting a throwaway socket checks that a reader is bound there, without a message.
        UnixDatagram::unbound()?.connect(path)?;
        // Unconnected: each datagram is addressed by path, so a restarted daemon's new socket is
        // found again without reconnecting.
        let sock = UnixDatagram::unbound()?;
        sock.set_write_timeout(Some(SEND_WAIT))?;
        let (queue, items) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer { sock, path: path.to_path_buf(), dropped: dropped.clone(), notice };
        std::thread::Builder::new().name("syslog".into()).spawn(move || writer.run(items))?;
        Ok(Sink { queue, dropped })
    }

    /// Queues `datagram`, or counts it as dropped if the queue is full.
    pub fn send(&self, datagram: Vec<u8>) {
        if self.queue.try_send(Item::Datagram(datagram)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits up to `wait` for the datagrams queued so far to be sent (before the process exits).
    pub fn flush(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let (done, sent) = channel();
        let mut item = Item::Flush(done);
        loop {
            match self.queue.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    item = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = sent.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

struct Writer {
    sock: UnixDatagram,
    path: PathBuf,
    dropped: Arc<AtomicU64>,
    notice: DroppedNotice,
}

impl Writer {
    fn run(self, items: Receiver<Item>) {
        for item in items {
            match item {
                Item::Flush(done) => {
                    let _ = done.send(());
                }
                Item::Datagram(d) => self.send(&d),
            }
        }
    }

    fn send(&self, datagram: &[u8]) {
        if self.sock.send_to(datagram, &self.path).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 && self.sock.send_to(&(self.notice)(dropped), &self.path).is_err() {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_arrive_in_order_and_a_missing_socket_is_an_error() {
        let dir = std::env::temp_dir().join(format!("attls-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        assert!(Sink::open(&path, Box::new(|_| Vec::new())).is_err(), "no reader bound yet");
        let reader = UnixDatagram::bind(&path).unwrap();
        reader.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let sink = Sink::open(&path, Box::new(|n| format!("dropped {n}").into_bytes())).unwrap();
        for i in 0..3 {
            sink.send(format!("line {i}").into_bytes());
        }
        sink.flush(Duration::from_secs(5));
        let mut buf = [0u8; 64];
        for i in 0..3 {
            let n = reader.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], format!("line {i}").as_bytes());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
