//! The demo backend: a tiny plaintext responder for the shipped default listener, so the README's
//! first command shows TLS end to end. It answers the first line it receives with a short HTTP/1.0
//! response (so both `curl` and a typed `openssl s_client` line get an answer), then closes. It
//! reads at most [`MAX_LINE`] bytes of that line, and backs off when accept fails (e.g. out of file
//! descriptors) instead of spinning.

use std::time::Duration;

use crate::messages as msg;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tracing::warn;

const BODY: &str =
    "hello from the attls demo backend: this server speaks plaintext, you reached it through TLS\n";

/// The most of the first line read before answering (a longer one is answered all the same).
pub const MAX_LINE: u64 = 8 * 1024;

pub async fn serve(sock: TcpListener) {
    let mut backoff = Duration::from_millis(5);
    loop {
        match sock.accept().await {
            Ok((s, _)) => {
                backoff = Duration::from_millis(5);
                tokio::spawn(answer(s));
            }
            Err(e) => {
                warn!(
                    msgid = msg::DEMO_ACCEPT_FAILED,
                    "demo backend: accept failed: {e}; retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

async fn answer(s: impl AsyncRead + AsyncWrite) {
    let (r, mut w) = tokio::io::split(s);
    let mut line = Vec::new();
    let mut r = BufReader::new(r.take(MAX_LINE));
    if tokio::time::timeout(Duration::from_secs(30), r.read_until(b'\n', &mut line)).await.is_err() {
        return;
    }
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = w.write_all(reply.as_bytes()).await;
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_megabyte_without_a_newline_is_cut_at_the_bound_and_answered() {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let served = tokio::spawn(answer(server));
        let (mut r, mut w) = tokio::io::split(client);
        // 1 MiB and no newline; how much of it the demo accepts before it answers and closes.
        let writer = tokio::spawn(async move {
            let chunk = [b'x'; 1024];
            let mut sent = 0usize;
            while sent < 1 << 20 && w.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
            sent
        });
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), r.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "no answer to a line without end");
        assert!(reply.starts_with(b"HTTP/1.0 200 OK\r\n"), "{}", String::from_utf8_lossy(&reply));
        served.await.expect("the answer task");
        let sent = writer.await.expect("the writer");
        // What the demo read, plus what the pipe held and one chunk in flight.
        let most = MAX_LINE as usize + 16 * 1024 + 1024;
        assert!(sent <= most, "the demo took in {sent} bytes of one line");
    }
}
