//! Relay buffers lent for one read and its write: a direction waiting for bytes holds no buffer, so
//! an idle connection costs no record-sized memory of its own, and a bulk transfer reuses spare
//! buffers instead of allocating (and zeroing) its own. Each worker thread keeps a bounded stack of
//! spare buffers; a buffer may go back to another thread's stack than the one it came from.

use std::cell::RefCell;
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, ReadBuf};

/// A lent buffer: 64 KiB, four TLS records: a clear side's bulk read takes a quarter of the system
/// calls a record-sized buffer would.
pub(super) const LENT: usize = 64 * 1024;
/// Spare buffers kept per worker thread (4 MiB at most); more are freed.
const SPARE_MAX: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer of [`LENT`] bytes, or a new one.
fn lend() -> Vec<u8> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_else(|| vec![0u8; LENT])
}

/// Takes back a buffer from [`lend`] (other sizes are freed).
pub(super) fn give_back(buf: Vec<u8>) {
    if buf.len() != LENT {
        return;
    }
    SPARE.with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < SPARE_MAX {
            spare.push(buf);
        }
    });
}

/// Reads once from `r` into a lent buffer taken only when the read completes: while `r` has nothing,
/// the buffer goes back at once. Returns the buffer and how many bytes it holds (0: end of stream);
/// the caller gives it back with [`give_back`] once the bytes are written.
pub(super) async fn read<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<(Vec<u8>, usize)> {
    std::future::poll_fn(|cx| {
        let mut buf = lend();
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut *r).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                Poll::Ready(Ok((buf, n)))
            }
            Poll::Ready(Err(e)) => {
                give_back(buf);
                Poll::Ready(Err(e))
            }
            // A pending read has not touched the buffer (the AsyncRead contract).
            Poll::Pending => {
                give_back(buf);
                Poll::Pending
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(flavor = "current_thread")]
    async fn a_pending_read_holds_no_buffer_and_buffers_are_reused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        SPARE.with(|s| s.borrow_mut().clear());
        let waiting = read(&mut b);
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).await.is_none(), "nothing to read yet");
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1, "the buffer went back while waiting");
        a.write_all(b"hello").await.unwrap();
        let (buf, n) = waiting.await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0, "lent out");
        give_back(buf);
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1);
        give_back(vec![0u8; 10]);
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1, "other sizes are freed");
    }

    /// Polls once: `Some` when ready.
    async fn futures_poll_once<F: std::future::Future>(mut f: Pin<&mut F>) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match f.as_mut().poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
        })
        .await
    }
}
