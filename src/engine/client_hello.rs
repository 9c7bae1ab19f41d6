//! What a server-role handshake tells the client inventory (docs/clients.md): the client's
//! ClientHello, read ahead from the stream before rustls starts and put back whole, so rustls reads
//! exactly the bytes it would have read; and, once the handshake is over, whether the client sent a
//! certificate. Reading ahead costs no extra system call (rustls would read the same bytes) and one
//! copy of at most [`MAX_READ`] bytes; it runs inside the handshake's HandshakeTimeout.

use std::net::IpAddr;
use std::sync::Mutex;

use tokio::io::AsyncReadExt;

use super::stream::{Prefixed, Side};
use crate::inventory::hello::{self, ClientHello, MAX_HELLO, Parsed};
use crate::inventory::{CertSent, Inventory};
use crate::policy::table::Role;

/// The most bytes read ahead: a ClientHello of [`MAX_HELLO`] bytes in a few records.
pub const MAX_READ: usize = MAX_HELLO + 1024;

/// What the read-ahead found.
#[derive(Debug)]
pub struct Captured {
    /// `None`: the first bytes were no ClientHello the inventory could read.
    pub hello: Option<ClientHello>,
    pub peer: Option<IpAddr>,
}

/// A handshake's capture, filled by the read-ahead and taken once the handshake is over (the
/// handshake future may be cut short by its timer, so the capture lives outside it).
pub type Slot = Mutex<Option<Captured>>;

/// Reads the ClientHello ahead and puts every byte read back in front of `clear`. Nothing is
/// captured when the peer sent nothing before its end of stream; a read error is returned (the
/// bytes read before it are put back all the same).
pub async fn read_ahead(clear: &mut Prefixed, slot: &Slot) -> std::io::Result<()> {
    let mut read = Vec::new();
    let mut chunk = vec![0u8; 2048];
    let hello = loop {
        match hello::parse(&read) {
            Parsed::Hello(h) => break Some(h),
            Parsed::Unusable(_) => break None,
            Parsed::Incomplete if read.len() >= MAX_READ => break None,
            Parsed::Incomplete => {}
        }
        let want = chunk.len().min(MAX_READ - read.len());
        let n = match clear.read(&mut chunk[..want]).await {
            Ok(n) => n,
            Err(e) => {
                clear.unread(&read);
                return Err(e);
            }
        };
        if n == 0 {
            break None;
        }
        read.extend_from_slice(&chunk[..n]);
    };
    clear.unread(&read);
    if !read.is_empty() {
        let peer = clear.tcp().peer_addr().ok().map(|a| a.ip());
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Captured { hello, peer });
    }
    Ok(())
}

/// Whether the client sent a certificate, from the handshake's outcome: its stream, or its error.
pub fn certificate(role: Option<Role>, outcome: Result<&Side, &std::io::Error>) -> CertSent {
    if role != Some(Role::ServerWithClientAuth) {
        return CertSent::NotRequested;
    }
    match outcome {
        Ok(Side::Server(t)) => {
            if t.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()) {
                CertSent::Sent
            } else {
                CertSent::NotSent
            }
        }
        Ok(_) => CertSent::Unknown,
        Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::NoCertificatesPresented) => CertSent::NotSent,
            Some(rustls::Error::InvalidCertificate(_)) => CertSent::Sent,
            _ => CertSent::Unknown,
        },
    }
}

/// Hands the capture of one handshake of `rule` to the inventory.
pub fn record(inventory: &Inventory, rule: &str, slot: &Slot, certificate: CertSent) {
    let Some(captured) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    match captured.hello {
        Some(h) => inventory.record(rule, h, certificate, captured.peer),
        None => inventory.record_unparsed(rule),
    }
}
