//! The plaintext backend every proxy relays to, in this process: per request (an 8-byte big-endian
//! length N, then N bytes) it discards the bytes and acks N; with the top bit of the length set
//! (`ECHO`) it sends the N bytes back instead (the latency phase's request/response).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::CHUNK;

/// The top bit of a request's length: answer with the bytes themselves, not an ack.
pub const ECHO: u64 = 1 << 63;

/// The plaintext backend: per request, discard N bytes and ack N.
pub async fn start_backend() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sink(s).await;
            });
        }
    });
    Ok(addr)
}

async fn sink(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = Vec::new();
    loop {
        let mut hdr = [0u8; 8];
        match s.read_exact(&mut hdr).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let n = u64::from_be_bytes(hdr);
        if n & ECHO != 0 {
            let mut data = vec![0u8; (n & !ECHO).min(CHUNK as u64) as usize];
            s.read_exact(&mut data).await?;
            s.write_all(&data).await?;
            continue;
        }
        if n > 0 && buf.is_empty() {
            buf = vec![0u8; CHUNK];
        }
        let mut left = n;
        while left > 0 {
            let want = left.min(CHUNK as u64) as usize;
            let got = s.read(&mut buf[..want]).await?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            left -= got as u64;
        }
        s.write_all(&n.to_be_bytes()).await?;
    }
}
