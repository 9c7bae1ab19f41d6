//! The relay: full-duplex copy between the client side and the server side through fixed buffers.
//! Each direction runs on its own; end of input on one side shuts down the other side's write half
//! (a FIN, or close_notify then FIN on TLS) while the reverse direction keeps flowing. Backpressure
//! comes from awaiting each write; the only per-read work is one atomic add for netstat.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A direction starts with this small buffer, inside the task: an idle or lightly used connection
/// (a terminal session, a control connection) never allocates more.
const SMALL: usize = 2 * 1024;
/// The first heap buffer, once a read fills the small one: 16 KiB is one TLS record.
const BUF: usize = 16 * 1024;
/// A direction whose reads keep filling the buffer (bulk transfer) grows it up to this, to halve the
/// system calls per byte; it never shrinks again.
const BUF_MAX: usize = 64 * 1024;

/// Bytes moved and how the relay ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct RelayStats {
    pub from_client: u64,
    pub to_client: u64,
}

/// Copies `client` ⇄ `server` until both directions are done or one fails. `in_count` counts bytes
/// read from the client, `out_count` bytes written to the client.
pub async fn relay<C, S>(
    client: C,
    server: S,
    in_count: &AtomicU64,
    out_count: &AtomicU64,
) -> std::io::Result<RelayStats>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(server);
    let upstream = pipe(&mut cr, &mut sw, in_count);
    let downstream = pipe(&mut sr, &mut cw, out_count);
    let (up, down) = tokio::try_join!(upstream, downstream)?;
    Ok(RelayStats { from_client: up, to_client: down })
}

async fn pipe<R, W>(r: &mut R, w: &mut W, count: &AtomicU64) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut small = [0u8; SMALL];
    let mut big: Vec<u8> = Vec::new();
    let mut total = 0u64;
    loop {
        let buf: &mut [u8] = if big.is_empty() { &mut small } else { &mut big };
        let n = match r.read(buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // A peer that closed without close_notify ends its direction like a FIN.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n]).await?;
        count.fetch_add(n as u64, Ordering::Relaxed);
        total += n as u64;
        if n == buf.len() {
            if big.is_empty() {
                big = vec![0u8; BUF];
            } else if big.len() < BUF_MAX {
                big.resize(big.len() * 2, 0);
            }
        }
    }
    w.flush().await?;
    // Half-close: the other side sees end of input; on TLS this sends close_notify first.
    let _ = w.shutdown().await;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

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
}
