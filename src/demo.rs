//! The demo backend: a tiny plaintext responder for the shipped default listener, so the README's
//! first command shows TLS end to end. It answers the first line it receives with a short HTTP/1.0
//! response (so both `curl` and a typed `openssl s_client` line get an answer), then closes.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const BODY: &str =
    "hello from the attls demo backend: this server speaks plaintext, you reached it through TLS\n";

pub async fn serve(sock: TcpListener) {
    loop {
        if let Ok((s, _)) = sock.accept().await {
            tokio::spawn(answer(s));
        }
    }
}

async fn answer(s: TcpStream) {
    let (r, mut w) = s.into_split();
    let mut line = String::new();
    let mut r = BufReader::new(r);
    if tokio::time::timeout(Duration::from_secs(30), r.read_line(&mut line)).await.is_err() {
        return;
    }
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = w.write_all(reply.as_bytes()).await;
    let _ = w.shutdown().await;
}
