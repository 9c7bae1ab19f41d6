//! A bounded HTTP/1.1 client on std sockets: GET for CRL distribution points, POST for OCSP
//! responders. Plain `http://` URLs only (no TLS, no proxy, no redirects), one request per
//! connection, a response head of at most [`MAX_HEAD_BYTES`], a body of at most the caller's
//! limit (Content-Length, chunked, or up to the close), and one deadline for the whole exchange,
//! name lookup aside (it runs in the fetching thread, which no handshake waits on past the
//! deadline).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest URL fetched.
pub const MAX_URL_BYTES: usize = 2048;
/// Largest status line plus headers.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: usize = 256;

/// The parts of an `http://` URL a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// As written in the URL (brackets kept for IPv6), for the Host header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
}

/// `url` when it is an `http://` URL attls can fetch: printable ASCII, no user info, no fragment.
pub fn parse_url(url: &str) -> Option<HttpUrl> {
    if url.len() > MAX_URL_BYTES || !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('#') {
        return None;
    }
    let scheme = url.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &url[7..];
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    Some(HttpUrl { authority: authority.to_string(), host, port, target })
}

fn split_host_port(authority: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let end = inner.find(']')?;
        let after = &inner[end + 1..];
        let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
        (inner[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
        None => 80,
    };
    (!host.is_empty()).then_some((host, port))
}

/// GETs `url` and returns the body of a 200 response, at most `limit` bytes, by `deadline`.
pub fn get(url: &HttpUrl, limit: usize, deadline: Instant) -> Result<Vec<u8>, String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/pkix-crl\r\nUser-Agent: attls-pagent\r\nConnection: close\r\n\r\n",
        url.target, url.authority
    );
    exchange(url, request.as_bytes(), limit, deadline)
}

/// POSTs `body` (an OCSP request) to `url` and returns the body of a 200 response, at most `limit`
/// bytes, by `deadline`. Reasons name the OCSP keywords.
pub fn post_ocsp(url: &HttpUrl, body: &[u8], limit: usize, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/ocsp-request\r\nAccept: application/ocsp-response\r\nContent-Length: {}\r\nUser-Agent: attls-pagent\r\nConnection: close\r\n\r\n",
        url.target,
        url.authority,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(url, &request, limit, deadline).map_err(|e| {
        e.replace("HttpCdpResponseTimeout", "OcspResponseTimeout")
            .replace("HttpCdpMaxResponseSize", "OcspMaxResponseSize")
    })
}

/// Sends `request` on a new connection to `url` and reads the response.
fn exchange(url: &HttpUrl, request: &[u8], limit: usize, deadline: Instant) -> Result<Vec<u8>, String> {
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let mut stream = connect(&addrs, deadline)?;
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| io_reason("sending the request", &e))?;
    let mut reader = DeadlineReader { stream, deadline };
    read_response(&mut reader, limit)
}

fn connect(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, String> {
    let mut last = String::from("the name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = io_reason(&format!("connecting to {addr}"), &e),
        }
    }
    Err(last)
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err("no response within HttpCdpResponseTimeout".to_string()) } else { Ok(left) }
}

fn io_reason(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("{what}: no answer within HttpCdpResponseTimeout")
        }
        _ => format!("{what}: {e}"),
    }
}

/// A socket whose every read ends by the deadline.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left =
            remaining(self.deadline).map_err(|e| std::io::Error::new(std::io::ErrorKind::TimedOut, e))?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Reads a response: status 200, then the body by Content-Length, chunks, or to the close.
pub fn read_response(r: &mut impl Read, limit: usize) -> Result<Vec<u8>, String> {
    let (head, mut body) = read_head(r)?;
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split(' ').nth(1).unwrap_or("");
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(format!("the server answered `{}`", status.chars().take(80).collect::<String>()));
    }
    let header = |name: &str| {
        lines.clone().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if header("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut rest = std::io::Cursor::new(body).chain(r);
        return read_chunked(&mut rest, limit);
    }
    if let Some(len) = header("Content-Length") {
        let len: usize = len.parse().map_err(|_| format!("a Content-Length of `{len}`"))?;
        if len > limit {
            return Err(too_large(len, limit));
        }
        if body.len() > len {
            body.truncate(len);
        }
        read_up_to(&mut r.by_ref().take((len - body.len()) as u64), &mut body, len)?;
        if body.len() < len {
            return Err(format!("the body ended after {} of {len} bytes", body.len()));
        }
        return Ok(body);
    }
    if body.len() > limit {
        return Err(too_large(body.len(), limit));
    }
    read_up_to(r, &mut body, limit)?;
    Ok(body)
}

