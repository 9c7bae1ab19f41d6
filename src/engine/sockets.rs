//! The sockets the engine opens and how they close: connections to a backend (with the mark and
//! source address transparent mode asks for), TPROXY listeners, and SO_LINGER 0 for a close that
//! must be a reset rather than a FIN.

use std::net::SocketAddr;

use socket2::SockRef;
use tokio::net::{TcpSocket, TcpStream};

use super::identify::Target;

/// Opens the connection to `t` (resolving its host), with the mark and source address it asks for.
pub async fn connect(t: &Target) -> std::io::Result<TcpStream> {
    let late = || {
        let why =
            format!("the backend {} did not accept within {}s (ConnectTimeout)", t.addr, t.timeout.as_secs());
        std::io::Error::new(std::io::ErrorKind::TimedOut, why)
    };
    tokio::time::timeout(t.timeout, connect_now(t)).await.unwrap_or_else(|_| Err(late()))
}

async fn connect_now(t: &Target) -> std::io::Result<TcpStream> {
    if t.source.is_none() && t.mark.is_none() {
        return TcpStream::connect(&t.addr).await;
    }
    let mut last = None;
    for to in tokio::net::lookup_host(&t.addr).await? {
        let from = t.source.filter(|f| f.is_ipv4() == to.is_ipv4());
        match connect_from(to, from, from.is_some(), t.mark).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("{} resolves to no address", t.addr))))
}

/// Connects to `to` from `from` (if given; IP_TRANSPARENT lets it be an address that is not this
/// host's), with SO_MARK `mark`.
pub async fn connect_from(
    to: SocketAddr,
    from: Option<SocketAddr>,
    transparent: bool,
    mark: Option<u32>,
) -> std::io::Result<TcpStream> {
    let sock = if to.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    {
        let raw = SockRef::from(&sock);
        if let Some(mark) = mark {
            raw.set_mark(mark)?;
        }
        if transparent {
            raw.set_ip_transparent(true)?;
        }
    }
    if let Some(from) = from {
        sock.set_reuseaddr(true)?;
        sock.bind(from)?;
    }
    sock.connect(to).await
}

/// Makes the connection's close a TCP reset (SO_LINGER 0) rather than a FIN, which the peer would
/// take for a complete stream.
pub fn reset_on_close(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
}

/// Undoes [`reset_on_close`]: the connection ends with a FIN again.
pub fn close_normally(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(None);
}

/// TPROXY listeners need IP_TRANSPARENT before bind, to accept connections for other addresses.
pub fn transparent_listener(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    SockRef::from(&sock).set_ip_transparent(true)?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(backlog)
}

/// A listening socket with a listen queue of `backlog` (a burst of clients waits there instead of
/// losing seconds to SYN retransmits).
pub fn listener(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(backlog)
}

/// Whether `ip` is one of this host's addresses (a listener there can be looked up in /proc).
pub fn is_local(ip: std::net::IpAddr) -> bool {
    std::net::TcpListener::bind((ip, 0)).is_ok()
}
