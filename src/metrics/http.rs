//! A small HTTP/1.1 server for one read-only page (the metrics at `/metrics`): `GET` and `HEAD` of
//! that path answer 200, any other path 404, any other method on it 405. Every bound is explicit
//! ([`Limits`]): the request head's size (431 past it), how long the client may take to send it
//! (408), how many requests are answered at once (more wait in the listen backlog). One request per
//! connection (`Connection: close`); a request body is never read.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::debug;

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The request line and headers, in bytes.
    pub max_head: usize,
    /// How long the client may take to send the head; also bounds writing the answer.
    pub timeout: Duration,
    /// Requests answered at once.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_head: 8 * 1024, timeout: Duration::from_secs(5), max_concurrent: 4 }
    }
}

/// The page's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub content_type: &'static str,
    pub body: String,
}

/// Renders the page; the argument is the request's `Accept` header, if any.
pub type Render = Arc<dyn Fn(Option<&str>) -> Page + Send + Sync>;

/// One answer: status code and reason, extra headers, body.
struct Answer {
    status: (u16, &'static str),
    content_type: &'static str,
    allow: bool,
    body: String,
    /// HEAD: the headers of the body, not the body.
    head_only: bool,
}

impl Answer {
    fn text(status: (u16, &'static str), body: &str) -> Answer {
        let body = format!("{body}\n");
        Answer { status, content_type: "text/plain; charset=utf-8", allow: false, body, head_only: false }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status.0,
            self.status.1,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Serves `path` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, path: &'static str, limits: Limits, render: Render) {
    let permits = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, most likely: let connections finish before trying again.
                debug!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let render = render.clone();
        tokio::spawn(async move {
            answer(stream, path, limits, &render).await;
            drop(permit);
        });
    }
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, path: &str, limits: Limits, render: &Render) {
    let read = tokio::time::timeout(limits.timeout, read_head(&mut stream, limits.max_head)).await;
    let answer = match read {
        Err(_) => Answer::text((408, "Request Timeout"), "the request head did not arrive in time"),
        Ok(Err(Refused::TooLarge)) => {
            Answer::text((431, "Request Header Fields Too Large"), "the request head is too large")
        }
        Ok(Err(Refused::Closed)) => return,
        Ok(Ok(head)) => respond(&head, path, render),
    };
    let write = async {
        stream.write_all(&answer.bytes()).await?;
        stream.shutdown().await
    };
    if let Ok(Ok(())) = tokio::time::timeout(limits.timeout, write).await {
        // Whatever the client still sends (a body, the rest of a refused head) is read and dropped
        // for a moment, so closing does not reset the connection under an unread answer.
        let mut sink = [0u8; 4096];
        let drain = async {
            let mut left = 64 * 1024usize;
            while let Ok(n @ 1..) = stream.read(&mut sink).await {
                left = left.saturating_sub(n);
                if left == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }
}

/// Why no head was read.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    TooLarge,
    /// The client closed or the read failed before a whole head arrived.
    Closed,
}

/// Reads up to the blank line that ends the head, at most `max` bytes.
async fn read_head(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, Refused> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(Refused::Closed),
            Ok(n) => n,
        };
        let searched = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&head[searched..]) {
            head.truncate(searched + end);
            return if head.len() > max { Err(Refused::TooLarge) } else { Ok(head) };
        }
        if head.len() > max {
            return Err(Refused::TooLarge);
        }
    }
}

/// Where the head ends in `bytes` (after `\r\n\r\n`, or `\n\n` from a lax client).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The answer to a complete head.
fn respond(head: &[u8], path: &str, render: &Render) -> Answer {
    let Ok(text) = std::str::from_utf8(head) else {
        return Answer::text((400, "Bad Request"), "the request head is not UTF-8");
    };
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Answer::text((400, "Bad Request"), "malformed request line");
    };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Answer::text((505, "HTTP Version Not Supported"), "HTTP/1.0 and HTTP/1.1 only");
    }
    let requested = target.split_once('?').map_or(target, |(p, _)| p);
    if requested != path {
        return Answer::text((404, "Not Found"), &format!("not found: the metrics are at {path}"));
    }
    if !matches!(method, "GET" | "HEAD") {
        let mut a = Answer::text((405, "Method Not Allowed"), "GET or HEAD only");
        a.allow = true;
        return a;
    }
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, value)| value.trim());
    let page = render(accept);
    Answer {
        status: (200, "OK"),
        content_type: page.content_type,
        allow: false,
        body: page.body,
        head_only: method == "HEAD",
    }
}

#[cfg(test)]
mod tests;