fn too_large(len: usize, limit: usize) -> String {
    format!("the response is larger than HttpCdpMaxResponseSize ({len} bytes, limit {limit})")
}

/// Reads until the blank line ending the head; returns the head and what came after it.
fn read_head(r: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let body = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok((buf, body));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(format!("the response head is longer than {MAX_HEAD_BYTES} bytes"));
        }
        let n = r.read(&mut chunk).map_err(|e| io_reason("reading the response", &e))?;
        if n == 0 {
            return Err("the connection closed before the response head ended".to_string());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Appends to `out` until EOF; an error once `out` would pass `limit`.
fn read_up_to(r: &mut impl Read, out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    let mut chunk = [0u8; 8192];
    loop {
        let n = r.read(&mut chunk).map_err(|e| io_reason("reading the body", &e))?;
        if n == 0 {
            return Ok(());
        }
        if out.len() + n > limit {
            return Err(too_large(out.len() + n, limit));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// A chunked body (RFC 9112 §7.1), extensions and trailers ignored.
fn read_chunked(r: &mut impl Read, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| format!("a chunk size of `{size}`"))?;
        if size == 0 {
            return Ok(body);
        }
        if body.len().saturating_add(size) > limit {
            return Err(too_large(body.len().saturating_add(size), limit));
        }
        let start = body.len();
        read_up_to(&mut r.by_ref().take(size as u64), &mut body, limit)?;
        if body.len() - start < size {
            return Err("the body ended inside a chunk".to_string());
        }
        if !read_line(r)?.is_empty() {
            return Err("a chunk is longer than its size".to_string());
        }
    }
}

fn read_line(r: &mut impl Read) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > MAX_CHUNK_LINE {
            return Err("a chunk line is too long".to_string());
        }
        if r.read(&mut byte).map_err(|e| io_reason("reading a chunk", &e))? == 0 {
            return Err("the body ended inside a chunk line".to_string());
        }
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(raw: &str, limit: usize) -> Result<Vec<u8>, String> {
        read_response(&mut raw.as_bytes(), limit)
    }

    #[test]
    fn urls_attls_fetches_and_those_it_skips() {
        let u = parse_url("http://127.0.0.1:8080/ca.crl").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.target.as_str()), ("127.0.0.1", 8080, "/ca.crl"));
        let u = parse_url("HTTP://[::1]/x?y=1").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authority.as_str()), ("::1", 80, "[::1]"));
        assert_eq!(parse_url("http://crl.example?a").unwrap().target, "/?a");
        for bad in
            ["https://ca/x.crl", "ldap://ca/x", "http://u@ca/x", "http://ca:0/", "http://ca/a b", "http:///x"]
        {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_length_chunked_and_close_delimited_bodies() {
        assert_eq!(response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", 10).unwrap(), b"abc");
        let chunked =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(response(chunked, 10).unwrap(), b"abcde");
        assert_eq!(response("HTTP/1.0 200 OK\r\n\r\nxyz", 10).unwrap(), b"xyz");
    }

    #[test]
    fn limits_and_bad_answers_are_errors() {
        assert!(
            response("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10).unwrap_err().contains("larger")
        );
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nabcdefgh\r\n8\r\nabcdefgh\r\n0\r\n\r\n";
        assert!(response(chunked, 10).unwrap_err().contains("larger"));
        assert!(response("HTTP/1.1 200 OK\r\n\r\n0123456789A", 10).unwrap_err().contains("larger"));
        assert!(response("HTTP/1.1 404 Not Found\r\n\r\n", 10).unwrap_err().contains("404"));
        assert!(
            response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 10).unwrap_err().contains("ended")
        );
        assert!(response("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 10).is_err());
        assert!(response(&format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(20_000)), 10).is_err());
    }
}
