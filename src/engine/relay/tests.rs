//! Tests of `relay`.

use super::*;
use tokio::io::{AsyncReadExt, duplex};

#[tokio::test]
async fn copies_both_ways_and_forwards_half_close() {
    let (client, mut client_peer) = duplex(64);
    let (server, mut server_peer) = duplex(64);
    let (inc, outc) = (AtomicU64::new(0), AtomicU64::new(0));
    let relay = async { relay(client, server, &inc, &outc).await.unwrap() };
    let (mut client_read, mut client_write) = tokio::io::split(&mut client_peer);
    let send = async {
        client_write.write_all(&vec![7u8; 100_000]).await.unwrap();
        client_write.shutdown().await.unwrap();
    };
    let serve = async {
        let mut got = Vec::new();
        server_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 100_000, "server saw EOF after all bytes");
        // The reverse direction still flows after the client's half-close.
        server_peer.write_all(b"reply").await.unwrap();
        server_peer.shutdown().await.unwrap();
    };
    let receive = async {
        let mut back = Vec::new();
        client_read.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"reply");
    };
    let (stats, (), (), ()) = tokio::join!(relay, send, serve, receive);
    assert_eq!((stats.from_client, stats.to_client), (100_000, 5));
    assert_eq!(inc.load(Ordering::Relaxed), 100_000);
}

/// A TLS peer that sends `data`, then ends without close_notify (tokio-rustls: UnexpectedEof).
struct Cut(Option<Vec<u8>>);

impl AsyncRead for Cut {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(match self.0.take() {
            Some(data) => {
                buf.put_slice(&data);
                Ok(())
            }
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        })
    }
}

impl AsyncWrite for Cut {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn strict_relay_fails_on_a_stream_cut_without_close_notify() {
    let (server, mut server_peer) = duplex(1024);
    let (inc, outc) = (AtomicU64::new(0), AtomicU64::new(0));
    let ended = std::sync::Mutex::new(Vec::new());
    let note = |f: Flow| ended.lock().unwrap().push(f);
    let held = Held::default();
    let relay = relay_strict(Cut(Some(b"part".to_vec())), server, (&inc, &outc), &held, &note);
    let failure = relay.await.expect_err("a cut stream is no clean end");
    assert_eq!(failure.flow, Flow::ToServer);
    assert!(matches!(failure.broken, Broken::Truncated), "{failure}");
    assert!(failure.to_string().starts_with("truncated: the client"), "{failure}");
    assert!(ended.lock().unwrap().is_empty(), "no direction ended cleanly");
    // The bytes before the cut were delivered, but no end of stream was passed on.
    let mut got = [0u8; 4];
    server_peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"part");
}

#[tokio::test]
async fn held_says_a_direction_waits_on_a_peer_that_does_not_read() {
    let (client, mut client_peer) = duplex(64 * 1024);
    // The server's pipe takes 16 bytes, and its peer never reads them.
    let (server, _server_peer) = duplex(16);
    let (inc, outc) = (AtomicU64::new(0), AtomicU64::new(0));
    let held = Held::default();
    let relay = relay_strict(client, server, (&inc, &outc), &held, &|_| ());
    tokio::pin!(relay);
    client_peer.write_all(&[7u8; 1000]).await.unwrap();
    let stuck = tokio::time::timeout(std::time::Duration::from_millis(100), &mut relay).await;
    assert!(stuck.is_err(), "the relay cannot finish");
    assert!(held.any(), "bytes read from the client wait for the server's peer");
    assert_eq!(inc.load(Ordering::Relaxed), 0, "nothing delivered whole yet");
}

#[tokio::test]
async fn held_is_clear_while_a_relay_only_waits_to_read() {
    let (client, mut client_peer) = duplex(1024);
    let (server, mut server_peer) = duplex(1024);
    let (inc, outc) = (AtomicU64::new(0), AtomicU64::new(0));
    let held = Held::default();
    let relay = relay_strict(client, server, (&inc, &outc), &held, &|_| ());
    tokio::pin!(relay);
    client_peer.write_all(b"ping").await.unwrap();
    let idle = tokio::time::timeout(std::time::Duration::from_millis(100), &mut relay).await;
    assert!(idle.is_err(), "the relay waits for more");
    let mut got = [0u8; 4];
    server_peer.read_exact(&mut got).await.unwrap();
    assert!(!held.any(), "everything read was delivered");
}

#[tokio::test]
async fn bulk_and_interactive_traffic_arrive_whole_and_in_order() {
    // A bulk burst (reads that fill lent buffers) then small writes with pauses (reads that wait,
    // holding no buffer): every byte arrives, in order.
    let (client, mut client_peer) = duplex(256 * 1024);
    let (server, mut server_peer) = duplex(256 * 1024);
    let (inc, outc) = (AtomicU64::new(0), AtomicU64::new(0));
    let sent: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let relay = relay(client, server, &inc, &outc);
    let send = async {
        client_peer.write_all(&sent[..500_000]).await.unwrap();
        for chunk in sent[500_000..].chunks(10_000) {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            client_peer.write_all(chunk).await.unwrap();
        }
        client_peer.shutdown().await.unwrap();
    };
    let receive = async {
        let mut got = Vec::new();
        server_peer.read_to_end(&mut got).await.unwrap();
        server_peer.shutdown().await.unwrap();
        got
    };
    let traffic = async { tokio::join!(send, receive).1 };
    let (stats, got) = tokio::join!(relay, traffic);
    assert_eq!(stats.unwrap().from_client, 600_000);
    assert!(got == sent, "bytes differ");
}
