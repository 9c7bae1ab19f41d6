//! The metrics HTTP server over real loopback sockets: answers, refusals and bounds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A server of `/metrics` whose page echoes the request's Accept header.
async fn server(limits: Limits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let render: Render = Arc::new(|accept: Option<&str>| Page {
        content_type: "text/plain; version=0.0.4; charset=utf-8",
        body: format!("accept={}\n", accept.unwrap_or("-")),
    });
    tokio::spawn(serve(listener, "/metrics", limits, render));
    addr
}

/// Sends `request` and reads the whole answer (the server closes after one).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("send");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8(out).expect("UTF-8 answer")
}

#[tokio::test]
async fn get_of_the_path_answers_the_page_and_closes() {
    let addr = server(Limits::default()).await;
    let got = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n").await;
    let (head, body) = got.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert!(head.contains("\r\nConnection: close"), "{head}");
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())), "{head}");
    assert_eq!(body, "accept=text/plain\n");
    let query = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n").await;
    assert!(query.starts_with("HTTP/1.1 200 OK\r\n") && query.ends_with("accept=-\n"), "{query}");
    let head_only = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
    assert!(head_only.contains("Content-Length: 9\r\n"), "{head_only}");
    assert!(head_only.ends_with("\r\n\r\n"), "HEAD has no body: {head_only}");
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let addr = server(Limits::default()).await;
    for path in ["/", "/metricsx", "/metrics/", "http://h/metrics"] {
        let got = exchange(addr, format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes()).await;
        assert!(got.starts_with("HTTP/1.1 404 Not Found\r\n"), "{path}: {got}");
    }
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let got =
            exchange(addr, format!("{method} /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").as_bytes())
                .await;
        assert!(got.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{method}: {got}");
        assert!(got.contains("\r\nAllow: GET, HEAD\r\n"), "{got}");
    }
    let got = exchange(addr, b"GET /metrics\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    let got = exchange(addr, b"GET /metrics HTTP/2.0\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 505 "), "{got}");
}

#[tokio::test]
async fn an_oversized_head_is_refused_with_431() {
    let addr = server(Limits::default()).await;
    let big = format!("GET /metrics HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(9 * 1024));
    let got = exchange(addr, big.as_bytes()).await;
    assert!(got.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{got}");
    // A head that never ends is refused as soon as it passes the bound, not read on.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\n").await.expect("send");
    s.write_all(format!("X-Filler: {}\r\n", "b".repeat(8 * 1024)).as_bytes()).await.expect("send");
    let mut out = vec![0u8; 64];
    let n =
        tokio::time::timeout(Duration::from_secs(3), s.read(&mut out)).await.expect("answer").expect("read");
    assert!(out[..n].starts_with(b"HTTP/1.1 431 "), "{}", String::from_utf8_lossy(&out[..n]));
    // Just under the bound is fine.
    let fits = format!("GET /metrics HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "c".repeat(8 * 1024 - 64));
    assert!(exchange(addr, fits.as_bytes()).await.starts_with("HTTP/1.1 200 OK\r\n"));
}

#[tokio::test]
async fn a_silent_client_gets_408_and_frees_its_slot() {
    let limits = Limits { timeout: Duration::from_millis(300), max_concurrent: 1, ..Limits::default() };
    let addr = server(limits).await;
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let got = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(started.elapsed() >= Duration::from_millis(200), "the one slot was busy with the idle client");
    let mut out = String::new();
    idle.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
}
